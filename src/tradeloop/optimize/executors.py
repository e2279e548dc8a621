"""Where trials run: in this process, in local worker processes, or on a Dask cluster.

A trial is a call ``job(params)`` returning a :class:`TrialOutcome`. The job (which holds the
data) is shipped to each worker once: as the initialiser's argument of a local worker process,
or scattered to every Dask worker; each trial then ships only its parameters. Results come
back in the order the parameter sets were given, whichever worker ran them, so the ranking
does not depend on the executor.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Protocol

from tradeloop.core.errors import ConfigError
from tradeloop.optimize.space import Params


@dataclass(frozen=True)
class TrialOutcome:
    """What one trial produced.

    Attributes
    ----------
    value : float
        The objective (NaN when the trial failed or the objective is undefined).
    metrics : dict
        Every figure of the run.
    error : str
        Why the trial failed ("" when it did not).
    """

    value: float
    metrics: dict[str, float] = field(default_factory=dict)
    error: str = ""


class TrialJob(Protocol):
    """Runs one trial; picklable, since it travels to the workers."""

    def __call__(self, params: Params) -> TrialOutcome:
        """The outcome of a run with ``params``."""
        ...


OnResult = Callable[[int, TrialOutcome], None]


class Executor(Protocol):
    """Runs trials and hands each outcome to ``on_result`` as it arrives."""

    workers: int

    def run(self, job: TrialJob, param_sets: Sequence[Params],
            on_result: OnResult | None = None) -> list[TrialOutcome]:
        """The outcomes, in the order of ``param_sets``."""
        ...

    def close(self) -> None:
        """Release the workers."""
        ...


class SerialExecutor:
    """Runs every trial in this process, one after the other."""

    workers = 1

    def run(self, job: TrialJob, param_sets: Sequence[Params],
            on_result: OnResult | None = None) -> list[TrialOutcome]:
        """The outcomes, in the order of ``param_sets``."""
        out = []
        for k, params in enumerate(param_sets):
            outcome = job(params)
            out.append(outcome)
            if on_result is not None:
                on_result(k, outcome)
        return out

    def close(self) -> None:
        """Nothing to release."""


_WORKER: dict[str, TrialJob] = {}  # the job of this worker process


def _install(job: TrialJob) -> None:
    _WORKER["job"] = job


def _run_installed(params: Params) -> TrialOutcome:
    return _WORKER["job"](params)


class ProcessExecutor:
    """Runs trials in ``workers`` local processes.

    The job is pickled once per worker (the pool's initialiser), not once per trial. A pool
    is started for each :meth:`run`, since each run may bring a different job.

    Parameters
    ----------
    workers : int
        Processes to start (at least 1).
    """

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {workers}")
        self.workers = workers
        method = "forkserver" if sys.platform.startswith("linux") else "spawn"
        self._context = multiprocessing.get_context(method)

    def run(self, job: TrialJob, param_sets: Sequence[Params],
            on_result: OnResult | None = None) -> list[TrialOutcome]:
        """The outcomes, in the order of ``param_sets``."""
        out: list[TrialOutcome | None] = [None] * len(param_sets)
        with ProcessPoolExecutor(self.workers, mp_context=self._context,
                                 initializer=_install, initargs=(job,)) as pool:
            futures = {pool.submit(_run_installed, params): k
                       for k, params in enumerate(param_sets)}
            for future in as_completed(futures):
                k = futures[future]
                outcome = future.result()
                out[k] = outcome
                if on_result is not None:
                    on_result(k, outcome)
        return [o for o in out if o is not None]

    def close(self) -> None:
        """Nothing stays running between runs."""


def _run_shipped(job: TrialJob, params: Params) -> TrialOutcome:
    return job(params)


class DaskExecutor:
    """Runs trials on a Dask cluster: an existing one at ``address`` (``tcp://HOST:8786``), or
    a ``LocalCluster`` of ``workers`` processes started here when ``address`` is ``"local"``.

    Needs the ``dask`` extra (``pip install 'tradeloop[dask]'``).

    Parameters
    ----------
    address : str
    workers : int
        Processes of the local cluster (ignored for a remote one).

    Raises
    ------
    ConfigError
        When dask.distributed is not installed or the scheduler cannot be reached.
    """

    def __init__(self, address: str, workers: int = 2) -> None:
        try:
            self._dask: Any = importlib.import_module("distributed")
        except ImportError:
            raise ConfigError("--dask needs the dask extra: "
                              "pip install 'tradeloop[dask]'") from None
        self._cluster: Any = None
        try:
            if address == "local":
                self._cluster = self._dask.LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True,
                    dashboard_address=None)
                self._client: Any = self._dask.Client(self._cluster)
            else:
                self._client = self._dask.Client(address, timeout="10s")
        except OSError as exc:
            if self._cluster is not None:
                self._cluster.close()
            raise ConfigError(f"--dask {address}: cannot reach the scheduler: {exc}") from None
        self.workers = max(len(self._client.scheduler_info().get("workers", {})), 1)
        self.address = address

    def run(self, job: TrialJob, param_sets: Sequence[Params],
            on_result: OnResult | None = None) -> list[TrialOutcome]:
        """The outcomes, in the order of ``param_sets``."""
        shipped = self._client.scatter(job, broadcast=True)
        futures = [self._client.submit(_run_shipped, shipped, params, pure=False)
                   for params in param_sets]
        index = {f.key: k for k, f in enumerate(futures)}
        out: list[TrialOutcome | None] = [None] * len(param_sets)
        for future in self._dask.as_completed(futures):
            k = index[future.key]
            outcome = future.result()
            out[k] = outcome
            if on_result is not None:
                on_result(k, outcome)
        return [o for o in out if o is not None]

    def close(self) -> None:
        """Disconnect, and stop the local cluster if this executor started it."""
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(workers: int = 1, dask: str | None = None) -> Executor:
    """The executor for ``--workers`` and ``--dask``: serial for one worker, local processes
    for more, Dask when an address (or ``local``) is given."""
    if dask:
        return DaskExecutor(dask, workers)
    if workers == 1:
        return SerialExecutor()
    return ProcessExecutor(workers)


def default_workers() -> int:
    """The number of cores this process may use."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:
        return max(os.cpu_count() or 1, 1)
