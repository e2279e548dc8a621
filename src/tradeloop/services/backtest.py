"""The backtest use case, shared by the CLI, the API and Telegram."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from tradeloop.analytics.results import BacktestResult, build_result
from tradeloop.brokers.simulated.fees import parse_commission, parse_slippage
from tradeloop.brokers.simulated.venue import SimulatedVenueConfig
from tradeloop.config.home import home_dir
from tradeloop.config.risk import RiskConfig, build_rules, load_risk_config
from tradeloop.core.errors import ConfigError
from tradeloop.core.time import dt_to_ns
from tradeloop.data import (
    LoadResult,
    ValidationReport,
    bundled_names,
    bundled_path,
    find_gaps,
    instrument_book,
    load_bars,
)
from tradeloop.engine.backtest import BacktestConfig, BacktestEngine
from tradeloop.engine.streams import BarCache
from tradeloop.examples import EXAMPLE_DATA
from tradeloop.model.data import BarSeries
from tradeloop.model.enums import AccountType
from tradeloop.model.instrument import Instrument
from tradeloop.risk.base import Rule
from tradeloop.services.strategies import resolve_strategy
from tradeloop.strategy.base import Strategy

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
_CONFLICTS = ("stop_first", "target_first", "path")


@dataclass(frozen=True)
class BacktestRequest:
    """What to backtest and how.

    Attributes
    ----------
    strategy : str
        ``module:Class``, a ``.py`` file, or a bundled example name.
    data : tuple of str
        Bar files (CSV or Parquet), or bundled data names (``GOOG``). Empty uses the bundled
        example's own data.
    symbols : tuple of str
        One symbol per data file; default: each file's name.
    start, end : str, optional
        ISO dates or datetimes (UTC unless they carry an offset); ``end`` includes its whole day.
    params : mapping
        Strategy parameters as given on the command line (converted by the strategy).
    out_dir : Path, optional
        Where result files go; default a new folder under ``$TRADELOOP_HOME/backtests``.
    risk : Path, optional
        A TOML file with a ``[risk]`` table (see :mod:`tradeloop.config.risk`): the limits the
        gate applies during the run, so the result shows which orders they would have stopped.
    """

    strategy: str
    data: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    start: str | None = None
    end: str | None = None
    cash: str = "100000"
    currency: str = "USD"
    commission: str | None = None
    slippage: str | None = None
    conflict: str = "stop_first"
    params: Mapping[str, str] = field(default_factory=dict)
    out_dir: Path | None = None
    repair: bool = False
    timezone: str = "UTC"
    streaming_indicators: bool = False
    account: str = "margin"
    leverage: str = "1"
    volume_limit: float | None = None
    risk: Path | None = None


@dataclass
class BacktestOutcome:
    """A finished backtest: its result, where its files went, the data reports, and the run
    it was recorded as.

    Attributes
    ----------
    files : list of Path
        Every file written into ``out_dir``, ``run.json`` last.
    run_id : str or None
        The run in the audit database (``tradeloop runs show``); None when it could not be
        recorded.
    run_warning : str or None
        Why the run was not recorded (or ``run.json`` not written), for one warning line;
        the result files are there all the same.
    """

    request: BacktestRequest
    strategy_name: str
    result: BacktestResult
    out_dir: Path
    files: list[Path]
    data: list[LoadResult]
    run_id: str | None = None
    run_warning: str | None = None


def parse_params(pairs: list[str]) -> dict[str, str]:
    """Turn ``["fast=5", "slow=20"]`` into a dict.

    Raises
    ------
    ConfigError
        For an item without ``=`` or with an empty name.
    """
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--param {pair!r}: write it as name=value")
        params[name.strip()] = value.strip()
    return params


def parse_time(text: str, what: str, end_of_day: bool = False) -> int:
    """Parse an ISO date or datetime to UTC nanoseconds (naive means UTC).

    Raises
    ------
    ConfigError
        If the text is not a date.
    """
    value = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            if end_of_day:
                moment += timedelta(days=1) - timedelta(microseconds=1)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError:
        raise ConfigError(
            f"{what} {text!r} is not a date: use YYYY-MM-DD or an ISO datetime"
        ) from None
    return dt_to_ns(moment)


def _load(item: str, symbol: str | None, request: BacktestRequest) -> LoadResult:
    """A file, else stored bars (``EURUSD``, ``EURUSD@1h``), else bundled data."""
    path = Path(item).expanduser()
    if not path.exists():
        from tradeloop.services.data import stored_bars  # the data store: only when asked

        stored = stored_bars(item)
        if stored is not None:
            bars = stored.with_symbol(symbol) if symbol else stored
            n = len(bars)
            report = ValidationReport(
                source=bars.source, rows_read=n, rows_kept=n, gaps=find_gaps(bars),
                timeframe_ns=bars.timeframe_ns, start_ns=int(bars.ts[0]),
                end_ns=int(bars.ts[-1]),
            )
            return LoadResult(bars, report)
        if item.upper() not in (name.upper() for name in bundled_names()):
            bundled = ", ".join(bundled_names())
            if path.suffix or os.sep in item:
                raise ConfigError(f"data file {item} does not exist (bundled data: {bundled})")
            raise ConfigError(f"no data file, stored symbol or bundled data named {item} "
                              f"(tradeloop data list shows the store; bundled data: {bundled})")
        path = bundled_path(item)
    return load_bars(path, symbol=symbol, timezone=request.timezone, repair=request.repair)


def _cash(text: str) -> Decimal:
    try:
        value = Decimal(text.replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise ConfigError(f"--cash {text!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise ConfigError(f"--cash must be positive, got {text}")
    return value


def _account(kind: str, leverage: str) -> tuple[AccountType, Decimal]:
    try:
        account_type = AccountType(kind.strip().upper())
    except ValueError:
        raise ConfigError(f"--account must be cash or margin, got {kind!r}") from None
    try:
        lev = Decimal(leverage)
    except InvalidOperation:
        raise ConfigError(f"--leverage {leverage!r} is not a number") from None
    if not lev.is_finite() or lev < 1:
        raise ConfigError(f"--leverage must be at least 1, got {leverage}")
    if account_type is AccountType.CASH and lev != 1:
        raise ConfigError("a cash account cannot use leverage: use --account margin")
    return account_type, lev


def check_writable(out_dir: Path) -> None:
    """Refuse an output folder that cannot be created or written, before anything runs.

    Raises
    ------
    ConfigError
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} is a file, not a directory")
    parent = next((p for p in (out_dir, *out_dir.parents) if p.exists()), None)
    if parent is None or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out_dir}: cannot create or write to it (no permission)")


