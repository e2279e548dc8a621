"""The optimisation use case on the bundled data: a grid ranks the same on every executor, a
random or TPE study lives in the audit database and resumes after an interruption or a crash,
failures and objectives behave, and the run and its files are recorded."""

from __future__ import annotations

import csv
import json
import math
import os
import pickle
import re
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna
import pytest

from tradeloop.core.errors import ConfigError
from tradeloop.optimize import TrialResult
from tradeloop.services import BacktestRequest
from tradeloop.services.optimize import OptimizeRequest, run_optimization
from tradeloop.services.runs import get_run, list_runs, study_storage_url
from tradeloop.services.trial_job import BacktestJob, daily_returns, parse_objective

GOOG = BacktestRequest("sma_cross")
# 10 x 20 = 200 combinations, every one with fast < slow
GRID_200 = ("fast=2:20:2", "slow=30:220:10")
SMALL = ("fast=5:15:5", "slow=20:40:10")
WIDE = ("fast=2:40:1", "slow=20:200:1")


def _ranking(results: list[TrialResult]) -> list[tuple[dict[str, object], float]]:
    return [(r.params, r.value) for r in results]


def _request(params: tuple[str, ...] = SMALL, **changes: object) -> OptimizeRequest:
    return replace(OptimizeRequest(GOOG, params), **changes)  # type: ignore[arg-type]


def test_a_200_combination_grid_ranks_the_same_on_1_worker_2_processes_and_dask(
    tmp_path: Path,
) -> None:
    pytest.importorskip("distributed")
    serial = run_optimization(_request(GRID_200, workers=1, out_dir=tmp_path / "serial"))
    assert len(serial.results) == 200 and serial.failed == 0
    values = [r.value for r in serial.results]
    assert values == sorted(values, reverse=True) and len(set(values)) > 50
    local = run_optimization(_request(GRID_200, workers=2, out_dir=tmp_path / "local"))
    dask = run_optimization(_request(GRID_200, workers=2, dask="local",
                                     out_dir=tmp_path / "dask"))
    assert _ranking(local.results) == _ranking(serial.results)
    assert _ranking(dask.results) == _ranking(serial.results)
    assert (serial.executor, local.executor) == ("1 process", "2 local processes")
    assert dask.executor == "dask local (2 workers)"
    assert serial.best.params == local.best.params == dask.best.params
    rows = list(csv.DictReader((tmp_path / "dask" / "trials.csv").open()))
    assert [(int(r["fast"]), int(r["slow"])) for r in rows] == [
        (int(p["fast"]), int(p["slow"])) for p, _ in _ranking(serial.results)]


