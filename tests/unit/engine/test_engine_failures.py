"""A strategy whose code raises stops cleanly; the run and the other strategies go on."""

from __future__ import annotations

from decimal import Decimal

import pytest
from engine_harness import DAY, T0, Recorder, engine_with, series

from tradeloop.core.time import ns_to_iso
from tradeloop.engine.kernel import StrategyFailure
from tradeloop.model.data import Bar
from tradeloop.model.enums import OrderSide, OrderStatus
from tradeloop.model.events import OrderEvent, OrderFilled

CLOSES = [100, 101, 102, 103, 104, 105, 106, 107]


class Healthy(Recorder):
    """Buys 10 on its first bar and closes on its fifth."""

    def __init__(self, strategy_id: str = "healthy") -> None:
        super().__init__(strategy_id, act=self._trade)

    @staticmethod
    def _trade(s: Recorder, bar: Bar, index: int) -> None:
        if index == 0:
            s.buy(10)
        elif index == 4:
            s.close()


class Fragile(Recorder):
    """Keeps a far limit order working, buys once, and raises in ``hook`` at ``when``."""

    def __init__(self, hook: str, when: int = 2, strategy_id: str = "fragile") -> None:
        super().__init__(strategy_id)
        self.hook, self.when = hook, when
        self.resting = None
        self.events: list[OrderEvent] = []

    def _maybe_raise(self, hook: str) -> None:
        if hook == self.hook:
            raise ZeroDivisionError(f"boom in {hook}")

    def on_start(self) -> None:
        super().on_start()
        self._maybe_raise("on_start")

    def on_bar(self, bar: Bar) -> None:
        super().on_bar(bar)
        index = len(self.bars) - 1
        if index == 0:
            self.resting = self.buy(5, limit=1)  # never fills: cancelled when the strategy stops
        if index == 1:
            self.buy(1)  # fills at the open of the third bar
        if index == self.when:
            self._maybe_raise("on_bar")

    def on_fill(self, fill: OrderFilled) -> None:
        super().on_fill(fill)
        self._maybe_raise("on_fill")

    def on_order(self, event: OrderEvent) -> None:
        self.events.append(event)

    def on_stop(self) -> None:
        super().on_stop()
        self._maybe_raise("on_stop")


def run_pair(fragile: Fragile, healthy: Recorder | None = None):
    engine = engine_with(series("ABC", CLOSES))
    healthy = healthy or Healthy()
    engine.add_strategy(fragile)  # first: its failure must not skip the next strategy's bar
    engine.add_strategy(healthy)
    return engine.run(), healthy


# (hook, expected failure time, bars the fragile strategy saw)
CASES = [
    ("on_start", T0, 0),
    ("on_bar", T0 + 2 * DAY, 3),  # the bar's own time
    ("on_fill", T0 + 2 * DAY, 2),  # the fill at the third open, before that bar closes
]


@pytest.mark.parametrize(("hook", "ts", "seen"), CASES)
def test_a_failing_strategy_stops_and_the_other_keeps_trading(hook, ts, seen) -> None:
    fragile = Fragile(hook)
    run, healthy = run_pair(fragile)
    (failure,) = run.failures
    assert failure == StrategyFailure("fragile", hook, ts, f"ZeroDivisionError: boom in {hook}")
    where = "bar" if hook == "on_bar" else "time"
    assert str(failure) == (
        f"strategy fragile stopped: ZeroDivisionError: boom in {hook} in {hook} "
        f"at {where} {ns_to_iso(ts)}"
    )
    assert len(fragile.bars) == seen
    assert not fragile.stopped  # on_stop is not called on a stopped strategy
    # the other strategy saw every bar and traded
    assert [ts for _, ts, _ in healthy.bars] == [T0 + k * DAY for k in range(len(CLOSES))]
    assert [(f.side, f.last_qty, f.last_px) for f in healthy.fills] == [
        (OrderSide.BUY, Decimal(10), Decimal(100)), (OrderSide.SELL, Decimal(10), Decimal(104))]
    assert healthy.position().is_flat


@pytest.mark.parametrize("hook", ["on_bar", "on_fill"])
def test_working_orders_of_a_failed_strategy_are_cancelled(hook: str) -> None:
    fragile = Fragile(hook)
    run, _ = run_pair(fragile)
    assert fragile.resting is not None
    assert fragile.resting.status is OrderStatus.CANCELED
    assert all(not o.is_open for o in run.orders if o.strategy_id == "fragile")
    # it hears nothing after it stopped: the cancel of its resting order is not delivered
    assert not any(e.client_order_id == fragile.resting.client_order_id
                   and e.kind == "OrderCanceled" for e in fragile.events)


def test_a_failure_in_on_stop_is_recorded() -> None:
    fragile = Fragile("on_stop")
    run, healthy = run_pair(fragile)
    (failure,) = run.failures
    assert (failure.hook, failure.ts) == ("on_stop", T0 + len(CLOSES) * DAY)
    assert len(fragile.bars) == len(CLOSES) and healthy.stopped


def test_an_order_the_risk_gate_denies_is_an_event_not_a_failure() -> None:
    def oversized(s: Recorder, bar: Bar, index: int) -> None:
        if index == 0:
            s.sell(3, reduce_only=True)  # nothing to reduce

    rec = Recorder(act=oversized)
    engine = engine_with(series("ABC", CLOSES))
    engine.add_strategy(rec)
    run = engine.run()
    assert run.failures == []
    (order,) = run.orders
    assert order.status is OrderStatus.DENIED
    assert "reduce-only" in order.reason


def test_several_strategies_may_fail_at_different_times() -> None:
    first, second = Fragile("on_bar", when=1), Fragile("on_bar", when=5, strategy_id="fragile2")
    engine = engine_with(series("ABC", CLOSES))
    engine.add_strategy(first)
    engine.add_strategy(second)
    healthy = engine.add_strategy(Healthy()).strategy
    run = engine.run()
    assert [(f.strategy_id, f.ts) for f in run.failures] == [
        ("fragile", T0 + DAY), ("fragile2", T0 + 5 * DAY)]
    assert len(healthy.bars) == len(CLOSES)  # type: ignore[attr-defined]


def test_an_indicator_declared_after_the_start_stops_the_strategy_with_a_hint() -> None:
    from tradeloop.indicators import SMA
    from tradeloop.strategy import Strategy

    class Late(Strategy):
        def on_bar(self, bar) -> None:
            self.late = self.indicator(SMA(2))

    engine = engine_with(series("A", [1, 2, 3]))
    engine.add_strategy(Late())
    run = engine.run()
    assert len(run.failures) == 1
    assert "declare indicators in on_start" in run.failures[0].error
