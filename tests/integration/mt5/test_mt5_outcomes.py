"""What the MetaTrader 5 adapter does with each class of trade server answer, on the
in-process stand-in terminal: requotes (a market order priced again and resent within
``deviation_points``, at most ``requotes`` times, never booked twice), halt-this-symbol codes
(that symbol refuses orders locally for ``halt_s`` while others trade), back-off codes (the
node's router waits and tries again) and unclear outcomes (10012, 10031, ``None``: the tag is
looked up in orders, history, deals and positions before anything is sent again)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest

import support.mt5_standin as mt5
from support.mt5_standin import Terminal
from tradeloop.brokers.mt5 import Mt5ExecutionClient, Mt5FatalError, Mt5RetryableError
from tradeloop.brokers.mt5 import create_adapter as create_mt5_adapter
from tradeloop.core.clock import LiveClock
from tradeloop.execution.live import LiveOrderRouter, RetryPolicy
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderSide, OrderType
from tradeloop.model.orders import Order

BUY, SELL = OrderSide.BUY, OrderSide.SELL
MODULE = "support.mt5_standin"
LOOKUPS = ("orders_get", "history_orders_get", "history_deals_get", "positions_get")


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    """The stand-in terminal, reset, with its account settings restored afterwards."""
    t = mt5.TERMINAL
    saved = (t.zone, t.hedging, t.login, t.password, t.server, t.leverage)
    t.reset()
    yield t
    t.zone, t.hedging, t.login, t.password, t.server, t.leverage = saved
    t.reset()


@asynccontextmanager
async def running(tmp_path: Path, **settings: Any
                  ) -> AsyncIterator[tuple[Mt5ExecutionClient, list[ev.OrderEvent]]]:
    """A connected execution client as a node builds it, and the events it reports."""
    adapter = create_mt5_adapter({"module": MODULE, "symbols": ["EURUSD"],
                                  "poll_interval_s": 0.05, **settings},
                                 variant="", home=tmp_path)
    execution = cast(Mt5ExecutionClient, adapter.execution)
    events: list[ev.OrderEvent] = []
    execution.bind(events.append)
    await execution.connect()
    try:
        yield execution, events
    finally:
        await adapter.close()


def market(cid: str, side: OrderSide = BUY, quantity: str = "0.10",
           symbol: str = "EURUSD") -> Order:
    return Order(cid, "outcomes", symbol, side, OrderType.MARKET, Decimal(quantity),
                 time.time_ns())


def fills(events: list[ev.OrderEvent]) -> list[tuple[str, Decimal, Decimal]]:
    return [(e.client_order_id, e.last_qty, e.last_px) for e in events
            if isinstance(e, ev.OrderFilled)]


def booked(terminal: Terminal, comment: str) -> list[dict[str, Any]]:
    return [d for d in terminal.deals if d["comment"] == comment]


class Pauses:
    """The router's back-off pauses, recorded instead of slept."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def router_of(execution: Mt5ExecutionClient, events: list[ev.OrderEvent],
              pauses: Pauses) -> LiveOrderRouter:
    router = LiveOrderRouter(execution, LiveClock(), RetryPolicy(attempts=4), seed=1,
                             sleep=pauses)
    router.bind(events.append)
    return router


# -- 6. requotes and changed prices ------------------------------------------------------------

def instant_execution(terminal: Terminal) -> None:
    """EURUSD on instant execution: a deal priced further than its deviation from the market
    is requoted (the market moves with ``move_on_send`` as the request arrives)."""
    terminal.symbols["EURUSD"].exemode = mt5.SYMBOL_TRADE_EXECUTION_INSTANT


def test_a_move_within_the_deviation_fills_at_once_and_a_requote_is_priced_again(
        terminal: Terminal, tmp_path: Path) -> None:
    instant_execution(terminal)

    async def scenario() -> list[ev.OrderEvent]:
        async with running(tmp_path, deviation_points=20) as (execution, events):
            terminal.move_on_send("EURUSD", 1.08510, 1.08520)  # 10 points: within 20
            await execution.submit_order(market("RQ-1"))
            terminal.move_on_send("EURUSD", 1.08560, 1.08570)  # 50 points: requoted
            await execution.submit_order(market("RQ-2"))
            return events

    events = asyncio.run(scenario())
    assert [(q.comment, q.price, q.deviation) for q in terminal.sent] == [
        ("RQ-1", 1.0851, 20),
        ("RQ-2", 1.0852, 20), ("RQ-2", 1.0857, 20)]  # priced again at the requote's price
    assert fills(events) == [("RQ-1", Decimal("0.10"), Decimal("1.08520")),
                             ("RQ-2", Decimal("0.10"), Decimal("1.08570"))]
    assert len(booked(terminal, "RQ-2")) == 1 and terminal.submits == {"RQ-1": 1, "RQ-2": 1}
    assert len(terminal.checked) == 3  # each attempt checked before it was sent