def test_an_existing_dask_cluster_runs_the_trials_by_its_address(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    serial = run_optimization(_request(out_dir=tmp_path / "serial"))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        remote = run_optimization(_request(dask=address, out_dir=tmp_path / "remote"))
        assert len(cluster.scheduler_info["workers"]) == 2  # still up: not ours to close
    assert remote.executor == f"dask {address} (2 workers)"
    assert _ranking(remote.results) == _ranking(serial.results)


def test_the_best_trial_is_run_again_and_matches_its_trial(tmp_path: Path) -> None:
    outcome = run_optimization(_request(out_dir=tmp_path / "o"))
    best = outcome.best
    assert outcome.best_result.metrics["sharpe"] == pytest.approx(best.value, rel=1e-12)
    assert outcome.best_result.metrics["num_trades"] == best.outcome.metrics["num_trades"]
    assert best.params == outcome.results[0].params


def test_trials_that_fail_are_kept_ranked_last_with_their_reason(tmp_path: Path) -> None:
    # fast >= slow makes the example strategy refuse to start
    outcome = run_optimization(_request(("fast=10:30:10", "slow=20:30:10"),
                                        out_dir=tmp_path / "o"))
    assert len(outcome.results) == 6 and outcome.failed == 3
    failed = outcome.results[-3:]
    assert all("must be shorter than slow" in r.outcome.error for r in failed)
    assert all(r.params["fast"] >= r.params["slow"] for r in failed)
    rows = list(csv.DictReader((tmp_path / "o" / "trials.csv").open()))
    assert [r["error"] != "" for r in rows] == [False] * 3 + [True] * 3
    assert rows[-1]["objective"] == ""


def test_every_trial_failing_is_an_error_naming_the_first_reason(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"every trial failed .*must be shorter than slow"):
        run_optimization(_request(("fast=30:40:10", "slow=20"), out_dir=tmp_path / "o"))
    assert (tmp_path / "o" / "trials.csv").exists()


@pytest.mark.parametrize(("objective", "metric"), [
    ("return", "total_return"), ("profit_factor", "profit_factor"), ("calmar", "calmar"),
    ("sortino", "sortino"),
])
def test_named_objectives_rank_by_their_metric(tmp_path: Path, objective: str,
                                               metric: str) -> None:
    outcome = run_optimization(_request(objective=objective, out_dir=tmp_path / "o"))
    ranked = [r.outcome.metrics[metric] for r in outcome.results]
    assert [r.value for r in outcome.results] == ranked
    assert ranked == sorted(ranked, reverse=True)


def score_trades(result: object) -> float:
    """A custom objective (fewest trades wins when minimised)."""
    return float(result.metrics["num_trades"])  # type: ignore[attr-defined]


def test_a_custom_objective_and_minimising(tmp_path: Path) -> None:
    spec = f"custom:{__name__}:score_trades"
    outcome = run_optimization(_request(objective=spec, minimize=True,
                                        out_dir=tmp_path / "o"))
    trades = [r.value for r in outcome.results]
    assert trades == sorted(trades) and trades[0] < trades[-1]
    assert outcome.objective.label == f"{__name__}:score_trades"


@pytest.mark.parametrize(("changes", "message"), [
    ({"objective": "sharp"}, "--objective 'sharp': expected one of sharpe, sortino"),
    ({"objective": "custom:nowhere_at_all:f"}, "cannot import 'nowhere_at_all'"),
    ({"objective": "custom:math"}, "write it as custom:module:function"),
    ({"objective": "custom:math:nothing"}, "math has no function 'nothing'"),
    ({"method": "bayes"}, "--method 'bayes': expected one of grid, random, tpe"),
    ({"method": "tpe"}, "--method tpe needs --trials N"),
    ({"trials": 5}, "--trials is for --method random or tpe"),
    ({"params": ("fsat=5:10",)}, "unknown parameter 'fsat' for SmaCross, did you mean 'fast'"),
    ({"heatmap": ("fast", "slwo")}, "unknown parameter 'slwo', did you mean 'slow'"),
    ({"workers": 0}, "--workers must be at least 1"),
])
def test_bad_requests_are_clear_errors_and_write_nothing(
    tmp_path: Path, changes: dict[str, object], message: str,
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        run_optimization(_request(out_dir=tmp_path / "o", **changes))  # type: ignore[arg-type]
    assert not (tmp_path / "o").exists()


def test_the_run_is_recorded_with_its_study_and_files(tmp_path: Path) -> None:
    outcome = run_optimization(_request(out_dir=tmp_path / "o"))
    assert outcome.run_id is not None and outcome.run_warning is None
    run = get_run(outcome.run_id)
    assert run.kind == "optimize" and run.params == outcome.best.params
    assert run.study is not None
    assert run.study["trials"] == 9 and run.study["method"] == "grid"
    assert run.study["best"]["params"] == outcome.best.params
    assert run.study["deflated_sharpe_verdict"].startswith("DSR ")
    assert [r.run_id for r in list_runs(kind="optimize")] == [outcome.run_id]
    document = json.loads((tmp_path / "o" / "run.json").read_text())
    assert document["mode"] == "optimize" and document["run_id"] == outcome.run_id
    assert {p.name for p in outcome.files} == {"trials.csv", "report.html", "run.json"}


def test_the_report_holds_the_results_table_heat_map_and_verdicts(tmp_path: Path) -> None:
    outcome = run_optimization(_request(out_dir=tmp_path / "o"))
    page = (tmp_path / "o" / "report.html").read_text()
    assert "Optimisation results" in page and "Overfitting checks" in page
    assert "sharpe by slow and fast" in page
    assert outcome.checks.dsr_text in page.replace("&#x27;", "'")
    assert outcome.checks.pbo_text.split(":")[0] in page


def test_overfitting_checks_use_every_finished_trial(tmp_path: Path) -> None:
    outcome = run_optimization(_request(GRID_200, workers=1, out_dir=tmp_path / "o"))
    assert outcome.checks.dsr is not None and outcome.checks.pbo is not None
    assert outcome.checks.dsr.n_trials == 200 and outcome.checks.pbo.n_trials == 200
    best_returns = outcome.best.outcome.returns
    assert best_returns is not None and len(best_returns) == outcome.checks.dsr.n_obs


def test_daily_returns_chain_back_to_the_equity() -> None:
    day = 86_400 * 10**9
    ts = np.array([0, 3600 * 10**9, day, day + 60, 3 * day], dtype=np.int64)
    equity = np.array([100.0, 101.0, 99.0, 102.0, 105.0])
    returns = daily_returns(ts, equity)
    assert returns.tolist() == pytest.approx([0.01, 102 / 101 - 1, 105 / 102 - 1])
    assert math.prod(1 + r for r in returns) * 100 == pytest.approx(105.0)


def test_a_job_turns_a_strategy_bug_into_a_failed_trial() -> None:
    from tradeloop.services.backtest import prepare_backtest

    job = BacktestJob(prepare_backtest(GOOG), parse_objective("sharpe"))
    outcome = job({"fast": 5, "slow": 5})
    assert math.isnan(outcome.value) and "strategy stopped" in outcome.error
    assert "unknown parameter 'fsat'" in job({"fsat": 5}).error


def test_a_job_builds_the_bars_once_and_ships_without_them() -> None:
    from tradeloop.services.backtest import prepare_backtest

    job = BacktestJob(prepare_backtest(GOOG), parse_objective("sharpe"))
    first = job({"fast": 10, "slow": 30})
    bars = len(job.prepared.series[0][0])
    assert len(job._bars) == bars  # kept for the next trials of this process
    assert job({"fast": 10, "slow": 30}) == first
    shipped = pickle.loads(pickle.dumps(job))
    assert len(shipped._bars) == 0 and shipped({"fast": 10, "slow": 30}) == first


# -- Optuna studies in the audit database ------------------------------------------------------


def _finished_in_file(db: Path, name: str) -> int:
    """Finished trials of a study, read with plain sqlite3 (no schema created or migrated)."""
    try:
        with sqlite3.connect(db, timeout=5) as connection:
            (count,) = connection.execute(
                "SELECT count(*) FROM trials JOIN studies USING (study_id) "
                "WHERE study_name = ? AND state = 'COMPLETE'", (name,)).fetchone()
    except sqlite3.OperationalError:  # Optuna's tables are not there yet
        return 0
    return int(count)


def _stored(name: str) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=study_storage_url())
    return study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))


