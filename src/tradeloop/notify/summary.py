"""The daily summary: the account, the day's PnL, trades and fills, open positions and the risk
state, with an equity chart of the recorded account snapshots; and the scheduler that sends it
at the configured local time.

The next send time is computed in the configured time zone (``zoneinfo``) from the local date,
so it stays at the same wall-clock time across daylight-saving changes: a time that does not
exist on a spring-forward day is moved past the gap, and on a fall-back day the first of the
two occurrences is taken.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np

from tradeloop.config.notify import DailySummaryConfig
from tradeloop.core.time import NANOS_PER_DAY, dt_to_ns, ns_to_dt
from tradeloop.notify.base import Alert, AlertKind, Severity
from tradeloop.notify.events import number, signed

if TYPE_CHECKING:
    from tradeloop.model import events as ev
    from tradeloop.notify.router import NotificationRouter
    from tradeloop.services.control import NodeControl

logger = logging.getLogger(__name__)

_UTC = ZoneInfo("UTC")

EQUITY_DAYS = 30
"""Days of account snapshots the equity chart shows."""
_MAX_POINTS = 2_000


@dataclass(frozen=True)
class SummaryFacts:
    """What the daily summary says, read from the node (on its thread).

    Attributes
    ----------
    alert : Alert
        The summary without its chart.
    timeline_ns : ndarray of int64
    equity : ndarray of float64
        The recorded equity (empty when none was recorded).
    """

    alert: Alert
    timeline_ns: np.ndarray
    equity: np.ndarray


def next_occurrence(after: datetime, at: str, timezone: str) -> datetime:
    """The first local time ``at`` ("HH:MM") in ``timezone`` strictly after ``after``.

    Parameters
    ----------
    after : datetime
        Timezone-aware.
    at : str
        24-hour "HH:MM".
    timezone : str
        IANA name.

    Returns
    -------
    datetime
        Timezone-aware, in ``timezone``. On a day when ``at`` does not exist (the clocks jump
        over it) the moment after the jump; when it happens twice, the first.
    """
    zone = ZoneInfo(timezone)
    hour, minute = (int(part) for part in at.split(":"))
    local_day = after.astimezone(zone).date()
    for offset in range(-1, 3):
        day = local_day + timedelta(days=offset)
        candidate = _local(day, hour, minute, zone)
        if candidate.astimezone(_UTC) > after.astimezone(_UTC):  # aware, compared as instants
            return candidate
    raise AssertionError("unreachable: a local time repeats within three days")


def _local(day: date, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    # fold=0: the first of two repeated times; a time in a spring-forward gap is read with
    # the offset before the jump, which the round trip through UTC turns into the time after
    moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone, fold=0)
    return moment.astimezone(_UTC).astimezone(zone)


def local_day_start(now_ns: int, timezone: str) -> int:
    """When the local calendar day holding ``now_ns`` began in ``timezone``, in UTC ns."""
    zone = ZoneInfo(timezone)
    local = ns_to_dt(now_ns).astimezone(zone)
    midnight = _local(local.date(), 0, 0, zone)
    return dt_to_ns(midnight)


def summary_facts(control: NodeControl, *, now_ns: int | None = None,
                  timezone: str = "UTC") -> SummaryFacts:
    """Read what the summary needs from the node (call it on the node's thread)."""
    now = now_ns if now_ns is not None else _now(control)
    day_start = local_day_start(now, timezone)
    account = control.account()
    positions = control.positions()
    risk = control.risk()
    run = control.run_id or None
    day_fills = control.store.fills(since_ts=day_start, run_id=run)
    wins, losses = _closed_today(control, day_start)
    ccy = account.currency
    name = control.config.name
    date = ns_to_dt(now).astimezone(ZoneInfo(timezone)).date().isoformat()
    fields = {"equity": f"{account.equity.quantize(Decimal('0.01')):,f} {ccy}",
              "balance": f"{account.balance.quantize(Decimal('0.01')):,f} {ccy}",
              "day PnL": signed(account.daily_pnl, ccy),
              "drawdown": f"{account.drawdown * 100:.2f}%",
              "trades closed": f"{wins + losses} ({wins} won, {losses} lost)",
              "fills": str(len(day_fills)),
              "open positions": str(len(positions)),
              "risk state": risk.state + (f" ({risk.reason})" if risk.reason else "")}
    lines = [f"Equity {fields['equity']}, day PnL {fields['day PnL']}, "
             f"drawdown {fields['drawdown']}",
             f"{fields['trades closed']} trades closed, {len(day_fills)} fills today",
             f"Risk: {fields['risk state']}"]
    if positions:
        lines.append("Open positions:")
        lines += [f"  {p.symbol} {number(p.quantity)} @ {number(p.avg_price)} ({p.strategy_id})"
                  for p in positions[:20]]
        if len(positions) > 20:
            lines.append(f"  \u2026 and {len(positions) - 20} more")
    else:
        lines.append("No open positions")
    severity = Severity.WARNING if risk.state != "ACTIVE" else Severity.INFO
    alert = Alert(AlertKind.DAILY_SUMMARY, severity, f"Daily summary {name} {date}",
                  "\n".join(lines), fields, dedupe_key=f"{AlertKind.DAILY_SUMMARY}|{name}|{date}")
    since = now - EQUITY_DAYS * NANOS_PER_DAY
    snapshots = control.store.account_snapshots(run_id=run, since_ts=since)
    timeline = np.array([s.ts for s in snapshots], dtype=np.int64)
    equity = np.array([float(s.equity) for s in snapshots], dtype=np.float64)
    if timeline.size > _MAX_POINTS:
        keep = np.linspace(0, timeline.size - 1, _MAX_POINTS).astype(np.int64)
        timeline, equity = timeline[keep], equity[keep]
    return SummaryFacts(alert, timeline, equity)


def draw_summary(facts: SummaryFacts) -> Alert:
    """The summary with its equity chart (safe in a worker thread); without a chart when
    fewer than two snapshots were recorded or drawing fails."""
    if facts.timeline_ns.size < 2:
        return facts.alert
    from tradeloop.analytics.charts import equity_chart

    equity = facts.equity
    peak = np.maximum.accumulate(equity)
    drawdown = np.where(peak > 0, equity / np.where(peak > 0, peak, 1.0) - 1.0, 0.0)
    try:
        image = equity_chart(facts.timeline_ns, equity, drawdown,
                             title=f"Equity, last {EQUITY_DAYS} days", size=(1000, 500))
    except Exception as exc:
        logger.warning("summary chart not drawn: %s: %s", type(exc).__name__, exc)
        return facts.alert
    return replace(facts.alert, image=image)


def daily_summary(control: NodeControl, *, now_ns: int | None = None,
                  timezone: str = "UTC") -> Alert:
    """The daily summary of the node, with its equity chart.

    Parameters
    ----------
    control : NodeControl
    now_ns : int, optional
        The moment it describes (default: the node's clock, else the wall clock).
    timezone : str, default "UTC"
        Whose calendar day "today" is.

    Returns
    -------
    Alert
        Kind ``daily_summary``: equity, balance, the day's PnL, drawdown, trades closed and
        fills of the day, open positions and the risk state; WARNING when trading is not
        ACTIVE. Drawing the chart takes a moment: from the event loop, prefer
        :func:`daily_summary_async`.
    """
    return draw_summary(summary_facts(control, now_ns=now_ns, timezone=timezone))


async def daily_summary_async(control: NodeControl, *, now_ns: int | None = None,
                              timezone: str = "UTC") -> Alert:
    """:func:`daily_summary` from the event loop: the facts read on it, the chart drawn in
    a worker thread."""
    facts = summary_facts(control, now_ns=now_ns, timezone=timezone)
    return await asyncio.to_thread(draw_summary, facts)


async def run_daily_summary(config: DailySummaryConfig, control: NodeControl,
                            router: NotificationRouter,
                            clock: Callable[[], datetime] | None = None,
                            sleep: Callable[[float], Awaitable[object]] | None = None) -> None:
    """Send the daily summary at the configured local time, every day, until cancelled.

    Parameters
    ----------
    config : DailySummaryConfig
        Does nothing when not enabled.
    control : NodeControl
    router : NotificationRouter
        The summary goes to ``config.channels`` (all channels taking daily summaries when
        empty).
    clock : callable, optional
        The current time, timezone-aware (default: the wall clock).
    sleep : callable, optional
        ``asyncio.sleep`` unless told otherwise (tests).
    """
    if not config.enabled:
        return
    now = clock or (lambda: datetime.now(_UTC))
    wait = sleep or asyncio.sleep
    channels = config.channels or None
    while True:
        due = next_occurrence(now(), config.time, config.timezone)
        logger.info("daily summary scheduled", extra={"fields": {"at": due.isoformat()}})
        while (left := (due.astimezone(_UTC) - now().astimezone(_UTC)).total_seconds()) > 0:
            await wait(min(left, 3600.0))  # re-checked: a laptop's sleep stops the loop's clock
        try:
            alert = await daily_summary_async(control, now_ns=dt_to_ns(due),
                                              timezone=config.timezone)
        except Exception:
            logger.exception("the daily summary could not be made")
            continue
        router.publish(alert, channels=channels)


def _now(control: NodeControl) -> int:
    import time

    node = control.node
    return node.kernel.clock.now_ns() if node is not None else time.time_ns()


def _closed_today(control: NodeControl, day_start: int) -> tuple[int, int]:
    from tradeloop.analytics.trades import round_trips

    fills: list[ev.OrderFilled] = control.store.fills(run_id=control.run_id or None)
    if not fills:
        return 0, 0
    node = control.node
    multipliers: defaultdict[str, Decimal] = defaultdict(lambda: Decimal(1))
    if node is not None:
        for symbol, instrument in node.kernel.cache.instruments.items():
            multipliers[symbol] = instrument.multiplier
    marks = {f.symbol: float(f.last_px) for f in fills}
    trades = round_trips(fills, multipliers, lambda symbol, ts: 1.0, marks, fills[-1].ts,
                         lambda f: f"{f.symbol}-{f.strategy_id}")
    today = [t for t in trades if t.exit_ts is not None and t.exit_ts >= day_start]
    wins = sum(1 for t in today if t.pnl > 0)
    return wins, len(today) - wins


__all__ = ["EQUITY_DAYS", "SummaryFacts", "daily_summary", "daily_summary_async",
           "draw_summary", "local_day_start", "next_occurrence", "run_daily_summary",
           "summary_facts"]
