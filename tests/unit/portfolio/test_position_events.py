"""Position events reach whoever subscribes, and are not made when nobody does."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradeloop.data import bundled_path, load_bars
from tradeloop.engine.backtest import BacktestConfig, BacktestEngine
from tradeloop.examples.sma_cross import SmaCross
from tradeloop.model import events as ev


@pytest.mark.parametrize("topic", ["events.position.*", "events.position.sma",
                                   "events.position.other"])
def test_a_backtest_publishes_each_position_change_to_its_subscribers(topic: str) -> None:
    engine = BacktestEngine(BacktestConfig(cash=Decimal(1_000_000)))
    engine.add_data(load_bars(bundled_path("GOOG")).bars)
    engine.add_strategy(SmaCross(strategy_id="sma"))
    seen: list[ev.PositionEvent] = []
    engine.kernel.bus.subscribe(topic, seen.append)
    run = engine.run()
    if topic.endswith("other"):  # another strategy's topic: nothing for it
        assert seen == []
        return
    buys = [f for f in run.fills if f.side == "BUY"]
    assert len(buys) == 33
    assert [type(e) for e in seen] == [ev.PositionOpened, ev.PositionClosed] * 32 + [
        ev.PositionOpened]
    assert [e.ts for e in seen] == [f.ts for f in run.fills]
    assert all(e.strategy_id == "sma" and e.symbol == "GOOG" for e in seen)
