"""HTML reports of backtests and optimisations: of one just run, or of a recorded run, re-run
on its own data.

A run stores its facts, not its fills, so :func:`report_for_run` rebuilds the backtest from
what was recorded (strategy, parameters, data sources, range, account, options, risk file),
checks that the data still is what the run used (bar count, range and fingerprint of every
series) and that the risk file is unchanged, runs it again and writes the report. Changed or
missing data is refused, never reported as if it were the run's. A different code version is
allowed, and said, in the report and in :attr:`ReportOutcome.warnings`. An optimisation's
report is its best parameters' backtest run again the same way, with the search's trials read
back from its ``trials.csv`` and the verdicts it recorded.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradeloop.analytics.report import write_report
from tradeloop.analytics.results import BacktestResult
from tradeloop.config.home import home_dir
from tradeloop.core.errors import ConfigError, UserError
from tradeloop.core.time import ns_to_iso, timeframe_label
from tradeloop.optimize import SearchSpace
from tradeloop.services.backtest import (
    BacktestOutcome,
    BacktestRequest,
    PreparedBacktest,
    Progress,
    prepare_backtest,
    simulate,
)
from tradeloop.services.code_version import CodeVersion, code_version
from tradeloop.services.optimize_report import (
    SearchFacts,
    optimization_sections,
    optimization_title,
    read_trials_csv,
)
from tradeloop.services.run_facts import (
    BACKTEST,
    OPTIMIZE,
    WALKFORWARD,
    DataFacts,
    backtest_facts,
    data_facts,
)
from tradeloop.services.runs import RunDetail, get_run

logger = logging.getLogger(__name__)

REPORT_FILE = "report.html"
"""The report's name in a result folder."""

_SHORT_HASH = 23  # "sha256:" and 16 hex digits


@dataclass(frozen=True)
class ReportOutcome:
    """A report written for a recorded run.

    Attributes
    ----------
    path : Path
        The HTML file.
    run_id : str
        The run's full id.
    warnings : tuple of str
        What the reader should know (the code version differs, the re-run's results differ
        from the recorded ones); also shown in the report.
    """

    path: Path
    run_id: str
    warnings: tuple[str, ...] = ()


_RunReporter = Callable[[RunDetail, Path | None, Path, Progress | None], ReportOutcome]


def report_for_run(run_id: str, out: Path | None = None, *, home: Path | None = None,
                   progress: Progress | None = None) -> ReportOutcome:
    """Write the HTML report of a recorded run.

    A backtest is run again with its recorded settings, on its recorded data once that is
    checked unchanged.

    Parameters
    ----------
    run_id : str
        The run's id, or a unique start of it (or of its random suffix).
    out : Path, optional
        The HTML file to write, or an existing folder to write ``report.html`` into. Default:
        ``report.html`` in the run's result folder when that exists and can be written, else
        ``$TRADELOOP_HOME/reports/<run id>.html``.
    home : Path, optional
        The tradeloop home (its database and its ``reports`` folder).
    progress : callable, optional
        Called with (bars done, bars in all) during the re-run.

    Returns
    -------
    ReportOutcome

    Raises
    ------
    ConfigError
        No such run (or several); a run that cannot be reported (a paper or live session, an
        optimisation whose ``trials.csv`` or a walk-forward whose report is gone); data or a
        risk file that is missing or changed since the run (the message names the symbol and
        source, and what differs); an output path that cannot be written.
    """
    run = get_run(run_id, home=home)
    reporter = _reporter_for(run)
    return reporter(run, out, home or home_dir(), progress)


def backtest_report(outcome: BacktestOutcome, path: Path | None = None) -> Path:
    """Write the HTML report of a backtest just run (nothing is run again).

    Parameters
    ----------
    outcome : BacktestOutcome
    path : Path, optional
        The HTML file; default ``report.html`` in the backtest's result folder.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ConfigError
        When the file cannot be written (the message names it).
    """
    target = path if path is not None else outcome.out_dir / REPORT_FILE
    facts = backtest_facts(outcome, started_ns=0, ended_ns=0)
    config = facts.config()
    info = run_info(config, run_id=outcome.run_id)
    if outcome.run_warning is not None:
        info["Recording"] = outcome.run_warning
    written = write_report(outcome.result, target, title=_title(config, outcome.run_id),
                           info=info)
    logger.info("backtest report written", extra={"fields": {
        "path": str(written), "run_id": outcome.run_id}})
    return written


