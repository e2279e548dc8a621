"""``tradeloop calendar ...``: economic events, FX sessions and exchange hours."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tradeloop.core.errors import ConfigError
from tradeloop.core.time import ns_to_dt
from tradeloop.services.calendar import calendar_events, import_calendar, session_times

calendar_app = typer.Typer(no_args_is_help=True,
                           help="Economic events, FX sessions and exchange hours.")
_out = Console(width=None if sys.stdout.isatty() else 120)


def _day(text: str | None, option: str) -> date:
    if text is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{option} {text!r} is not a date: use YYYY-MM-DD") from None


def _utc(ns: int) -> str:
    return ns_to_dt(ns).strftime("%Y-%m-%d %H:%M")


@calendar_app.command("import")
def import_(
    files: Annotated[list[Path], typer.Argument(help="CSV or ICS files of economic events.")],
    tz: Annotated[str, typer.Option(
        "--tz", help="Timezone of times without one in the file.")] = "UTC",
    impact: Annotated[str | None, typer.Option(
        help="Impact of events whose file gives none: low, medium or high.")] = None,
) -> None:
    """Store economic events; an event already stored (same time, currency, title) is updated."""
    for done in import_calendar(files, tz, impact):
        _out.print(f"{done.path}: {done.new:,} new events ({done.stored:,} stored)",
                   highlight=False)


@calendar_app.command()
def show(
    start: Annotated[str | None, typer.Option("--from", help="First day (default today).")
                     ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day, inclusive.")] = None,
    currency: Annotated[list[str] | None, typer.Option(
        "--currency", help="Only these currencies; repeat for more.")] = None,
    impact: Annotated[str | None, typer.Option(
        help="Only events of at least this impact: low, medium, high.")] = None,
) -> None:
    """List stored economic events (times in UTC)."""
    first = _day(start, "--from")
    last = _day(end, "--to") if end is not None else first
    events = calendar_events(first, last, currency or (), impact)
    if not events:
        _out.print(f"no events stored from {first} to {last} (tradeloop calendar import FILE)")
        return
    table = Table(title=f"economic events {first} to {last} (UTC)", title_justify="left")
    for column in ("time", "ccy", "impact", "event", "actual", "forecast", "previous"):
        table.add_column(column)
    for e in events:
        table.add_row(_utc(e.ts_ns), e.currency, e.impact.name.lower(), e.title,
                      e.actual or "", e.forecast or "", e.previous or "")
    _out.print(table)


@calendar_app.command()
def sessions(
    day: Annotated[str | None, typer.Option("--date", help="The day (default today).")] = None,
    session: Annotated[list[str] | None, typer.Option(
        "--session", help="FX session, e.g. london or london_new_york; repeat for more.")
    ] = None,
    exchange: Annotated[list[str] | None, typer.Option(
        "--exchange", help="Exchange calendar, e.g. XNYS or CME; repeat for more.")] = None,
) -> None:
    """When FX sessions and exchanges are open on a day, in UTC (daylight saving applied)."""
    when = _day(day, "--date")
    table = Table(title=f"open on {when} ({when:%A}), UTC", title_justify="left")
    table.add_column("session")
    table.add_column("open")
    table.add_column("close")
    for found in session_times(when, session or (), exchange or ()):
        if not found.windows:
            table.add_row(found.name, "closed", "")
        for lo, hi in found.windows:
            table.add_row(found.name, _utc(lo), _utc(hi))
    _out.print(table)