@pytest.mark.parametrize("method", ["tpe", "random"])
def test_an_interrupted_study_resumes_from_the_database(
    tmp_path: Path, database: str, method: str,
) -> None:
    calls = []

    def stop_after_six(done: int, total: int, best: float | None) -> None:
        calls.append(done)
        if done == 6:
            raise KeyboardInterrupt

    request = _request(WIDE, method=method, trials=15, seed=7, constraint="fast < slow",
                       out_dir=tmp_path / "first")
    first = run_optimization(request, stop_after_six)
    assert first.interrupted and len(first.results) == 6 and first.resumed == 0
    kept = {(t.params["fast"], t.params["slow"]): t.value for t in _stored(str(first.study))}
    assert len(kept) == 6
    again = run_optimization(replace(request, out_dir=tmp_path / "again"))
    assert not again.interrupted and again.study == first.study
    assert again.resumed == 6 and len(again.results) == 15
    finished = {(r.params["fast"], r.params["slow"]): r.value for r in again.results}
    assert len(finished) == 15  # no combination twice
    assert all(finished[key] == value for key, value in kept.items())
    assert get_run(str(again.run_id)).study["resumed"] == 6  # type: ignore[index]


def test_the_same_seed_gives_the_same_random_trials(tmp_path: Path) -> None:
    first = run_optimization(_request(WIDE, method="random", trials=8, seed=3, study="a",
                                      constraint="fast < slow", out_dir=tmp_path / "a"))
    second = run_optimization(_request(WIDE, method="random", trials=8, seed=3, study="b",
                                       constraint="fast < slow", out_dir=tmp_path / "b"))
    assert sorted(map(str, (r.params for r in first.results))) == sorted(
        map(str, (r.params for r in second.results)))


