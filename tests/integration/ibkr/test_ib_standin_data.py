"""Market data from the IB stand-in through ib_async's real ``IB``: streaming ticks, snapshots,
5-second real-time bars, and historical bars with IB's pacing rules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from ib_async import IB, BarDataList, Forex, Stock
from ib_async.contract import Contract

from support.ib_standin import GATEWAY, Gateway
from support.ib_standin.harness import connect, run, settle, until

END = datetime(2024, 3, 5, 21, 0, tzinfo=UTC)  # a Tuesday, 16:00 in New York


@pytest.fixture(autouse=True)
def gateway() -> Iterator[Gateway]:
    GATEWAY.reset()
    yield GATEWAY
    GATEWAY.reset()


async def _setup() -> tuple[IB, Contract, list[tuple[int, int, str]]]:
    ib = await connect(client_id=21)
    errors: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req, code, msg, _c: errors.append((req, code, msg))
    [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    return ib, aapl, errors


def test_streaming_ticks_follow_set_price() -> None:
    async def scenario() -> None:
        ib, aapl, _ = await _setup()
        GATEWAY.set_price("AAPL", 189.99, 190.01, 190.00)
        ticker = ib.reqMktData(aapl)
        pending: list[set[object]] = []
        ib.pendingTickersEvent += lambda tickers: pending.append(set(tickers))
        await until(lambda: ticker.bid == 189.99, "the current quote")
        assert (ticker.ask, ticker.last, ticker.bidSize) == (190.01, 190.00, 100)
        assert ticker.minTick == 0.01
        GATEWAY.set_price("AAPL", 190.10, 190.12, 190.11, bid_size=300, ask_size=200,
                          last_size=7)
        await until(lambda: ticker.bid == 190.10, "the next quote")
        assert (ticker.ask, ticker.last) == (190.12, 190.11)
        assert (ticker.bidSize, ticker.askSize, ticker.lastSize) == (300, 200, 7)
        assert {t.tickType for t in ticker.ticks} >= {1, 2, 4}  # one packet per update
        assert pending and ticker in pending[-1]
        GATEWAY.set_price("MSFT", 410.00, 410.05)  # another contract: no tick here
        ib.cancelMktData(aapl)
        GATEWAY.set_price("AAPL", 191.00, 191.02, 191.01)
        await settle()
        assert ticker.bid == 190.10
        ib.disconnect()

    run(scenario())


def test_snapshot_and_market_data_type() -> None:
    async def scenario() -> None:
        ib, aapl, _ = await _setup()
        ib.reqMarketDataType(3)
        GATEWAY.set_price("AAPL", 189.99, 190.01, 190.00)
        [ticker] = await ib.reqTickersAsync(aapl)
        assert (ticker.bid, ticker.ask, ticker.last) == (189.99, 190.01, 190.00)
        ib.disconnect()

    run(scenario())


def test_real_time_bars_are_built_from_the_prices_in_each_5_second_window() -> None:
    async def scenario() -> None:
        ib, aapl, _ = await _setup()
        trades = ib.reqRealTimeBars(aapl, 5, "TRADES", False)
        mids = ib.reqRealTimeBars(aapl, 5, "MIDPOINT", False)
        GATEWAY.advance(5 - GATEWAY.clock() % 5 + 0.5)  # just inside a fresh window
        start = int(GATEWAY.clock() // 5 * 5)
        GATEWAY.set_price("AAPL", 189.99, 190.01, 190.00, last_size=10)
        GATEWAY.advance(1)
        GATEWAY.set_price("AAPL", 190.49, 190.51, 190.50, last_size=20)
        GATEWAY.advance(1)
        GATEWAY.set_price("AAPL", 189.79, 189.81, 189.80, last_size=30)
        GATEWAY.set_price("AAPL", 189.89, 189.91)  # no trade: TRADES bars ignore it
        GATEWAY.advance(3)  # the window closes
        await until(lambda: len(trades) == 1 and len(mids) == 1, "the first bars")
        [bar] = trades
        assert bar.time == datetime.fromtimestamp(start, UTC)
        assert (bar.open_, bar.high, bar.low, bar.close) == (190.00, 190.50, 189.80, 189.80)
        assert bar.volume == 60 and bar.count == 3
        assert bar.wap == pytest.approx((190.0 * 10 + 190.5 * 20 + 189.8 * 30) / 60)
        assert mids[0].close == 189.90 and mids[0].count == 4
        GATEWAY.advance(5)  # a quiet window: a flat bar at the last close
        await until(lambda: len(trades) == 2, "the quiet bar")
        quiet = trades[1]
        assert (quiet.open_, quiet.close, quiet.volume) == (189.80, 189.80, 0)
        assert quiet.time == datetime.fromtimestamp(start + 5, UTC)
        ib.cancelRealTimeBars(trades)
        ib.disconnect()

    run(scenario())


def test_real_time_bars_reject_other_sizes_and_forex_trades() -> None:
    async def scenario() -> None:
        ib, aapl, errors = await _setup()
        [eur] = await ib.qualifyContractsAsync(Forex("EURUSD"))
        ib.reqRealTimeBars(aapl, 10, "TRADES", False)
        ib.reqRealTimeBars(eur, 5, "TRADES", False)
        await settle()
        assert [c for _, c, _ in errors] == [321, 162]
        ib.disconnect()

    run(scenario())


async def _history(ib: IB, contract: Contract, duration: str, size: str, what: str = "TRADES",
                   rth: bool = True, end: datetime = END, fmt: int = 2) -> BarDataList:
    return await ib.reqHistoricalDataAsync(contract, end, duration, size, what, rth,
                                           formatDate=fmt, timeout=0)


def test_historical_bars_are_deterministic_and_agree_across_bar_sizes() -> None:
    async def scenario() -> None:
        ib, aapl, errors = await _setup()
        minutes = await _history(ib, aapl, "1 D", "1 min")
        assert len(minutes) == 390  # one regular session
        assert minutes[0].date == datetime(2024, 3, 5, 14, 30, tzinfo=UTC)
        assert minutes[-1].date == datetime(2024, 3, 5, 20, 59, tzinfo=UTC)
        assert all(b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high
                   for b in minutes)
        assert all(round(b.close * 100) == b.close * 100 for b in minutes)  # on the tick
        GATEWAY.advance(16)  # an identical request is paced for 15 seconds
        again = await _history(ib, aapl, "1 D", "1 min")
        assert [(b.date, b.close) for b in again] == [(b.date, b.close) for b in minutes]
        hours = await _history(ib, aapl, "1 D", "1 hour")
        assert [b.date.hour for b in hours] == [14, 15, 16, 17, 18, 19, 20]  # 09:30 partial
        assert hours[0].high == max(b.high for b in minutes[:30])
        assert hours[-1].close == minutes[-1].close
        days = await _history(ib, aapl, "1 W", "1 day")
        assert [b.date for b in days] == [date(2024, 2, 28), date(2024, 2, 29),
                                          date(2024, 3, 1), date(2024, 3, 4), date(2024, 3, 5)]
        assert days[-1].high == max(b.high for b in minutes)
        assert days[-1].low == min(b.low for b in minutes)
        assert days[-1].open == minutes[0].open and days[-1].volume > 0
        local = await _history(ib, aapl, "1800 S", "5 mins", fmt=1)
        assert local[0].date.tzinfo is not None
        assert local[0].date.astimezone(UTC) == datetime(2024, 3, 5, 20, 30, tzinfo=UTC)
        assert errors == []
        ib.disconnect()

    run(scenario())


def test_historical_sessions_rth_and_midpoint() -> None:
    async def scenario() -> None:
        ib, aapl, errors = await _setup()
        extended = await _history(ib, aapl, "1 D", "1 hour", rth=False)
        # "1 D" is the 24 hours before the end: yesterday's evening session, today's morning
        hours = [b.date.astimezone(UTC).hour for b in extended]
        assert hours == [21, 22, 23, 0, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]
        assert extended[4].date == datetime(2024, 3, 5, 9, 0, tzinfo=UTC)  # 04:00 New York
        [eur] = await ib.qualifyContractsAsync(Forex("EURUSD"))
        fx = await _history(ib, eur, "1 D", "30 mins", what="MIDPOINT", rth=False)
        assert fx and fx[0].volume == -1
        assert 1.0 < fx[0].close < 1.2 and round(fx[0].close / 0.00005, 6).is_integer()
        weekend = await _history(ib, aapl, "1 D", "1 hour",
                                 end=datetime(2024, 3, 3, 20, 0, tzinfo=UTC))
        assert len(weekend) == 0 and errors[-1][1] == 162 and "no data" in errors[-1][2]
        fx_trades = await _history(ib, eur, "1 D", "1 hour")
        assert len(fx_trades) == 0 and errors[-1][1] == 162
        ib.disconnect()

    run(scenario())


def test_identical_requests_within_15_seconds_are_a_pacing_violation() -> None:
    async def scenario() -> None:
        ib, aapl, errors = await _setup()
        first = await _history(ib, aapl, "1 D", "5 mins")
        GATEWAY.advance(10)
        paced = await _history(ib, aapl, "1 D", "5 mins")
        assert len(first) > 0 and len(paced) == 0
        [(_req, code, msg)] = errors
        assert code == 162 and "pacing violation" in msg
        GATEWAY.advance(6)
        assert await _history(ib, aapl, "1 D", "5 mins")
        assert len(GATEWAY.history_requests) == 3
        _, symbol, end, duration, size, what = GATEWAY.history_requests[0]
        assert (symbol, end, duration, size, what) == ("AAPL", "20240305 21:00:00 UTC",
                                                       "1 D", "5 mins", "TRADES")
        ib.disconnect()

    run(scenario())


def test_more_than_six_requests_for_one_contract_within_two_seconds_are_paced() -> None:
    async def scenario() -> None:
        ib, aapl, errors = await _setup()
        for i in range(6):
            bars = await _history(ib, aapl, "1800 S", "1 min", end=END - timedelta(minutes=30 * i))
            assert bars, f"request {i + 1} should be served"
        seventh = await _history(ib, aapl, "1800 S", "1 min", end=END - timedelta(hours=4))
        assert len(seventh) == 0 and [c for _, c, _ in errors] == [162]
        assert "pacing violation" in errors[0][2]
        [msft] = await ib.qualifyContractsAsync(Stock("MSFT", "SMART", "USD"))
        assert await _history(ib, msft, "1800 S", "1 min")  # another contract is not paced
        GATEWAY.advance(2.5)
        assert await _history(ib, aapl, "1800 S", "1 min", end=END - timedelta(hours=5))
        ib.disconnect()

    run(scenario())


def test_more_than_60_requests_in_ten_minutes_are_paced() -> None:
    async def scenario() -> None:
        ib, aapl, errors = await _setup()
        for i in range(60):
            GATEWAY.advance(2.5)  # clear of the burst rule
            bars = await _history(ib, aapl, "1800 S", "1 min", end=END - timedelta(days=i))
            assert bars or errors[-1][2].endswith("returned no data")
        GATEWAY.advance(2.5)
        assert len(await _history(ib, aapl, "1800 S", "5 mins")) == 0
        assert "pacing violation" in errors[-1][2]
        GATEWAY.advance(600)
        assert await _history(ib, aapl, "1800 S", "5 mins")
        ib.disconnect()

    run(scenario())


def test_head_timestamp() -> None:
    async def scenario() -> None:
        ib, aapl, _ = await _setup()
        head = await ib.reqHeadTimeStampAsync(aapl, "TRADES", True, 2)
        assert isinstance(head, datetime) and head.year < END.year
        ib.disconnect()

    run(scenario())
