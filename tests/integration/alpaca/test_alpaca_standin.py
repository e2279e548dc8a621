"""The local Alpaca itself, through the real alpaca-py clients and streams: its auth, its error
shapes and codes, orders with their legs and replacements, activities paged by id, and the
trading stream's authorization and listen messages."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import pytest
import websockets
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderClass, OrderSide, TimeInForce
from alpaca.trading.requests import (
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopLossRequest,
    TakeProfitRequest,
)

from support.alpaca import API_KEY, API_SECRET, AlpacaServer


def _client(server: AlpacaServer, secret: str = API_SECRET) -> TradingClient:
    client = TradingClient(API_KEY, secret, url_override=server.base_url, raw_data=True)
    client._retry = 0  # answer 429s at once
    return client


def _error(call: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(APIError) as caught:
        call()
    return caught.value.status_code, json.loads(str(caught.value))


def test_keys_are_checked_on_every_request(alpaca: AlpacaServer) -> None:
    status, body = _error(_client(alpaca, "wrong").get_account)
    assert (status, body) == (401, {"code": 40110000, "message": "request is not authorized"})
    assert _client(alpaca).get_account()["account_number"] == "PA1TLSTANDIN"


def test_alpacas_validation_and_refusals(alpaca: AlpacaServer) -> None:
    client = _client(alpaca)

    def market(**fields: Any) -> Any:
        base: dict[str, Any] = {"symbol": "AAPL", "qty": 1, "side": OrderSide.BUY,
                                "time_in_force": TimeInForce.DAY}
        base.update(fields)
        return lambda: client.submit_order(MarketOrderRequest(**base))

    assert _error(market(symbol="NOPE"))[0] == 422
    assert _error(market(qty=0.5, time_in_force=TimeInForce.GTC))[1]["message"] == \
        "fractional orders must be DAY orders"
    assert _error(market(symbol="BTC/USD", time_in_force=TimeInForce.DAY))[1]["message"] == \
        "invalid crypto time_in_force"
    assert _error(market(qty=10_000))[1] == {
        "code": 40310000, "message": "insufficient buying power",
        "buying_power": "200000", "cost_basis": "1500200"}
    client.submit_order(MarketOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY,
                                           time_in_force=TimeInForce.DAY, client_order_id="X1"))
    assert _error(market(client_order_id="X1"))[1]["code"] == 40010001
    alpaca.set_account(last_equity=Decimal(20_000), daytrade_count=3)
    status, body = _error(market(side=OrderSide.SELL))
    assert (status, body["code"], body["message"]) == (
        403, 40310000, "trade denied due to pattern day trading protection")
    assert _error(lambda: client.get_order_by_client_id("never"))[0] == 404
    alpaca.fail_next("rate_limit", path="/v2/account", method="GET")
    assert _error(client.get_account)[0] == 429


def test_a_bracket_with_its_legs_and_a_replacement(alpaca: AlpacaServer) -> None:
    client = _client(alpaca)
    raw = client.submit_order(LimitOrderRequest(
        symbol="AAPL", qty=5, side=OrderSide.BUY, limit_price=149, client_order_id="B1",
        time_in_force=TimeInForce.GTC, order_class=OrderClass.BRACKET,
        take_profit=TakeProfitRequest(limit_price=155), stop_loss=StopLossRequest(
            stop_price=145)))
    assert raw["order_class"] == "bracket"
    assert [(leg["type"], leg["status"], leg["side"]) for leg in raw["legs"]] == [
        ("limit", "held", "sell"), ("stop", "held", "sell")]
    nested = client.get("/orders", {"nested": "true"})
    flat = client.get("/orders", {"nested": "false"})
    assert len(nested) == 1 and len(flat) == 3
    new = client.replace_order_by_id(raw["id"], ReplaceOrderRequest(
        limit_price=148.5, client_order_id="B1.r1"))
    assert (new["replaces"], new["limit_price"], new["status"]) == (raw["id"], "148.5", "new")
    old = client.get_order_by_id(raw["id"])
    assert (old["status"], old["replaced_by"]) == ("replaced", new["id"])
    assert len(new["legs"]) == 2  # the legs follow the replacement
    status, body = _error(lambda: client.replace_order_by_id(raw["id"], ReplaceOrderRequest(
        limit_price=148)))
    assert (status, body["message"]) == (422, "order is already in \"replaced\" state")


def test_activities_are_paged_by_their_id(alpaca: AlpacaServer) -> None:
    client = _client(alpaca)
    for k in range(5):
        client.submit_order(MarketOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY,
                                               time_in_force=TimeInForce.DAY,
                                               client_order_id=f"P{k}"))
    first = client.get("/account/activities/FILL", {"direction": "asc", "page_size": 2})
    second = client.get("/account/activities/FILL", {"direction": "asc", "page_size": 2,
                                                      "page_token": first[-1]["id"]})
    every = client.get("/account/activities/FILL", {"direction": "asc"})
    assert [a["id"] for a in first + second] == [a["id"] for a in every[:4]]
    assert all("::" in a["id"] and a["type"] == "fill" for a in every)


def test_the_trading_stream_authorizes_listens_and_pushes(alpaca: AlpacaServer) -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with websockets.connect(alpaca.trading_stream_url) as ws:
            await ws.send(json.dumps({"action": "authenticate", "data": {
                "key_id": API_KEY, "secret_key": API_SECRET}}))
            got = [json.loads(await ws.recv())]
            await ws.send(json.dumps({"action": "listen", "data": {
                "streams": ["trade_updates"]}}))
            got.append(json.loads(await ws.recv()))
            await asyncio.to_thread(_client(alpaca).submit_order, MarketOrderRequest(
                symbol="AAPL", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
            got += [json.loads(await ws.recv()) for _ in range(2)]
        async with websockets.connect(alpaca.trading_stream_url) as ws:
            await ws.send(json.dumps({"action": "authenticate", "data": {
                "key_id": API_KEY, "secret_key": "wrong"}}))
            got.append(json.loads(await ws.recv()))
        return got

    authorized, listening, new, fill, refused = asyncio.run(scenario())
    assert authorized == {"stream": "authorization", "data": {
        "action": "authenticate", "status": "authorized"}}
    assert listening == {"stream": "listening", "data": {"streams": ["trade_updates"]}}
    assert new["data"]["event"] == "new" and fill["data"]["event"] == "fill"
    assert (fill["data"]["qty"], fill["data"]["price"], fill["data"]["position_qty"]) == (
        "2", "150.02", "2")
    assert refused["data"]["status"] == "unauthorized"