def run_info(config: Mapping[str, Any], *, run_id: str | None = None,
             started_ns: int | None = None) -> dict[str, str]:
    """The facts of a run as the rows of its report's "Run" table.

    Parameters
    ----------
    config : mapping
        The run's ``config`` document (:meth:`RunFacts.config`, as stored in the audit
        database and in ``run.json``).
    run_id : str, optional
        None for a backtest that was not recorded.
    started_ns : int, optional
        When the run started (UTC nanoseconds), shown when given.

    Returns
    -------
    dict of str to str
        Row label to text, in display order.
    """
    rows: dict[str, str] = {"Run id": run_id or "not recorded"}
    if started_ns is not None:
        rows["Run started"] = ns_to_iso(started_ns)
    strategy = _mapping(config.get("strategy"))
    spec = str(strategy.get("spec") or strategy.get("name") or "-")
    cls = str(strategy.get("class") or "")
    rows["Strategy"] = f"{spec} ({cls})" if cls and cls != spec else spec
    params = _mapping(strategy.get("params"))
    rows["Parameters"] = " ".join(f"{k}={_text(v)}" for k, v in params.items()) or "none"
    data = [DataFacts.from_document(d) for d in config.get("data") or () if isinstance(d, dict)]
    rows.update(_data_rows(data))
    settings = _mapping(config.get("settings"))
    span = _mapping(settings.get("range"))
    start, end = span.get("from"), span.get("to")
    rows["Range asked"] = ("all the data" if start is None and end is None else
                           f"from {start or 'the start'} to {end or 'the end'}")
    account = _mapping(settings.get("account"))
    if account:
        rows["Account"] = (f"{account.get('type', '-')}, {account.get('cash', '-')} "
                           f"{account.get('currency', '')}, "
                           f"leverage {account.get('leverage', '-')}")
        rows["Costs"] = (f"commission {account.get('commission') or 'none'}, "
                         f"slippage {account.get('slippage') or 'none'}")
        rows["Fills"] = (f"stop/target in one bar: {account.get('conflict', '-')}, volume limit "
                         f"{_text(account.get('volume_limit'), 'none')}")
    options = _mapping(settings.get("options"))
    if options:
        rows["Options"] = (f"timezone {options.get('timezone', '-')}, repair "
                           f"{_on(options.get('repair'))}, streaming indicators "
                           f"{_on(options.get('streaming_indicators'))}")
    risk = _mapping(settings.get("risk"))
    rows["Risk file"] = (f"{risk.get('file', '-')} ({_short(str(risk.get('sha256') or '-'))})"
                         if risk else "none")
    code = _recorded_code(config)
    rows["Code version"] = code.label if code is not None else "-"
    return rows


# -- the report of each kind of run ------------------------------------------------------------


def _reporter_for(run: RunDetail) -> _RunReporter:
    """Which report a run gets, by its kind."""
    if run.kind == BACKTEST:
        return _backtest_run_report
    if run.kind == OPTIMIZE:
        return _optimization_run_report
    if run.kind == WALKFORWARD:
        return _walkforward_run_report
    raise ConfigError(f"run {run.run_id} is a {run.kind} session: only backtests can be run "
                      f"again for a report (tradeloop runs show {run.run_id} shows what it did)")


def _backtest_run_report(run: RunDetail, out: Path | None, home: Path,
                         progress: Progress | None) -> ReportOutcome:
    target = _target(run, out, home)
    _check_writable(target)
    result, info, warnings = _run_again(run, progress)
    path = write_report(result, target, title=_title(run.config, run.run_id), info=info)
    logger.info("run report written", extra={"fields": {
        "run_id": run.run_id, "path": str(path), "warnings": len(warnings)}})
    return ReportOutcome(path, run.run_id, tuple(warnings))


