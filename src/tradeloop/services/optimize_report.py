"""What an optimisation leaves behind: its trials as CSV, the overfitting checks, and the
report of the best parameters with the results table, the heat map and the verdicts."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tradeloop.analytics.overfitting import DeflatedSharpe, deflated_sharpe_ratio_from_returns
from tradeloop.analytics.pbo import (
    MIN_ROWS_PER_SPLIT,
    PBOResult,
    probability_of_backtest_overfitting,
)
from tradeloop.analytics.report import write_report
from tradeloop.analytics.report_sections import ReportSection, heatmap_section, table_section
from tradeloop.core.errors import ConfigError
from tradeloop.optimize import SearchSpace, TrialOutcome, TrialResult

if TYPE_CHECKING:
    from tradeloop.services.optimize import OptimizeOutcome

#: Metrics written per trial into ``trials.csv`` (after the parameters and the objective).
TRIAL_METRICS = ("total_return", "sharpe", "sortino", "calmar", "max_drawdown",
                 "profit_factor", "win_rate", "num_trades", "final_equity")
_TABLE_ROWS = 50
_PBO_SPLITS = 16


@dataclass(frozen=True)
class OverfittingChecks:
    """The deflated Sharpe ratio of the best trial and the probability of backtest
    overfitting of the whole search, each with a plain-language verdict (or why it could not
    be computed).

    Attributes
    ----------
    dsr : DeflatedSharpe, optional
    dsr_text : str
    pbo : PBOResult, optional
    pbo_text : str
    """

    dsr: DeflatedSharpe | None
    dsr_text: str
    pbo: PBOResult | None
    pbo_text: str


def overfitting_checks(results: Sequence[TrialResult]) -> OverfittingChecks:
    """Both checks over the finished trials' daily returns; the best trial is the first
    finished one of ``results`` (ranked best first).

    The DSR uses every finished trial's per-day Sharpe ratio (the number of trials and their
    variance); the PBO splits the days into up to 16 blocks (combinatorially symmetric
    cross-validation of the trials' Sharpe ratios).
    """
    usable = [r for r in results if not r.outcome.error and not math.isnan(r.value)
              and r.outcome.returns is not None and len(r.outcome.returns) >= 2]
    if not usable:
        reason = "not available: no trial finished with at least two days of returns"
        return OverfittingChecks(None, f"DSR {reason}", None, f"PBO {reason}")
    lengths = {len(r.outcome.returns) for r in usable if r.outcome.returns is not None}
    if len(lengths) != 1:
        reason = "not available: the trials' return series differ in length"
        return OverfittingChecks(None, f"DSR {reason}", None, f"PBO {reason}")
    matrix = np.column_stack([np.nan_to_num(np.asarray(r.outcome.returns), nan=0.0,
                                            posinf=0.0, neginf=0.0) for r in usable])
    sharpes = _per_period_sharpes(matrix)
    dsr: DeflatedSharpe | None = None
    try:
        dsr = deflated_sharpe_ratio_from_returns(matrix[:, 0], sharpes)
        dsr_text = dsr.verdict
    except ConfigError as exc:
        dsr_text = f"DSR not available: {exc}"
    pbo: PBOResult | None = None
    splits = min(_PBO_SPLITS, (matrix.shape[0] // MIN_ROWS_PER_SPLIT) // 2 * 2)
    if len(usable) < 2:
        pbo_text = "PBO not available: it compares trials, and only one finished"
    elif splits < 2:
        pbo_text = f"PBO not available: {matrix.shape[0]} days are too few to split"
    else:
        try:
            pbo = probability_of_backtest_overfitting(matrix, n_splits=splits)
            pbo_text = pbo.verdict
        except ConfigError as exc:
            pbo_text = f"PBO not available: {exc}"
    return OverfittingChecks(dsr, dsr_text, pbo, pbo_text)


def _per_period_sharpes(matrix: np.ndarray[Any, np.dtype[np.float64]]) -> list[float]:
    means = matrix.mean(axis=0)
    stds = matrix.std(axis=0, ddof=1)
    return [float(m / s) if s > 0 else 0.0 for m, s in zip(means, stds, strict=True)]


def write_trials_csv(results: Sequence[TrialResult], names: Sequence[str], path: Path) -> Path:
    """Every trial, best first: rank, trial number, parameters, objective, key metrics, error.
    Written to a temporary file and renamed, so it is never half-written."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    columns = ["rank", "trial", *names, "objective", *TRIAL_METRICS, "error"]
    try:
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for k, r in enumerate(results, start=1):
                metrics = r.outcome.metrics
                writer.writerow([k, r.number, *(r.params.get(n, "") for n in names),
                                 _cell(r.value), *(_cell(metrics.get(m)) for m in TRIAL_METRICS),
                                 r.outcome.error])
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _cell(value: float | None) -> str:
    if value is None or math.isnan(value):
        return ""
    return repr(float(value))


def read_trials_csv(path: Path, space: SearchSpace) -> list[TrialResult]:
    """The trials of a ``trials.csv`` written by :func:`write_trials_csv`, in its order, with
    each parameter back to the value of ``space`` it was written from.

    Raises
    ------
    ConfigError
        When the file is missing or unreadable, or a row does not fit ``space``.
    """
    values = {spec.name: {str(v): v for v in spec.values()} for spec in space.params}
    results: list[TrialResult] = []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                try:
                    params = {name: values[name][row[name]] for name in space.names}
                    metrics = {m: float(row[m]) for m in TRIAL_METRICS if row.get(m)}
                    value = float(row["objective"]) if row["objective"] else math.nan
                    outcome = TrialOutcome(value, metrics, row.get("error") or "")
                    results.append(TrialResult(int(row["trial"]), params, outcome))
                except (KeyError, ValueError, TypeError) as exc:
                    raise ConfigError(f"{path}:{line}: not a trial of this search "
                                      f"({type(exc).__name__}: {exc})") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    return results


@dataclass(frozen=True)
class SearchFacts:
    """What an optimisation report shows besides the best backtest: the search, its trials
    (best first) and the verdicts.

    Attributes
    ----------
    space : SearchSpace
    objective_label : str
    maximize : bool
    results : list of TrialResult
    dsr_text, pbo_text : str
    heatmap : tuple of two str, optional
    """

    space: SearchSpace
    objective_label: str
    maximize: bool
    results: Sequence[TrialResult]
    dsr_text: str
    pbo_text: str
    heatmap: tuple[str, str] | None = None


def optimization_sections(facts: SearchFacts) -> list[ReportSection]:
    """The report sections of a search: the verdicts, the results table and the heat map."""
    sections = [_checks_section(facts), _results_section(facts)]
    if facts.heatmap is not None:
        sections.append(_heatmap(facts, *facts.heatmap))
    return sections


def write_optimization_report(outcome: OptimizeOutcome, heatmap: tuple[str, str] | None,
                              path: Path) -> Path:
    """The report of the best parameters' backtest, with the optimisation's sections: the
    verdicts, the results table and the heat map of two parameters."""
    request = outcome.request
    facts = SearchFacts(outcome.space, outcome.objective.label, outcome.objective.maximize,
                        outcome.results, outcome.checks.dsr_text, outcome.checks.pbo_text,
                        heatmap)
    info = {
        "Optimisation": (f"{request.method} search, {len(outcome.results)} trials"
                         f" ({outcome.failed} failed) on {outcome.executor}"),
        "Objective": f"{'maximise' if outcome.objective.maximize else 'minimise'} "
                     f"{outcome.objective.label}",
        "Best parameters": ", ".join(f"{k}={v}" for k, v in outcome.best.params.items()),
        "Search space": "; ".join(request.params),
    }
    if request.constraint:
        info["Constraint"] = request.constraint
    if outcome.study:
        info["Optuna study"] = (f"{outcome.study} ({outcome.resumed} trials resumed)"
                                if outcome.resumed else outcome.study)
    if outcome.run_id:
        info["Run"] = outcome.run_id
    return write_report(outcome.best_result, path, title=optimization_title(
        outcome.strategy_name, len(outcome.results)), info=info,
        sections=optimization_sections(facts))


def optimization_title(strategy_name: str, trials: int) -> str:
    """The title of an optimisation's report."""
    return f"{strategy_name} optimisation: best of {trials} trials"


def _checks_section(facts: SearchFacts) -> ReportSection:
    rows: list[list[object]] = [["Deflated Sharpe ratio", facts.dsr_text],
                                ["Probability of backtest overfitting", facts.pbo_text]]
    return table_section("Overfitting checks", ["Check", "Verdict"], rows, note=(
        "Deflated Sharpe ratio (Bailey and Lopez de Prado, 2014) of the best trial's daily "
        "returns given every trial; PBO by combinatorially symmetric cross-validation "
        "(Bailey, Borwein, Lopez de Prado and Zhu, 2017) of the trials' daily returns."))


def _results_section(facts: SearchFacts) -> ReportSection:
    names = facts.space.names
    shown = facts.results[:_TABLE_ROWS]
    rows = [[k, r.number, *(r.params.get(n, "") for n in names), r.value,
             r.outcome.metrics.get("total_return", math.nan),
             r.outcome.metrics.get("max_drawdown", math.nan),
             r.outcome.metrics.get("num_trades", math.nan), r.outcome.error]
            for k, r in enumerate(shown, start=1)]
    note = (f"The best {len(shown)} of {len(facts.results)}; trials.csv has them all."
            if len(facts.results) > len(shown)
            else "Best first; trials.csv has the same rows with more figures.")
    return table_section(
        "Optimisation results",
        ["Rank", "Trial", *names, facts.objective_label, "Return", "Max drawdown", "Trades",
         "Error"], rows, note=note)


def _heatmap(facts: SearchFacts, x_name: str, y_name: str) -> ReportSection:
    xs = facts.space.spec(x_name).values()
    ys = facts.space.spec(y_name).values()
    cells = np.full((len(ys), len(xs)), np.nan)
    column = {v: k for k, v in enumerate(xs)}
    row = {v: k for k, v in enumerate(ys)}
    pick = max if facts.maximize else min
    for r in facts.results:
        if r.outcome.error or math.isnan(r.value):
            continue
        y_value, x_value = r.params.get(y_name), r.params.get(x_name)
        i = None if y_value is None else row.get(y_value)
        j = None if x_value is None else column.get(x_value)
        if i is None or j is None:
            continue
        cells[i, j] = r.value if math.isnan(cells[i, j]) else pick(cells[i, j], r.value)
    others = [n for n in facts.space.names if n not in (x_name, y_name)]
    label = facts.objective_label
    note = (f"Each cell: the best {label} over {', '.join(others)}; grey: not tried or failed."
            if others else f"Each cell: the {label}; grey: not tried or failed.")
    return heatmap_section(f"{label} by {y_name} and {x_name}", x_name, xs, y_name, ys, cells,
                           value_name=label, note=note)
