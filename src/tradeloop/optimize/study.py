"""Random and TPE search with Optuna, its study kept in a database so it can be resumed.

The search asks Optuna for a parameter set, runs it on the executor's workers and tells Optuna
the outcome, keeping one trial in flight per worker. Everything Optuna needs to go on later is
in its storage: each finished trial's parameters, objective, figures and per-period returns.
A study interrupted by Ctrl-C or a crash resumes where it stopped when the same command is run
again: finished trials are kept, trials that were running are marked failed and run again
first, and only the missing trials are run.

A study remembers what it searched (strategy, data, space, objective, settings); resuming it
with anything else is refused, so one study never mixes two experiments.
"""

from __future__ import annotations

import base64
import importlib
import json
import logging
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradeloop.core.errors import ConfigError
from tradeloop.optimize.executors import Executor, TrialJob, TrialOutcome
from tradeloop.optimize.search import TrialResult, rank
from tradeloop.optimize.space import ParamChoice, ParamRange, Params, SearchSpace, Value

logger = logging.getLogger(__name__)

METHODS = ("random", "tpe")
_IDENTITY_ATTR = "tradeloop"
_MAX_WASTED_ASKS = 300  # consecutive asks that gave a repeat or broke the constraint
_COUNTABLE = 100_000  # spaces small enough to count the combinations that meet the constraint


@dataclass(frozen=True)
class StudyOutcome:
    """A finished (or interrupted) study.

    Attributes
    ----------
    name : str
        The study's name in the storage.
    results : list of TrialResult
        Every distinct finished trial, best first; ``number`` is Optuna's trial number.
    resumed : int
        Trials that were already finished before this run.
    exhausted : bool
        True when the search stopped early because no new combination was left to try.
    interrupted : bool
        True when the run was stopped (Ctrl-C) before it had all its trials.
    """

    name: str
    results: list[TrialResult]
    resumed: int
    exhausted: bool = False
    interrupted: bool = False


OnStudyResult = Callable[[TrialResult, int], None]


def run_study(space: SearchSpace, job: TrialJob, executor: Executor, *, storage: str,
              name: str, method: str, trials: int, maximize: bool = True, seed: int = 0,
              identity: Mapping[str, Any] | None = None,
              on_result: OnStudyResult | None = None) -> StudyOutcome:
    """Search ``space`` with Optuna until the study has ``trials`` distinct finished trials.

    Parameters
    ----------
    space : SearchSpace
    job : TrialJob
    executor : Executor
    storage : str
        A SQLAlchemy URL (``sqlite:///...``, ``postgresql+psycopg://...``).
    name : str
        The study's name: an existing study of that name is resumed.
    method : {"random", "tpe"}
    trials : int
        Distinct parameter sets the study should hold when done, counting resumed ones.
    maximize : bool
    seed : int
        The sampler's seed: with one worker the same seed gives the same trials.
    identity : mapping, optional
        JSON-safe facts of the experiment; a study created with other facts is refused.
    on_result : callable, optional
        Called with each new result and the number of distinct trials finished so far.

    Raises
    ------
    ConfigError
        For an unknown method, a missing Optuna, an unreachable storage, or a study of that
        name made for another experiment.
    """
    optuna = _optuna()
    if method not in METHODS:
        raise ConfigError(f"--method {method!r}: expected grid, {', '.join(METHODS)}")
    if trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {trials}")
    study = _open_study(optuna, storage, name, method, maximize, seed, executor.workers)
    _check_identity(study, dict(identity or {}))
    _requeue_abandoned(optuna, study)
    done = {_key(t.params): _stored_result(t) for t in _finished_trials(optuna, study)}
    resumed = len(done)
    if resumed:
        logger.info("study resumed", extra={"fields": {"study": name, "finished": resumed}})
    size = len(space.grid()) if space.unconstrained_size() <= _COUNTABLE else None
    run = _Run(optuna, study, space, done, trials if size is None else min(trials, size),
               on_result)
    run.exhausted = size is not None and len(done) >= size
    pool = executor.start(job)
    interrupted = False
    try:
        run.loop(pool, executor.workers)
    except KeyboardInterrupt:
        interrupted = True
        run.abandon()
    finally:
        pool.close()
    exhausted = run.exhausted or (size is not None and size < trials and len(done) >= size)
    return StudyOutcome(name, rank(list(done.values()), maximize), resumed, exhausted,
                        interrupted)