def _optimization_run_report(run: RunDetail, out: Path | None, home: Path,
                             progress: Progress | None) -> ReportOutcome:
    """The best parameters run again, with the search's trials from its ``trials.csv``."""
    target = _target(run, out, home)
    _check_writable(target)
    study = _mapping(run.study)
    options = study.get("options")
    if not isinstance(options, list) or not options:
        raise ConfigError(f"run {run.run_id} does not record its search space: its report "
                          "cannot be written again")
    space = SearchSpace.parse([str(o) for o in options], study.get("constraint") or None)
    trials_file = run.artefacts.get("trials.csv")
    if not trials_file or not Path(trials_file).is_file():
        raise ConfigError(f"run {run.run_id}: its trials file {trials_file or 'trials.csv'} is "
                          "gone, so its report cannot be written again")
    results = read_trials_csv(Path(trials_file), space)
    result, info, warnings = _run_again(run, progress)
    heatmap = study.get("heatmap")
    objective = str(study.get("objective") or "objective")
    facts = SearchFacts(
        space, objective.removeprefix("custom:"), bool(study.get("maximize", True)), results,
        str(study.get("deflated_sharpe_verdict") or "DSR not recorded"),
        str(study.get("pbo_verdict") or "PBO not recorded"),
        (str(heatmap[0]), str(heatmap[1])) if isinstance(heatmap, list) and len(heatmap) == 2
        else None)
    info["Optimisation"] = (f"{study.get('method', '-')} search, {len(results)} trials "
                            f"({study.get('failed', 0)} failed) on {study.get('executor', '-')}")
    info["Search space"] = "; ".join(str(o) for o in options)
    path = write_report(result, target, title=optimization_title(
        str(run.config.get("strategy", {}).get("name") or run.strategy), len(results)),
        info=info, sections=optimization_sections(facts))
    logger.info("run report written", extra={"fields": {
        "run_id": run.run_id, "path": str(path), "warnings": len(warnings)}})
    return ReportOutcome(path, run.run_id, tuple(warnings))


def _walkforward_run_report(run: RunDetail, out: Path | None, home: Path,
                            progress: Progress | None) -> ReportOutcome:
    """A walk-forward is not run again (it is a search per window): its own report is
    handed out, copied to ``out`` when one is given."""
    written = run.artefacts.get(REPORT_FILE)
    if not written or not Path(written).is_file():
        raise ConfigError(f"run {run.run_id} is a walk-forward whose report "
                          f"{written or REPORT_FILE} is gone; run tradeloop walkforward again")
    if out is None:
        return ReportOutcome(Path(written), run.run_id,
                             ("the walk-forward's own report, written when it ran",))
    target = _target(run, out, home)
    _check_writable(target)
    try:
        shutil.copyfile(written, target)
    except OSError as exc:
        raise ConfigError(f"cannot write {target}: {exc.strerror or exc}") from None
    return ReportOutcome(target, run.run_id, ("a copy of the walk-forward's own report",))


def _run_again(run: RunDetail, progress: Progress | None
               ) -> tuple[BacktestResult, dict[str, str], list[str]]:
    """The run's backtest (an optimisation's: its best parameters') run again on its data,
    checked unchanged; with the report's info rows and the warnings."""
    _check_risk_file(run)
    request = _request(run)
    try:
        prepared = prepare_backtest(request)
    except UserError as exc:
        raise ConfigError(f"run {run.run_id} cannot be run again for its report: {exc}") from None
    _check_data(run, prepared)
    result = simulate(prepared, progress=progress)
    warnings = _code_warnings(run) + _result_warnings(run, result.metrics, result.final_equity)
    info = run_info(run.config, run_id=run.run_id, started_ns=run.started_ns)
    info["Report"] = (f"run again on {ns_to_iso(time.time_ns())[:19]}Z with the recorded "
                      "settings, on data whose bar counts, ranges and fingerprints match the run's")
    for k, warning in enumerate(warnings, start=1):
        info["Warning" if k == 1 else f"Warning {k}"] = warning
    return result, info, warnings


# -- rebuilding the request ----------------------------------------------------------------------


