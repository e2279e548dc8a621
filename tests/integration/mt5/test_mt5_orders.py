"""Orders through the MetaTrader 5 adapter on the in-process stand-in terminal: market, limit,
stop and stop-limit orders with stop-loss and take-profit (``"sl=..."``/``"tp=..."`` tags on
the order), the filling mode each symbol allows, ``order_check`` before ``order_send``,
modifying pending orders and position stops, closing hedged positions by their tickets, and
each strategy's magic number and our client order id in the order comment.

What reached the terminal is read from the stand-in: ``TERMINAL.checked`` and
``TERMINAL.sent`` (the ``order_check`` and ``order_send`` requests as received), ``calls``,
its orders, positions and deals."""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest

import support.mt5_standin as mt5
from support.mt5_standin import Spec, Terminal
from tradeloop.brokers.mt5 import Mt5ExecutionClient, Mt5FatalError, create_adapter
from tradeloop.brokers.mt5.parse import tag
from tradeloop.core.clock import LiveClock
from tradeloop.core.identifiers import ClientOrderIdGenerator
from tradeloop.execution.live import LiveOrderRouter
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from tradeloop.model.orders import Order

BUY, SELL = OrderSide.BUY, OrderSide.SELL
MODULE = "support.mt5_standin"
ATHENS = ZoneInfo("Europe/Athens")


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
    adapter = create_adapter({"module": MODULE, "symbols": ["EURUSD"], "poll_interval_s": 0.05,
                              **settings}, variant="", home=tmp_path)
    execution = cast(Mt5ExecutionClient, adapter.execution)
    events: list[ev.OrderEvent] = []
    execution.bind(events.append)
    await execution.connect()
    try:
        yield execution, events
    finally:
        await adapter.close()


def order(cid: str, side: OrderSide, quantity: str = "0.10",
          kind: OrderType = OrderType.MARKET, *, symbol: str = "EURUSD",
          price: str | None = None, trigger: str | None = None, tags: tuple[str, ...] = (),
          strategy: str = "alpha", tif: TimeInForce = TimeInForce.GTC) -> Order:
    return Order(cid, strategy, symbol, side, kind, Decimal(quantity), time.time_ns(),
                 price=Decimal(price) if price else None,
                 trigger_price=Decimal(trigger) if trigger else None, time_in_force=tif,
                 tags=tags)


def fills(events: list[ev.OrderEvent]) -> list[tuple[str, Decimal, Decimal]]:
    return [(e.client_order_id, e.last_qty, e.last_px) for e in events
            if isinstance(e, ev.OrderFilled)]


async def wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 15
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.02)


def deal_utc_ns(deal: dict[str, Any]) -> int:
    """A deal's server time (EET/EEST wall clock, ms) in UTC nanoseconds."""
    wall = datetime.fromtimestamp(deal["time_msc"] / 1000, UTC).replace(tzinfo=ATHENS)
    return int(wall.timestamp() * 1000) * 10**6


# -- 4. orders with stop-loss and take-profit, filling modes, order_check ---------------------

def test_a_market_order_carries_its_stops_and_is_checked_before_it_is_sent(
        terminal: Terminal, tmp_path: Path) -> None:
    async def scenario() -> list[ev.OrderEvent]:
        async with running(tmp_path) as (execution, events):
            await execution.submit_order(
                order("MKT-1", BUY, tags=("sl=1.08000", "tp=1.09500")))
            return events

    events = asyncio.run(scenario())
    [sent] = terminal.sent
    assert terminal.checked == [sent]  # the very request was checked first
    assert [c for c in terminal.calls if c.startswith("order_")] == ["order_check",
                                                                     "order_send"]
    assert (sent.action, sent.type, sent.symbol, sent.volume, sent.price) == (
        mt5.TRADE_ACTION_DEAL, mt5.ORDER_TYPE_BUY, "EURUSD", 0.1, 1.0851)
    assert (sent.sl, sent.tp, sent.deviation, sent.type_filling, sent.comment) == (
        1.08, 1.095, 20, mt5.ORDER_FILLING_FOK, "MKT-1")
    [held] = terminal.positions.values()
    assert (held.type, held.volume, held.sl, held.tp) == (mt5.POSITION_TYPE_BUY, 0.1, 1.08,
                                                          1.095)
    assert [type(e).__name__ for e in events] == ["OrderAccepted", "OrderFilled"]
    filled = cast(ev.OrderFilled, events[1])
    assert fills(events) == [("MKT-1", Decimal("0.10"), Decimal("1.08510"))]
    # the deal's time is on the server's clock (two or three hours ahead): the fill is in UTC
    deal = terminal.deals[-1]
    assert filled.ts == deal_utc_ns(deal) and filled.trade_id == str(deal["ticket"])


