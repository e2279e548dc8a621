"""Search spaces from --param options, constraints between parameters, and the grid."""

from __future__ import annotations

import pytest

from tradeloop.core.errors import ConfigError
from tradeloop.optimize import Constraint, ParamChoice, ParamRange, SearchSpace, parse_param


@pytest.mark.parametrize(("text", "values"), [
    ("fast=5:50:5", [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]),
    ("fast=5:7", [5, 6, 7]),
    ("fast=5:12:5", [5, 10]),  # the stop is included only when it is on the step
    ("k=0.5:2:0.25", [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]),
    ("k=0.1:0.3:0.1", [0.1, 0.2, 0.3]),  # no float drift: 0.30000000000000004 is not 0.3
    ("mode=fast,slow", ["fast", "slow"]),
    ("fast=10", [10]),
    ("k=1.5,2", [1.5, 2]),
])
def test_param_values(text: str, values: list[object]) -> None:
    assert parse_param(text).values() == values


def test_param_kinds() -> None:
    assert parse_param("fast=5:50:5") == ParamRange("fast", 5, 50, 5)
    assert parse_param("fast=5:50:5").is_int  # type: ignore[union-attr]
    assert not ParamRange("k", 0.5, 2, 0.5).is_int
    assert parse_param(" mode = a , b ") == ParamChoice("mode", ("a", "b"))


@pytest.mark.parametrize(("text", "words"), [
    ("fast", "write it as name=start:stop:step"),
    ("=5:10", "write it as"),
    ("fast=", "write it as"),
    ("fast=5:10:2:1", "a start, a stop and an optional step"),
    ("fast=5:x:1", "'x' is not a number"),
    ("fast=5:10:0", "the step must be positive"),
    ("fast=5:10:-1", "the step must be positive"),
    ("fast=10:5", "the stop 5 is below the start 10"),
    ("mode=a,,b", "an empty choice"),
    ("mode=a,a", "given twice"),
    ("fast=1:inf", "is not a number"),
])
def test_bad_params_say_what_is_wrong(text: str, words: str) -> None:
    with pytest.raises(ConfigError, match="--param") as info:
        parse_param(text)
    assert words in str(info.value)


def test_grid_order_constraint_and_size() -> None:
    space = SearchSpace.parse(["fast=5:20:5", "slow=10:30:10"], "fast < slow")
    assert space.unconstrained_size() == 12
    grid = space.grid()
    assert grid == [
        {"fast": 5, "slow": 10}, {"fast": 5, "slow": 20}, {"fast": 5, "slow": 30},
        {"fast": 10, "slow": 20}, {"fast": 10, "slow": 30},
        {"fast": 15, "slow": 20}, {"fast": 15, "slow": 30},
        {"fast": 20, "slow": 30},
    ]


def test_space_errors() -> None:
    with pytest.raises(ConfigError, match="given more than once"):
        SearchSpace.parse(["fast=1:2", "fast=3"])
    with pytest.raises(ConfigError, match="at least one --param"):
        SearchSpace.parse([])
    with pytest.raises(ConfigError, match="no combination of fast, slow meets"):
        SearchSpace.parse(["fast=10:20", "slow=1:5"], "fast < slow").grid()
    with pytest.raises(ConfigError, match="use larger steps"):
        SearchSpace.parse(["a=1:10000", "b=1:10000"]).grid()
    with pytest.raises(ConfigError, match="did you mean 'fast'"):
        SearchSpace.parse(["fast=1:2"]).spec("fsat")


@pytest.mark.parametrize(("expression", "params", "holds"), [
    ("fast < slow", {"fast": 5, "slow": 10}, True),
    ("fast < slow", {"fast": 10, "slow": 10}, False),
    ("slow >= 2 * fast and fast != 7", {"fast": 5, "slow": 10}, True),
    ("slow >= 2 * fast and fast != 7", {"fast": 7, "slow": 14}, False),
    ("5 <= fast < slow <= 100", {"fast": 5, "slow": 100}, True),
    ("5 <= fast < slow <= 100", {"fast": 4, "slow": 100}, False),
    ("not fast == slow or mode == 'x'", {"fast": 1, "slow": 1, "mode": "x"}, True),
    ("slow / fast > 2", {"fast": 0, "slow": 5}, False),  # division by zero: not allowed
    ("slow % fast == 0", {"fast": 3, "slow": 9}, True),
    ("-fast < 0", {"fast": 3, "slow": 9}, True),
])
def test_constraint_evaluation(expression: str, params: dict[str, object], holds: bool) -> None:
    assert Constraint(expression, ["fast", "slow", "mode"]).holds(params) is holds


@pytest.mark.parametrize(("expression", "words"), [
    ("fast <", "is not an expression"),
    ("fsat < slow", "unknown parameter 'fsat', did you mean 'fast'?"),
    ("zzz < slow", "(parameters: fast, slow)"),
    ("__import__('os').system('true')", "is not allowed"),
    ("fast.real < slow", "is not allowed"),
    ("fast ** 2 < slow", "is not allowed"),
    ("fast in [1, 2]", "is not allowed"),
    ("fast < slow if True else 1", "is not allowed"),
    ("True", "is not allowed"),
])
def test_constraint_rejects_what_it_cannot_check(expression: str, words: str) -> None:
    with pytest.raises(ConfigError, match="--constraint") as info:
        Constraint(expression, ["fast", "slow"])
    assert words in str(info.value)
