"""The IBKR adapter on the stand-in IB Gateway, for what the conformance suite does not cover:
a future's front month and its roll, an option, FX, native brackets and OCA groups, trailing
stops, the outside-regular-hours flag, GTD expiry, commissions, the global cancel and account
values, the daily Gateway restart (refused connects, reconnection with backoff, then the
orders brought up to date), a restored IB link (1101), quotes, trades and real-time bars, and
history over a long range within IB's pacing rules.

Orders go through a node's own order path (execution engine, live router, reconciler: the
conformance :class:`~tradeloop.brokers.testing.harness.Desk`); what reached the Gateway is read
from the stand-in (``GATEWAY.orders``, ``GATEWAY.executions``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from support.ib_standin import GATEWAY
from tradeloop.brokers.base import BrokerAdapter
from tradeloop.brokers.ibkr import build_adapter, capabilities, load_config
from tradeloop.brokers.ibkr.contracts import last_trade_date
from tradeloop.brokers.ibkr.execution import IbkrExecutionClient
from tradeloop.brokers.ibkr.orders import good_till
from tradeloop.brokers.testing.harness import Desk, Target, TargetSpec
from tradeloop.execution.engine import EXECUTE
from tradeloop.model import commands as cmd
from tradeloop.model import events as ev
from tradeloop.model.data import Bar, QuoteTick, TradeTick
from tradeloop.model.enums import (
    AssetClass,
    ContingencyType,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TrailingOffsetType,
)
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order

BUY, SELL = OrderSide.BUY, OrderSide.SELL
MINUTE_NS = 60 * 10**9
SETTINGS: dict[str, Any] = {
    "client_factory": "support.ib_standin:client_factory",
    "connect_timeout_s": 10.0, "ack_timeout_s": 2.0, "commission_wait_s": 1.0,
    "reconnect_initial_s": 0.1, "reconnect_max_s": 0.4,
    "contracts": {"AAPL": {"primary_exchange": "NASDAQ"},
                  "ES": {"sec_type": "FUT", "exchange": "CME", "roll_days": 5}},
}
AAPL = Instrument("AAPL", "IBKR", AssetClass.EQUITY, "USD", "USD", Decimal("0.01"))
ES = Instrument("ES", "IBKR", AssetClass.FUTURE, "USD", "USD", Decimal("0.25"),
                multiplier=Decimal(50))


class _Counterparty:
    steering: frozenset[str] = frozenset()


@pytest.fixture(autouse=True)
def _fresh_gateway() -> Iterator[None]:
    GATEWAY.reset()
    yield
    GATEWAY.reset()


def adapter(today: Callable[[], dt.date] | None = None, **extra: Any) -> BrokerAdapter:
    settings = {**SETTINGS, **extra}
    config = load_config(settings)
    return build_adapter(config, today=today) if today else build_adapter(config)


def desk_for(instrument: Instrument, made: BrokerAdapter, quantity: Decimal = Decimal(10)
             ) -> Desk:
    target = Target(TargetSpec("ibkr/standin", capabilities(), frozenset()),
                    _Counterparty(), lambda: made, instrument, quantity,  # type: ignore[arg-type]
                    Decimal("150.00"), Decimal("150.02"), settle_s=10.0)
    return Desk(target, made)


def execution_of(made: BrokerAdapter) -> IbkrExecutionClient:
    assert isinstance(made.execution, IbkrExecutionClient)
    return made.execution


def record(client_order_id: str) -> Any:
    return next(r for r in GATEWAY.orders if r.order_ref == client_order_id)


def run(work: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(work(), 60))


# -- contracts -----------------------------------------------------------------------------


def test_a_future_trades_its_front_month_then_rolls_to_the_next() -> None:
    today = [dt.datetime.now(dt.UTC).date()]
    made = adapter(today=lambda: today[0])
    book = execution_of(made).book

    async def work() -> None:
        desk = await desk_for(ES, made, Decimal(1)).open()
        try:
            inst = (await made.instruments.instruments(["ES"]))[0]
            assert (inst.symbol, inst.asset_class, inst.tick_size, inst.multiplier) == (
                "ES", AssetClass.FUTURE, Decimal("0.25"), Decimal(50))
            front = await book.details("ES")
            first = book.venue_symbol("ES")
            GATEWAY.set_price(first, 5200.0, 5200.25)
            bought = desk.submit(desk.order(BUY))
            await desk.until_status(bought, OrderStatus.FILLED)
            assert GATEWAY.executions[-1].local_symbol == first
            # five days before the front month's last trading day: the next month
            today[0] = last_trade_date(front) - dt.timedelta(days=5)
            second = (await book.contract("ES")).localSymbol
            assert second != first and book.venue_symbol("ES") == second
            assert [(r.symbol, r.old, r.new, r.day) for r in book.rolls] == [
                ("ES", first, second, today[0])]
            GATEWAY.set_price(second, 5210.0, 5210.25)
            again = desk.submit(desk.order(BUY))
            await desk.until_status(again, OrderStatus.FILLED)
            assert GATEWAY.executions[-1].local_symbol == second
            assert again.avg_px == Decimal("5210.25")
            # both months are held under the root, as the node books them
            positions = await made.execution.positions()
            assert [(p.symbol, p.quantity) for p in positions] == [("ES", Decimal(2))]
            assert (await desk.reconcile()).ok
        finally:
            await desk.close()

    run(work)


def test_an_option_is_one_configured_contract() -> None:
    listing = next(x for x in GATEWAY.catalogue.listings
                   if x.sec_type == "OPT" and x.strike == 190.0 and x.right == "C")
    made = adapter(contracts={"AAPL-C190": {"sec_type": "OPT", "symbol": "AAPL",
                                            "expiry": listing.last_trade_date,
                                            "strike": "190", "right": "C"}})
    option = Instrument("AAPL-C190", "IBKR", AssetClass.EQUITY, "USD", "USD", Decimal("0.01"),
                        multiplier=Decimal(100))

    async def work() -> None:
        desk = await desk_for(option, made, Decimal(2)).open()
        try:
            inst = (await made.instruments.instruments(["AAPL-C190"]))[0]
            assert (inst.symbol, inst.multiplier, inst.tick_size) == (
                "AAPL-C190", Decimal(100), Decimal("0.01"))
            GATEWAY.set_price(listing.local_symbol, 5.0, 5.1)
            order = desk.submit(desk.order(BUY))
            await desk.until_status(order, OrderStatus.FILLED)
            assert order.avg_px == Decimal("5.10")
            assert GATEWAY.executions[-1].local_symbol == listing.local_symbol
            positions = await made.execution.positions()
            # IB's average cost is per unit of the underlying and includes the commission
            paid = Decimal(repr(GATEWAY.executions[-1].commission))
            cost = ((Decimal("5.10") * 200 + paid) / 200).quantize(Decimal("0.01"))
            assert [(p.symbol, p.quantity, p.avg_px) for p in positions] == [
                ("AAPL-C190", Decimal(2), cost)]
        finally:
            await desk.close()

    run(work)


# -- contingent orders, trailing stops, flags --------------------------------------------------


def _bracket(desk: Desk, entry: Decimal, stop: Decimal, target: Decimal
             ) -> tuple[Order, Order, Order]:
    parent = desk.order(BUY, OrderType.LIMIT, price=entry)
    sl = desk.order(SELL, OrderType.STOP, trigger=stop)
    tp = desk.order(SELL, OrderType.LIMIT, price=target)
    parent.contingency, parent.linked_ids = ContingencyType.OTO, (sl.client_order_id,
                                                                   tp.client_order_id)
    for leg, other in ((sl, tp), (tp, sl)):
        leg.parent_id = parent.client_order_id
        leg.contingency, leg.linked_ids = ContingencyType.OCO, (other.client_order_id,)
    for order in (parent, sl, tp):
        desk.cache.add_order(order)
    desk.bus.send(EXECUTE, cmd.SubmitOrderList((parent, sl, tp), desk.clock.now_ns()))
    return parent, sl, tp


def test_a_bracket_is_held_by_ib_itself() -> None:
    made = adapter()

    async def work() -> None:
        GATEWAY.set_price("AAPL", 150.0, 150.02)
        desk = await desk_for(AAPL, made).open()
        try:
            parent, sl, tp = _bracket(desk, Decimal("149.00"), Decimal("145.00"),
                                      Decimal("155.00"))
            for order in (parent, sl, tp):
                await desk.until_status(order, OrderStatus.ACCEPTED)
                assert not desk.execution.emulator.holds(order)  # nothing emulated
            p, s, t = record(parent.client_order_id), record(sl.client_order_id), \
                record(tp.client_order_id)
            assert (s.parent_id, t.parent_id) == (p.order_id, p.order_id)
            assert not p.transmit and [s.transmit, t.transmit].count(True) == 1
            assert p.transmitted and s.transmitted and t.transmitted
            assert s.oca_group == t.oca_group != "" and s.oca_type == t.oca_type == 1
            assert (s.status, t.status) == ("PreSubmitted", "PreSubmitted")  # wait for the entry
            GATEWAY.set_price("AAPL", 148.90, 148.95)
            await desk.until_status(parent, OrderStatus.FILLED)
            GATEWAY.set_price("AAPL", 155.10, 155.12)
            await desk.until_status(tp, OrderStatus.FILLED)
            await desk.until_status(sl, OrderStatus.CANCELED)  # IB's OCA cancelled it
            assert desk.cache.net_quantity("AAPL") == 0
            assert desk.router.sends == 3
        finally:
            await desk.close()

    run(work)


def test_one_cancels_other_is_an_oca_group() -> None:
    made = adapter()

    async def work() -> None:
        GATEWAY.set_price("AAPL", 150.0, 150.02)
        desk = await desk_for(AAPL, made).open()
        try:
            low = desk.order(BUY, OrderType.LIMIT, price=Decimal("148.00"))
            lower = desk.order(BUY, OrderType.LIMIT, price=Decimal("147.00"))
            for leg, other in ((low, lower), (lower, low)):
                leg.contingency, leg.linked_ids = ContingencyType.OCO, (other.client_order_id,)
                desk.cache.add_order(leg)
            desk.bus.send(EXECUTE, cmd.SubmitOrderList((low, lower), desk.clock.now_ns()))
            await desk.until_status(low, OrderStatus.ACCEPTED)
            await desk.until_status(lower, OrderStatus.ACCEPTED)
            a, b = record(low.client_order_id), record(lower.client_order_id)
            assert a.oca_group == b.oca_group and (a.oca_type, b.oca_type) == (1, 1)
            assert a.parent_id == b.parent_id == 0 and a.transmit and b.transmit
            GATEWAY.set_price("AAPL", 147.90, 147.95)
            await desk.until_status(low, OrderStatus.FILLED)
            await desk.until_status(lower, OrderStatus.CANCELED)
        finally:
            await desk.close()

    run(work)


def test_trailing_stops_by_amount_and_by_percent() -> None:
    made = adapter()

    async def work() -> None:
        GATEWAY.set_price("AAPL", 150.0, 150.02, 150.01)
        desk = await desk_for(AAPL, made).open()
        try:
            held = desk.submit(desk.order(BUY))
            await desk.until_status(held, OrderStatus.FILLED)
            trail = desk.submit(desk.order(SELL, OrderType.TRAILING_STOP,
                                           trailing_offset=Decimal("1.00")))
            await desk.until_status(trail, OrderStatus.ACCEPTED)
            sent = record(trail.client_order_id)
            assert (sent.order_type, sent.aux_price, sent.trailing_percent) == ("TRAIL", 1.0,
                                                                                None)
            for bid in (151.0, 152.0, 153.0):  # the stop follows the market up...
                GATEWAY.set_price("AAPL", bid, bid + 0.02, bid + 0.01)
            assert trail.status is OrderStatus.ACCEPTED
            GATEWAY.set_price("AAPL", 151.9, 151.92, 151.91)  # ...and is hit on the way down
            await desk.until_status(trail, OrderStatus.FILLED)
            assert trail.avg_px is not None and trail.avg_px > Decimal("151")
            percent = desk.order(SELL, OrderType.TRAILING_STOP, trailing_offset=Decimal("2"))
            percent.trailing_offset_type = TrailingOffsetType.PERCENT
            desk.submit(percent)
            await desk.until_status(percent, OrderStatus.ACCEPTED)
            sent = record(percent.client_order_id)
            assert (sent.order_type, sent.trailing_percent, sent.aux_price) == ("TRAIL", 2.0,
                                                                                None)
            desk.cancel(percent)
            await desk.until_status(percent, OrderStatus.CANCELED)
        finally:
            await desk.close()

    run(work)


def test_the_outside_regular_hours_flag_reaches_ib() -> None:
    async def work(made: BrokerAdapter, tags: tuple[str, ...]) -> bool:
        desk = await desk_for(AAPL, made).open()
        try:
            order = desk.order(BUY, OrderType.LIMIT, price=Decimal("140.00"))
            order.tags = tags
            desk.submit(order)
            await desk.until_status(order, OrderStatus.ACCEPTED)
            return bool(record(order.client_order_id).outside_rth)
        finally:
            await desk.close()

    flags: list[bool] = []

    async def all_cases() -> None:
        flags.append(await work(adapter(), ()))
        flags.append(await work(adapter(), ("entry", "outside_rth")))
        flags.append(await work(adapter(outside_rth=True), ()))
        flags.append(await work(adapter(outside_rth=True), ("rth_only",)))

    run(all_cases)
    assert flags == [False, True, True, False]


def test_commissions_are_recorded_with_each_fill() -> None:
    made = adapter()

    async def work() -> None:
        GATEWAY.set_price("AAPL", 150.0, 150.02)
        desk = await desk_for(AAPL, made).open()
        try:
            order = desk.submit(desk.order(BUY, quantity=Decimal(300)))
            await desk.until_status(order, OrderStatus.FILLED)
            fills = desk.fills(order)
            executed = [e for e in GATEWAY.executions if e.order_ref == order.client_order_id]
            assert [f.trade_id for f in fills] == [e.exec_id for e in executed]
            assert all(f.commission > 0 and f.commission_currency == "USD" for f in fills)
            assert [f.commission for f in fills] == [Decimal(repr(e.commission))
                                                     for e in executed]
            assert order.commission == sum((f.commission for f in fills), Decimal(0))
            reported = await made.execution.fills_since(0)
            assert [(f.trade_id, f.commission) for f in reported] == [
                (f.trade_id, f.commission) for f in fills]
        finally:
            await desk.close()

    run(work)


# -- the daily restart -------------------------------------------------------------------------


def test_the_daily_restart_reconnects_with_backoff_and_brings_orders_up_to_date(
        caplog: pytest.LogCaptureFixture) -> None:
    made = adapter()
    execution = execution_of(made)
    caplog.set_level(logging.WARNING, logger="tradeloop.brokers.ibkr.client")

    async def work() -> None:
        GATEWAY.set_price("AAPL", 150.0, 150.02)
        desk = await desk_for(AAPL, made).open()
        try:
            held = desk.submit(desk.order(BUY))
            await desk.until_status(held, OrderStatus.FILLED)
            resting = desk.submit(desk.order(BUY, OrderType.LIMIT, price=Decimal("145.00")))
            await desk.until_status(resting, OrderStatus.ACCEPTED)
            GATEWAY.restart(1.0)
            GATEWAY.fill(resting.client_order_id, 10.0)  # fills while the node cannot hear
            late = desk.submit(desk.order(BUY, OrderType.LIMIT, price=Decimal("144.00")))
            await desk.until_status(resting, OrderStatus.FILLED)  # no reconcile called
            await desk.until_status(late, OrderStatus.ACCEPTED)
            assert GATEWAY.submits(late.client_order_id) == 1
            assert execution.client.reconnects == 1 and execution.resyncs == 1
            assert (await desk.reconcile()).ok
            assert desk.cache.net_quantity("AAPL") == Decimal(20)
        finally:
            await desk.close()

    run(work)
    failed = [r for r in caplog.records if r.getMessage() == "IB reconnection failed"]
    assert len(failed) >= 2, "connects were not refused while the Gateway was down"
    waits = [r.fields["retry_in_s"] for r in failed]  # type: ignore[attr-defined]
    assert waits[:3] == [0.1, 0.2, 0.4][:len(waits[:3])]  # doubling up to the maximum
    assert max(waits) == 0.4


# -- market data --------------------------------------------------------------------------------


def test_real_time_bars_make_the_timeframe_asked_for() -> None:
    made = adapter()

    async def work() -> None:
        market = made.market_data
        assert market is not None
        await market.connect()
        try:
            await market.subscribe_bars("AAPL", "10s")
            stream = market.stream()
            bars: list[Bar] = []

            async def collect() -> None:
                while len(bars) < 2:
                    item = await anext(stream)
                    if isinstance(item, Bar):
                        bars.append(item)

            task = asyncio.ensure_future(collect())
            price = 150.0
            for _ in range(40):
                if task.done():
                    break
                price += 0.05
                GATEWAY.set_price("AAPL", price, price + 0.02, price + 0.01)
                GATEWAY.advance(2.5)
                await asyncio.sleep(0.02)
            await asyncio.wait_for(task, 10)
            assert all(b.symbol == "AAPL" and b.timeframe == "10s" for b in bars)
            assert all(b.ts % (10 * 10**9) == 0 for b in bars)
            assert bars[1].ts - bars[0].ts >= 10 * 10**9
            assert all(b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high
                       for b in bars)
        finally:
            await market.disconnect()

    run(work)


def test_history_over_a_long_range_keeps_ib_s_pacing_rules() -> None:
    made = adapter()

    async def work() -> None:
        market = made.market_data
        assert market is not None
        await market.connect()
        try:
            end = (dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
                   - dt.timedelta(days=1))
            start = end - dt.timedelta(days=14)
            start_ns, end_ns = int(start.timestamp()) * 10**9, int(end.timestamp()) * 10**9
            bars = await market.historical_bars("AAPL", "1m", start_ns, end_ns)
            stamps = bars.ts.tolist()
            assert stamps == sorted(set(stamps)) and start_ns <= stamps[0] and \
                stamps[-1] < end_ns
            assert all(t % MINUTE_NS == 0 for t in stamps)
            days = {t // (86_400 * 10**9) for t in stamps}
            assert len(days) >= 9  # every weekday of the fortnight came back
            assert market.pacer.waited_s > 0  # the pacer did hold requests back
        finally:
            await market.disconnect()

    run(work)
    requests = [r for r in GATEWAY.history_requests if r[1] == "AAPL"]
    assert len(requests) == 14
    times = sorted(r[0] for r in requests)
    assert not any(sum(1 for u in times if t - 2.0 < u <= t) >= 6 for t in times)
    assert len({r[2:] for r in requests}) == len(requests)  # no identical request
    errors = [fields for name, fields in GATEWAY.log if name == "error"]
    assert not [e for e in errors if "pacing" in str(e)], errors


def test_the_event_stream_survives_a_dropped_connection() -> None:
    made = adapter()

    async def work() -> None:
        desk = await desk_for(AAPL, made).open()
        try:
            GATEWAY.set_price("AAPL", 150.0, 150.02)
            resting = desk.submit(desk.order(BUY, OrderType.LIMIT, price=Decimal("149.50")))
            await desk.until_status(resting, OrderStatus.ACCEPTED)
            GATEWAY.drop_connection()
            await asyncio.sleep(0.3)
            GATEWAY.set_price("AAPL", 149.40, 149.45)
            await desk.until_status(resting, OrderStatus.FILLED)
            assert len([e for e in desk.events if isinstance(e, ev.OrderFilled)]) == 1
        finally:
            await desk.close()

    run(work)


def test_a_gtd_order_expires_at_its_time() -> None:
    made = adapter()

    async def work() -> None:
        GATEWAY.set_price("AAPL", 150.0, 150.02)
        desk = await desk_for(AAPL, made).open()
        try:
            expire = desk.clock.now_ns() + 1_200_000_000
            order = desk.submit(desk.order(BUY, OrderType.LIMIT, price=Decimal("140.00"),
                                           tif=TimeInForce.GTD, expire_ns=expire))
            await desk.until_status(order, OrderStatus.ACCEPTED)
            sent = record(order.client_order_id)
            assert sent.tif == "GTD" and sent.good_till_date == good_till(expire)
            while desk.clock.now_ns() < expire:
                await asyncio.sleep(0.1)
            GATEWAY.set_price("AAPL", 150.01, 150.03)  # the Gateway looks at its clock
            await desk.until_status(order, OrderStatus.EXPIRED)
        finally:
            await desk.close()

    run(work)


def test_a_restored_ib_link_resynchronises_orders_and_subscriptions() -> None:
    made = adapter()
    execution = execution_of(made)

    async def work() -> None:
        market = made.market_data
        assert market is not None
        GATEWAY.set_price("AAPL", 150.0, 150.02, 150.01)
        desk = await desk_for(AAPL, made).open()
        await market.connect()
        try:
            resting = desk.submit(desk.order(BUY, OrderType.LIMIT, price=Decimal("149.50")))
            await desk.until_status(resting, OrderStatus.ACCEPTED)
            await market.subscribe_quotes("AAPL")
            await market.subscribe_trades("AAPL")
            stream = market.stream()
            GATEWAY.lose_ib_link()
            GATEWAY.restore_ib_link(data_lost=True)
            await desk.until(lambda: execution.resyncs == 1, "the re-synchronisation")
            assert execution.client.restorations == 1 and execution.client.reconnects == 0
            GATEWAY.set_price("AAPL", 149.40, 149.45, 149.42)
            await desk.until_status(resting, OrderStatus.FILLED)
            seen: list[QuoteTick | TradeTick] = []
            while not any(isinstance(i, TradeTick) and i.price == 149.42 for i in seen) or \
                    not any(isinstance(i, QuoteTick) and i.bid == 149.40 for i in seen):
                item = await asyncio.wait_for(anext(stream), 5)
                assert isinstance(item, QuoteTick | TradeTick)
                seen.append(item)
            quotes = [(q.bid, q.ask) for q in seen if isinstance(q, QuoteTick)]
            assert quotes[-1] == (149.40, 149.45) and len(quotes) == len(set(quotes))
            assert all(i.symbol == "AAPL" for i in seen)
            assert all(a.ts <= b.ts for a, b in itertools.pairwise(seen))
        finally:
            await market.disconnect()
            await desk.close()

    run(work)


def test_cancel_all_and_the_account_s_values() -> None:
    made = adapter()

    async def work() -> None:
        GATEWAY.set_price("AAPL", 150.0, 150.02)
        desk = await desk_for(AAPL, made).open()
        try:
            orders = [desk.submit(desk.order(BUY, OrderType.LIMIT, price=Decimal(p)))
                      for p in ("140.00", "141.00")]
            for order in orders:
                await desk.until_status(order, OrderStatus.ACCEPTED)
            await made.execution.cancel_all_orders()  # IB's global cancel
            for order in orders:
                await desk.until_status(order, OrderStatus.CANCELED)
            assert not await made.execution.open_orders()
            values = await execution_of(made).account_values()
            assert {"NetLiquidation", "TotalCashValue", "AvailableFunds"} <= set(values)
            report = await made.execution.account()
            assert (report.account_id, report.currency, report.balance, report.equity) == (
                "DU1234567", "USD", values["TotalCashValue"], values["NetLiquidation"])
        finally:
            await desk.close()

    run(work)


def test_fx_trades_in_units_and_its_history_is_midpoints() -> None:
    made = adapter(contracts={"EURUSD": {"sec_type": "CASH"}})
    eurusd = Instrument("EURUSD", "IBKR", AssetClass.FX, "EUR", "USD", Decimal("0.00005"))

    async def work() -> None:
        GATEWAY.set_price("EUR.USD", 1.08500, 1.08510)
        desk = await desk_for(eurusd, made, Decimal(20_000)).open()
        market = made.market_data
        assert market is not None
        await market.connect()
        try:
            inst = (await made.instruments.instruments(["EURUSD"]))[0]
            assert (inst.asset_class, inst.base_currency, inst.quote_currency,
                    inst.tick_size) == (AssetClass.FX, "EUR", "USD", Decimal("0.00005"))
            order = desk.submit(desk.order(BUY))
            await desk.until_status(order, OrderStatus.FILLED)
            assert order.avg_px == Decimal("1.08510")
            assert GATEWAY.executions[-1].local_symbol == "EUR.USD"
            end = time.time_ns() // (3600 * 10**9) * 3600 * 10**9
            bars = await market.historical_bars("EURUSD", "1h", end - 3 * 86_400 * 10**9, end)
            assert len(bars) > 0
            assert {r[5] for r in GATEWAY.history_requests} == {"MIDPOINT"}
        finally:
            await market.disconnect()
            await desk.close()

    run(work)