PENDING = [
    # cid, side, type, limit price, trigger price, stops, MetaTrader type, price, stoplimit,
    # the market that fills it (bid, ask), the fill price
    ("LMT-1", SELL, OrderType.LIMIT, "1.09000", None, ("sl=1.09500", "tp=1.08000"),
     mt5.ORDER_TYPE_SELL_LIMIT, 1.09, 0.0, (1.09000, 1.09010), "1.09000"),
    ("STP-1", BUY, OrderType.STOP, None, "1.09000", ("sl=1.08000", "tp=1.10000"),
     mt5.ORDER_TYPE_BUY_STOP, 1.09, 0.0, (1.08990, 1.09000), "1.09000"),
    ("STL-1", BUY, OrderType.STOP_LIMIT, "1.09050", "1.09000", ("sl=1.08000", "tp=1.10000"),
     mt5.ORDER_TYPE_BUY_STOP_LIMIT, 1.09, 1.0905, (1.08990, 1.09000), "1.09000"),
    ("STL-2", SELL, OrderType.STOP_LIMIT, "1.07950", "1.08000", ("sl=1.09000", "tp=1.07000"),
     mt5.ORDER_TYPE_SELL_STOP_LIMIT, 1.08, 1.0795, (1.07990, 1.08000), "1.07990"),
]


@pytest.mark.parametrize(("cid", "side", "kind", "price", "trigger", "stops", "mt_type",
                          "mt_price", "mt_stoplimit", "market", "fill_px"), PENDING)
def test_pending_orders_rest_with_their_stops_which_pass_to_the_position(
        terminal: Terminal, tmp_path: Path, cid: str, side: OrderSide, kind: OrderType,
        price: str | None, trigger: str | None, stops: tuple[str, ...], mt_type: int,
        mt_price: float, mt_stoplimit: float, market: tuple[float, float],
        fill_px: str) -> None:
    sl, tp = (float(s.split("=")[1]) for s in stops)

    async def scenario() -> list[ev.OrderEvent]:
        async with running(tmp_path) as (execution, events):
            await execution.submit_order(order(cid, side, "0.20", kind, price=price,
                                               trigger=trigger, tags=stops))
            [working] = terminal.orders.values()
            assert (working.type, working.price_open, working.price_stoplimit, working.sl,
                    working.tp, working.comment) == (mt_type, mt_price, mt_stoplimit, sl, tp,
                                                     cid)
            assert [r.client_order_id for r in await execution.open_orders()] == [cid]
            terminal.set_price("EURUSD", *market)
            await wait_for(lambda: bool(fills(events)), "the fill")
            return events

    events = asyncio.run(scenario())
    [sent] = terminal.sent
    assert terminal.checked == [sent]
    assert (sent.action, sent.type, sent.price, sent.stoplimit, sent.sl, sent.tp) == (
        mt5.TRADE_ACTION_PENDING, mt_type, mt_price, mt_stoplimit, sl, tp)
    assert (sent.type_filling, sent.type_time, sent.volume) == (
        mt5.ORDER_FILLING_RETURN, mt5.ORDER_TIME_GTC, 0.2)
    assert fills(events) == [(cid, Decimal("0.20"), Decimal(fill_px))]
    [held] = terminal.positions.values()
    assert (held.volume, held.sl, held.tp) == (0.2, sl, tp)
    assert terminal.history[int(cast(ev.OrderFilled, events[-1]).venue_order_id)].state == \
        mt5.ORDER_STATE_FILLED


