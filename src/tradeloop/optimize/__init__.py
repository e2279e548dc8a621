"""Parameter search: the search space, the executors that run trials (local processes or a
Dask cluster), and the search drivers."""

from tradeloop.optimize.constraint import Constraint
from tradeloop.optimize.executors import (
    DaskExecutor,
    Executor,
    ProcessExecutor,
    SerialExecutor,
    TrialJob,
    TrialOutcome,
    TrialPool,
    make_executor,
    run_all,
)
from tradeloop.optimize.search import TrialResult, rank, run_grid
from tradeloop.optimize.space import ParamChoice, ParamRange, SearchSpace, parse_param

__all__ = [
    "Constraint",
    "DaskExecutor",
    "Executor",
    "ParamChoice",
    "ParamRange",
    "ProcessExecutor",
    "SearchSpace",
    "SerialExecutor",
    "TrialJob",
    "TrialOutcome",
    "TrialPool",
    "TrialResult",
    "make_executor",
    "parse_param",
    "rank",
    "run_all",
    "run_grid",
]