class _Run:
    def __init__(self, optuna: Any, study: Any, space: SearchSpace,
                 done: dict[str, TrialResult], target: int,
                 on_result: OnStudyResult | None) -> None:
        self._optuna = optuna
        self._study = study
        self._space = space
        self._done = done
        self._target = target
        self._on_result = on_result
        self._running: dict[int, tuple[Any, Params]] = {}
        self.exhausted = False

    def loop(self, pool: Any, workers: int) -> None:
        wasted = 0
        while True:
            while (len(self._done) + len(self._running) < self._target
                   and len(self._running) < workers and not self.exhausted):
                if self._ask(pool):
                    wasted = 0
                else:
                    wasted += 1
                    self.exhausted = wasted >= _MAX_WASTED_ASKS
            if not self._running:
                return
            number, outcome = pool.next_done()
            self._tell(number, outcome)

    def _ask(self, pool: Any) -> bool:
        trial = self._study.ask()
        params = {spec.name: _suggest(trial, spec) for spec in self._space.params}
        if not self._space.allows(params):
            trial.set_user_attr("rejected", f"breaks the constraint {self._space.constraint}")
            self._study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
            return False
        key = _key(params)
        earlier = self._done.get(key)
        in_flight = any(_key(p) == key for _, p in self._running.values())
        if earlier is not None and not math.isnan(earlier.value):
            trial.set_user_attr("repeat_of", earlier.number)  # same params, same result
            self._study.tell(trial, earlier.value)
            return False
        if earlier is not None or in_flight:
            trial.set_user_attr("repeat_of", earlier.number if earlier else -1)
            self._study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
            return False
        self._running[trial.number] = (trial, params)
        pool.submit(trial.number, params)
        return True

    def _tell(self, number: int, outcome: TrialOutcome) -> None:
        trial, params = self._running.pop(number)
        trial.set_user_attr("metrics", _json_floats(outcome.metrics))
        if outcome.returns is not None:
            trial.set_user_attr("returns", _pack(outcome.returns))
        if outcome.error or math.isnan(outcome.value):
            trial.set_user_attr("error", outcome.error or "the objective is undefined")
            self._study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
        else:
            self._study.tell(trial, outcome.value)
        result = TrialResult(number, params, outcome)
        self._done[_key(params)] = result
        if self._on_result is not None:
            self._on_result(result, len(self._done))

    def abandon(self) -> None:
        for trial, _ in self._running.values():
            trial.set_user_attr("error", "interrupted")
            self._study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
            _enqueue_once(self._optuna, self._study, trial.params)
        self._running.clear()