def extra_symbols(terminal: Terminal) -> None:
    """An index on exchange execution that allows neither FOK nor IOC (RETURN only), and a
    forex symbol on instant execution whose flags say IOC only."""
    terminal.symbols["DAX40"] = Spec(
        "DAX40", 1, 1.0, volume_min=0.1, volume_step=0.1, filling_mode=0,
        exemode=mt5.SYMBOL_TRADE_EXECUTION_EXCHANGE, base="", profit="EUR", margin="EUR",
        path="Indices\\DAX40", bid=18000.0, ask=18001.0)
    terminal.symbols["EURUSD.i"] = Spec(
        "EURUSD.i", 5, 100_000, filling_mode=mt5.SYMBOL_FILLING_IOC,
        exemode=mt5.SYMBOL_TRADE_EXECUTION_INSTANT, base="EUR", margin="EUR",
        bid=1.08500, ask=1.08510)


@pytest.mark.parametrize(("symbol", "filling"), [
    ("EURUSD", mt5.ORDER_FILLING_FOK),  # FOK and IOC allowed: FOK
    ("XAUUSD", mt5.ORDER_FILLING_IOC),  # IOC only
    ("GBPUSD", mt5.ORDER_FILLING_FOK),  # FOK only
    ("DAX40", mt5.ORDER_FILLING_RETURN),  # neither, exchange execution: RETURN
    ("EURUSD.i", mt5.ORDER_FILLING_FOK),  # instant execution: always FOK
])
def test_a_market_deal_asks_for_a_filling_mode_its_symbol_allows(
        terminal: Terminal, tmp_path: Path, symbol: str, filling: int) -> None:
    extra_symbols(terminal)

    async def scenario() -> list[ev.OrderEvent]:
        async with running(tmp_path) as (execution, events):
            await execution.submit_order(order(f"FILL-{symbol}", BUY, symbol=symbol))
            # the stand-in refuses the modes the symbol does not allow, as a server does
            refused = {m for m in (mt5.ORDER_FILLING_FOK, mt5.ORDER_FILLING_IOC,
                                   mt5.ORDER_FILLING_RETURN)
                       if mt5.order_check({**terminal.sent[0]._asdict(), "type_filling": m}
                                          ).retcode == mt5.TRADE_RETCODE_INVALID_FILL}
            assert filling not in refused and refused
            return events

    events = asyncio.run(scenario())
    assert [q.type_filling for q in terminal.sent] == [filling]
    assert [(f[0], f[1]) for f in fills(events)] == [(f"FILL-{symbol}", Decimal("0.10"))]
    assert [d["comment"] for d in terminal.deals[1:]] == [f"FILL-{symbol}"]


def test_an_order_that_fails_its_check_is_never_sent(terminal: Terminal,
                                                      tmp_path: Path) -> None:
    async def scenario() -> list[ev.OrderEvent]:
        async with running(tmp_path) as (execution, events):
            cases = [
                (order("CHK-1", BUY, tags=("sl=1.09000",)), 10016, "INVALID_STOPS"),
                (order("CHK-2", BUY, "95"), 10019, "NO_MONEY"),
                (order("CHK-3", BUY, "60", symbol="XAUUSD"), 10014, "INVALID_VOLUME"),
                # a buy stop below the market (a marketable limit would go out as a deal)
                (order("CHK-4", BUY, "0.10", OrderType.STOP, trigger="1.08000"), 10015,
                 "INVALID_PRICE"),
            ]
            for bad, code, name in cases:
                with pytest.raises(Mt5FatalError) as refused:
                    await execution.submit_order(bad)
                assert refused.value.code == code and not refused.value.halt_symbol
                assert str(refused.value).startswith(f"order_check {bad.client_order_id}: "
                                                     f"{code} {name} (")
            assert len(terminal.checked) == 4
            # a malformed stop tag is refused before anything reaches the terminal
            with pytest.raises(Mt5FatalError, match="CHK-5: order tag 'tp=1,095': tp must "
                                                    "be a positive price"):
                await execution.submit_order(order("CHK-5", BUY, tags=("tp=1,095",)))
            assert len(terminal.checked) == 4
            # through the node's router: rejected with the terminal's reason, not retried
            router = LiveOrderRouter(execution, LiveClock())
            router.bind(events.append)
            router.submit_order(order("CHK-6", BUY, tags=("sl=1.09000",)))
            await router.settle()
            return events

    events = asyncio.run(scenario())
    assert terminal.sent == [] and "order_send" not in terminal.calls
    assert len(terminal.deals) == 1  # the deposit only
    [rejected] = [e for e in events if isinstance(e, ev.OrderRejected)]
    assert rejected.client_order_id == "CHK-6" and "10016 INVALID_STOPS" in rejected.reason
    assert len(terminal.checked) == 5


