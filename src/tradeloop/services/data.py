"""The market data use cases: import files into the store, list and inspect what is stored,
resample it, build bars from tick files, and find stored bars for a backtest."""

from __future__ import annotations

import asyncio
import os
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tradeloop.brokers.base import create_adapter
from tradeloop.config.home import home_dir
from tradeloop.core.errors import ConfigError, DataError
from tradeloop.core.time import ns_to_iso
from tradeloop.data.bars import TickBars, TimeBars, ValueBars, VolumeBars, build_bars
from tradeloop.data.catalog import CatalogEntry
from tradeloop.data.download import DownloadResult, download_bars
from tradeloop.data.resample import resample_bars
from tradeloop.data.sources.polygon import TradeDownloadResult, download_trades, polygon_history
from tradeloop.data.store import DataStore, ImportResult, WriteResult
from tradeloop.data.ticks import load_ticks
from tradeloop.data.timeframes import BucketAlignment, parse_timeframe
from tradeloop.model.data import BarSeries

Progress = Callable[[int, int], None]
ImportKind = Literal["auto", "bars", "quote", "trade"]
PriceSource = Literal["mid", "bid", "ask"]
_LARGEST_MOVE_SIGMAS = 10.0


def open_store(root: Path | None = None) -> DataStore:
    """The data store under the tradeloop home (``$TRADELOOP_HOME/store``) or at ``root``."""
    return DataStore(root if root is not None else home_dir() / "store")


def import_files(
    paths: Sequence[str | os.PathLike[str]],
    *,
    symbol: str | None = None,
    timeframe: str | None = None,
    timezone: str = "UTC",
    venue: str = "SIM",
    repair: bool = False,
    kind: ImportKind = "auto",
    store: DataStore | None = None,
    progress: Progress | None = None,
    imported: Callable[[ImportResult], None] | None = None,
) -> list[ImportResult]:
    """Validate and store bar or tick files, one file at a time.

    Parameters
    ----------
    paths : sequence of path
    symbol : str, optional
        Only with a single file; default each file's name.
    timeframe : str, optional
        Bar length of bar files; default inferred from each file.
    progress : callable, optional
        Called with (files done, files) after each file.
    imported : callable, optional
        Called with each file's result as soon as it is stored.

    Raises
    ------
    DataError
        For a rejected file, naming it, the row or column and the reason. Files before it in
        ``paths`` are stored; nothing of it or of the files after it is.
    """
    if not paths:
        raise ConfigError("give at least one file to import")
    if symbol is not None and len(paths) > 1:
        raise ConfigError("--symbol names the instrument of a single file; import files of "
                          "different instruments one at a time, or name each file after it")
    if timeframe is not None:
        parse_timeframe(timeframe)
    target = store or open_store()
    results: list[ImportResult] = []
    for k, path in enumerate(paths):
        done = [r.symbol for r in results]
        try:
            result = target.import_file(path, symbol=symbol, timeframe=timeframe,
                                        timezone=timezone, venue=venue, repair=repair, kind=kind)
        except DataError as exc:
            if done:
                raise DataError(f"{exc} (nothing of it was stored; the {len(done)} file(s) "
                                "before it were)") from None
            raise
        results.append(result)
        if imported is not None:
            imported(result)
        if progress is not None:
            progress(k + 1, len(paths))
    return results


def list_data(store: DataStore | None = None) -> list[CatalogEntry]:
    """Everything stored, from the files' metadata (no data is read)."""
    return (store or open_store()).catalog()


def _bar_entries(store: DataStore, symbol: str, venue: str | None) -> list[CatalogEntry]:
    return [e for e in store.catalog() if e.kind == "bars" and e.symbol == symbol
            and (venue is None or e.venue == venue)]


def _pick(store: DataStore, symbol: str, timeframe: str | None, venue: str | None,
          shortest: bool = False) -> CatalogEntry:
    entries = _bar_entries(store, symbol, venue)
    if timeframe is not None:
        label = parse_timeframe(timeframe).label
        entries = [e for e in entries if e.timeframe == label]
    if not entries:
        stored = sorted({e.symbol for e in store.catalog() if e.kind == "bars"})
        have = _bar_entries(store, symbol, venue)
        if have:
            lengths = ", ".join(f"{e.venue}/{e.timeframe}" for e in have)
            raise DataError(f"no {timeframe} bars of {symbol} stored (it has {lengths})")
        listed = ", ".join(stored) if stored else "nothing yet: tradeloop data import FILE"
        raise DataError(f"no bars of {symbol} stored (stored: {listed})")
    venues = sorted({e.venue for e in entries})
    if len(venues) > 1:
        raise ConfigError(f"{symbol} is stored for several venues ({', '.join(venues)}): "
                          "name one with --venue")
    if len(entries) > 1 and not shortest:
        lengths = ", ".join(str(e.timeframe) for e in entries)
        raise ConfigError(f"{symbol} is stored at several bar lengths ({lengths}): name one "
                          "with --timeframe")
    return min(entries, key=lambda e: parse_timeframe(str(e.timeframe)).ns)


