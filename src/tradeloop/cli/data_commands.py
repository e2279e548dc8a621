"""``tradeloop data ...``: the data store from the command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from tradeloop.cli.render import LazyProgress
from tradeloop.core.errors import ConfigError
from tradeloop.core.time import ns_to_iso
from tradeloop.data.store import ImportResult
from tradeloop.services.data import (
    bars_from_ticks,
    download_data,
    download_trades_data,
    import_files,
    inspect_data,
    list_data,
    load_broker_settings,
    open_store,
    resample_data,
)

data_app = typer.Typer(no_args_is_help=True, help="Import, list, inspect and resample market data.")
_out = Console(width=None if sys.stdout.isatty() else 120)
_err = Console(stderr=True, soft_wrap=True)

Venue = Annotated[str | None, typer.Option(help="Venue the data belongs to (default: any).")]


def _imported(result: ImportResult) -> None:
    w = result.written
    what = f"{result.kind} {result.venue}/{result.symbol}"
    if result.timeframe:
        what += f" {result.timeframe}"
    _out.print(f"{result.report.summary()}", highlight=False, soft_wrap=True)
    _out.print(f"  -> {what}: {w.rows_added:,} added, {w.rows_replaced:,} replaced, "
               f"{w.rows_unchanged:,} already stored", highlight=False)


@data_app.command("import")
def import_(
    files: Annotated[list[Path], typer.Argument(help="CSV or Parquet files of bars or ticks.")],
    symbol: Annotated[str | None, typer.Option(
        help="Instrument of the file (default: its name).")] = None,
    timeframe: Annotated[str | None, typer.Option(
        help="Bar length, e.g. 1m or 1d (default: inferred).")] = None,
    tz: Annotated[str, typer.Option("--tz", help="Timezone of naive timestamps.")] = "UTC",
    venue: Annotated[str, typer.Option(help="Venue the data belongs to.")] = "SIM",
    kind: Annotated[str, typer.Option(help="auto, bars, quote or trade.")] = "auto",
    repair: Annotated[bool, typer.Option(
        help="Drop or sort bad rows instead of rejecting the file.")] = False,
) -> None:
    """Validate files and add them to the data store (duplicates are replaced, not doubled)."""
    def run(progress: LazyProgress | None) -> None:
        import_files(
            files, symbol=symbol, timeframe=timeframe, timezone=tz, venue=venue,
            repair=repair, kind=kind,  # type: ignore[arg-type]
            progress=progress, imported=_imported,
        )

    if len(files) == 1:
        with _err.status(f"importing {files[0]}...", spinner="dots"):
            run(None)
        return
    bar = LazyProgress(_err, "importing", unit="files")
    try:
        run(bar)
    finally:
        bar.close()


@data_app.command("list")
def list_() -> None:
    """List what the data store holds."""
    entries = list_data()
    if not entries:
        _out.print(f"the data store ({open_store().root}) is empty: tradeloop data import FILE")
        return
    table = Table(title=f"data store {open_store().root}", title_justify="left")
    for column in ("kind", "venue", "symbol", "length", "first", "last", "rows", "gaps"):
        table.add_column(column, justify="right" if column in ("rows", "gaps") else "left")
    for e in entries:
        table.add_row(e.kind, e.venue, e.symbol, e.timeframe or "-", ns_to_iso(e.first_ts),
                      ns_to_iso(e.last_ts), f"{e.rows:,}",
                      f"{e.gap_count:,}" if e.kind == "bars" else "-")
    _out.print(table)


@data_app.command()
def inspect(
    symbol: Annotated[str, typer.Argument(help="A stored symbol.")],
    timeframe: Annotated[str | None, typer.Option(help="Bar length, if several are stored.")
                         ] = None,
    venue: Venue = None,
    gaps: Annotated[int, typer.Option(help="How many gaps to list.")] = 20,
) -> None:
    """Range, rows, gaps and what checking the stored bars found."""
    found = inspect_data(symbol, timeframe, venue)
    entry = found.entry
    _out.print(entry.summary(), highlight=False, soft_wrap=True)
    _out.print(f"  {entry.partitions} partition file(s) in {entry.path}", highlight=False)
    for gap in (entry.gaps or ())[:gaps]:
        _out.print(f"  gap: {gap}", highlight=False)
    if entry.gap_count > gaps:
        _out.print(f"  ... and {entry.gap_count - gaps} more gaps (--gaps N lists more)")
    if found.findings:
        for finding in found.findings:
            _out.print(f"  [yellow]check:[/yellow] {finding}", highlight=False)
    else:
        _out.print("  checks: no bars without volume, no flat bars, no outsized moves")


@data_app.command()
def resample(
    symbol: Annotated[str, typer.Argument(help="A stored symbol.")],
    to: Annotated[str, typer.Option("--to", help="New bar length, e.g. 5m, 1h, 4h, 1d.")],
    source: Annotated[str | None, typer.Option(
        "--from-timeframe", help="Bars to build from (default: the shortest stored).")] = None,
    venue: Venue = None,
    tz: Annotated[str, typer.Option("--tz", help="Timezone of the bucket boundary.")] = "UTC",
    boundary: Annotated[str, typer.Option(
        help="Local time buckets start at, e.g. 17:00 with --tz America/New_York for FX days."
    )] = "00:00",
    week_start: Annotated[str, typer.Option(help="Weekday weekly bars start on.")] = "monday",
) -> None:
    """Build longer bars from stored ones and store them beside them."""
    from_entry, written = resample_data(
        symbol, to, source_timeframe=source, venue=venue, timezone=tz, anchor=boundary,
        week_start=week_start,
    )
    _out.print(f"{from_entry.venue}/{symbol} {from_entry.timeframe} -> {to}: "
               f"{written.rows_added:,} added, {written.rows_replaced:,} replaced, "
               f"{written.rows_unchanged:,} unchanged (the bar still open at the end of the "
               "data is left out)", highlight=False)


@data_app.command()
def bars(
    tickfile: Annotated[Path, typer.Argument(help="CSV or Parquet file of quotes or trades.")],
    interval: Annotated[str, typer.Option(
        help="1m, 5m, 1h... or ticks:N, volume:N, value:N.")],
    symbol: Annotated[str | None, typer.Option(help="Instrument (default: file name).")] = None,
    kind: Annotated[str, typer.Option(help="auto, quote or trade.")] = "auto",
    price: Annotated[str, typer.Option(help="Quote price that makes bars: mid, bid or ask.")
                     ] = "mid",
    tz: Annotated[str, typer.Option(
        "--tz", help="Timezone of naive timestamps and of --session-open.")] = "UTC",
    session_open: Annotated[str, typer.Option(
        help="Align time bars to this local time, e.g. 09:30.")] = "00:00",
    carry_forward: Annotated[bool, typer.Option(
        help="Give intervals without ticks a flat bar at the last close.")] = False,
    repair: Annotated[bool, typer.Option(help="Drop or sort bad ticks.")] = False,
    venue: Annotated[str, typer.Option(help="Venue to store the bars under.")] = "SIM",
    out: Annotated[Path | None, typer.Option(
        help="Write the bars to this CSV or Parquet file instead of the store.")] = None,
) -> None:
    """Build bars from a tick file, into the store or a file."""
    if price not in ("mid", "bid", "ask"):
        raise typer.BadParameter("use mid, bid or ask", param_hint="--price")
    checked_price: Literal["mid", "bid", "ask"] = price  # type: ignore[assignment]
    with _err.status(f"building {interval} bars from {tickfile}...", spinner="dots"):
        made = bars_from_ticks(
            tickfile, interval, symbol=symbol, kind=kind,  # type: ignore[arg-type]
            price=checked_price, timezone=tz, anchor=session_open, carry_forward=carry_forward,
            repair=repair, venue=venue, out=out,
        )
    first, last = ns_to_iso(int(made.bars.ts[0])), ns_to_iso(int(made.bars.ts[-1]))
    _out.print(f"{made.ticks:,} ticks -> {len(made.bars):,} {interval} bars of "
               f"{made.bars.symbol} from {first} to {last}", highlight=False)
    if made.out is not None:
        _out.print(f"written to {made.out}")
    elif made.written is not None:
        w = made.written
        _out.print(f"stored: {w.rows_added:,} added, {w.rows_replaced:,} replaced, "
                   f"{w.rows_unchanged:,} unchanged", highlight=False)


@data_app.command()
def download(
    venue: Annotated[str, typer.Option(
        help="Where from: polygon (a data vendor), or a broker adapter with history: "
             "ccxt:binance, ccxt:binanceusdm, alpaca, schwab, fyers, ctrader, ibkr, mt5.")],
    symbol: Annotated[str, typer.Option(help="The broker's symbol, e.g. BTC/USDT.")],
    from_: Annotated[str, typer.Option(
        "--from", help="First day or time, e.g. 2024-01-01 (UTC unless it says).")],
    to: Annotated[str | None, typer.Option(
        "--to", help="End, exclusive (default: now).")] = None,
    timeframe: Annotated[str, typer.Option(help="Bar length: 1m, 5m, 1h, 1d...")] = "1m",
    settings: Annotated[Path | None, typer.Option(
        help="TOML file with the adapter's settings (a node config's [broker.settings]).")
    ] = None,
    kind: Annotated[str, typer.Option(
        help="bars, or trades (polygon only: every trade, into the tick store).")] = "bars",
) -> None:
    """Download a broker's or data vendor's history into the data store (a rerun fetches
    only what is missing)."""
    if kind == "trades":
        _download_trades(venue, symbol, from_, to, settings)
        return
    if kind != "bars":
        raise ConfigError(f"--kind: {kind!r} is not bars or trades")
    bar = LazyProgress(_err, f"downloading {symbol} {timeframe}", delay=0.5)
    try:
        result = download_data(
            venue, symbol, timeframe, from_, to,
            settings=load_broker_settings(settings) if settings is not None else None,
            progress=bar)
    finally:
        bar.close()
    what = f"{result.venue}/{result.symbol} {result.timeframe}"
    span = f"{ns_to_iso(result.start_ns)} to {ns_to_iso(result.end_ns)}"
    if result.up_to_date:
        _out.print(f"{what}: already stored from {span}, nothing to download", highlight=False)
        return
    _out.print(f"{what}: {result.fetched:,} bars downloaded ({span}): {result.added:,} added, "
               f"{result.replaced:,} replaced, {result.unchanged:,} already stored",
               highlight=False)


def _download_trades(venue: str, symbol: str, start: str, end: str | None,
                     settings: Path | None) -> None:
    if venue.strip().lower() != "polygon":
        raise ConfigError(f"--kind trades: only polygon serves trades, not {venue!r}")
    bar = LazyProgress(_err, f"downloading {symbol} trades", delay=0.5)
    try:
        result = download_trades_data(
            symbol, start, end,
            settings=load_broker_settings(settings) if settings is not None else None,
            progress=bar)
    finally:
        bar.close()
    what = f"{result.venue}/{result.symbol} trades"
    span = f"{ns_to_iso(result.start_ns)} to {ns_to_iso(result.end_ns)}"
    if result.up_to_date:
        _out.print(f"{what}: already stored from {span}, nothing to download", highlight=False)
        return
    _out.print(f"{what}: {result.fetched:,} downloaded ({span}): {result.added:,} added, "
               f"{result.unchanged:,} already stored", highlight=False)