def test_requotes_are_bounded_then_a_clear_retryable_error_and_nothing_is_booked(
        terminal: Terminal, tmp_path: Path) -> None:
    instant_execution(terminal)

    async def scenario() -> list[ev.OrderEvent]:
        async with running(tmp_path, deviation_points=20, requotes=2) as (execution, events):
            for bid in (1.08560, 1.08610, 1.08660):  # the market runs away three times
                terminal.move_on_send("EURUSD", bid, round(bid + 0.0001, 5))
            first = market("RQ-3")
            with pytest.raises(Mt5RetryableError) as requoted:
                await execution.submit_order(first)
            assert str(requoted.value) == ("order_send RQ-3: still 10004 REQUOTE (requote) "
                                           "after 3 tries within 20 points")
            assert requoted.value.code == 10004
            assert booked(terminal, "RQ-3") == [] and not terminal.orders
            # retried later (the router does so for a retryable error): it fills, once
            await execution.submit_order(first)
            await execution.submit_order(first)  # sent and filled already: not again
            return events

    events = asyncio.run(scenario())
    assert [q.price for q in terminal.sent] == [1.0851, 1.0857, 1.0862, 1.0867]
    assert fills(events) == [("RQ-3", Decimal("0.10"), Decimal("1.08670"))]
    assert len(booked(terminal, "RQ-3")) == 1 and terminal.submits == {"RQ-3": 1}


def test_changed_or_missing_prices_are_priced_again_too(terminal: Terminal,
                                                        tmp_path: Path) -> None:
    async def scenario() -> list[ev.OrderEvent]:
        async with running(tmp_path) as (execution, events):
            terminal.arm(mt5.TRADE_RETCODE_PRICE_OFF)
            terminal.arm(mt5.TRADE_RETCODE_PRICE_CHANGED)
            terminal.set_price("EURUSD", 1.08700, 1.08712)
            await execution.submit_order(market("PC-1", SELL))
            return events

    events = asyncio.run(scenario())
    assert [(q.comment, q.price) for q in terminal.sent] == [("PC-1", 1.087)] * 3
    assert fills(events) == [("PC-1", Decimal("0.10"), Decimal("1.08700"))]
    assert terminal.submits == {"PC-1": 1}


# -- 7. halt-this-symbol and back-off ----------------------------------------------------------

@pytest.mark.parametrize(("code", "how"), [
    (mt5.TRADE_RETCODE_MARKET_CLOSED, "order_send"),  # the server said so on sending
    (mt5.TRADE_RETCODE_TRADE_DISABLED, "order_check"),  # the symbol's trade mode says so
])
def test_a_halted_symbol_refuses_orders_locally_while_others_trade(
        terminal: Terminal, tmp_path: Path, code: int, how: str) -> None:
    async def scenario() -> list[ev.OrderEvent]:
        async with running(tmp_path, halt_s=0.5) as (execution, events):
            if how == "order_send":
                terminal.arm(code)
            else:
                terminal.set_trade_mode("EURUSD", mt5.SYMBOL_TRADE_MODE_DISABLED)
            with pytest.raises(Mt5FatalError) as halted:
                await execution.submit_order(market("HALT-1"))
            assert halted.value.halt_symbol and halted.value.code == code
            assert str(halted.value).startswith(f"{how} HALT-1: {code} ")
            calls = len(terminal.calls)
            with pytest.raises(Mt5FatalError) as refused:
                await execution.submit_order(market("HALT-2", SELL))
            assert refused.value.halt_symbol and refused.value.code == code
            assert str(refused.value).startswith(
                f"order HALT-2 refused: the trade server halted EURUSD ({code} ")
            assert "not asked again for" in str(refused.value)
            assert "order_check" not in terminal.calls[calls:]  # refused here, not asked
            assert "order_send" not in terminal.calls[calls:]
            # other symbols trade on
            await execution.submit_order(market("OTHER-1", symbol="USDJPY"))
            # once the halt has run out the server is asked again
            terminal.set_trade_mode("EURUSD", mt5.SYMBOL_TRADE_MODE_FULL)
            await asyncio.sleep(0.6)
            await execution.submit_order(market("HALT-3"))
            return events

    events = asyncio.run(scenario())
    assert [f[0] for f in fills(events)] == ["OTHER-1", "HALT-3"]
    assert [q.comment for q in terminal.checked] == ["HALT-1", "OTHER-1", "HALT-3"]


