"""The local cTrader proxy speaks the Open API as the reference describes it, checked with a
bare TLS client and the codec: authorisation order, error shapes, the trendbar span limit and
its paging, spot events carrying only what changed, and events for every connection."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from support.ctrader import (
    ACCESS_TOKEN,
    ACCOUNT_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    CtraderServer,
    ca_file,
)
from tradeloop.brokers.ctrader.messages import PT, SCHEMAS, TrendbarPeriod
from tradeloop.brokers.ctrader.wire import Envelope, decode, encode, frame, read_frame


class Bare:
    """A minimal Open API client: send a message, read the next ones."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, server: CtraderServer) -> Bare:
        context = ssl.create_default_context(cafile=ca_file())
        reader, writer = await asyncio.open_connection(*server.address, ssl=context,
                                                       server_hostname="127.0.0.1")
        return cls(reader, writer)

    async def send(self, kind: int, body: dict[str, Any], msg_id: str = "m") -> None:
        inner = encode(SCHEMAS[kind], {"payloadType": kind, **body})
        self.writer.write(frame(Envelope(kind, inner, msg_id).to_bytes()))
        await self.writer.drain()

    async def next(self, skip_heartbeats: bool = True) -> tuple[int, dict[str, Any], str]:
        while True:
            envelope = Envelope.from_bytes(await asyncio.wait_for(read_frame(self.reader), 5))
            if skip_heartbeats and envelope.payload_type == PT.HEARTBEAT_EVENT:
                continue
            body = decode(SCHEMAS[envelope.payload_type], envelope.payload)
            return envelope.payload_type, body, envelope.client_msg_id

    async def ask(self, kind: int, body: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
        await self.send(kind, body, "q")
        return await self.next()

    async def login(self) -> None:
        assert (await self.ask(PT.APPLICATION_AUTH_REQ, {
            "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}))[0] \
            == PT.APPLICATION_AUTH_RES
        assert (await self.ask(PT.ACCOUNT_AUTH_REQ, {
            "ctidTraderAccountId": ACCOUNT_ID, "accessToken": ACCESS_TOKEN}))[0] \
            == PT.ACCOUNT_AUTH_RES

    def close(self) -> None:
        self.writer.close()


def _run(proxy: CtraderServer, scenario: Callable[[Bare], Awaitable[None]]) -> None:
    async def main() -> None:
        bare = await Bare.open(proxy)
        try:
            await scenario(bare)
        finally:
            bare.close()

    asyncio.run(main())


def test_the_application_comes_first_then_the_account(proxy: CtraderServer) -> None:
    async def scenario(bare: Bare) -> None:
        kind, body, msg_id = await bare.ask(PT.TRADER_REQ, {"ctidTraderAccountId": ACCOUNT_ID})
        assert (kind, body["errorCode"], msg_id) == (PT.OA_ERROR_RES,
                                                     "CH_CLIENT_NOT_AUTHENTICATED", "q")
        kind, body, _ = await bare.ask(PT.APPLICATION_AUTH_REQ, {
            "clientId": CLIENT_ID, "clientSecret": "wrong"})
        assert (kind, body["errorCode"]) == (PT.OA_ERROR_RES, "CH_CLIENT_AUTH_FAILURE")
        await bare.ask(PT.APPLICATION_AUTH_REQ, {"clientId": CLIENT_ID,
                                                 "clientSecret": CLIENT_SECRET})
        kind, body, _ = await bare.ask(PT.TRADER_REQ, {"ctidTraderAccountId": ACCOUNT_ID})
        assert (kind, body["errorCode"]) == (PT.OA_ERROR_RES, "ACCOUNT_NOT_AUTHORIZED")
        kind, body, _ = await bare.ask(PT.ACCOUNT_AUTH_REQ, {
            "ctidTraderAccountId": ACCOUNT_ID, "accessToken": "not-a-token"})
        assert (kind, body["errorCode"]) == (PT.OA_ERROR_RES, "CH_ACCESS_TOKEN_INVALID")
        kind, body, _ = await bare.ask(PT.GET_ACCOUNTS_BY_ACCESS_TOKEN_REQ,
                                       {"accessToken": ACCESS_TOKEN})
        assert kind == PT.GET_ACCOUNTS_BY_ACCESS_TOKEN_RES
        assert [(a["ctidTraderAccountId"], a["isLive"]) for a in body["ctidTraderAccount"]] \
            == [(ACCOUNT_ID, False)]
        kind, body, _ = await bare.ask(PT.ACCOUNT_AUTH_REQ, {
            "ctidTraderAccountId": ACCOUNT_ID, "accessToken": ACCESS_TOKEN})
        assert (kind, body["ctidTraderAccountId"]) == (PT.ACCOUNT_AUTH_RES, ACCOUNT_ID)
        kind, body, _ = await bare.ask(PT.TRADER_REQ, {"ctidTraderAccountId": ACCOUNT_ID})
        assert kind == PT.TRADER_RES and body["trader"]["balance"] == 10_000_000
        assert body["trader"]["moneyDigits"] == 2

    _run(proxy, scenario)


def test_order_errors_and_execution_events(proxy: CtraderServer) -> None:
    async def scenario(bare: Bare) -> None:
        await bare.login()
        order = {"ctidTraderAccountId": ACCOUNT_ID, "symbolId": 1, "orderType": 1,
                 "tradeSide": 1, "volume": 150_000, "clientOrderId": "A"}
        kind, body, msg_id = await bare.ask(PT.NEW_ORDER_REQ, order)
        assert (kind, body["errorCode"], msg_id) == (PT.ORDER_ERROR_EVENT,
                                                     "TRADING_BAD_VOLUME", "q")
        kind, body, msg_id = await bare.ask(PT.NEW_ORDER_REQ, {**order, "volume": 100_000,
                                                               "stopLoss": 1.0})
        assert (kind, body["errorCode"]) == (PT.ORDER_ERROR_EVENT, "TRADING_BAD_STOPS")
        await bare.send(PT.NEW_ORDER_REQ, {**order, "volume": 100_000, "relativeStopLoss": 500})
        accepted, filled = await bare.next(), await bare.next()
        assert accepted[1]["executionType"] == 2 and filled[1]["executionType"] == 3
        assert accepted[2] == filled[2] == "m"  # the request's id echoed on both
        deal, position = filled[1]["deal"], filled[1]["position"]
        assert (deal["filledVolume"], deal["executionPrice"]) == (100_000, 1.08502)
        assert position["stopLoss"] == 1.08002 and position["positionStatus"] == 1
        kind, body, _ = await bare.ask(PT.CANCEL_ORDER_REQ, {
            "ctidTraderAccountId": ACCOUNT_ID, "orderId": filled[1]["order"]["orderId"]})
        assert (kind, body["errorCode"]) == (PT.ORDER_ERROR_EVENT, "ORDER_NOT_FOUND")

    _run(proxy, scenario)


def test_trendbar_requests_are_limited_per_period_and_paged(proxy: CtraderServer) -> None:
    async def scenario(bare: Bare) -> None:
        await bare.login()
        end = int(time.time() * 1000) // 60_000 * 60_000 - 86_400_000
        base = {"ctidTraderAccountId": ACCOUNT_ID, "symbolId": 1,
                "period": TrendbarPeriod.M1}
        kind, body, _ = await bare.ask(PT.GET_TRENDBARS_REQ, {
            **base, "fromTimestamp": end - 302_400_001, "toTimestamp": end})
        assert (kind, body["errorCode"]) == (PT.OA_ERROR_RES, "INCORRECT_BOUNDARIES")
        kind, body, _ = await bare.ask(PT.GET_TRENDBARS_REQ, {
            **base, "fromTimestamp": end - 302_400_000, "toTimestamp": end})
        bars = body["trendbar"]
        assert kind == PT.GET_TRENDBARS_RES and body["hasMore"] is True
        assert len(bars) == 4000 and bars[-1]["utcTimestampInMinutes"] == end // 60_000
        assert all(b["deltaHigh"] >= max(b["deltaOpen"], b["deltaClose"]) for b in bars)
        kind, body, _ = await bare.ask(PT.GET_TRENDBARS_REQ, {
            **base, "fromTimestamp": end - 3_600_000, "toTimestamp": end})
        assert len(body["trendbar"]) == 61 and not body.get("hasMore")
        again = await bare.ask(PT.GET_TRENDBARS_REQ, {
            **base, "fromTimestamp": end - 3_600_000, "toTimestamp": end})
        assert again[1]["trendbar"] == body["trendbar"]  # the same history every time

    _run(proxy, scenario)


def test_spot_events_carry_only_the_side_that_changed(proxy: CtraderServer) -> None:
    async def scenario(bare: Bare) -> None:
        await bare.login()
        kind, _, _ = await bare.ask(PT.SUBSCRIBE_SPOTS_REQ, {
            "ctidTraderAccountId": ACCOUNT_ID, "symbolId": [1],
            "subscribeToSpotTimestamp": True})
        assert kind == PT.SUBSCRIBE_SPOTS_RES
        first = await bare.next()
        assert (first[1]["bid"], first[1]["ask"]) == (108_500, 108_502)
        assert first[1]["timestamp"] > 0
        await asyncio.to_thread(proxy.set_price, "EURUSD", "1.08510", "1.08502")
        moved = await bare.next()
        assert moved[0] == PT.SPOT_EVENT and moved[1]["bid"] == 108_510 \
            and "ask" not in moved[1]
        kind, body, _ = await bare.ask(PT.SUBSCRIBE_SPOTS_REQ, {
            "ctidTraderAccountId": ACCOUNT_ID, "symbolId": [1]})
        assert (kind, body["errorCode"]) == (PT.OA_ERROR_RES, "ALREADY_SUBSCRIBED")

    _run(proxy, scenario)


def test_the_proxy_sends_heartbeats_and_counts_the_clients(proxy: CtraderServer) -> None:
    async def scenario(bare: Bare) -> None:
        kind, _, _ = await bare.next(skip_heartbeats=False)
        assert kind == PT.HEARTBEAT_EVENT
        await bare.send(PT.HEARTBEAT_EVENT, {}, "")
        await bare.send(PT.HEARTBEAT_EVENT, {}, "")
        for _ in range(100):
            if proxy.heartbeats() >= 2:
                break
            await asyncio.sleep(0.02)
        assert proxy.heartbeats() == 2

    _run(proxy, scenario)


def test_unknown_faults_and_symbols_are_refused_by_the_control_api(proxy: CtraderServer
                                                                   ) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        proxy.arm("explode")
    with pytest.raises(KeyError):
        proxy.set_price("NOPE", 1, 2)