# -- 5. modify, position stops, cancel, close by ticket ---------------------------------------

def test_a_pending_orders_prices_change_its_volume_cannot(terminal: Terminal,
                                                          tmp_path: Path) -> None:
    async def scenario() -> list[ev.OrderEvent]:
        async with running(tmp_path) as (execution, events):
            limit = order("MOD-1", SELL, "0.30", OrderType.LIMIT, price="1.09000",
                          tags=("sl=1.09500", "tp=1.08000"), tif=TimeInForce.DAY)
            stop_limit = order("MOD-2", BUY, "0.10", OrderType.STOP_LIMIT, price="1.09050",
                               trigger="1.09000")
            await execution.submit_order(limit)
            await execution.submit_order(stop_limit)
            await execution.modify_order(limit, None, Decimal("1.09200"), None)
            await execution.modify_order(stop_limit, Decimal("0.10"), Decimal("1.09150"),
                                         Decimal("1.09100"))
            sends = len(terminal.sent)
            with pytest.raises(Mt5FatalError, match="cannot change a pending order's volume"):
                await execution.modify_order(limit, Decimal("0.50"), Decimal("1.09300"), None)
            assert len(terminal.sent) == sends  # nothing sent
            return events

    events = asyncio.run(scenario())
    first, second = sorted(terminal.orders.values(), key=lambda o: o.ticket)
    # the new price; stops, volume and the DAY lifetime as they were
    assert (first.price_open, first.sl, first.tp, first.volume_current, first.type_time) == (
        1.092, 1.095, 1.08, 0.3, mt5.ORDER_TIME_DAY)
    assert (second.price_open, second.price_stoplimit) == (1.091, 1.0915)
    modifies = [q for q in terminal.sent if q.action == mt5.TRADE_ACTION_MODIFY]
    assert [(q.order, q.price, q.type_time) for q in modifies] == [
        (first.ticket, 1.092, mt5.ORDER_TIME_DAY), (second.ticket, 1.091, mt5.ORDER_TIME_GTC)]
    updates = [(e.client_order_id, e.price, e.trigger_price) for e in events
               if isinstance(e, ev.OrderUpdated)]
    assert updates == [("MOD-1", Decimal("1.09200"), None),
                       ("MOD-2", Decimal("1.09150"), Decimal("1.09100"))]


