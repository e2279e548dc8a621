"""One optimisation trial: a backtest of the prepared data with one parameter set, scored by
the objective. The job travels to the workers once, with the data inside it."""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeloop.analytics.results import BacktestResult
from tradeloop.core.errors import ConfigError, UserError
from tradeloop.core.time import NANOS_PER_DAY
from tradeloop.engine.streams import BarCache
from tradeloop.optimize import SearchSpace, TrialOutcome
from tradeloop.services.backtest import PreparedBacktest, simulate
from tradeloop.strategy.base import Strategy

#: ``--objective`` names and the metric each one maximises.
OBJECTIVES: dict[str, str] = {
    "sharpe": "sharpe",
    "sortino": "sortino",
    "calmar": "calmar",
    "return": "total_return",
    "profit_factor": "profit_factor",
}
CUSTOM_PREFIX = "custom:"
_CHECKABLE = 100_000  # spaces small enough to find a combination meeting the constraint


def planned_trials(method: str, trials: int | None, space: SearchSpace,
                   per: str = "") -> int:
    """How many trials a search runs: every combination of a grid, else ``--trials``.

    Raises
    ------
    ConfigError
        For ``--trials`` with a grid, or a random or TPE search without a positive one.
    """
    if method == "grid":
        if trials is not None:
            raise ConfigError("--trials is for --method random or tpe; a grid runs every "
                              "combination")
        return len(space.grid())
    if trials is None:
        raise ConfigError(f"--method {method} needs --trials N{per}")
    if trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {trials}")
    return trials


def first_combination(method: str, space: SearchSpace) -> dict[str, Any]:
    """A combination to check the strategy's parameter names with: the grid's first (it
    meets the constraint), or for a large random or TPE space each parameter's first value."""
    if method == "grid" or space.unconstrained_size() <= _CHECKABLE:
        return dict(space.grid()[0])
    return {p.name: p.values()[0] for p in space.params}


@dataclass(frozen=True)
class Objective:
    """What a trial is scored by: a metric of its result, or a function of the user's.

    Attributes
    ----------
    spec : str
        As given: ``sharpe``, ``return``, ``custom:my_module:score``...
    label : str
        How to show it.
    maximize : bool
    """

    spec: str
    label: str
    maximize: bool = True

    def score(self, result: BacktestResult) -> float:
        """The objective of ``result`` (NaN when undefined)."""
        if self.spec.startswith(CUSTOM_PREFIX):
            return float(_custom_function(self.spec)(result))
        value = result.metrics.get(OBJECTIVES[self.spec])
        return math.nan if value is None else float(value)


def parse_objective(text: str, *, minimize: bool = False) -> Objective:
    """The objective of an ``--objective`` option.

    ``custom:module:function`` names a function taking a
    :class:`~tradeloop.analytics.results.BacktestResult` and returning a float; the module must
    be importable (on the workers too).

    Raises
    ------
    ConfigError
        For an unknown name, or a custom function that cannot be imported.
    """
    spec = text.strip()
    if spec.startswith(CUSTOM_PREFIX):
        _custom_function(spec)  # fail here, not in every worker
        return Objective(spec, spec[len(CUSTOM_PREFIX):], not minimize)
    key = spec.lower()
    if key not in OBJECTIVES:
        names = ", ".join(OBJECTIVES)
        raise ConfigError(f"--objective {text!r}: expected one of {names}, "
                          "or custom:module:function")
    return Objective(key, key, not minimize)


def _custom_function(spec: str) -> Callable[[BacktestResult], float]:
    target = spec[len(CUSTOM_PREFIX):]
    module_name, _, name = target.rpartition(":")
    if not module_name or not name:
        raise ConfigError(f"--objective {spec!r}: write it as custom:module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"--objective {spec!r}: cannot import {module_name!r}: {exc}") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise ConfigError(f"--objective {spec!r}: {module_name} has no function {name!r}")
    return function  # type: ignore[no-any-return]


@dataclass
class BacktestJob:
    """Runs one trial: the prepared backtest with a parameter set, scored by ``objective``.

    Picklable, data included; the strategy class is resolved once per worker process, and
    each process builds the data's bars once for all its trials (see
    :class:`~tradeloop.engine.streams.BarCache`).

    Parameters
    ----------
    prepared : PreparedBacktest
    objective : Objective
    """

    prepared: PreparedBacktest
    objective: Objective
    _strategy: type[Strategy] | None = field(default=None, repr=False, compare=False)
    _bars: BarCache = field(default_factory=BarCache, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {"prepared": self.prepared, "objective": self.objective, "_strategy": None,
                "_bars": BarCache()}

    def __call__(self, params: Mapping[str, Any]) -> TrialOutcome:
        """Backtest with ``params``; a failure becomes the outcome's ``error``, never an
        exception, so one bad combination cannot stop a search."""
        try:
            if self._strategy is None:
                self._strategy = self.prepared.strategy_type()
            result = simulate(self.prepared, params, strategy_cls=self._strategy,
                              bar_cache=self._bars)
        except UserError as exc:
            return TrialOutcome(math.nan, error=str(exc))
        except Exception as exc:  # a bug in the strategy: this trial fails, the search goes on
            return TrialOutcome(math.nan, error=f"{type(exc).__name__}: {exc}")
        metrics = {k: float(v) for k, v in result.metrics.items()
                   if isinstance(v, int | float) and not isinstance(v, bool)}
        returns = daily_returns(result.run.timeline, result.run.equity)
        if result.run.failures:
            return TrialOutcome(math.nan, metrics, f"strategy stopped: {result.run.failures[0]}",
                                returns)
        try:
            value = self.objective.score(result)
        except Exception as exc:
            return TrialOutcome(math.nan, metrics,
                                f"objective failed: {type(exc).__name__}: {exc}", returns)
        error = "the objective is undefined" if math.isnan(value) else ""
        return TrialOutcome(value, metrics, error, returns)


def daily_returns(ts_ns: npt.NDArray[np.int64],
                  equity: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Returns of each UTC day with a bar, from the equity at its last bar (the first day's
    from the first bar's equity).

    Parameters
    ----------
    ts_ns : ndarray of int64
        Timestamps of the equity curve, ascending.
    equity : ndarray of float

    Returns
    -------
    ndarray of float
        One return per day; empty for an empty curve.
    """
    if len(ts_ns) == 0:
        return np.empty(0, dtype=np.float64)
    days = np.asarray(ts_ns, dtype=np.int64) // NANOS_PER_DAY
    last_of_day = np.flatnonzero(np.append(days[1:] != days[:-1], True))
    closes = np.asarray(equity, dtype=np.float64)[last_of_day]
    previous = np.concatenate(([float(equity[0])], closes[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        out: npt.NDArray[np.float64] = closes / previous - 1.0
    return out
