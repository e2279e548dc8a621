"""Market data sources of a served venue: replay at N times speed (resuming after a restart),
seeded synthetic quotes, and a venue that keeps filling with no node connected."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from paper_harness import BUY, SYMBOL, ServedVenue, bar, make_venue, order, run, wait_for

from tradeloop.brokers.paper import market
from tradeloop.brokers.paper.config import MarketSourceConfig
from tradeloop.brokers.paper.market import (
    SeriesReplay,
    SyntheticQuotes,
    market_source_from_config,
)
from tradeloop.core.errors import ConfigError
from tradeloop.core.time import NANOS_PER_HOUR
from tradeloop.model.data import BarSeries
from tradeloop.model.enums import OrderStatus
from tradeloop.model.instrument import Instrument


def _series(count: int) -> BarSeries:
    bars = [bar(i, 100 - i, 101 - i, 99 - i, 100.5 - i) for i in range(count)]
    column = lambda k: np.array([b[k] for b in bars], dtype=np.float64)  # noqa: E731
    return BarSeries(SYMBOL, np.array([b.ts for b in bars], dtype=np.int64), column(2),
                     column(3), column(4), column(5), column(6), NANOS_PER_HOUR)


def test_a_replay_paces_at_n_times_speed_and_resumes_after_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(market.asyncio, "sleep", fake_sleep)
    venue = make_venue(tmp_path / "paper.db")
    venue.on_bar(bar(0, 100, 101, 99, 100.5))
    venue.on_bar(bar(1, 99, 100, 98, 99.5))
    seen: list[int] = []
    venue.subscribe_market(lambda item: seen.append(item.ts))
    run(SeriesReplay([_series(5)], speed=3600).run(venue))  # an hour a second
    assert seen == [bar(i, 1, 1, 1, 1).ts for i in (2, 3, 4)]  # 0 and 1 were processed
    assert waits == [0.0, 1.0, 1.0]
    venue.close()


def test_synthetic_quotes_are_seeded_and_on_the_tick() -> None:
    def make(seed: int) -> SyntheticQuotes:
        return SyntheticQuotes("ABC", Decimal("0.01"), seed=seed, start_price=50.0,
                               volatility=0.01, count=200, start_ns=1_000, interval_s=0.5)

    quotes = list(make(7).quotes())
    assert quotes == list(make(7).quotes())
    assert quotes != list(make(8).quotes())
    assert [q.ts for q in quotes[:3]] == [1_000, 500_001_000, 1_000_001_000]
    for q in quotes:
        assert round(q.ask - q.bid, 6) == 0.02
        assert abs(q.bid * 100 - round(q.bid * 100)) < 1e-6


def test_a_served_venue_keeps_filling_with_no_node_connected(tmp_path: Path) -> None:
    venue = make_venue(tmp_path / "paper.db")
    venue.submit(order(BUY, 5, cid="REST", price="97"))
    server = ServedVenue(venue, market_source=SeriesReplay([_series(6)], speed=0))
    try:
        async def main() -> None:
            await wait_for(lambda: venue.status("REST").status  # type: ignore[union-attr]
                           is OrderStatus.FILLED)

        run(main())
        [fill] = venue.fills_since(0)
        assert fill.price == Decimal(97)
    finally:
        server.stop()
        venue.close()


def test_sources_from_config(tmp_path: Path) -> None:
    abc = {"ABC": Instrument.equity("ABC")}
    assert market_source_from_config(MarketSourceConfig(), abc) is None
    csv = tmp_path / "ABC.csv"
    csv.write_text("time,open,high,low,close,volume\n"
                   "2024-01-02T14:00:00Z,100,101,99,100.5,10\n"
                   "2024-01-02T15:00:00Z,100.5,102,100,101,12\n")
    source = market_source_from_config(MarketSourceConfig(kind="bars", path=csv, speed=0), abc)
    assert isinstance(source, SeriesReplay)
    assert [b.close for b in source.items()] == [100.5, 101.0]  # type: ignore[union-attr]
    synthetic = market_source_from_config(MarketSourceConfig(kind="synthetic", seed=3), abc)
    assert isinstance(synthetic, SyntheticQuotes) and synthetic.symbol == "ABC"
    with pytest.raises(ConfigError, match="needs a path"):
        market_source_from_config(MarketSourceConfig(kind="quotes"), abc)
    with pytest.raises(ConfigError, match="store_root and symbol"):
        market_source_from_config(MarketSourceConfig(kind="store_bars", symbol="ABC"), abc)
    with pytest.raises(ConfigError, match="one of the venue's instruments"):
        market_source_from_config(MarketSourceConfig(kind="synthetic", symbol="ZZZ"), abc)
