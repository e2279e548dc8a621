"""Strategy parameters: typed class attributes, converted from CLI strings, checked by name."""

from __future__ import annotations

import copy
import pickle
from decimal import Decimal
from typing import Any, ClassVar

import pytest

from tradeloop.core.errors import ConfigError
from tradeloop.strategy import Strategy
from tradeloop.strategy.params import Parameter


class Params(Strategy):
    fast: int = 10
    ratio: float = 0.5
    enabled: bool = False
    label: str = "x"
    risk: Decimal = Decimal("1")


def test_defaults_and_the_params_dict() -> None:
    s = Params()
    assert (s.fast, s.ratio, s.enabled, s.label, s.risk) == (10, 0.5, False, "x", Decimal("1"))
    assert s.params == {"fast": 10, "ratio": 0.5, "enabled": False, "label": "x",
                        "risk": Decimal("1")}
    assert list(Params.parameters) == ["fast", "ratio", "enabled", "label", "risk"]
    assert Params.parameters["fast"] == Parameter("fast", int, 10, False)


def test_strategy_id_defaults_to_the_class_name() -> None:
    assert Params().id == "Params"
    assert Params("p-2", fast=3).id == "p-2"


def test_cli_strings_are_converted_to_the_declared_types() -> None:
    s = Params(fast="5", ratio="0.25", enabled="true", label="abc", risk="0.1")
    assert s.fast == 5 and type(s.fast) is int
    assert s.ratio == 0.25 and type(s.ratio) is float
    assert s.enabled is True
    assert s.label == "abc"
    assert s.risk == Decimal("0.1") and type(s.risk) is Decimal
    assert Params(fast=" 7 ").fast == 7


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("TRUE", True), ("yes", True), ("1", True), ("on", True),
     ("false", False), ("No", False), ("0", False), ("off", False)],
)
def test_boolean_spellings(text: str, expected: bool) -> None:
    assert Params(enabled=text).enabled is expected


def test_python_values_are_converted_when_lossless() -> None:
    s = Params(fast=5.0, ratio=2, risk=0.1)
    assert s.fast == 5 and type(s.fast) is int
    assert s.ratio == 2.0 and type(s.ratio) is float
    assert s.risk == Decimal("0.1")  # through the shortest repr, not binary noise
    assert Params(risk=3).risk == Decimal(3)
    assert Params(ratio=Decimal("1.5")).ratio == 1.5


@pytest.mark.parametrize(
    ("name", "value", "expect"),
    [
        ("fast", "abc", "expects int"),
        ("fast", "5.5", "expects int"),
        ("fast", 5.5, "whole number"),
        ("fast", True, "whole number"),
        ("ratio", "half", "expects float"),
        ("ratio", True, "expects a number"),
        ("ratio", [1], "expects a number"),
        ("enabled", "maybe", "true or false"),
        ("enabled", 1, "true or false"),
        ("label", 5, "expects str"),
        ("risk", "lots", "expects Decimal"),
        ("risk", "1,5", "expects Decimal"),
    ],
)
def test_wrong_values_name_the_parameter(name: str, value: Any, expect: str) -> None:
    with pytest.raises(ConfigError) as info:
        Params(**{name: value})
    message = str(info.value)
    assert f"Params parameter '{name}'" in message
    assert expect in message
    assert repr(value) in message


def test_unknown_parameter_suggests_the_closest_name() -> None:
    with pytest.raises(ConfigError, match=r"unknown parameter 'fsat' for Params, did you mean "
                                          r"'fast'\? \(parameters: fast, ratio, enabled"):
        Params(fsat=3)


def test_unknown_parameter_without_a_close_match_lists_them_all() -> None:
    with pytest.raises(ConfigError) as info:
        Params(zzzzzz=1)
    assert "did you mean" not in str(info.value)
    assert "(parameters: fast, ratio, enabled, label, risk)" in str(info.value)

    class Bare(Strategy):
        pass

    with pytest.raises(ConfigError, match=r"\(parameters: none\)"):
        Bare(anything=1)


def test_required_parameter_must_be_given() -> None:
    class NeedsWindow(Strategy):
        window: int
        scale: float = 1.0

    assert NeedsWindow.parameters["window"].required
    with pytest.raises(ConfigError, match=r"NeedsWindow needs parameter 'window' \(int\)"):
        NeedsWindow()
    assert NeedsWindow(window="20").window == 20


class Base(Strategy):
    fast: int = 10
    slow: int = 30


class Child(Base):
    slow: int = 50
    extra: float = 1.5


class Override(Base):
    fast = 5  # a new default without repeating the annotation


def test_subclass_inherits_and_overrides_parameters() -> None:
    assert list(Child.parameters) == ["fast", "slow", "extra"]
    child = Child()
    assert (child.fast, child.slow, child.extra) == (10, 50, 1.5)
    assert Child(fast="3").fast == 3
    assert Base().slow == 30  # the base is untouched
    assert list(Base.parameters) == ["fast", "slow"]


def test_a_subclass_default_without_annotation_is_used() -> None:
    assert Override.fast == 5
    assert Override().fast == 5
    assert Override.parameters["fast"] == Parameter("fast", int, 5, False)
    assert Override(fast="7").fast == 7
    with pytest.raises(ConfigError, match="whole number"):
        Override(fast=1.5)


def test_a_subclass_may_give_a_required_parameter_a_default() -> None:
    class Req(Strategy):
        n: int

    class Filled(Req):
        n = 4

    assert Filled().n == 4


def test_classvar_and_private_annotations_are_not_parameters() -> None:
    class WithExtras(Strategy):
        fast: int = 3
        registry: ClassVar[dict[str, int]] = {}
        version: ClassVar = "2"
        _cache: int = 0
        _helper: object = None

    assert list(WithExtras.parameters) == ["fast"]
    with pytest.raises(ConfigError, match="unknown parameter '_cache'"):
        WithExtras(_cache=1)
    with pytest.raises(ConfigError, match="unknown parameter 'registry'"):
        WithExtras(registry={})


def test_unsupported_parameter_types_are_refused_when_the_class_is_made() -> None:
    with pytest.raises(TypeError, match=r"Bad\.when: parameters must be bool, int, float"):

        class Bad(Strategy):
            when: list[int] = []  # noqa: RUF012


def test_parameters_are_not_shared_between_instances() -> None:
    a, b = Params(fast=1), Params(fast=2)
    assert (a.fast, b.fast, Params.fast) == (1, 2, 10)


@pytest.mark.parametrize("use", [
    lambda s: s.context, lambda s: s.now_ns, lambda s: s.symbol, lambda s: s.position(),
    lambda s: s.open_orders(), lambda s: s.buy(1), lambda s: s.instrument(),
])
def test_the_kernel_before_attaching_is_a_clear_error(use: Any) -> None:
    with pytest.raises(RuntimeError, match="strategy Params is not attached"):
        use(Params())


@pytest.mark.parametrize("copy_of", [lambda s: pickle.loads(pickle.dumps(s)), copy.deepcopy])
def test_a_strategy_before_its_run_can_be_copied(copy_of: Any) -> None:
    twin = copy_of(Params(fast=3))
    assert (type(twin), twin.fast, twin.params["fast"], twin.id) == (Params, 3, 3, "Params")
