"""What a walk-forward leaves behind: each window's in-sample trials, the windows table, the
stitched out-of-sample equity and trades as CSV, the HTML report, and its recorded run. Every
file is written to a temporary name and renamed into place, so none is ever half-written."""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradeloop.analytics.export import TRADE_COLUMNS
from tradeloop.analytics.report import write_page
from tradeloop.analytics.report_sections import ReportSection, table_section
from tradeloop.core.errors import ConfigError
from tradeloop.core.time import ns_to_iso
from tradeloop.services.optimize_report import write_trials_csv
from tradeloop.services.run_facts import (
    FAILED,
    FINISHED,
    WALKFORWARD,
    RunFacts,
    data_facts,
    request_settings,
)
from tradeloop.services.runs import save_run

if TYPE_CHECKING:
    from tradeloop.services.backtest import PreparedBacktest
    from tradeloop.services.walkforward import WalkForwardOutcome, WindowOutcome

logger = logging.getLogger(__name__)

#: Figures written per window into ``windows.csv``, in sample and out of sample.
WINDOW_METRICS = ("total_return", "cagr", "sharpe", "max_drawdown", "num_trades")
_TRADE_ROWS = 500


def write_walkforward_files(outcome: WalkForwardOutcome) -> list[Path]:
    """Write ``trials-w<k>.csv`` per window, ``windows.csv``, ``oos_equity.csv``,
    ``oos_trades.csv`` and ``report.html`` into the outcome's ``out_dir``.

    Returns
    -------
    list of Path
        The files written, in that order.

    Raises
    ------
    ConfigError
        When a file cannot be written (naming it).
    """
    out_dir = outcome.out_dir
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {out_dir}: {exc.strerror or exc}") from None
    names = outcome.space.names
    files = [write_trials_csv(item.results, names, out_dir / f"trials-w{item.window.number}.csv")
             for item in outcome.windows]
    files.append(_write_csv(out_dir / "windows.csv", _window_columns(names),
                            (_window_row(item, names) for item in outcome.windows)))
    files.append(_write_csv(out_dir / "oos_equity.csv", ("time", "equity", "window"), (
        (ns_to_iso(ts), repr(eq), window) for ts, eq, window in zip(
            outcome.equity_ts.tolist(), outcome.equity.tolist(),
            outcome.equity_window.tolist(), strict=True))))
    files.append(_write_csv(out_dir / "oos_trades.csv",
                            ("window", *TRADE_COLUMNS, "equity_scale"), (
        (item.window, t.symbol, t.strategy_id, t.side, t.quantity, ns_to_iso(t.entry_ts),
         t.entry_price, "" if t.exit_ts is None else ns_to_iso(t.exit_ts),
         "" if t.exit_price is None else t.exit_price, repr(t.gross_pnl), repr(t.commission),
         repr(t.pnl), f"{t.return_pct:.6f}", t.entry_order_id, t.exit_order_id or "",
         repr(item.scale))
        for item in outcome.trades for t in (item.trade,))))
    files.append(write_walkforward_report(outcome, out_dir / "report.html"))
    return files


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _window_columns(names: Sequence[str]) -> list[str]:
    return ["window", "is_start", "is_end", "is_bars", "oos_start", "oos_end", "oos_bars",
            *names, "is_objective", *(f"is_{m}" for m in WINDOW_METRICS), "oos_objective",
            *(f"oos_{m}" for m in WINDOW_METRICS), "efficiency", "deflated_sharpe", "pbo",
            "is_trials", "is_failed", "oos_failures"]


def _window_row(item: WindowOutcome, names: Sequence[str]) -> list[object]:
    w = item.window
    checks = item.checks
    return [w.number, ns_to_iso(w.is_start_ns), ns_to_iso(w.is_end_ns), w.is_bars,
            ns_to_iso(w.oos_start_ns), ns_to_iso(w.oos_end_ns), w.oos_bars,
            *(item.best.params.get(n, "") for n in names), _cell(item.best.value),
            *(_cell(item.is_metrics.get(m)) for m in WINDOW_METRICS), _cell(item.oos_value),
            *(_cell(item.oos_metrics.get(m)) for m in WINDOW_METRICS), _cell(item.efficiency),
            _cell(checks.dsr.dsr if checks.dsr else None),
            _cell(checks.pbo.pbo if checks.pbo else None), len(item.results), item.failed,
            "; ".join(str(f) for f in item.oos_result.run.failures)]