def test_close_only_still_lets_a_position_be_closed(terminal: Terminal,
                                                     tmp_path: Path) -> None:
    async def scenario() -> list[ev.OrderEvent]:
        async with running(tmp_path) as (execution, events):
            await execution.submit_order(market("CO-1", BUY, "0.30"))
            terminal.set_trade_mode("EURUSD", mt5.SYMBOL_TRADE_MODE_CLOSEONLY)
            with pytest.raises(Mt5FatalError, match="CO-2: 10044 CLOSE_ONLY") as halted:
                await execution.submit_order(market("CO-2", BUY, "0.10"))
            assert halted.value.halt_symbol
            checks = len(terminal.checked)
            for refused in (market("CO-3", BUY, "0.10"), market("CO-4", SELL, "0.40")):
                with pytest.raises(Mt5FatalError, match=r"refused: the trade server halted "
                                                        r"EURUSD \(10044 CLOSE_ONLY"):
                    await execution.submit_order(refused)  # opens, or turns the position
            assert len(terminal.checked) == checks
            await execution.submit_order(market("CO-5", SELL, "0.10"))  # reduces: goes
            await execution.submit_order(market("CO-6", SELL, "0.20"))  # closes: goes
            assert await execution.positions() == []
            return events

    events = asyncio.run(scenario())
    assert [(f[0], f[1]) for f in fills(events)] == [
        ("CO-1", Decimal("0.30")), ("CO-5", Decimal("0.10")), ("CO-6", Decimal("0.20"))]
    assert [q.comment for q in terminal.sent] == ["CO-1", "CO-5", "CO-6"]


def test_back_off_codes_are_retried_by_the_router_after_a_pause(terminal: Terminal,
                                                                tmp_path: Path) -> None:
    pauses = Pauses()

    async def scenario() -> list[ev.OrderEvent]:
        async with running(tmp_path) as (execution, events):
            terminal.arm(mt5.TRADE_RETCODE_TOO_MANY_REQUESTS)
            with pytest.raises(Mt5RetryableError, match="10024 TOO_MANY_REQUESTS"):
                await execution.submit_order(market("BO-1"))
            assert "EURUSD" not in execution.halted  # a back-off halts nothing
            terminal.arm(mt5.TRADE_RETCODE_TOO_MANY_REQUESTS)
            terminal.arm(mt5.TRADE_RETCODE_LOCKED)
            router = router_of(execution, events, pauses)
            router.submit_order(market("BO-2"))
            await router.settle()
            return events

    events = asyncio.run(scenario())
    assert len(pauses.seconds) == 2  # paused before each retry
    assert [q.comment for q in terminal.sent] == ["BO-1", "BO-2", "BO-2", "BO-2"]
    assert fills(events) == [("BO-2", Decimal("0.10"), Decimal("1.08510"))]
    assert terminal.submits == {"BO-2": 1}


# -- 8. unclear outcomes -----------------------------------------------------------------------

FAULTS: dict[str, Callable[[Terminal, bool], None]] = {
    "10012 timeout": lambda t, book: t.arm(mt5.TRADE_RETCODE_TIMEOUT, book=book),
    "10031 connection": lambda t, book: t.arm(mt5.TRADE_RETCODE_CONNECTION, book=book),
    "None": lambda t, book: t.arm_none(book=book),
}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("reached", [True, False], ids=["booked", "not-booked"])
def test_an_unclear_outcome_is_looked_up_before_any_resend(
        terminal: Terminal, tmp_path: Path, fault: str, reached: bool) -> None:
    pauses = Pauses()

    async def scenario() -> list[ev.OrderEvent]:
        async with running(tmp_path) as (execution, events):
            FAULTS[fault](terminal, reached)
            router = router_of(execution, events, pauses)
            router.submit_order(market("UNK-1"))
            await router.settle()
            return events

    events = asyncio.run(scenario())
    sends = [i for i, c in enumerate(terminal.calls) if c == "order_send"]
    assert len(booked(terminal, "UNK-1")) == 1 and terminal.submits == {"UNK-1": 1}
    assert fills(events) == [("UNK-1", Decimal("0.10"), Decimal("1.08510"))]
    after_first = terminal.calls[sends[0] + 1:]
    if reached:
        # found by its tag: not sent again
        assert len(sends) == 1
        assert "orders_get" in after_first and "history_orders_get" in after_first
    else:
        # sent again only once every place it could be showed it is not there
        assert len(sends) == 2
        between = terminal.calls[sends[0] + 1:sends[1]]
        assert all(lookup in between for lookup in LOOKUPS), between
        assert [q.comment for q in terminal.sent] == ["UNK-1", "UNK-1"]
    if fault == "None":  # the link was taken for broken: initialized again before lookups
        assert len(terminal.init_calls) == 2
    assert pauses.seconds == []  # resolved by lookups, never by waiting blind
