"""The daily summary: when it is due (local time, across daylight-saving changes), what it
says (equity, the day's PnL, drawdown, trades and fills, open positions, risk state) and its
equity chart from the recorded account snapshots; the scheduler publishes it at that time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from support.nodes import stored_control, synthetic_node_config
from tradeloop.config.notify import DailySummaryConfig
from tradeloop.core.time import NANOS_PER_HOUR, dt_to_ns
from tradeloop.model import events as ev
from tradeloop.notify.base import Alert, AlertKind, Severity
from tradeloop.notify.summary import (
    daily_summary,
    daily_summary_async,
    local_day_start,
    next_occurrence,
    run_daily_summary,
)
from tradeloop.services.control import NodeControl

NY = ZoneInfo("America/New_York")
PNG = b"\x89PNG\r\n\x1a\n"


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_next_occurrence_is_the_same_wall_clock_time_across_dst() -> None:
    # 2026-03-08: New York springs forward at 02:00 (EST -5 to EDT -4)
    before = _utc(2026, 3, 7, 23, 0)  # 18:00 EST on the 7th
    due = next_occurrence(before, "17:05", "America/New_York")
    assert due.replace(tzinfo=None) == datetime(2026, 3, 8, 17, 5)
    assert due.astimezone(UTC) == _utc(2026, 3, 8, 21, 5)  # EDT now
    assert next_occurrence(_utc(2026, 3, 6, 23, 0), "17:05", "America/New_York") \
        .astimezone(UTC) == _utc(2026, 3, 7, 22, 5)  # EST the day before: 23 h apart
    # a time the clocks jump over is sent just after the jump
    gap = next_occurrence(_utc(2026, 3, 8, 5, 0), "02:30", "America/New_York")
    assert gap.astimezone(UTC) == _utc(2026, 3, 8, 7, 30) and gap.hour == 3
    # 2026-11-01 falls back at 02:00: 01:30 happens twice; the first is taken, once
    first = next_occurrence(_utc(2026, 11, 1, 4, 0), "01:30", "America/New_York")
    assert first.astimezone(UTC) == _utc(2026, 11, 1, 5, 30)
    then = next_occurrence(first + timedelta(seconds=1), "01:30", "America/New_York")
    assert then.astimezone(UTC) == _utc(2026, 11, 2, 6, 30)


def test_next_occurrence_is_strictly_after_and_local_days_start_at_local_midnight() -> None:
    at = _utc(2026, 6, 1, 17, 0)
    assert next_occurrence(at, "17:00", "UTC") == _utc(2026, 6, 2, 17, 0)
    assert next_occurrence(at - timedelta(microseconds=1), "17:00", "UTC") == at
    # Tokyo is ahead of UTC: its next 08:00 may be "tomorrow" there but today in UTC
    tokyo = next_occurrence(_utc(2026, 6, 1, 0, 0), "08:00", "Asia/Tokyo")
    assert tokyo.astimezone(UTC) == _utc(2026, 6, 1, 23, 0)
    noon = dt_to_ns(_utc(2026, 3, 8, 16, 0))
    assert local_day_start(noon, "America/New_York") == dt_to_ns(_utc(2026, 3, 8, 5, 0))


@pytest.fixture
def control(tmp_path: Path, tradeloop_home: Path) -> Any:
    with stored_control(synthetic_node_config(tmp_path, name="summary-node"),
                        tradeloop_home) as control:
        yield control


NOW = dt_to_ns(_utc(2026, 6, 2, 21, 0))


def _record(control: NodeControl) -> None:
    for hours_ago, equity in ((30, "100000"), (26, "100400"), (20, "100200"), (2, "99800"),
                              (1, "100150")):
        control.store.record_snapshot(ev.AccountState(
            ts=NOW - hours_ago * NANOS_PER_HOUR, account_id="summary-node", currency="USD",
            balance=Decimal("100000"), equity=Decimal(equity), margin_used=Decimal(0)))
    control.store.record_position(ev.PositionOpened(
        ts=NOW - NANOS_PER_HOUR, position_id="EURUSD-sma", symbol="EURUSD", strategy_id="sma",
        quantity=Decimal("1000"), avg_px=Decimal("1.10125"), realized_pnl=Decimal(0),
        currency="USD"))


def test_the_summary_says_the_numbers_and_draws_the_equity(control: NodeControl) -> None:
    _record(control)
    alert = daily_summary(control, now_ns=NOW, timezone="UTC")
    assert alert.kind == AlertKind.DAILY_SUMMARY and alert.severity is Severity.INFO
    assert alert.title == "Daily summary summary-node 2026-06-02"
    assert alert.fields["equity"] == "100,150.00 USD"
    assert alert.fields["day PnL"] == "-250.00 USD"  # against the last snapshot before 00:00
    assert alert.fields["drawdown"] == "-0.25%"
    assert alert.fields["open positions"] == "1" and alert.fields["fills"] == "0"
    assert alert.fields["trades closed"] == "0 (0 won, 0 lost)"
    assert alert.fields["risk state"] == "ACTIVE"
    assert "EURUSD 1000 @ 1.10125 (sma)" in alert.text
    assert alert.image is not None and alert.image.startswith(PNG)
    assert asyncio.run(daily_summary_async(control, now_ns=NOW)).image is not None


def test_without_snapshots_there_is_no_chart(control: NodeControl) -> None:
    alert = daily_summary(control, now_ns=NOW)
    assert alert.image is None and "No open positions" in alert.text


class _Router:
    def __init__(self) -> None:
        self.sent: list[tuple[Alert, Any]] = []

    def publish(self, alert: Alert, *, channels: Any = None) -> None:
        self.sent.append((alert, channels))


def test_the_scheduler_publishes_at_the_local_time(control: NodeControl) -> None:
    _record(control)
    now = [datetime(2026, 6, 2, 16, 0, tzinfo=NY)]
    waits: list[float] = []
    router = _Router()

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += timedelta(seconds=seconds)
        if len(router.sent) >= 2:
            raise asyncio.CancelledError

    config = DailySummaryConfig(enabled=True, time="17:05", timezone="America/New_York",
                                channels=["phone"])

    async def run() -> None:
        with pytest.raises(asyncio.CancelledError):
            await run_daily_summary(config, control, router,  # type: ignore[arg-type]
                                    clock=lambda: now[0], sleep=sleep)

    asyncio.run(run())
    assert waits[:2] == [3600, 300]  # 16:00 -> 17:05 local, re-checked at least hourly
    (first, channels), (second, _) = router.sent[:2]
    assert channels == ["phone"]
    assert first.title == "Daily summary summary-node 2026-06-02"
    assert second.title == "Daily summary summary-node 2026-06-03"


def test_a_disabled_summary_never_runs(control: NodeControl) -> None:
    asyncio.run(run_daily_summary(DailySummaryConfig(), control, _Router()))  # type: ignore[arg-type]
