"""History ranges split per Fyers' limits: 30 days of second candles, 100 days of minute
candles, 366 days of daily candles per request."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeloop.brokers.fyers.history import RESOLUTIONS, chunks, resolution_of, span_days
from tradeloop.core.errors import ConfigError

DAY = 86_400


@pytest.mark.parametrize(("timeframe", "resolution", "seconds"), [
    ("5s", "5S", 5), ("1m", "1", 60), ("45m", "45", 2700), ("1h", "60", 3600),
    ("4h", "240", 14_400), ("1d", "D", DAY),
])
def test_timeframes_map_to_fyers_resolutions(timeframe: str, resolution: str,
                                             seconds: int) -> None:
    assert resolution_of(timeframe) == (resolution, seconds)


def test_a_length_fyers_lacks_is_refused() -> None:
    with pytest.raises(ConfigError, match="Fyers has no 7m candles"):
        resolution_of("7m")
    with pytest.raises(ConfigError, match="Fyers has no 1w candles"):
        resolution_of("1w")


def test_the_span_per_request() -> None:
    assert (span_days(30), span_days(60), span_days(14_400), span_days(DAY)) == (30, 100, 100,
                                                                                 366)


@given(start=st.integers(0, 2_000_000_000), length=st.integers(1, 2000 * DAY),
       seconds=st.sampled_from(sorted(RESOLUTIONS)))
def test_requests_cover_the_range_without_gaps_or_overlaps(start: int, length: int,
                                                          seconds: int) -> None:
    end = start + length
    parts = chunks(start, end, seconds)
    assert parts[0][0] == start and parts[-1][1] == end - 1
    for (_, last), (first, _) in itertools.pairwise(parts):
        assert first == last + 1
    assert all(0 <= last - first < span_days(seconds) * DAY for first, last in parts)
    assert len(parts) == -(-length // (span_days(seconds) * DAY))