def test_a_study_refuses_another_experiment(tmp_path: Path) -> None:
    run_optimization(_request(WIDE, method="tpe", trials=3, study="mine",
                              out_dir=tmp_path / "a", constraint="fast < slow"))
    with pytest.raises(ConfigError, match=r"study 'mine' was made for another experiment "
                                          r"\(its objective differ\)"):
        run_optimization(_request(WIDE, method="tpe", trials=3, study="mine",
                                  objective="return", constraint="fast < slow",
                                  out_dir=tmp_path / "b"))


def test_a_small_space_stops_early_when_every_combination_was_tried(tmp_path: Path) -> None:
    outcome = run_optimization(_request(SMALL, method="tpe", trials=50,
                                        out_dir=tmp_path / "o"))
    assert outcome.exhausted and len(outcome.results) == 9


def test_a_crashed_study_resumes_and_runs_its_abandoned_trials_again(
    tmp_path: Path, tradeloop_home: Path,
) -> None:
    """A real crash: the optimising process is killed (SIGKILL) mid-search; the rerun keeps
    every finished trial, fails the ones that were running and runs them again."""
    args = ["optimize", "sma_cross", "--param", "fast=2:40:1", "--param", "slow=20:200:1",
            "--constraint", "fast < slow", "--method", "tpe", "--trials", "400",
            "--workers", "2", "--study", "crash", "--out", str(tmp_path / "first")]
    env = {**os.environ, "TRADELOOP_HOME": str(tradeloop_home)}
    env.pop("TRADELOOP_DATABASE_URL", None)
    study_storage_url()  # the audit database exists before the child opens it
    code = "from tradeloop.cli.app import main; main()"
    process = subprocess.Popen([sys.executable, "-c", code, *args], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        finished = 0
        while finished < 4 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
            finished = _finished_in_file(tradeloop_home / "tradeloop.db", "crash")
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait()
        if process.stderr is not None:
            process.stderr.close()
    before = {(t.params["fast"], t.params["slow"]): t.value for t in _stored("crash")}
    storage = optuna.load_study(study_name="crash", storage=study_storage_url())
    running = [t for t in storage.get_trials()
               if t.state == optuna.trial.TrialState.RUNNING]
    total = len(before) + 3
    request = _request(WIDE, method="tpe", trials=total, constraint="fast < slow",
                       study="crash", workers=2, out_dir=tmp_path / "again")
    outcome = run_optimization(request)
    assert outcome.resumed == len(before) and len(outcome.results) == total
    after = {(r.params["fast"], r.params["slow"]): r.value for r in outcome.results}
    assert all(after[key] == value for key, value in before.items())
    states = {t.number: t.state for t in optuna.load_study(
        study_name="crash", storage=study_storage_url()).get_trials()}
    assert all(states[t.number] == optuna.trial.TrialState.FAIL for t in running)
    # every abandoned trial's parameters ran again; one killed between its two suggestions
    # stored only the first, and runs again with that one fixed
    for stored in (t.params for t in running if t.params):
        assert any(all(r.params.get(name) == value for name, value in stored.items())
                   for r in outcome.results), stored
