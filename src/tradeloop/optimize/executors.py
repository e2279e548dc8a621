"""Where trials run: in this process, in local worker processes, or on a Dask cluster.

A trial is a call ``job(params)`` returning a :class:`TrialOutcome`. The job (which holds the
data) is shipped to each worker once: as the initialiser's argument of a local worker process,
or scattered to every Dask worker; each trial then ships only its parameters. An executor's
:meth:`~Executor.start` gives a :class:`TrialPool` that takes trials one at a time (for
searches that choose the next trial from the last results); :func:`run_all` runs a fixed list
and returns the outcomes in the order given, whichever worker ran them, so a grid's ranking
does not depend on the executor.
"""

from __future__ import annotations

import gc
import importlib
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

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
    returns : ndarray of float, optional
        The run's per-period (daily) returns, for the overfitting checks.
    """

    value: float
    metrics: dict[str, float] = field(default_factory=dict)
    error: str = ""
    returns: npt.NDArray[np.float64] | None = field(default=None, compare=False)


class TrialJob(Protocol):
    """Runs one trial; picklable, since it travels to the workers."""

    def __call__(self, params: Params) -> TrialOutcome:
        """The outcome of a run with ``params``."""
        ...


OnResult = Callable[[int, TrialOutcome], None]


class TrialPool(Protocol):
    """Workers holding one job, taking trials as they come: what a sequential search (such as
    TPE, which asks for the next trial after each result) needs."""

    def submit(self, key: int, params: Params) -> None:
        """Start a trial; ``key`` comes back with its outcome."""
        ...

    def next_done(self) -> tuple[int, TrialOutcome]:
        """Wait for a trial to finish: its key and outcome."""
        ...

    def close(self) -> None:
        """Stop the workers (trials still running are abandoned)."""
        ...


class Executor(Protocol):
    """Runs trials on its workers."""

    workers: int

    def start(self, job: TrialJob) -> TrialPool:
        """Ship ``job`` to the workers, once, and return the pool that runs its trials."""
        ...

    def close(self) -> None:
        """Release the workers."""
        ...


def run_all(executor: Executor, job: TrialJob, param_sets: Sequence[Params],
            on_result: OnResult | None = None) -> list[TrialOutcome]:
    """Run every parameter set of ``param_sets`` on ``executor``; the outcomes in the order given.

    Parameters
    ----------
    executor : Executor
    job : TrialJob
    param_sets : sequence of dict
    on_result : callable, optional
        Called with (index, outcome) as each trial finishes, in the order they finish.
    """
    out: list[TrialOutcome | None] = [None] * len(param_sets)
    pool = executor.start(job)
    try:
        for k, params in enumerate(param_sets):
            pool.submit(k, params)
        for _ in param_sets:
            k, outcome = pool.next_done()
            out[k] = outcome
            if on_result is not None:
                on_result(k, outcome)
    finally:
        pool.close()
    return [o for o in out if o is not None]


_GC_THRESHOLDS = (50_000, 20, 20)


def tune_gc_for_trials() -> tuple[int, int, int]:
    """Make the cyclic garbage collector cheaper for a run of backtests: objects alive now
    (the job and its data) are frozen out of its scans, and it runs less often (a backtest
    makes many short-lived objects and few cycles). About 10-15 % faster trials. Returns the
    thresholds before, for :func:`restore_gc`."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLDS)
    return before


def restore_gc(thresholds: tuple[int, int, int]) -> None:
    """Undo :func:`tune_gc_for_trials`."""
    gc.set_threshold(*thresholds)
    gc.unfreeze()


class _SerialPool:
    def __init__(self, job: TrialJob) -> None:
        self._job = job
        self._queue: deque[tuple[int, Params]] = deque()
        self._gc = tune_gc_for_trials()

    def submit(self, key: int, params: Params) -> None:
        self._queue.append((key, params))

    def next_done(self) -> tuple[int, TrialOutcome]:
        key, params = self._queue.popleft()
        return key, self._job(params)

    def close(self) -> None:
        self._queue.clear()
        restore_gc(self._gc)


class SerialExecutor:
    """Runs every trial in this process, one after the other."""

    workers = 1

    def start(self, job: TrialJob) -> TrialPool:
        """A pool that runs each trial when its outcome is asked for."""
        return _SerialPool(job)

    def close(self) -> None:
        """Nothing to release."""


_WORKER: dict[str, TrialJob] = {}  # the job of this worker process
_GC_TUNED: list[bool] = []  # set in a Dask worker once its collector is tuned


def _install(job: TrialJob) -> None:
    _WORKER["job"] = job
    tune_gc_for_trials()  # a worker process exists only to run trials


def _run_installed(params: Params) -> TrialOutcome:
    return _WORKER["job"](params)


class _ProcessPool:
    def __init__(self, pool: ProcessPoolExecutor) -> None:
        self._pool = pool
        self._running: dict[Future[TrialOutcome], int] = {}

    def submit(self, key: int, params: Params) -> None:
        self._running[self._pool.submit(_run_installed, params)] = key

    def next_done(self) -> tuple[int, TrialOutcome]:
        done, _ = wait(self._running, return_when=FIRST_COMPLETED)
        future = min(done, key=self._running.__getitem__)
        return self._running.pop(future), future.result()

    def close(self) -> None:
        for future in self._running:
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)


class ProcessExecutor:
    """Runs trials in ``workers`` local processes.

    The job is pickled once per worker (the pool's initialiser), not once per trial. A pool
    of processes is started for each job.

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

    def start(self, job: TrialJob) -> TrialPool:
        """Start the worker processes, each unpickling ``job`` once."""
        if self._context.get_start_method() == "forkserver":
            self._context.set_forkserver_preload(_modules_to_preload(job))
        return _ProcessPool(ProcessPoolExecutor(self.workers, mp_context=self._context,
                                                initializer=_install, initargs=(job,)))

    def close(self) -> None:
        """Nothing stays running between jobs."""


def _modules_to_preload(job: TrialJob) -> list[str]:
    # Python 3.11's fork server never preloads ``__main__`` as documented (it looks for a
    # preparation key that no longer exists), so every worker imported the main module and
    # tradeloop afresh, one worker after the other (about a second each). Importing the
    # modules loaded here once in the server lets each worker fork with them.
    loaded = [name for name in list(sys.modules) if name.partition(".")[0] == "tradeloop"]
    return sorted({*loaded, type(job).__module__} - {"__main__", "__mp_main__"})


def _run_shipped(job: TrialJob, params: Params) -> TrialOutcome:
    if not _GC_TUNED:  # once per Dask worker process
        _GC_TUNED.append(True)
        tune_gc_for_trials()
    return job(params)


class _DaskPool:
    def __init__(self, dask: Any, client: Any, job: TrialJob) -> None:
        self._client = client
        self._shipped = client.scatter(job, broadcast=True)
        self._done = dask.as_completed()
        self._running: dict[str, tuple[int, Any]] = {}

    def submit(self, key: int, params: Params) -> None:
        future = self._client.submit(_run_shipped, self._shipped, params, pure=False)
        self._running[future.key] = (key, future)
        self._done.add(future)

    def next_done(self) -> tuple[int, TrialOutcome]:
        future = next(self._done)
        key, _ = self._running.pop(future.key)
        return key, future.result()

    def close(self) -> None:
        self._done.clear()
        if self._running:
            self._client.cancel([future for _, future in self._running.values()])
        self._running.clear()


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

    def start(self, job: TrialJob) -> TrialPool:
        """Scatter ``job`` to every worker of the cluster, once."""
        return _DaskPool(self._dask, self._client, job)

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