def test_position_stops_are_set_changed_and_removed_and_orders_cancelled(
        terminal: Terminal, tmp_path: Path) -> None:
    async def scenario() -> list[ev.OrderEvent]:
        async with running(tmp_path) as (execution, events):
            await execution.submit_order(order("POS-1", BUY))
            [ticket] = terminal.positions
            await execution.set_position_stops(ticket, "EURUSD", Decimal("1.08000"),
                                               Decimal("1.09500"))
            assert (terminal.positions[ticket].sl, terminal.positions[ticket].tp) == (
                1.08, 1.095)
            await execution.set_position_stops(ticket, "EURUSD", Decimal("1.08200"), None)
            assert (terminal.positions[ticket].sl, terminal.positions[ticket].tp) == (
                1.082, 0.0)
            with pytest.raises(Mt5FatalError, match=r"SLTP #\d+: 10016 INVALID_STOPS"):
                await execution.set_position_stops(ticket, "EURUSD", Decimal("1.09000"), None)
            with pytest.raises(Mt5FatalError, match="10036 POSITION_CLOSED"):
                await execution.set_position_stops(999, "EURUSD", Decimal("1.08000"), None)
            await execution.set_position_stops(ticket, "EURUSD", None, None)
            assert (terminal.positions[ticket].sl, terminal.positions[ticket].tp) == (0, 0)
            sltp = [q for q in terminal.sent if q.action == mt5.TRADE_ACTION_SLTP]
            assert [(q.position, q.sl, q.tp) for q in sltp] == [
                (ticket, 1.08, 1.095), (ticket, 1.082, 0.0), (ticket, 1.09, 0.0),
                (999, 1.08, 0.0), (ticket, 0.0, 0.0)]

            resting = order("CXL-1", BUY, "0.10", OrderType.LIMIT, price="1.08000")
            await execution.submit_order(resting)
            await execution.cancel_order(resting)
            return events

    events = asyncio.run(scenario())
    assert not terminal.orders
    [cancelled] = [o for o in terminal.history.values() if o.comment == "CXL-1"]
    assert cancelled.state == mt5.ORDER_STATE_CANCELED
    assert terminal.sent[-1].action == mt5.TRADE_ACTION_REMOVE
    assert terminal.sent[-1].order == cancelled.ticket
    assert [type(e).__name__ for e in events if e.client_order_id == "CXL-1"] == [
        "OrderAccepted", "OrderCanceled"]


def test_hedged_positions_in_one_symbol_are_closed_by_their_tickets(
        terminal: Terminal, tmp_path: Path) -> None:
    terminal.hedging = True

    async def scenario() -> list[ev.OrderEvent]:
        async with running(tmp_path) as (execution, events):
            assert execution.hedging  # read from the account
            await execution.submit_order(order("HEDGE-A", BUY, "0.10"))
            terminal.set_price("EURUSD", 1.08600, 1.08610)
            await execution.submit_order(order("HEDGE-B", BUY, "0.20"))
            first, second = sorted(terminal.positions)
            assert [p.volume for p in terminal.positions.values()] == [0.1, 0.2]
            [net] = await execution.positions()
            assert (net.quantity, net.avg_px) == (Decimal("0.30"), Decimal("1.08577"))
            terminal.set_price("EURUSD", 1.08700, 1.08710)
            await execution.submit_order(order("CLOSE-B", SELL, "0.20"))
            assert list(terminal.positions) == [first]
            await execution.submit_order(order("CLOSE-A", SELL, "0.10"))
            assert terminal.positions == {}
            assert await execution.positions() == []
            closes = [q for q in terminal.sent if q.comment.startswith("CLOSE")]
            assert [(q.comment, q.position, q.type) for q in closes] == [
                ("CLOSE-B", second, mt5.ORDER_TYPE_SELL),
                ("CLOSE-A", first, mt5.ORDER_TYPE_SELL)]
            return events

    events = asyncio.run(scenario())
    closing = [d for d in terminal.deals if str(d["comment"]).startswith("CLOSE")]
    assert [(d["comment"], d["entry"], d["volume"]) for d in closing] == [
        ("CLOSE-B", mt5.DEAL_ENTRY_OUT, 0.2), ("CLOSE-A", mt5.DEAL_ENTRY_OUT, 0.1)]
    opened = {d["comment"]: d["position_id"] for d in terminal.deals
              if str(d["comment"]).startswith("HEDGE")}
    # each closing deal references the position its order named: B's, then A's
    assert [d["position_id"] for d in closing] == [opened["HEDGE-B"], opened["HEDGE-A"]]
    assert fills(events) == [
        ("HEDGE-A", Decimal("0.10"), Decimal("1.08510")),
        ("HEDGE-B", Decimal("0.20"), Decimal("1.08610")),
        ("CLOSE-B", Decimal("0.20"), Decimal("1.08700")),
        ("CLOSE-A", Decimal("0.10"), Decimal("1.08700"))]