def _cell(value: object) -> str:
    if value is None:
        return ""
    number = float(value)  # type: ignore[arg-type]
    return "" if math.isnan(number) else repr(number)


def write_walkforward_report(outcome: WalkForwardOutcome, path: Path) -> Path:
    """The report: the run's facts, the stitched out-of-sample equity chart, the windows in
    and out of sample, each window's overfitting verdicts, the parameters chosen per window
    and the out-of-sample trades."""
    request = outcome.request
    objective = outcome.objective
    metrics = outcome.metrics
    symbols = ", ".join(sorted({t.trade.symbol for t in outcome.trades})) or "-"
    info = {
        "Strategy": f"{outcome.strategy_name} ({request.backtest.strategy})",
        "Walk-forward": (f"{len(outcome.windows)} {request.mode} windows, in-sample "
                         f"{request.train_ratio:g} x out-of-sample"),
        "Search": (f"{request.method} per in-sample window on {outcome.executor}: "
                   f"{'; '.join(request.params)}"
                   + (f" where {request.constraint}" if request.constraint else "")),
        "Objective": f"{'maximise' if objective.maximize else 'minimise'} {objective.label}",
        "Out-of-sample return": _pct(metrics.get("total_return")),
        "Out-of-sample CAGR": _pct(metrics.get("cagr")),
        "Out-of-sample Sharpe": _num(metrics.get("sharpe")),
        "Out-of-sample max drawdown": _pct(metrics.get("max_drawdown")),
        "Walk-forward efficiency": _num(outcome.efficiency),
        "Out-of-sample trades": f"{len(outcome.trades):,} ({symbols})",
    }
    if outcome.run_id:
        info["Run"] = outcome.run_id
    sections = [_windows_section(outcome), _checks_section(outcome), _params_section(outcome),
                _trades_section(outcome)]
    first, last = outcome.windows[0].window, outcome.windows[-1].window
    subtitle = (f"out of sample {ns_to_iso(first.oos_start_ns)[:10]} to "
                f"{ns_to_iso(last.oos_end_ns)[:10]} · {len(outcome.windows)} windows · "
                f"{len(outcome.trades):,} trades")
    return write_page(path, title=f"{outcome.strategy_name} walk-forward", subtitle=subtitle,
                      info=info, equity=(outcome.equity_ts, outcome.equity),
                      equity_title="Stitched out-of-sample equity and drawdown",
                      sections=sections)


def _windows_section(outcome: WalkForwardOutcome) -> ReportSection:
    label = outcome.objective.label
    rows: list[list[object]] = []
    for item in outcome.windows:
        w = item.window
        rows.append([w.number, _span(w.is_start_ns, w.is_end_ns),
                     _span(w.oos_start_ns, w.oos_end_ns), item.best.value, item.oos_value,
                     _pct(item.is_metrics.get("total_return")),
                     _pct(item.oos_metrics.get("total_return")),
                     _pct(item.is_metrics.get("cagr")), _pct(item.oos_metrics.get("cagr")),
                     item.efficiency, _int(item.oos_metrics.get("num_trades"))])
    return table_section(
        "Windows: in sample vs out of sample",
        ["Window", "In sample", "Out of sample", f"IS {label}", f"OOS {label}", "IS return",
         "OOS return", "IS CAGR", "OOS CAGR", "Efficiency", "OOS trades"], rows,
        note=("Efficiency: out-of-sample annualised return over in-sample annualised return "
              "(blank unless the in-sample one is positive). Each out-of-sample run starts "
              "flat at the window's first bar, its indicators warming up inside the window; "
              "its equity is scaled to start where the previous window's ended."))


def _checks_section(outcome: WalkForwardOutcome) -> ReportSection:
    rows = [[item.window.number, item.checks.dsr_text, item.checks.pbo_text]
            for item in outcome.windows]
    return table_section(
        "Overfitting checks per window", ["Window", "Deflated Sharpe ratio",
                                          "Probability of backtest overfitting"], rows,
        note=("Over each window's in-sample search: the deflated Sharpe ratio of the best "
              "trial's daily returns given every trial, and the PBO by combinatorially "
              "symmetric cross-validation of the trials' daily returns."))


def _params_section(outcome: WalkForwardOutcome) -> ReportSection:
    names = outcome.space.names
    rows = [[item.window.number, *(item.best.params.get(n, "") for n in names),
             len(item.results), item.failed, item.study or "-"] for item in outcome.windows]
    return table_section("Parameters chosen per window",
                         ["Window", *names, "Trials", "Failed", "Optuna study"], rows,
                         note="The best finished in-sample trial of each window; "
                              "trials-w<k>.csv lists every trial of window k.")