@dataclass(frozen=True)
class Inspection:
    """One stored bar dataset described, with what checking it found.

    Attributes
    ----------
    entry : CatalogEntry
        Range, rows and every gap, computed from the data.
    findings : list of str
        Checks beyond the gaps: bars without volume, flat bars, outsized moves.
    """

    entry: CatalogEntry
    findings: list[str]


def inspect_data(symbol: str, timeframe: str | None = None, venue: str | None = None,
                 store: DataStore | None = None) -> Inspection:
    """Load one stored bar dataset and check it.

    Raises
    ------
    DataError, ConfigError
        Nothing stored for it, or an ambiguous choice (the message says what is stored).
    """
    target = store or open_store()
    chosen = _pick(target, symbol, timeframe, venue)
    entry = target.inspect(symbol, str(chosen.timeframe), venue=chosen.venue)
    bars = target.read_bars(symbol, str(chosen.timeframe), venue=chosen.venue)
    return Inspection(entry, _findings(bars))


def _findings(bars: BarSeries) -> list[str]:
    found: list[str] = []
    zero_volume = int(np.count_nonzero(bars.volume == 0))
    if zero_volume:
        found.append(f"{zero_volume} of {len(bars)} bars have no volume")
    flat = int(np.count_nonzero(bars.high == bars.low))
    if flat:
        found.append(f"{flat} bars are flat (high equals low)")
    if len(bars) > 2:
        moves = np.diff(np.log(bars.close))
        scale = float(np.median(np.abs(moves - np.median(moves)))) * 1.4826
        if scale > 0:
            k = int(np.argmax(np.abs(moves)))
            sigmas = abs(float(moves[k])) / scale
            if sigmas >= _LARGEST_MOVE_SIGMAS:
                found.append(
                    f"largest close-to-close move {float(np.expm1(moves[k])):+.2%} at "
                    f"{ns_to_iso(int(bars.ts[k + 1]))}, {sigmas:.0f} times the typical move: "
                    "check it is real"
                )
    return found


def resample_data(
    symbol: str,
    to: str,
    *,
    source_timeframe: str | None = None,
    venue: str | None = None,
    timezone: str = "UTC",
    anchor: str = "00:00",
    week_start: str = "monday",
    store: DataStore | None = None,
) -> tuple[CatalogEntry, WriteResult]:
    """Build longer bars from a stored dataset and store them beside it.

    Parameters
    ----------
    to : str
        The new bar length (``"1h"``).
    source_timeframe : str, optional
        Default: the symbol's shortest stored bars.
    timezone, anchor, week_start : str
        Where buckets start (``"America/New_York"``, ``"17:00"`` for FX days).

    Returns
    -------
    (CatalogEntry, WriteResult)
        The source dataset and what the write changed. The bucket still open at the end of
        the data is not stored.
    """
    target = store or open_store()
    source = _pick(target, symbol, source_timeframe, venue, shortest=True)
    bars = target.read_bars(symbol, str(source.timeframe), venue=source.venue)
    frame = parse_timeframe(to)
    built = resample_bars(bars, frame, BucketAlignment(timezone, anchor, week_start))
    if len(built) == 0:
        raise DataError(f"{symbol}: its {source.timeframe} bars do not fill one {frame} bar")
    return source, target.write_bars(built, venue=source.venue, timeframe=frame)


def _spec(interval: str, carry_forward: bool, timezone: str, anchor: str
          ) -> TimeBars | TickBars | VolumeBars | ValueBars:
    text = interval.strip().lower()
    for prefix in ("ticks:", "volume:", "value:"):
        if text.startswith(prefix):
            number = text[len(prefix):].replace("_", "").replace(",", "")
            try:
                value = float(number)
            except ValueError:
                raise ConfigError(f"--interval {interval}: {number!r} is not a number") from None
            if prefix == "volume:":
                return VolumeBars(value)
            if prefix == "value:":
                return ValueBars(value)
            if not value.is_integer():
                raise ConfigError(f"--interval {interval}: a tick count is a whole number")
            return TickBars(int(value))
    return TimeBars(parse_timeframe(interval), BucketAlignment(timezone, anchor),
                    carry_forward=carry_forward)