def _optuna() -> Any:
    try:
        optuna = importlib.import_module("optuna")
    except ImportError:
        raise ConfigError("--method random and tpe need Optuna: "
                          "pip install 'tradeloop[optimize]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def _open_study(optuna: Any, storage: str, name: str, method: str, maximize: bool,
                seed: int, workers: int) -> Any:
    if method == "tpe":
        sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=workers > 1)
    else:
        sampler = optuna.samplers.RandomSampler(seed=seed)
    try:
        rdb = optuna.storages.RDBStorage(storage)
        return optuna.create_study(
            study_name=name, storage=rdb, sampler=sampler, load_if_exists=True,
            direction="maximize" if maximize else "minimize")
    except Exception as exc:  # Optuna wraps SQLAlchemy and its own errors alike
        raise ConfigError(f"cannot open the study {name!r} in the database: "
                          f"{type(exc).__name__}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]


def _check_identity(study: Any, identity: dict[str, Any]) -> None:
    wanted = json.loads(json.dumps(identity, sort_keys=True, default=str))
    stored = study.user_attrs.get(_IDENTITY_ATTR)
    if stored is None:
        if study.trials:
            raise ConfigError(f"study {study.study_name!r} exists and was not made by "
                              "tradeloop: choose another --study name")
        study.set_user_attr(_IDENTITY_ATTR, wanted)
        return
    differs = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
    if differs:
        raise ConfigError(
            f"study {study.study_name!r} was made for another experiment (its "
            f"{', '.join(differs)} differ): choose another --study name, or run it with the "
            "same strategy, data, parameters, objective and settings to resume it")


def _requeue_abandoned(optuna: Any, study: Any) -> None:
    """Trials left running by a process that died: failed, and queued to run again first."""
    for trial in study.get_trials(deepcopy=False,
                                  states=(optuna.trial.TrialState.RUNNING,)):
        # marked first: it may have got as far as storing its figures before the crash
        optuna.trial.Trial(study, trial._trial_id).set_user_attr("error", "interrupted")
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
        if trial.params:
            _enqueue_once(optuna, study, trial.params)
        logger.warning("abandoned trial will run again", extra={"fields": {
            "study": study.study_name, "trial": trial.number}})


def _enqueue_once(optuna: Any, study: Any, params: Mapping[str, Any]) -> None:
    """Queue ``params`` to run next unless they are queued already (Optuna's own check also
    skips parameters that failed, which are exactly the ones to run again)."""
    waiting = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))
    if not any(t.system_attrs.get("fixed_params") == dict(params) for t in waiting):
        study.enqueue_trial(dict(params))


def _suggest(trial: Any, spec: ParamRange | ParamChoice) -> Value:
    values = spec.values()
    if isinstance(spec, ParamChoice):
        if len(values) == 1:
            return values[0]
        choice: Value = trial.suggest_categorical(spec.name, values)
        return choice
    if len(values) == 1:
        return values[0]
    if spec.is_int:
        number: int = trial.suggest_int(spec.name, int(spec.start), int(values[-1]),
                                        step=int(spec.step))
        return number
    drawn = trial.suggest_float(spec.name, float(spec.start), float(values[-1]),
                               step=float(spec.step))
    return min(values, key=lambda v: abs(float(v) - drawn))  # the grid's exact decimal


def _key(params: Mapping[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def _finished_trials(optuna: Any, study: Any) -> list[Any]:
    """Trials this search ran to the end, failed ones included; not repeats, constraint
    breakers or interrupted ones."""
    states = optuna.trial.TrialState
    return [t for t in study.get_trials(deepcopy=False, states=(states.COMPLETE, states.FAIL))
            if "metrics" in t.user_attrs and "repeat_of" not in t.user_attrs
            and t.user_attrs.get("error") != "interrupted"]


def _stored_result(trial: Any) -> TrialResult:
    metrics = {k: (math.nan if v is None else float(v))
               for k, v in (trial.user_attrs.get("metrics") or {}).items()}
    packed = trial.user_attrs.get("returns")
    value = math.nan if trial.value is None else float(trial.value)
    outcome = TrialOutcome(value, metrics, str(trial.user_attrs.get("error", "")),
                           returns=_unpack(packed) if packed else None)
    return TrialResult(trial.number, dict(trial.params), outcome)


def _json_floats(values: Mapping[str, float]) -> dict[str, float | None]:
    return {k: (float(v) if math.isfinite(v) else None) for k, v in values.items()}


def _pack(values: np.ndarray[Any, np.dtype[np.float64]]) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype="<f8").tobytes()).decode()


def _unpack(text: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.frombuffer(base64.b64decode(text), dtype="<f8").copy()
