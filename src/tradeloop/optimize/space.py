"""The parameters an optimisation searches: ranges and choices from ``--param`` options, an
optional constraint between them, and the grid they span.

``fast=5:50:5`` is a range (start, stop and step, both ends included), ``fast=5:50`` a range
with step 1, ``mode=fast,slow`` a choice, ``fast=10`` a fixed value. A range is whole numbers
when all three bounds are, decimals otherwise (``k=0.5:2:0.25``).
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from tradeloop.core.errors import ConfigError
from tradeloop.optimize.constraint import Constraint

Value = int | float | str
Params = dict[str, Value]

_MAX_GRID = 10_000_000


@dataclass(frozen=True)
class ParamRange:
    """Evenly spaced numbers from ``start`` to ``stop`` (included when on the step).

    Attributes
    ----------
    name : str
    start, stop, step : int or float
    """

    name: str
    start: int | float
    stop: int | float
    step: int | float

    @property
    def is_int(self) -> bool:
        """True when every value is a whole number."""
        return all(isinstance(v, int) for v in (self.start, self.stop, self.step))

    def values(self) -> list[Value]:
        """Every value of the range, in order."""
        if self.is_int:
            return list(range(int(self.start), int(self.stop) + 1, int(self.step)))
        start, stop, step = (Decimal(repr(v)) for v in (self.start, self.stop, self.step))
        count = int((stop - start) / step) + 1
        return [float(start + k * step) for k in range(count)]


@dataclass(frozen=True)
class ParamChoice:
    """A parameter that takes one of a few given values (one for a fixed value).

    Attributes
    ----------
    name : str
    options : tuple
    """

    name: str
    options: tuple[Value, ...]

    def values(self) -> list[Value]:
        """The options, in the order given."""
        return list(self.options)


ParamSpec = ParamRange | ParamChoice


def parse_param(text: str) -> ParamSpec:
    """Parse one ``--param`` option.

    Raises
    ------
    ConfigError
        Naming the option and showing the forms it accepts.
    """
    name, sep, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    forms = "name=start:stop:step (fast=5:50:5), name=a,b,c or name=value"
    if not sep or not name.isidentifier() or not spec:
        raise ConfigError(f"--param {text!r}: write it as {forms}")
    if ":" in spec:
        return _range(text, name, spec, forms)
    options = tuple(_value(part.strip()) for part in spec.split(","))
    if any(part == "" for part in options):
        raise ConfigError(f"--param {text!r}: an empty choice; write it as {forms}")
    if len(set(options)) != len(options):
        raise ConfigError(f"--param {text!r}: a value is given twice")
    return ParamChoice(name, options)


def _range(text: str, name: str, spec: str, forms: str) -> ParamRange:
    parts = [p.strip() for p in spec.split(":")]
    if len(parts) not in (2, 3):
        raise ConfigError(f"--param {text!r}: a range has a start, a stop and an optional step; "
                          f"write it as {forms}")
    numbers: list[int | float] = []
    for part in parts:
        value = _value(part)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(f"--param {text!r}: {part!r} is not a number")
        numbers.append(value)
    start, stop = numbers[0], numbers[1]
    step = numbers[2] if len(numbers) == 3 else 1
    if not all(math.isfinite(n) for n in (start, stop, step)):
        raise ConfigError(f"--param {text!r}: bounds and step must be finite numbers")
    if step <= 0:
        raise ConfigError(f"--param {text!r}: the step must be positive, got {step}")
    if stop < start:
        raise ConfigError(f"--param {text!r}: the stop {stop} is below the start {start}")
    return ParamRange(name, start, stop, step)


def _value(text: str) -> Value:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    return float(number) if number.is_finite() else text


class SearchSpace:
    """The parameters to search and the constraint they must meet.

    Parameters
    ----------
    params : sequence of ParamRange or ParamChoice
    constraint : str, optional
        An expression over the parameter names, such as ``"fast < slow"``.

    Raises
    ------
    ConfigError
        For a parameter given twice, or a constraint that names an unknown parameter.
    """

    def __init__(self, params: Sequence[ParamSpec], constraint: str | None = None) -> None:
        names = [p.name for p in params]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ConfigError(f"--param {twice[0]} is given more than once")
        if not params:
            raise ConfigError("give at least one --param to search, e.g. --param fast=5:50:5")
        self.params = tuple(params)
        self.constraint = Constraint(constraint, names) if constraint else None

    @classmethod
    def parse(cls, options: Sequence[str], constraint: str | None = None) -> SearchSpace:
        """A space from ``--param`` options and an optional ``--constraint``."""
        return cls([parse_param(o) for o in options], constraint)

    @property
    def names(self) -> list[str]:
        """The parameter names, in the order given."""
        return [p.name for p in self.params]

    def spec(self, name: str) -> ParamSpec:
        """The range or choice of ``name``.

        Raises
        ------
        ConfigError
            For an unknown name, suggesting the closest one.
        """
        for p in self.params:
            if p.name == name:
                return p
        close = difflib.get_close_matches(name, self.names, n=1)
        hint = f", did you mean {close[0]!r}?" if close else f" (searched: {', '.join(self.names)})"
        raise ConfigError(f"unknown parameter {name!r}{hint}")

    def allows(self, params: Params) -> bool:
        """Whether ``params`` meets the constraint."""
        return self.constraint is None or self.constraint.holds(params)

    def unconstrained_size(self) -> int:
        """The number of combinations before the constraint."""
        return math.prod(len(p.values()) for p in self.params)

    def grid(self) -> list[Params]:
        """Every combination that meets the constraint, the first parameter varying slowest.

        Raises
        ------
        ConfigError
            When the grid is too large to enumerate, or the constraint leaves nothing.
        """
        size = self.unconstrained_size()
        if size > _MAX_GRID:
            raise ConfigError(f"the grid has {size:,} combinations, more than {_MAX_GRID:,}: "
                              "use larger steps, or --method random or tpe with --trials N")
        combos = [c for c in self._combinations() if self.allows(c)]
        if not combos:
            raise ConfigError(f"no combination of {', '.join(self.names)} meets the constraint "
                              f"{self.constraint}")
        return combos

    def _combinations(self) -> Iterator[Params]:
        names = self.names
        for values in itertools.product(*(p.values() for p in self.params)):
            yield dict(zip(names, values, strict=True))