@dataclass(frozen=True)
class BarsFromTicks:
    """Bars built from a tick file.

    Attributes
    ----------
    bars : BarSeries
    ticks : int
        Ticks read.
    written : WriteResult or None
        What storing them changed (time bars stored in the data store).
    out : Path or None
        The file written instead, with ``--out``.
    """

    bars: BarSeries
    ticks: int
    written: WriteResult | None
    out: Path | None


def bars_from_ticks(
    path: str | os.PathLike[str],
    interval: str,
    *,
    symbol: str | None = None,
    kind: Literal["auto", "quote", "trade"] = "auto",
    price: PriceSource = "mid",
    timezone: str = "UTC",
    anchor: str = "00:00",
    carry_forward: bool = False,
    repair: bool = False,
    venue: str = "SIM",
    out: Path | None = None,
    store: DataStore | None = None,
) -> BarsFromTicks:
    """Build bars from a tick file and store them, or write them to ``out`` (CSV or Parquet).

    Parameters
    ----------
    interval : str
        A bar length (``"1m"``) for time bars, or ``"ticks:500"``, ``"volume:10000"``,
        ``"value:1e6"`` for tick, volume and value bars (those go to ``out`` only: the store
        keeps bars by length).
    timezone, anchor : str
        Align time bars to a local time of day (a session open) instead of UTC midnight;
        ``timezone`` also reads naive timestamps in the file.
    """
    spec = _spec(interval, carry_forward, timezone, anchor)
    if not isinstance(spec, TimeBars) and out is None:
        raise ConfigError(f"--interval {interval} makes bars of no fixed length, which the "
                          "store does not keep: give --out FILE")
    loaded = load_ticks(path, symbol=symbol, timezone=timezone, kind=kind, repair=repair)
    ticks = loaded.ticks
    if len(ticks) == 0:
        raise DataError(f"{os.fspath(path)}: no ticks")
    end = int(ticks.ts[-1]) + 1 if isinstance(spec, TimeBars) else None
    bars = build_bars(ticks, spec, price=price, end_ns=end)
    if len(bars) == 0:
        raise DataError(f"{os.fspath(path)}: its ticks do not fill one {interval} bar")
    if out is not None:
        _write_bars_file(bars, out)
        return BarsFromTicks(bars, len(ticks), None, out)
    assert isinstance(spec, TimeBars)
    written = (store or open_store()).write_bars(bars, venue=venue, timeframe=spec.timeframe)
    return BarsFromTicks(bars, len(ticks), written, None)


