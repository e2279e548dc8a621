"""Search drivers: every combination of a grid, ranked by the objective."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tradeloop.optimize.executors import Executor, TrialJob, TrialOutcome, run_all
from tradeloop.optimize.space import Params, SearchSpace


@dataclass(frozen=True)
class TrialResult:
    """One evaluated parameter set.

    Attributes
    ----------
    number : int
        Its place in the search (0-based).
    params : dict
    outcome : TrialOutcome
    """

    number: int
    params: Params
    outcome: TrialOutcome

    @property
    def value(self) -> float:
        """The objective (NaN for a failed trial)."""
        return self.outcome.value


def rank(results: Sequence[TrialResult], maximize: bool = True) -> list[TrialResult]:
    """Best first; failed trials and NaN objectives last; ties keep the search order."""
    def key(r: TrialResult) -> tuple[int, float, int]:
        value = r.value
        if math.isnan(value) or r.outcome.error:
            return (1, 0.0, r.number)
        return (0, -value if maximize else value, r.number)

    return sorted(results, key=key)


def run_grid(space: SearchSpace, job: TrialJob, executor: Executor, *, maximize: bool = True,
             on_result: Callable[[TrialResult], None] | None = None) -> list[TrialResult]:
    """Evaluate every combination of ``space``'s grid on ``executor``, ranked best first.

    Parameters
    ----------
    space : SearchSpace
    job : TrialJob
        Runs one combination.
    executor : Executor
    maximize : bool
        Whether a higher objective is better.
    on_result : callable, optional
        Called with each result as it arrives (for a progress bar).
    """
    grid = space.grid()

    def arrived(k: int, outcome: TrialOutcome) -> None:
        if on_result is not None:
            on_result(TrialResult(k, grid[k], outcome))

    outcomes = run_all(executor, job, grid, arrived)
    return rank([TrialResult(k, p, o) for k, (p, o) in enumerate(zip(grid, outcomes,
                                                                     strict=True))], maximize)