def default_out_dir(strategy_name: str, folder: str = "backtests") -> Path:
    """A new folder for a run's files: ``$TRADELOOP_HOME/<folder>/<UTC stamp>-<strategy>``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return home_dir() / folder / f"{stamp}-{strategy_name}"


def risk_rules(config: RiskConfig) -> list[Rule]:
    """The rules of a ``[risk]`` table, with the stored economic calendar for news
    blackouts."""
    from tradeloop.services.calendar import economic_calendar

    return build_rules(config, economic_calendar=economic_calendar)


def _record(outcome: BacktestOutcome, strategy_class: str, started_ns: int) -> None:
    """Store the run and write ``run.json``; a failure costs a warning, never the results."""
    # the database layer is imported here, so that optimisation workers never load it
    from tradeloop.services.run_facts import backtest_facts
    from tradeloop.services.runs import save_run

    facts = backtest_facts(outcome, started_ns=started_ns, ended_ns=time.time_ns(),
                           strategy_class=strategy_class)
    outcome.run_id, written, outcome.run_warning = save_run(facts, outcome.out_dir)
    if written is not None:
        outcome.files.append(written)


@dataclass
class PreparedBacktest:
    """A checked backtest request with its data loaded, ready to simulate any number of times
    (with other parameters or over a part of its range). Picklable: optimisers ship it to
    their workers once.

    Attributes
    ----------
    request : BacktestRequest
    strategy_class : str
        ``module:Class`` of the resolved strategy.
    config : BacktestConfig
    data : list of LoadResult
        The loaded data, whole (before ``--from``/``--to``).
    series : list of (BarSeries, Instrument or None)
        What the engine gets: each series cut to the range, with its stored instrument.
    risk : RiskConfig, optional
    """

    request: BacktestRequest
    strategy_class: str
    config: BacktestConfig
    data: list[LoadResult]
    series: list[tuple[BarSeries, Instrument | None]]
    risk: RiskConfig | None = None

    def strategy_type(self) -> type[Strategy]:
        """The strategy class (resolved again in a worker process that has not seen it)."""
        return resolve_strategy(self.request.strategy)

    def window(self, start_ns: int | None, end_ns: int | None) -> PreparedBacktest:
        """The same backtest over the part of its range from ``start_ns`` to ``end_ns``
        (inclusive, UTC nanoseconds; None leaves that end open)."""
        return replace(self, series=[(s.slice_time(start_ns, end_ns), i)
                                     for s, i in self.series])


def prepare_backtest(request: BacktestRequest) -> PreparedBacktest:
    """Check ``request`` and load its data, without running anything.

    Raises
    ------
    UserError
        (ConfigError or DataError) for any mistake in the request or the data.
    """
    strategy_cls = resolve_strategy(request.strategy)
    strategy_cls(**dict(request.params))  # unknown or bad parameters fail here, with a hint
    if request.conflict not in _CONFLICTS:
        raise ConfigError(f"--conflict must be one of {', '.join(_CONFLICTS)}")
    default = EXAMPLE_DATA.get(request.strategy.strip().lower().replace("-", "_"))
    items = request.data or ((default,) if default else ())
    if not items:
        raise ConfigError("give at least one --data FILE")
    if request.symbols and len(request.symbols) != len(items):
        raise ConfigError(
            f"{len(request.symbols)} --symbol values for {len(items)} --data files: give one "
            "per file, in the same order"
        )
    start = parse_time(request.start, "--from") if request.start else None
    end = parse_time(request.end, "--to", end_of_day=True) if request.end else None
    if start is not None and end is not None and start > end:
        raise ConfigError(f"--from {request.start} is after --to {request.end}")
    if request.volume_limit is not None and not 0 < request.volume_limit <= 1:
        raise ConfigError(
            f"--volume-limit is a fraction of each bar's volume in (0, 1], got "
            f"{request.volume_limit}"
        )
    venue = SimulatedVenueConfig(
        commission=parse_commission(request.commission),
        slippage=parse_slippage(request.slippage),
        conflict=request.conflict,  # type: ignore[arg-type]
        volume_limit=request.volume_limit,
    )
    account_type, leverage = _account(request.account, request.leverage)
    config = BacktestConfig(
        cash=_cash(request.cash), currency=request.currency.upper(), venue=venue,
        precompute_indicators=not request.streaming_indicators, account_type=account_type,
        leverage=leverage,
    )
    risk = load_risk_config(request.risk) if request.risk is not None else None
    loaded: list[LoadResult] = []
    series: list[tuple[BarSeries, Instrument | None]] = []
    book = instrument_book(home_dir())
    for k, item in enumerate(items):
        symbol = request.symbols[k] if request.symbols else None
        bars = _load(item, symbol, request)
        loaded.append(bars)
        known = book.instrument(bars.bars.symbol) if bars.bars.symbol in book else None
        series.append((bars.bars.slice_time(start, end), known))
    return PreparedBacktest(request, f"{strategy_cls.__module__}:{strategy_cls.__qualname__}",
                            config, loaded, series, risk)


def simulate(prepared: PreparedBacktest, params: Mapping[str, Any] | None = None,
             progress: Progress | None = None, *,
             strategy_cls: type[Strategy] | None = None,
             bar_cache: BarCache | None = None) -> BacktestResult:
    """Run a prepared backtest once and return its result; nothing is written.

    Parameters
    ----------
    prepared : PreparedBacktest
    params : mapping, optional
        Strategy parameters (typed values or text); default the request's own.
    progress : callable, optional
        Called with (bars done, bars in all).
    strategy_cls : type, optional
        The strategy class when the caller already resolved it (many runs of one strategy).
    bar_cache : BarCache, optional
        Bars kept from earlier runs over the same data, and where this run keeps its own.

    Raises
    ------
    ConfigError
        For a parameter the strategy does not have or cannot take.
    """
    strategy = (strategy_cls or prepared.strategy_type())(
        **(dict(prepared.request.params) if params is None else dict(params)))
    engine = BacktestEngine(prepared.config, bar_cache=bar_cache)
    if prepared.risk is not None:
        engine.kernel.risk.add_rules(risk_rules(prepared.risk))
    for series, instrument in prepared.series:
        engine.add_data(series, instrument)
    engine.add_strategy(strategy)
    return build_result(engine.run(progress))


def run_backtest(request: BacktestRequest, progress: Progress | None = None) -> BacktestOutcome:
    """Load the data, run the strategy, write the result files and record the run.

    The run goes into the audit database (see :mod:`tradeloop.services.runs`) and its facts
    into ``run.json`` beside the results. When the database cannot be written the results
    are kept: ``run_id`` is None and ``run_warning`` says why.

    Raises
    ------
    UserError
        (ConfigError or DataError) for any mistake in the request or the data; nothing is
        written then.
    """
    started_ns = time.time_ns()
    prepared = prepare_backtest(request)
    strategy_id = prepared.strategy_type()(**dict(request.params)).id
    out_dir = request.out_dir or default_out_dir(strategy_id)
    check_writable(out_dir)
    result = simulate(prepared, progress=progress)
    from tradeloop.analytics.export import write_result  # charts and files: not for trials

    try:
        files = write_result(result, out_dir)
    except OSError as exc:
        raise ConfigError(f"cannot write results to {out_dir}: {exc.strerror or exc}") from None
    outcome = BacktestOutcome(request, strategy_id, result, out_dir, files, prepared.data)
    _record(outcome, prepared.strategy_class, started_ns)
    return outcome