# -- 10. magic numbers and the client order id in the comment ----------------------------------

def test_each_strategy_has_its_magic_and_our_id_rides_in_the_comment(
        terminal: Terminal, tmp_path: Path) -> None:
    now = 1_730_000_000 * 10**9
    ids = {s: ClientOrderIdGenerator(s).next_id(now)
           for s in ("alpha", "beta", "a-strategy-with-a-rather-long-name")}

    async def scenario() -> None:
        async with running(tmp_path, magic=500_000, magic_by_strategy={"beta": 4242}) as (
                execution, _):
            for strategy, cid in ids.items():
                await execution.submit_order(order(cid, BUY, "0.01", strategy=strategy))

    asyncio.run(scenario())
    assert [(q.comment, q.magic) for q in terminal.sent] == [
        (ids["alpha"], 500_000 + zlib.crc32(b"alpha") % 100_000),
        (ids["beta"], 4242),
        (ids["a-strategy-with-a-rather-long-name"],
         500_000 + zlib.crc32(b"a-strategy-with-a-rather-long-name") % 100_000)]
    assert all(len(cid) <= 31 for cid in ids.values())  # the ids strategies issue always fit
    assert [(d["comment"], d["magic"]) for d in terminal.deals[1:]] == [
        (q.comment, q.magic) for q in terminal.sent]


LONG_ID = "manual-eurusd-breakout-2024-10-25T23:00:00Z-0001"


def test_a_long_id_travels_as_its_hash_and_is_found_again_after_a_restart(
        terminal: Terminal, tmp_path: Path) -> None:
    async def before() -> list[ev.OrderEvent]:
        async with running(tmp_path) as (execution, events):
            await execution.submit_order(order(LONG_ID, SELL, "0.10", OrderType.LIMIT,
                                               price="1.09000"))
            [working] = await execution.open_orders()
            assert working.client_order_id == LONG_ID
            terminal.set_price("EURUSD", 1.09000, 1.09010)
            await wait_for(lambda: bool(fills(events)), "the fill")
            return events

    events = asyncio.run(before())
    assert fills(events) == [(LONG_ID, Decimal("0.10"), Decimal("1.09000"))]
    [sent] = terminal.sent
    assert sent.comment == tag(LONG_ID) and len(sent.comment) == 31
    assert sent.comment.startswith("tl:")

    async def after_a_restart() -> None:
        async with running(tmp_path) as (execution, _):
            report = await execution.order_status(LONG_ID)
            assert report is not None
            assert (report.client_order_id, report.status, report.filled_qty) == (
                LONG_ID, OrderStatus.FILLED, Decimal("0.10"))
            [fill] = await execution.fills_since(0)
            assert (fill.client_order_id, fill.quantity, fill.price) == (
                LONG_ID, Decimal("0.10"), Decimal("1.09000"))
            assert await execution.order_status("manual-never-sent-" + "x" * 30) is None

    asyncio.run(after_a_restart())


def test_orders_of_other_experts_and_manual_trades_are_left_alone(
        terminal: Terminal, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path, magic_by_strategy={"gamma": 7}) as (execution, _):
            for magic, comment in ((0, "manual"), (999, "another EA")):
                mt5.order_send({"action": mt5.TRADE_ACTION_PENDING, "symbol": "EURUSD",
                                "volume": 0.1, "type": mt5.ORDER_TYPE_BUY_LIMIT,
                                "price": 1.07, "magic": magic, "comment": comment})
            await execution.submit_order(order("OURS-1", BUY, "0.10", OrderType.LIMIT,
                                               price="1.08000"))
            await execution.submit_order(order("OURS-2", BUY, "0.10", OrderType.LIMIT,
                                               price="1.08000", strategy="gamma"))
            assert sorted(r.client_order_id for r in await execution.open_orders()) == [
                "OURS-1", "OURS-2"]
            await execution.cancel_all_orders()
            assert await execution.open_orders() == []

    asyncio.run(scenario())
    assert sorted(o.comment for o in terminal.orders.values()) == ["another EA", "manual"]
