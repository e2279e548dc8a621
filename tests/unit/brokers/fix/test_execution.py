"""The FIX execution client against a scripted stand-in for its session: a submit waits for
the order's first report, a lost answer is outcome-unknown, lookups never answer "never seen"
before the session caught up, what the venue cannot take is refused before anything is sent,
market orders become marketable limits, and refusals map onto the error tree."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import simplefix

from tradeloop.brokers.fix import wire
from tradeloop.brokers.fix.client import FixClient
from tradeloop.brokers.fix.config import FixAdapterConfig
from tradeloop.brokers.fix.errors import (
    FixBusyError,
    FixCancelRejectedError,
    FixNoAnswerError,
    FixOrderRejectedError,
    FixQueryTimeoutError,
    FixUnsupportedError,
)
from tradeloop.brokers.fix.execution import FixExecutionClient
from tradeloop.core.errors import OutcomeUnknownError, RetryableVenueError
from tradeloop.model import events as ev
from tradeloop.model.data import QuoteTick
from tradeloop.model.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from tradeloop.model.orders import Order

Reply = Callable[[dict[int, str]], list[list[tuple[int, str]]]]


def fields(message: simplefix.FixMessage) -> dict[int, str]:
    return {int(t): bytes(v).decode() for t, v in message.pairs}


def fix(*pairs: tuple[int, str]) -> simplefix.FixMessage:
    out = simplefix.FixMessage()
    out.append_pair(8, "FIX.4.4")
    for tag, value in pairs:
        out.append_pair(tag, value)
    return wire.parse_one(out.encode())


class ScriptedSession:
    """What the execution client needs of a FixClient, answering from a script."""

    def __init__(self, config: FixAdapterConfig) -> None:
        self.config = config.session
        self.routes: dict[str, Callable[[simplefix.FixMessage], None]] = {}
        self.sent: list[dict[int, str]] = []
        self.reply: Reply = lambda request: []
        self.barriers = 0
        self.caught_up = True
        self.logged_on = True
        self._ids = 0

    def route(self, msg_type: str, handler: Callable[[simplefix.FixMessage], None]) -> None:
        self.routes[msg_type] = handler

    def on_logon(self, handler: Any) -> None:
        self.logon_handler = handler

    def new_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids}"

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def barrier(self, timeout_s: float | None = None) -> None:
        self.barriers += 1
        if not self.caught_up:
            raise FixQueryTimeoutError("not caught up")

    def deliver(self, *pairs: tuple[int, str]) -> None:
        message = fix(*pairs)
        self.routes[wire.field(message, 35) or ""](message)

    async def request(self, message: simplefix.FixMessage, answer: asyncio.Future[Any], *,
                      what: str, changes_state: bool, timeout_s: float | None = None) -> Any:
        request = fields(message)
        self.sent.append(request)
        for reply in self.reply(request):
            self.deliver(*reply)
        try:
            return await asyncio.wait_for(asyncio.shield(answer), 0.2)
        except TimeoutError:
            kind = FixNoAnswerError if changes_state else FixQueryTimeoutError
            raise kind(f"no answer to {what}") from None


def adapter_config(tmp_path: Path, **settings: Any) -> FixAdapterConfig:
    values: dict[str, Any] = {
        "session": {"port": 1, "sender_comp_id": "CLIENT", "target_comp_id": "BROKER",
                    "store_dir": tmp_path},
        "account_balance": "1000", "instruments": [{"symbol": "ABC"}]}
    values.update(settings)
    return FixAdapterConfig.model_validate(values)


async def connected(tmp_path: Path, **settings: Any
                    ) -> tuple[FixExecutionClient, ScriptedSession, list[ev.OrderEvent]]:
    config = adapter_config(tmp_path, **settings)
    session = ScriptedSession(config)
    client = FixExecutionClient(config, session, tmp_path / "book.fixlog",  # type: ignore[arg-type]
                                now_ns=lambda: 1_700_000_000_000_000_000)
    events: list[ev.OrderEvent] = []
    client.bind(events.append)
    await client.connect()
    return client, session, events


def order(cid: str = "A1", order_type: OrderType = OrderType.LIMIT,
          tif: TimeInForce = TimeInForce.GTC, side: OrderSide = OrderSide.BUY) -> Order:
    return Order(client_order_id=cid, strategy_id="S", symbol="ABC", side=side,
                 order_type=order_type, quantity=Decimal(10), ts_init=1,
                 price=Decimal(100) if order_type is OrderType.LIMIT else None,
                 time_in_force=tif)


def ack(request: dict[int, str], exec_type: str = "0", status: str = "0",
        *extra: tuple[int, str]) -> list[tuple[int, str]]:
    return [(35, "8"), (37, "O-1"), (11, request[11]), (17, f"E-{request[11]}-{exec_type}"),
            (150, exec_type), (39, status), (55, "ABC"), (54, request.get(54, "1")),
            (38, "10"), (14, "0"), (151, "10"), *extra]


def run(scenario: Any) -> None:
    asyncio.run(scenario)


def test_submit_returns_once_the_order_is_acknowledged(tmp_path):
    async def scenario() -> None:
        client, session, events = await connected(tmp_path)
        session.reply = lambda request: [ack(request)]
        await client.submit_order(order())
        [sent] = session.sent
        assert (sent[35], sent[11], sent[40], sent[44], sent[59]) == ("D", "A1", "2", "100", "1")
        assert [e.kind for e in events] == ["OrderAccepted"]
        session.sent.clear()
        await client.submit_order(order())  # the venue has it: nothing is sent again
        assert session.sent == []
        await client.disconnect()
    run(scenario())


def test_a_lost_answer_is_outcome_unknown_and_the_lookup_waits_for_the_barrier(tmp_path):
    async def scenario() -> None:
        client, session, _ = await connected(
            tmp_path, capabilities={"status_requests": False})
        with pytest.raises(OutcomeUnknownError):
            await client.submit_order(order())
        session.caught_up = False  # reconnecting, resend not done: no answer from the book
        with pytest.raises(RetryableVenueError):
            await client.order_status("A1")
        session.caught_up = True
        assert await client.order_status("A1") is None  # caught up, and the venue never said
        session.deliver(*ack({11: "A1"}))  # the resent acknowledgement
        report = await client.order_status("A1")
        assert report is not None and report.status is OrderStatus.ACCEPTED
        assert [r.client_order_id for r in await client.open_orders()] == ["A1"]
        assert session.barriers >= 4
        await client.disconnect()
    run(scenario())


def test_a_rejected_order_raises_fatal_after_its_event(tmp_path):
    async def scenario() -> None:
        client, session, events = await connected(tmp_path)
        session.reply = lambda request: [ack(request, "8", "8", (103, "13"),
                                             (58, "quantity 10 is not a multiple of the lot"))]
        with pytest.raises(FixOrderRejectedError, match="13 incorrect quantity"):
            await client.submit_order(order())
        assert [e.kind for e in events] == ["OrderRejected"]
        await client.disconnect()
    run(scenario())


def test_what_the_venue_cannot_take_is_refused_before_sending(tmp_path):
    async def scenario() -> None:
        client, session, _ = await connected(
            tmp_path, capabilities={"order_types": ["LIMIT"], "time_in_force": ["DAY"]})
        with pytest.raises(FixUnsupportedError, match="no GTC"):
            await client.submit_order(order())
        with pytest.raises(FixUnsupportedError, match="no MARKET"):
            await client.submit_order(order("A2", OrderType.MARKET, TimeInForce.DAY))
        assert session.sent == []
        await client.disconnect()
    run(scenario())


def test_a_time_in_force_fallback(tmp_path):
    async def scenario() -> None:
        client, session, _ = await connected(
            tmp_path, capabilities={"order_types": ["LIMIT"], "time_in_force": ["DAY"]},
            time_in_force_fallback={"GTC": "DAY"})
        session.reply = lambda request: [ack(request)]
        await client.submit_order(order())
        assert session.sent[0][59] == "0"
        assert TimeInForce.GTC not in client.capabilities.time_in_force
        await client.disconnect()
    run(scenario())


def test_market_orders_as_marketable_limits(tmp_path):
    async def scenario() -> None:
        client, session, _ = await connected(
            tmp_path, market_orders="limit", market_protection_pct="1",
            capabilities={"order_types": ["LIMIT"], "time_in_force": ["DAY"],
                          "status_requests": False})
        assert OrderType.MARKET in client.capabilities.order_types
        with pytest.raises(FixUnsupportedError, match="no price of ABC"):
            await client.submit_order(order("M0", OrderType.MARKET))
        session.reply = lambda request: [ack(request)]
        client.note_price("ABC", 250.13)
        await client.submit_order(order("M1", OrderType.MARKET))
        await client.submit_order(order("M2", OrderType.MARKET, side=OrderSide.SELL))
        buy, sell = session.sent
        assert (buy[40], buy[44], buy[59]) == ("2", "252.63", "0")  # 250.13 * 1.01, floored
        assert (sell[40], sell[44], sell[59]) == ("2", "247.63", "0")  # 250.13 * 0.99, ceiled
        client.on_quote(QuoteTick("ABC", 1, 250.0, 250.5, 1.0, 1.0))
        await client.submit_order(order("M3", OrderType.MARKET))
        assert session.sent[-1][44] == "253"  # from the ask: 250.5 * 1.01 = 253.005
        report = await client.order_status("M3")
        assert report is not None and report.order_type is OrderType.MARKET
        assert report.price is None
        await client.disconnect()
    run(scenario())


def test_status_requests_ask_the_venue(tmp_path):
    async def scenario() -> None:
        client, session, _ = await connected(tmp_path)
        session.reply = lambda request: [ack(request)]
        await client.submit_order(order())
        session.reply = lambda request: [
            [(35, "8"), (37, "O-1"), (11, request[11]), (17, "S-1"), (150, "I"), (39, "1"),
             (55, "ABC"), (54, "1"), (38, "10"), (44, "100"), (14, "4"), (151, "6"),
             (6, "99.9"), (790, request[790])]]
        report = await client.order_status("A1")
        assert session.sent[-1][35] == "H" and session.sent[-1][11] == "A1"
        assert report is not None and report.status is OrderStatus.PARTIALLY_FILLED
        assert (report.filled_qty, report.avg_px) == (Decimal(4), Decimal("99.9"))
        session.reply = lambda request: [
            [(35, "8"), (37, "NONE"), (11, request[11]), (17, "S-2"), (150, "I"), (39, "8"),
             (58, "unknown order"), (790, request[790])]]
        assert await client.order_status("NEVER-SENT") is None
        await client.disconnect()
    run(scenario())


def test_a_refused_cancel(tmp_path):
    async def scenario() -> None:
        client, session, events = await connected(tmp_path)
        session.reply = lambda request: [ack(request)]
        placed = order()
        await client.submit_order(placed)
        session.reply = lambda request: [
            [(35, "9"), (37, "O-1"), (11, request[11]), (41, request[41]), (39, "2"),
             (434, "1"), (102, "0"), (58, "too late to cancel")]]
        with pytest.raises(FixCancelRejectedError, match="0 too late to cancel"):
            await client.cancel_order(placed)
        assert (session.sent[-1][35], session.sent[-1][11], session.sent[-1][41]) == \
            ("F", "A1.C1", "A1")
        assert [e.kind for e in events] == ["OrderAccepted", "OrderCancelRejected"]
        await client.disconnect()
    run(scenario())


def test_a_business_reject_read_before_send_returns_fails_the_request(tmp_path):
    async def scenario() -> None:
        config = adapter_config(tmp_path)
        client = FixClient(config.session)

        async def send(message: simplefix.FixMessage) -> int:
            # the venue's answer is handled while the message is still being written
            client._on_message(fix((35, "j"), (45, "7"), (372, "D"), (380, "8"),
                                   (58, "throttle limit exceeded")))
            return 7

        client.send = send  # type: ignore[method-assign]
        answer: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        with pytest.raises(FixBusyError, match="8 throttle"):
            await client.request(fix((35, "D")), answer, what="NewOrderSingle",
                                 changes_state=True, timeout_s=1)
    run(scenario())