def _trades_section(outcome: WalkForwardOutcome) -> ReportSection:
    shown = outcome.trades[:_TRADE_ROWS]
    rows = [[item.window, t.symbol, "long" if t.side.value == "BUY" else "short",
             ns_to_iso(t.entry_ts), float(t.entry_price),
             "open" if t.exit_ts is None else ns_to_iso(t.exit_ts),
             "" if t.exit_price is None else float(t.exit_price), t.pnl]
            for item in shown for t in (item.trade,)]
    note = "PnL as in the window's own run; open trades are marked at the window's last close."
    if len(outcome.trades) > len(shown):
        note = f"The first {len(shown):,} of {len(outcome.trades):,}; oos_trades.csv has all. " \
            + note
    return table_section(f"Out-of-sample trades ({len(outcome.trades):,})",
                         ["Window", "Symbol", "Side", "Entry time", "Entry price", "Exit time",
                          "Exit price", "PnL"], rows, note=note)


def _span(first_ns: int, last_ns: int) -> str:
    return f"{_minute(first_ns)} .. {_minute(last_ns)}"


def _minute(ns: int) -> str:
    text = ns_to_iso(ns)
    return text[:10] if text.endswith("T00:00:00Z") else text[:16].replace("T", " ")


def _pct(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:,.2f} %"


def _num(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.3f}"


def _int(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{int(value):,}"


def record_walkforward(outcome: WalkForwardOutcome, prepared: PreparedBacktest,
                       started_ns: int) -> None:
    """Store the walk-forward as one run of kind ``walkforward`` (the parameters of its last
    window, the stitched out-of-sample figures, each window in ``study``) and write
    ``run.json``, setting the outcome's ``run_id``; a failure costs a warning
    (``run_warning``), never the results."""
    request = outcome.request
    last = outcome.windows[-1]
    study = {
        "method": request.method, "objective": outcome.objective.spec,
        "maximize": outcome.objective.maximize, "mode": request.mode,
        "windows": len(outcome.windows), "train_ratio": request.train_ratio,
        "space": {p.name: [str(v) for v in p.values()] for p in outcome.space.params},
        "constraint": request.constraint, "trials_per_window": request.trials,
        "seed": request.seed, "executor": outcome.executor,
        "walkforward_efficiency": outcome.efficiency,
        "per_window": [_window_facts(item) for item in outcome.windows],
    }
    artefacts = {"out_dir": str(outcome.out_dir.resolve())}
    artefacts.update({path.name: str(path.resolve()) for path in outcome.files})
    artefacts["run.json"] = str((outcome.out_dir / "run.json").resolve())
    failures = tuple(f"window {item.window.number}: {failure}" for item in outcome.windows
                     for failure in item.oos_result.run.failures)
    facts = RunFacts(
        kind=WALKFORWARD, status=FAILED if failures else FINISHED,
        strategy=request.backtest.strategy,
        strategy_name=outcome.strategy_name, params=dict(last.best.params),
        data=tuple(data_facts(series, loaded.report.source)
                   for (series, _), loaded in zip(prepared.series, prepared.data, strict=True)
                   if len(series)),
        metrics=dict(outcome.metrics), started_ns=started_ns, ended_ns=time.time_ns(),
        strategy_class=prepared.strategy_class,
        settings=request_settings(request.backtest, prepared.config), artefacts=artefacts,
        failures=failures, study=study)
    outcome.run_id, written, outcome.run_warning = save_run(facts, outcome.out_dir)
    if written is not None:
        outcome.files.append(written)


def _window_facts(item: WindowOutcome) -> dict[str, Any]:
    checks = item.checks
    return {
        "window": item.window.number, "in_sample": item.window.is_text(),
        "out_of_sample": item.window.oos_text(), "params": dict(item.best.params),
        "is_objective": item.best.value, "oos_objective": item.oos_value,
        "efficiency": item.efficiency, "trials": len(item.results), "failed": item.failed,
        "study": item.study, "resumed": item.resumed,
        "deflated_sharpe": checks.dsr.dsr if checks.dsr else None,
        "deflated_sharpe_verdict": checks.dsr_text,
        "pbo": checks.pbo.pbo if checks.pbo else None, "pbo_verdict": checks.pbo_text,
    }
