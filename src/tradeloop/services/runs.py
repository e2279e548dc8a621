"""Runs: every backtest stored in the audit database, to list, show and compare later.

A run is one row of the audit database's ``runs`` table (the one paper and live nodes record
their sessions in), written through :class:`~tradeloop.persistence.AuditStore`. What a run
was lives in the row's ``config`` document:

- ``kind``: ``"backtest"``, ``"optimize"`` or ``"walkforward"``. All run on the backtest
  kernel, so their ``mode`` column is ``"backtest"``; paper and live sessions have no
  ``kind`` and their kind is their mode.
- ``strategy``: the spec as typed, the resolved class and name, and the effective parameters.
- ``data``: per series the symbol, source, first and last bar time, bar count and a
  fingerprint (sha256 of the time and price/volume columns), so a later run on changed data
  shows as such even when its range is the same.
- ``settings``: the requested range, the account (cash, currency, commission, slippage...), the
  engine options, the risk file and its sha256.
- ``code``: version, commit and dirty flag (also in the ``code_version`` column as a label).
- ``study``: for an optimisation, the study's settings and its best result; for a
  walk-forward, the search settings and each window's bounds, parameters and verdicts.

An optimisation is stored as one run of kind ``"optimize"``: its trials go in an artefact
file (``trials.csv`` in its output folder), not as child runs. A study of thousands of trials
would otherwise flood ``runs list``, and the table has no parent column to group them by.

The database is the home's (``tradeloop.db``) unless ``TRADELOOP_DATABASE_URL`` names
another, the same variable a node's ``[database] url_env`` reads by default.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradeloop.config.home import home_dir
from tradeloop.config.node import DatabaseConfig
from tradeloop.core.clock import TestClock
from tradeloop.core.errors import ConfigError, TradeloopError
from tradeloop.core.secrets import lookup_secret
from tradeloop.core.time import NANOS_PER_SECOND
from tradeloop.persistence import AuditStore, Database, RunRecord, open_database
from tradeloop.services.run_facts import (
    BACKTEST,
    FAILED,
    FINISHED,
    OPTIMIZE,
    RUN_FILE,
    WALKFORWARD,
    DataFacts,
    RunFacts,
    backtest_facts,
    data_facts,
    fingerprint,
    plain,
    write_run_file,
)

if TYPE_CHECKING:
    from tradeloop.services.backtest import BacktestOutcome

logger = logging.getLogger(__name__)

#: What ``list_runs(kind=...)`` accepts.
RUN_KINDS = (BACKTEST, OPTIMIZE, WALKFORWARD, "paper", "live")
_DATABASE_URL_ENV: str = DatabaseConfig.model_fields["url_env"].default
_SHOWN_CANDIDATES = 10


@dataclass(frozen=True)
class MetricSpec:
    """How to show a metric and which way is better (+1 higher, -1 lower, 0 neither)."""

    key: str
    label: str
    kind: str
    better: int


#: The metrics in the order they are shown; others follow by name.
METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("final_equity", "Final equity", "money", 1),
    MetricSpec("total_return", "Total return", "pct", 1),
    MetricSpec("cagr", "CAGR", "pct", 1),
    MetricSpec("annual_volatility", "Annual volatility", "pct", -1),
    MetricSpec("sharpe", "Sharpe", "ratio", 1),
    MetricSpec("sortino", "Sortino", "ratio", 1),
    MetricSpec("calmar", "Calmar", "ratio", 1),
    MetricSpec("max_drawdown", "Max drawdown", "pct", 1),  # a negative fraction
    MetricSpec("max_drawdown_duration_days", "Max drawdown duration", "days", -1),
    MetricSpec("num_trades", "Trades", "int", 0),
    MetricSpec("win_rate", "Win rate", "pct", 1),
    MetricSpec("profit_factor", "Profit factor", "ratio", 1),
    MetricSpec("expectancy", "Expectancy", "money", 1),
    MetricSpec("average_win", "Average win", "money", 1),
    MetricSpec("average_loss", "Average loss", "money", 1),  # a negative amount
    MetricSpec("exposure_time", "Exposure time", "pct", 0),
    MetricSpec("commissions", "Commissions", "money", -1),
    MetricSpec("num_denied_orders", "Denied orders", "int", 0),
    MetricSpec("num_closed_trades", "Closed trades", "int", 0),
    MetricSpec("num_orders", "Orders", "int", 0),
    MetricSpec("num_fills", "Fills", "int", 0),
    MetricSpec("start_equity", "Start equity", "money", 0),
    MetricSpec("periods_per_year", "Periods per year", "number", 0),
)
_SPECS = {spec.key: spec for spec in METRICS}


def record_run(facts: RunFacts, *, home: Path | None = None) -> str:
    """Store a finished backtest or optimisation as a run.

    Returns
    -------
    str
        The new run's id (``20240102T140000Z-1a2b3c4d``: start time and a random suffix).

    Raises
    ------
    ConfigError
        The database cannot be opened (bad URL, server down, folder missing).
    PersistenceError
        The database refused the write.
    """
    if facts.kind not in (BACKTEST, OPTIMIZE, WALKFORWARD):
        raise ConfigError(f"run kind {facts.kind!r}: expected {BACKTEST}, {OPTIMIZE} or "
                          f"{WALKFORWARD}")
    clock = TestClock(facts.started_ns)
    with _database(home) as database:
        store = AuditStore(database, clock=clock)
        run_id = store.start_run(
            BACKTEST, config=facts.config(), strategy_ids=[facts.strategy_name],
            code_version=facts.code.label, artefacts=dict(facts.artefacts),
        )
        clock.advance_to(max(facts.ended_ns, facts.started_ns))
        store.end_run(run_id, facts.status, metrics=plain(dict(facts.metrics)))
    return run_id


def record_backtest(
    outcome: BacktestOutcome,
    *,
    started_ns: int | None = None,
    ended_ns: int | None = None,
    strategy_class: str = "",
    home: Path | None = None,
) -> str:
    """Store a finished backtest as a run and return its id.

    Parameters
    ----------
    outcome : BacktestOutcome
    started_ns, ended_ns : int, optional
        Wall-clock start and end; by default the end is now and the start the engine's run
        time before it.
    strategy_class : str
        ``module:Class`` of the strategy, when known.
    home : Path, optional
        The tradeloop home of the default database.

    Raises
    ------
    ConfigError, PersistenceError
        When the database cannot be opened or written (see :func:`record_run`).
    """
    end = time.time_ns() if ended_ns is None else ended_ns
    start = started_ns if started_ns is not None else end - int(
        outcome.result.run.elapsed * NANOS_PER_SECOND)
    facts = backtest_facts(outcome, started_ns=start, ended_ns=end,
                           strategy_class=strategy_class)
    return record_run(facts, home=home)


def save_run(facts: RunFacts, out_dir: Path) -> tuple[str | None, Path | None, str | None]:
    """Record a finished run in the audit database and write its ``run.json`` into
    ``out_dir``; a failure of either costs a warning, never the results.

    Returns
    -------
    (run id or None, run.json path or None, warning or None)
    """
    problems = []
    run_id: str | None = None
    written: Path | None = None
    try:
        run_id = record_run(facts)
    except (TradeloopError, OSError, ImportError) as exc:
        problems.append(f"not recorded in the audit database: {exc}")
    try:
        written = write_run_file(facts, out_dir, run_id)
    except OSError as exc:
        problems.append(f"cannot write {out_dir / RUN_FILE}: {exc.strerror or exc}")
    warning = "; ".join(problems) or None
    if warning:
        logger.warning("run not fully recorded", extra={"fields": {
            "kind": facts.kind, "out_dir": str(out_dir), "run_id": run_id, "error": warning}})
    return run_id, written, warning


def study_storage_url(*, home: Path | None = None) -> str:
    """The audit database's URL, password included, for Optuna's study storage (Optuna keeps
    its own tables beside ours). Never log or show it.

    Raises
    ------
    ConfigError
        The database cannot be opened.
    """
    with _database(home) as database:
        url: str = database.connection_url().render_as_string(hide_password=False)
    return url


# -- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    """A recorded run, as ``runs list`` shows it.

    Attributes
    ----------
    run_id : str
    kind : str
        ``backtest``, ``optimize``, ``paper`` or ``live``.
    mode : str
        The kernel mode: ``backtest``, ``paper`` or ``live``.
    status : str
    started_ns, ended_ns : int, int or None
    strategy : str
        The strategy name(s).
    params : dict
        The effective parameters, by name (sorted).
    data : tuple of DataFacts
    metrics : dict
        Summary figures (empty while a session runs).
    code_version : str
    """

    run_id: str
    kind: str
    mode: str
    status: str
    started_ns: int
    ended_ns: int | None
    strategy: str
    params: dict[str, Any]
    data: tuple[DataFacts, ...]
    metrics: dict[str, Any]
    code_version: str

    def metric(self, key: str) -> float | None:
        """A metric as a float (``inf`` allowed), or None when absent or not a number."""
        return _number(self.metrics.get(key))


@dataclass(frozen=True)
class RunDetail(RunSummary):
    """Everything recorded about a run, as ``runs show`` shows it.

    Attributes
    ----------
    strategy_spec : str
        The strategy as the user gave it.
    strategy_class : str
    settings : dict
        Range, account, options, risk (backtests and optimisations).
    failures : tuple of str
    study : dict or None
        An optimisation's settings and best result.
    artefacts : dict of str to str
        ``out_dir`` and each file, by name.
    config : dict
        The whole stored ``config`` document (a node's settings for paper and live runs).
    """

    strategy_spec: str = ""
    strategy_class: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    failures: tuple[str, ...] = ()
    study: dict[str, Any] | None = None
    artefacts: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    def setting_items(self) -> list[tuple[str, Any]]:
        """The settings as ``("account.cash", "100000")`` pairs, in stored order; a paper or
        live run's node settings when it has no backtest settings."""
        return list(_flatten(self.settings or self.config).items())


def list_runs(limit: int = 20, kind: str | None = None, *, home: Path | None = None
              ) -> list[RunSummary]:
    """Recorded runs, newest first.

    Parameters
    ----------
    limit : int
        At most this many.
    kind : str, optional
        Only runs of this kind (see :data:`RUN_KINDS`).
    home : Path, optional
        The tradeloop home of the default database.

    Raises
    ------
    ConfigError
        For a bad limit or kind, or a database that cannot be opened.
    """
    if limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    if kind is not None and kind not in RUN_KINDS:
        raise ConfigError(f"--kind {kind!r}: expected one of {', '.join(RUN_KINDS)}")
    with _database(home) as database:
        records = AuditStore(database).runs(limit=None if kind else limit)
    details = [_detail(record) for record in records]
    chosen = [d for d in details if kind is None or d.kind == kind][:limit]
    return [_as_summary(detail) for detail in chosen]


def get_run(run_id: str, *, home: Path | None = None) -> RunDetail:
    """One run, by its id or a unique start of it (or of its random suffix).

    Raises
    ------
    ConfigError
        When no run matches (naming the id), or several do (listing them).
    """
    with _database(home) as database:
        return _detail(_find(AuditStore(database), run_id))


@dataclass(frozen=True)
class MetricRow:
    """One metric across compared runs; ``best`` holds the indices of the best values (empty
    when no direction is better or all are equal)."""

    key: str
    label: str
    kind: str
    values: tuple[float | None, ...]
    best: tuple[int, ...]


@dataclass(frozen=True)
class FieldDifference:
    """A setting, parameter or data fact whose value differs between compared runs (None
    where a run lacks it)."""

    name: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class RunComparison:
    """Runs side by side: every metric, and only the parameters, data and settings that
    differ."""

    runs: tuple[RunDetail, ...]
    metrics: tuple[MetricRow, ...]
    params: tuple[FieldDifference, ...]
    data: tuple[FieldDifference, ...]
    settings: tuple[FieldDifference, ...]


def compare_runs(run_ids: Sequence[str], *, home: Path | None = None) -> RunComparison:
    """Compare two or more runs (ids or unique prefixes).

    Raises
    ------
    ConfigError
        Fewer than two runs, one given twice, or an id that matches none or several.
    """
    if len(run_ids) < 2:
        raise ConfigError("give at least two run ids to compare")
    with _database(home) as database:
        store = AuditStore(database)
        runs = tuple(_detail(_find(store, text)) for text in run_ids)
    seen: set[str] = set()
    for run in runs:
        if run.run_id in seen:
            raise ConfigError(f"run {run.run_id} is given twice")
        seen.add(run.run_id)
    return RunComparison(
        runs=runs, metrics=metric_rows(runs),
        params=_differences([r.params for r in runs]),
        data=_differences([_data_fields(r.data) for r in runs]),
        settings=_differences([_setting_fields(r) for r in runs]),
    )


def metric_rows(runs: Sequence[RunSummary]) -> tuple[MetricRow, ...]:
    """Every numeric metric of ``runs``, known ones first (see :data:`METRICS`), with the
    best values marked."""
    numeric = {key for run in runs for key, value in run.metrics.items()
               if _number(value) is not None}
    keys = [spec.key for spec in METRICS if spec.key in numeric]
    keys += sorted(numeric - set(keys))
    rows = []
    for key in keys:
        spec = _SPECS.get(key, MetricSpec(key, key.replace("_", " "), "number", 0))
        values = tuple(run.metric(key) for run in runs)
        rows.append(MetricRow(key, spec.label, spec.kind, values, _best(values, spec.better)))
    return tuple(rows)


# -- helpers ------------------------------------------------------------------------------------


@contextmanager
def _database(home: Path | None) -> Iterator[Database]:
    secret = lookup_secret(_DATABASE_URL_ENV, register=False)
    url = secret.get_secret_value().strip() if secret is not None else ""
    database = open_database(url or None, home or home_dir())
    try:
        yield database
    finally:
        database.close()


def _find(store: AuditStore, text: str) -> RunRecord:
    wanted = text.strip()
    if not wanted:
        raise ConfigError("give a run id (tradeloop runs list shows them)")
    exact = store.run(wanted)
    if exact is not None:
        return exact
    matches = [r for r in store.runs()
               if r.run_id.startswith(wanted) or r.run_id.rpartition("-")[2].startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ConfigError(f"no run {wanted!r} in the audit database "
                          "(tradeloop runs list shows the recorded runs)")
    shown = ", ".join(r.run_id for r in matches[:_SHOWN_CANDIDATES])
    more = f" and {len(matches) - _SHOWN_CANDIDATES} more" if len(
        matches) > _SHOWN_CANDIDATES else ""
    raise ConfigError(f"run id {wanted!r} is ambiguous: it matches {len(matches)} runs "
                      f"({shown}{more}); give more of it")


def _detail(record: RunRecord) -> RunDetail:
    config = dict(record.config or {})
    strategy = config.get("strategy")
    strategy = strategy if isinstance(strategy, dict) else {}
    params = strategy.get("params")
    if not isinstance(params, dict):
        params = _node_params(config)
    data = config.get("data")
    settings = config.get("settings")
    study = config.get("study")
    return RunDetail(
        run_id=record.run_id, kind=str(config.get("kind") or record.mode), mode=record.mode,
        status=record.status, started_ns=record.started_ns, ended_ns=record.ended_ns,
        strategy=str(strategy.get("name") or ", ".join(record.strategy_ids)),
        params=dict(sorted(params.items())),
        data=tuple(DataFacts.from_document(d) for d in data if isinstance(d, dict))
        if isinstance(data, list) else (),
        metrics=dict(record.metrics or {}), code_version=record.code_version,
        strategy_spec=str(strategy.get("spec", "")),
        strategy_class=str(strategy.get("class", "")),
        settings=dict(settings) if isinstance(settings, dict) else {},
        failures=tuple(str(f) for f in config.get("failures") or ()),
        study=dict(study) if isinstance(study, dict) else None,
        artefacts=dict(record.artefacts), config=config,
    )


def _node_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """A paper or live node's parameters: its only strategy's, else by strategy id."""
    strategies = config.get("strategies")
    if not isinstance(strategies, list):
        return {}
    found = [s for s in strategies if isinstance(s, dict)]
    if len(found) == 1 and isinstance(found[0].get("params"), dict):
        return dict(found[0]["params"])
    return {f"{s.get('id') or s.get('strategy')}.{name}": value for s in found
            for name, value in (s.get("params") or {}).items()}


def _as_summary(detail: RunDetail) -> RunSummary:
    return RunSummary(**{f.name: getattr(detail, f.name) for f in fields(RunSummary)})


def _best(values: tuple[float | None, ...], better: int) -> tuple[int, ...]:
    known = [(k, v) for k, v in enumerate(values) if v is not None and not math.isnan(v)]
    if better == 0 or len({v for _, v in known}) < 2:
        return ()
    top = max(v * better for _, v in known)
    return tuple(k for k, v in known if v * better == top)


def _differences(documents: Sequence[Mapping[str, Any]]) -> tuple[FieldDifference, ...]:
    names = list(dict.fromkeys(name for doc in documents for name in doc))
    out = []
    for name in names:
        values = tuple(doc.get(name) for doc in documents)
        if any(v != values[0] for v in values[1:]):
            out.append(FieldDifference(name, values))
    return tuple(out)


def _data_fields(data: Sequence[DataFacts]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for facts in data:
        counts[facts.symbol] = counts.get(facts.symbol, 0) + 1
    for facts in data:
        name = facts.symbol if counts[facts.symbol] == 1 else (
            f"{facts.symbol}@{facts.timeframe_ns // NANOS_PER_SECOND}s")
        out[f"{name} range"] = facts.range_text
        out[f"{name} bars"] = facts.bars
        out[f"{name} fingerprint"] = facts.fingerprint
        out[f"{name} source"] = facts.source
    return out


def _setting_fields(run: RunDetail) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": run.kind, "strategy": run.strategy_spec or run.strategy,
                           "strategy class": run.strategy_class, "code": run.code_version}
    out.update(_flatten(run.settings))
    if run.study is not None:
        out.update(_flatten(run.study, "study."))
    return out


def _flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if value in ("inf", "-inf"):
        return float(value)
    return None


__all__ = [
    "BACKTEST",
    "FAILED",
    "FINISHED",
    "METRICS",
    "OPTIMIZE",
    "RUN_FILE",
    "RUN_KINDS",
    "WALKFORWARD",
    "DataFacts",
    "FieldDifference",
    "MetricRow",
    "MetricSpec",
    "RunComparison",
    "RunDetail",
    "RunFacts",
    "RunSummary",
    "backtest_facts",
    "compare_runs",
    "data_facts",
    "fingerprint",
    "get_run",
    "list_runs",
    "metric_rows",
    "record_backtest",
    "record_run",
    "write_run_file",
]