def _request(run: RunDetail) -> BacktestRequest:
    if not run.strategy_spec:
        raise ConfigError(f"run {run.run_id} does not record its strategy: it cannot be run again")
    if not run.data:
        raise ConfigError(f"run {run.run_id} does not record its data: it cannot be run again")
    settings = run.settings
    span = _mapping(settings.get("range"))
    account = _mapping(settings.get("account"))
    options = _mapping(settings.get("options"))
    risk = _mapping(settings.get("risk"))
    volume_limit = account.get("volume_limit")
    given: dict[str, Any] = {
        "start": span.get("from"), "end": span.get("to"),
        "cash": _optional_text(account.get("cash")),
        "currency": _optional_text(account.get("currency")),
        "account": _optional_text(account.get("type")),
        "leverage": _optional_text(account.get("leverage")),
        "commission": _optional_text(account.get("commission")),
        "slippage": _optional_text(account.get("slippage")),
        "conflict": _optional_text(account.get("conflict")),
        "volume_limit": None if volume_limit is None else float(volume_limit),
        "timezone": _optional_text(options.get("timezone")),
        "repair": None if options.get("repair") is None else bool(options["repair"]),
        "streaming_indicators": None if options.get("streaming_indicators") is None
        else bool(options["streaming_indicators"]),
        "risk": Path(str(risk["file"])) if risk.get("file") else None,
    }
    return BacktestRequest(
        strategy=run.strategy_spec,
        data=tuple(_data_item(run.run_id, facts) for facts in run.data),
        symbols=tuple(facts.symbol for facts in run.data),
        params={name: _param_text(run.run_id, name, value) for name, value in run.params.items()},
        **{name: value for name, value in given.items() if value is not None},
    )


def _data_item(run_id: str, facts: DataFacts) -> str:
    """What ``--data`` takes for a recorded source: the file, or ``VENUE/SYMBOL@1h`` for the
    store's ``store:VENUE/SYMBOL/1h``."""
    source = facts.source
    if not source:
        raise ConfigError(f"run {run_id} does not record where the data of {facts.symbol} came "
                          "from: it cannot be run again")
    if source.startswith("store:"):
        venue, _, rest = source.removeprefix("store:").partition("/")
        symbol, _, frame = rest.rpartition("/")
        return f"{venue}/{symbol}@{frame}" if venue else f"{symbol}@{frame}"
    return source


def _param_text(run_id: str, name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int | str):
        return str(value)
    raise ConfigError(f"run {run_id}: parameter {name} was recorded as {value!r}, which cannot "
                      "be given back to the strategy")


# -- checks ------------------------------------------------------------------------------------


def _check_risk_file(run: RunDetail) -> None:
    risk = _mapping(run.settings.get("risk"))
    if not risk.get("file"):
        return
    path = Path(str(risk["file"]))
    recorded = risk.get("sha256")
    try:
        now = f"sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}"
    except OSError as exc:
        raise ConfigError(f"run {run.run_id}: its risk file {path} cannot be read "
                          f"({exc.strerror or exc})") from None
    if recorded != now:
        raise ConfigError(f"run {run.run_id}: its risk file {path} changed since the run "
                          f"({_short(str(recorded))} recorded, {_short(now)} now)")


def _check_data(run: RunDetail, prepared: PreparedBacktest) -> None:
    if len(prepared.series) != len(run.data):
        raise ConfigError(f"run {run.run_id} used {len(run.data)} data series, its data now "
                          f"gives {len(prepared.series)}")
    for recorded, (series, _) in zip(run.data, prepared.series, strict=True):
        where = f"the data of {recorded.symbol} ({recorded.source})"
        if len(series) == 0:
            raise ConfigError(f"run {run.run_id}: {where} has no bars in the run's range now "
                              f"({recorded.bars:,} bars recorded)")
        current = data_facts(series, recorded.source)
        differences = _data_differences(recorded, current)
        if differences:
            raise ConfigError(f"run {run.run_id}: {where} changed since the run: "
                              f"{'; '.join(differences)}. Refusing to report other data")


def _data_differences(recorded: DataFacts, current: DataFacts) -> list[str]:
    out = []
    if current.symbol != recorded.symbol:
        out.append(f"symbol {recorded.symbol} recorded, {current.symbol} now")
    if current.bars != recorded.bars:
        out.append(f"{recorded.bars:,} bars recorded, {current.bars:,} now")
    if (current.first_ns, current.last_ns) != (recorded.first_ns, recorded.last_ns):
        out.append(f"range {recorded.range_text} recorded, {current.range_text} now")
    if current.fingerprint != recorded.fingerprint:
        same = "" if out else " (same bar count and range: some value changed)"
        out.append(f"fingerprint {_short(recorded.fingerprint)} recorded, "
                   f"{_short(current.fingerprint)} now{same}")
    return out


