"""Every executor returns the same outcomes in the same order, and ships the job once per
worker."""

from __future__ import annotations

import math
import os

import pytest

from tradeloop.core.errors import ConfigError
from tradeloop.optimize import (
    ProcessExecutor,
    SearchSpace,
    SerialExecutor,
    TrialOutcome,
    make_executor,
    rank,
    run_grid,
)
from tradeloop.optimize.executors import DaskExecutor, _modules_to_preload
from tradeloop.optimize.search import TrialResult

_unpickled_in: list[int] = []


class QuadraticJob:
    """A picklable job with a payload, counting where it is unpickled."""

    def __init__(self, payload_size: int) -> None:
        self.payload = list(range(payload_size))

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        _unpickled_in.append(os.getpid())

    def __call__(self, params: dict[str, object]) -> TrialOutcome:
        fast, slow = int(params["fast"]), int(params["slow"])  # type: ignore[call-overload]
        if fast == 14:
            return TrialOutcome(math.nan, error="fast=14 is unlucky")
        value = -((fast - 20) ** 2) - (slow - 60) ** 2 + len(self.payload) * 0
        return TrialOutcome(float(value), {"pid": float(os.getpid()),
                                           "unpickled": float(len(_unpickled_in))})


SPACE = SearchSpace.parse(["fast=5:50:3", "slow=20:120:10"], "fast < slow")


def _ranking(executor: object) -> list[tuple[dict[str, object], float]]:
    results = run_grid(SPACE, QuadraticJob(100_000), executor)  # type: ignore[arg-type]
    return [(r.params, None if r.outcome.error else r.value) for r in results]


def test_serial_ranking_is_best_first_with_failures_last() -> None:
    seen: list[TrialResult] = []
    results = run_grid(SPACE, QuadraticJob(10), SerialExecutor(), on_result=seen.append)
    assert len(results) == len(SPACE.grid()) == len(seen)
    assert results[0].params == {"fast": 20, "slow": 60}
    values = [r.value for r in results if not r.outcome.error]
    assert values == sorted(values, reverse=True)
    failed = [r for r in results if r.outcome.error]
    assert failed and all(r.params["fast"] == 14 for r in failed)
    assert results[-len(failed):] == failed


def test_local_processes_give_the_same_ranking_and_get_the_job_once_each() -> None:
    serial = _ranking(SerialExecutor())
    executor = ProcessExecutor(2)
    results = run_grid(SPACE, QuadraticJob(100_000), executor)
    assert [(r.params, None if r.outcome.error else r.value) for r in results] == serial
    pids = {r.outcome.metrics["pid"] for r in results if not r.outcome.error}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    # each worker unpickled the job once, however many trials it ran
    assert max(r.outcome.metrics["unpickled"] for r in results if not r.outcome.error) == 1


def test_the_fork_server_preloads_what_is_loaded_here_and_the_job_module() -> None:
    # Python 3.11's fork server does not preload __main__, so workers forked from it would
    # import tradeloop afresh, one after the other
    preload = _modules_to_preload(QuadraticJob(1))
    assert QuadraticJob.__module__ in preload
    assert {"tradeloop", "tradeloop.optimize.executors"} <= set(preload)
    assert "__main__" not in preload and "__mp_main__" not in preload
    assert all(name.split(".")[0] == "tradeloop" for name in preload
               if name != QuadraticJob.__module__)


def test_dask_local_cluster_gives_the_same_ranking() -> None:
    pytest.importorskip("distributed")
    serial = _ranking(SerialExecutor())
    executor = DaskExecutor("local", workers=2)
    try:
        assert executor.workers == 2
        assert _ranking(executor) == serial
    finally:
        executor.close()


def test_rank_minimises_when_asked() -> None:
    results = [TrialResult(k, {"x": k}, TrialOutcome(float(v))) for k, v in enumerate([3, 1, 2])]
    assert [r.params["x"] for r in rank(results, maximize=False)] == [1, 2, 0]
    assert [r.params["x"] for r in rank(results)] == [0, 2, 1]


def test_executor_choice_and_errors() -> None:
    assert isinstance(make_executor(1), SerialExecutor)
    assert isinstance(make_executor(3), ProcessExecutor)
    with pytest.raises(ConfigError, match="--workers must be at least 1"):
        ProcessExecutor(0)
    with pytest.raises(ConfigError, match="cannot reach the scheduler"):
        DaskExecutor("tcp://127.0.0.1:9")
