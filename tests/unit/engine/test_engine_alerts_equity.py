"""Clock alerts set by a strategy fire at their simulated time during a backtest; the equity
curve is the balance plus open PnL marked at each bar's close."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from engine_harness import DAY, HOUR, T0, Recorder, engine_with, series

from tradeloop.brokers.simulated.fees import parse_commission
from tradeloop.brokers.simulated.venue import SimulatedVenueConfig
from tradeloop.data import bundled_path, load_bars
from tradeloop.engine.backtest import BacktestConfig, BacktestEngine, BacktestRun
from tradeloop.examples.sma_cross import SmaCross
from tradeloop.model.data import Bar
from tradeloop.model.enums import OrderSide

CLOSES = [100, 101, 102, 103, 104, 105]


class Alarmed(Recorder):
    """Sets alerts in on_start (name -> time) and logs each firing with the clock time."""

    def __init__(self, alerts: dict[str, int], strategy_id: str = "R", **kw) -> None:
        super().__init__(strategy_id, **kw)
        self.alerts = alerts

    def on_start(self) -> None:
        super().on_start()
        for name, at in self.alerts.items():
            self.context.clock.set_alert(name, at, self.on_alert)

    def on_alert(self, name: str, at_ns: int) -> None:
        self.log.append((f"alert:{name}@{at_ns}", self.now_ns))


def run_one(strategy: Recorder, closes=CLOSES, **series_kw) -> BacktestRun:
    engine = engine_with(series("ABC", closes, **series_kw))
    engine.add_strategy(strategy)
    return engine.run()


def labels(s: Recorder) -> list[str]:
    return [label.split("@")[0] if label.startswith("bar") else label for label, _ in s.log]


def test_an_alert_fires_at_its_own_time_between_the_bars_around_it() -> None:
    at = T0 + 2 * DAY + 12 * HOUR
    s = Alarmed({"mid": at})
    run_one(s)
    fired = [(label, now) for label, now in s.log if label.startswith("alert")]
    assert fired == [(f"alert:mid@{at}", at)]
    # bars are seen at their close: T0+1d, T0+2d, T0+3d ...; the alert falls between the 2nd
    # and the 3rd
    assert labels(s)[:4] == ["bar:ABC", "bar:ABC", f"alert:mid@{at}", "bar:ABC"]
    assert [now for _, now in s.log] == sorted(now for _, now in s.log)


def test_an_alert_at_a_bar_close_fires_before_that_bar_is_delivered() -> None:
    at = T0 + 2 * DAY
    s = Alarmed({"close": at})
    run_one(s)
    assert labels(s)[:3] == ["bar:ABC", f"alert:close@{at}", "bar:ABC"]
    assert s.log[1][1] == at == s.log[2][1]


def test_an_alert_in_a_gap_of_the_data_fires_at_its_time() -> None:
    days = [0, 1, 2, 5, 6]  # no bars on days 3 and 4
    s = Alarmed({"gap": T0 + 4 * DAY})
    run_one(s, closes=[100, 101, 102, 103, 104], times=[T0 + d * DAY for d in days])
    assert (f"alert:gap@{T0 + 4 * DAY}", T0 + 4 * DAY) in s.log
    seen_before = [now for label, now in s.log[: labels(s).index(f"alert:gap@{T0 + 4 * DAY}")]]
    assert seen_before == [T0 + DAY, T0 + 2 * DAY, T0 + 3 * DAY]


def test_an_alert_after_the_last_bar_never_fires() -> None:
    s = Alarmed({"late": T0 + 100 * DAY})
    run_one(s)
    assert not any(label.startswith("alert") for label, _ in s.log)


def test_an_order_sent_from_an_alert_fills_at_the_next_open() -> None:
    class BuysOnAlert(Alarmed):
        def on_alert(self, name: str, at_ns: int) -> None:
            super().on_alert(name, at_ns)
            self.order_sent = self.buy(5)

    s = BuysOnAlert({"buy": T0 + 2 * DAY + 6 * HOUR})
    run_one(s)
    assert s.order_sent.ts_init == T0 + 2 * DAY + 6 * HOUR
    (fill,) = s.fills
    assert fill.ts == T0 + 3 * DAY  # the open of the bar after the alert
    assert fill.last_px == Decimal(102)  # that bar opens at the previous close


def test_a_rearmed_alert_fires_every_half_day_until_the_end() -> None:
    class Every12h(Recorder):
        def on_start(self) -> None:
            self.context.clock.set_alert("tick", T0 + 12 * HOUR, self.tick)

        def tick(self, name: str, at_ns: int) -> None:
            self.log.append((name, self.now_ns))
            self.context.clock.set_alert(name, at_ns + 12 * HOUR, self.tick)

    s = Every12h()
    run_one(s)
    ticks = [now for label, now in s.log if label == "tick"]
    # the last bar opens at T0+5d and closes at T0+6d
    assert ticks == [T0 + k * 12 * HOUR for k in range(1, 13)]


def test_a_cancelled_alert_does_not_fire() -> None:
    def cancel_on_first_bar(s: Recorder, bar: Bar, index: int) -> None:
        if index == 0:
            s.context.clock.cancel_alert("later")

    s = Alarmed({"later": T0 + 3 * DAY}, act=cancel_on_first_bar)
    run_one(s)
    assert not any(label.startswith("alert") for label, _ in s.log)


def test_an_alert_handler_that_raises_stops_only_its_strategy() -> None:
    class Raises(Alarmed):
        def on_alert(self, name: str, at_ns: int) -> None:
            raise RuntimeError("alert failed")

    bad = Raises({"x": T0 + 2 * DAY + HOUR, "y": T0 + 4 * DAY}, "bad")
    good = Alarmed({"x": T0 + 3 * DAY + HOUR}, "good")
    engine = engine_with(series("ABC", CLOSES))
    engine.add_strategy(bad)
    engine.add_strategy(good)
    run = engine.run()
    (failure,) = run.failures
    assert (failure.strategy_id, failure.ts) == ("bad", T0 + 2 * DAY + HOUR)
    assert (failure.hook, failure.error) == ("alert 'x'", "RuntimeError: alert failed")
    assert str(failure).startswith("strategy bad stopped: RuntimeError: alert failed in alert")
    assert len(bad.bars) == 2  # nothing after the failure
    assert len(good.bars) == len(CLOSES)
    assert (f"alert:x@{T0 + 3 * DAY + HOUR}", T0 + 3 * DAY + HOUR) in good.log


def test_an_alert_set_in_the_past_fires_once_in_a_run_of_two_instruments() -> None:
    # With bars sharing their times the loop goes back to the second instrument's open after
    # the first one's close; an overdue alert must fire then, not stop the whole run.
    def remind_at_the_open(s: Recorder, bar: Bar, index: int) -> None:
        if index == 0:
            s.context.clock.set_alert("overdue", bar.ts, lambda n, t: s.log.append((n, t)))

    s = Recorder(act=remind_at_the_open)
    engine = engine_with(series("A", CLOSES), series("B", CLOSES))
    engine.add_strategy(s)
    run = engine.run()
    assert run.failures == []
    assert [entry for entry in s.log if entry[0] == "overdue"] == [("overdue", T0)]
    assert len(s.bars) == 2 * len(CLOSES)


def test_strategies_may_use_the_same_alert_name() -> None:
    first = Alarmed({"eod": T0 + DAY + 20 * HOUR}, "first")
    second = Alarmed({"eod": T0 + 3 * DAY + 20 * HOUR}, "second")
    engine = engine_with(series("ABC", CLOSES))
    engine.add_strategy(first)
    engine.add_strategy(second)
    engine.run()
    assert [lbl for lbl, _ in first.log if lbl.startswith("alert")] == [
        f"alert:eod@{T0 + DAY + 20 * HOUR}"]
    assert [lbl for lbl, _ in second.log if lbl.startswith("alert")] == [
        f"alert:eod@{T0 + 3 * DAY + 20 * HOUR}"]


# -- equity ---------------------------------------------------------------------------------


def replayed_equity(run: BacktestRun) -> np.ndarray:
    """Cash plus holdings at each timeline time, from the fills alone (one currency)."""
    cash = float(run.start_equity)
    held: dict[str, float] = {}
    out = []
    fills = sorted(run.fills, key=lambda f: f.ts)
    k = 0
    for i, t in enumerate(run.timeline.tolist()):
        while k < len(fills) and fills[k].ts <= t:
            f = fills[k]
            sign = 1 if f.side is OrderSide.BUY else -1
            cash -= sign * float(f.last_qty) * float(f.last_px) + float(f.commission)
            held[f.symbol] = held.get(f.symbol, 0.0) + sign * float(f.last_qty)
            k += 1
        out.append(cash + sum(q * run.marks[sym][i] for sym, q in held.items() if q))
    return np.array(out)


def test_equity_curve_of_sma_cross_on_goog() -> None:
    engine = BacktestEngine(BacktestConfig(
        venue=SimulatedVenueConfig(commission=parse_commission("0.1%,min=1"))))
    engine.add_data(load_bars(bundled_path("GOOG")).bars)
    engine.add_strategy(SmaCross(size=50))
    run = engine.run()
    assert len(run.fills) > 20 and all(f.commission > 0 for f in run.fills)
    assert run.equity.shape == run.timeline.shape
    assert run.equity[-1] == pytest.approx(float(run.final_equity), abs=1e-6)
    assert np.allclose(run.equity, replayed_equity(run), rtol=0, atol=1e-6)


def test_equity_with_positions_open_at_the_end_in_two_instruments() -> None:
    def trade(s: Recorder, bar: Bar, index: int) -> None:
        # Orders go out on a bar of their own symbol: one sent at A's close would be matched
        # against the B bar that opened before it (a known limit of the bar loop).
        if (bar.symbol, bar.ts) == ("A", T0):
            s.buy(10, "A")
        if (bar.symbol, bar.ts) == ("B", T0 + 12 * HOUR):
            s.sell(7, "B")
        if (bar.symbol, bar.ts) == ("B", T0 + 3 * DAY + 12 * HOUR):
            s.buy(3, "B")

    engine = engine_with(series("A", [50, 52, 51, 55, 60]),
                         series("B", [200, 190, 195, 180, 170, 175], start=T0 + 12 * HOUR))
    s = Recorder(act=trade)
    engine.add_strategy(s)
    run = engine.run()
    assert run.failures == []
    assert s.position("A").quantity == 10 and s.position("B").quantity == -4
    assert run.equity[-1] == pytest.approx(float(run.final_equity), abs=1e-9)
    assert np.allclose(run.equity, replayed_equity(run), rtol=0, atol=1e-9)
    assert run.final_equity != run.final_balance  # open PnL counted
    assert run.in_market.tolist() == [False, False, True, True, True, True, True, True, True,
                                      True, True]