def _code_warnings(run: RunDetail) -> list[str]:
    recorded = _recorded_code(run.config)
    label = recorded.label if recorded is not None else run.code_version
    now = code_version().label
    if label == now:
        return []
    return [f"code version differs: the run used {label or 'an unknown version'}, this report "
            f"ran it again with {now}"]


def _result_warnings(run: RunDetail, metrics: Mapping[str, Any], final_equity: Any) -> list[str]:
    differences = []
    trades, recorded_trades = metrics.get("num_trades"), run.metric("num_trades")
    if recorded_trades is not None and trades is not None and float(trades) != recorded_trades:
        differences.append(f"{int(trades):,} trades ({int(recorded_trades):,} recorded)")
    equity, recorded_equity = float(final_equity), run.metric("final_equity")
    if recorded_equity is not None and not math.isclose(equity, recorded_equity,
                                                        rel_tol=1e-9, abs_tol=1e-6):
        differences.append(f"final equity {equity:,.2f} ({recorded_equity:,.2f} recorded)")
    if not differences:
        return []
    return [f"the results differ from the recorded run: {', '.join(differences)}"]


# -- paths -------------------------------------------------------------------------------------


def _target(run: RunDetail, out: Path | None, home: Path) -> Path:
    if out is not None:
        path = Path(out).expanduser()
        return path / REPORT_FILE if path.is_dir() else path
    folder = run.artefacts.get("out_dir")
    if folder:
        out_dir = Path(folder)
        if out_dir.is_dir() and os.access(out_dir, os.W_OK | os.X_OK):
            return out_dir / REPORT_FILE
    return home / "reports" / f"{run.run_id}.html"


def _check_writable(path: Path) -> None:
    """Refuse a report path that cannot be written before running anything."""
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is None or not parent.is_dir():
        raise ConfigError(f"cannot write the report to {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write the report to {path}: no permission to write in "
                          f"{parent}")


# -- small helpers -------------------------------------------------------------------------------


def _data_rows(data: Sequence[DataFacts]) -> dict[str, str]:
    rows: dict[str, str] = {}
    counts: dict[str, int] = {}
    for facts in data:
        counts[facts.symbol] = counts.get(facts.symbol, 0) + 1
    for facts in data:
        frame = timeframe_label(facts.timeframe_ns)
        name = facts.symbol if counts[facts.symbol] == 1 or not frame else (
            f"{facts.symbol} {frame}")
        bars = f"{facts.bars:,} {frame + ' ' if frame else ''}bars"
        rows[f"Data {name}"] = (f"{facts.range_text}, {bars}, {facts.source or '-'}, "
                                f"{_short(facts.fingerprint)}")
    return rows


def _title(config: Mapping[str, Any], run_id: str | None) -> str:
    strategy = _mapping(config.get("strategy"))
    name = str(strategy.get("name") or strategy.get("spec") or "backtest")
    symbols = [str(d.get("symbol")) for d in config.get("data") or () if isinstance(d, dict)]
    title = f"{name} on {', '.join(dict.fromkeys(symbols))}" if symbols else name
    return f"{title} · run {run_id}" if run_id else title


def _recorded_code(config: Mapping[str, Any]) -> CodeVersion | None:
    code = _mapping(config.get("code"))
    if not code.get("version"):
        return None
    commit = code.get("commit")
    return CodeVersion(str(code["version"]), str(commit) if commit else None,
                       bool(code.get("dirty")))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _text(value: Any, empty: str = "-") -> str:
    if value is None:
        return empty
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _on(value: Any) -> str:
    return "on" if value else "off"


def _short(fingerprint: str) -> str:
    if fingerprint.startswith("sha256:") and len(fingerprint) > _SHORT_HASH:
        return fingerprint[:_SHORT_HASH] + "…"
    return fingerprint


__all__ = [
    "REPORT_FILE",
    "ReportOutcome",
    "backtest_report",
    "report_for_run",
    "run_info",
]