def _write_bars_file(bars: BarSeries, out: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame({
        "timestamp": pd.DatetimeIndex(bars.ts.view("M8[ns]"), tz="UTC"),
        "open": bars.open, "high": bars.high, "low": bars.low, "close": bars.close,
        "volume": bars.volume,
    })
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    try:
        if out.suffix.lower() in (".parquet", ".pq"):
            frame.to_parquet(partial, index=False)
        else:
            frame.to_csv(partial, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
        os.replace(partial, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {out}: {exc.strerror or exc}") from None


def stored_bars(item: str, store: DataStore | None = None) -> BarSeries | None:
    """The stored bars named by a backtest's ``--data`` value, or None when none match.

    ``SYMBOL`` takes the symbol's shortest stored bars, ``SYMBOL@1h`` a given length, and
    ``VENUE/SYMBOL@1h`` a given venue.
    """
    target = store or open_store()
    if not target.root.is_dir():
        return None
    name, _, length = item.partition("@")
    timeframe = length or None
    candidates: list[tuple[str | None, str]] = [(None, name)]
    if "/" in name:
        prefix, rest = name.split("/", 1)
        candidates.insert(0, (prefix, rest))
    for venue, symbol in candidates:
        if _bar_entries(target, symbol, venue):
            chosen = _pick(target, symbol, timeframe, venue, shortest=True)
            return target.read_bars(symbol, str(chosen.timeframe), venue=chosen.venue)
    if timeframe is not None:
        raise DataError(f"no bars of {name} stored (tradeloop data list shows what is)")
    return None


def _moment(text: str | datetime, option: str) -> int:
    if isinstance(text, datetime):
        moment = text
    else:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise ConfigError(f"{option}: {text!r} is not a date or time (use 2024-01-31 or "
                              "2024-01-31T12:00, UTC unless it says otherwise)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def load_broker_settings(path: str | os.PathLike[str]) -> dict[str, Any]:
    """An adapter's settings from a TOML file: a node config's ``[broker.settings]``, or the
    file's own top-level table.

    Raises
    ------
    ConfigError
        The file is missing or not TOML.
    """
    file = Path(path)
    try:
        with file.open("rb") as handle:
            raw = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    broker = raw.get("broker")
    if isinstance(broker, dict):
        settings = broker.get("settings", {})
        return dict(settings) if isinstance(settings, dict) else {}
    return raw


def download_data(
    venue: str,
    symbol: str,
    timeframe: str,
    start: str | datetime,
    end: str | datetime | None = None,
    *,
    settings: Mapping[str, Any] | None = None,
    store: DataStore | None = None,
    progress: Progress | None = None,
) -> DownloadResult:
    """Download a broker's historical bars into the data store; what is stored already is
    not fetched again, so a second run continues where the first stopped.

    Parameters
    ----------
    venue : str
        The broker adapter (``"ccxt:binance"``, ``"ccxt:binanceusdm"``).
    symbol : str
        The broker's symbol (``"BTC/USDT"``).
    timeframe : str
        ``"1m"``, ``"1h"``, ``"1d"``...
    start, end : str or datetime
        ``[start, end)``, UTC unless they say otherwise; ``end`` defaults to now.
    settings : mapping, optional
        The adapter's settings (none needed for public history).
    progress : callable, optional
        Called with (bars covered, bars to cover).

    Raises
    ------
    ConfigError
        An unknown venue or symbol (with the closest one), a broker that serves no history, a
        bad date.
    """
    frame = parse_timeframe(timeframe)
    start_ns = _moment(start, "--from")
    end_ns = _moment(end, "--to") if end is not None else time.time_ns()
    if venue.strip().lower() == "polygon":  # a data vendor, not a broker
        return asyncio.run(_download_polygon(settings or {}, store or open_store(), symbol,
                                             frame.label, start_ns, end_ns, progress))
    adapter = create_adapter(venue, settings or {}, home_dir() / "brokers" / "download")
    market = adapter.market_data
    if market is None or not market.capabilities.history:
        raise ConfigError(f"--venue: {venue} serves no historical bars")
    target = store or open_store()

    async def run() -> DownloadResult:
        assert market is not None
        try:
            await market.connect()
            await adapter.instruments.instruments([symbol])
            return await download_bars(market, target, symbol, frame.label, start_ns, end_ns,
                                       venue=adapter.execution.venue, progress=progress)
        finally:
            await adapter.close()

    return asyncio.run(run())


async def _download_polygon(settings: Mapping[str, Any], store: DataStore, symbol: str,
                            timeframe: str, start_ns: int, end_ns: int,
                            progress: Progress | None) -> DownloadResult:
    async with polygon_history(settings) as source:
        return await download_bars(source, store, symbol, timeframe, start_ns, end_ns,
                                   venue=source.venue, progress=progress,
                                   chunk_bars=source.chunk_bars)


def download_trades_data(symbol: str, start: str | datetime, end: str | datetime | None = None,
                         *, settings: Mapping[str, Any] | None = None,
                         store: DataStore | None = None,
                         progress: Progress | None = None) -> TradeDownloadResult:
    """Download Polygon's trades of ``[start, end)`` into the data store (resumable).

    Raises
    ------
    ConfigError
        A bad date, a ticker without trades (FX, indices), a missing or refused key.
    """
    start_ns = _moment(start, "--from")
    end_ns = _moment(end, "--to") if end is not None else time.time_ns()
    target = store or open_store()

    async def run() -> TradeDownloadResult:
        async with polygon_history(settings or {}) as source:
            return await download_trades(source, target, symbol, start_ns, end_ns,
                                         venue=source.venue, chunk_ns=source.trades_chunk_ns,
                                         progress=progress)

    return asyncio.run(run())


__all__ = [
    "BarsFromTicks",
    "Inspection",
    "bars_from_ticks",
    "download_data",
    "download_trades_data",
    "import_files",
    "inspect_data",
    "list_data",
    "load_broker_settings",
    "open_store",
    "resample_data",
    "stored_bars",
]
