"""Strategy parameters: typed class attributes, checked and converted when a strategy is made."""

from __future__ import annotations

import difflib
import inspect
import typing
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from tradeloop.core.errors import ConfigError

_SUPPORTED = (bool, int, float, str, Decimal)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True, slots=True)
class Parameter:
    """One declared parameter: its name, type and default (``required`` when it has none)."""

    name: str
    type: type
    default: Any
    required: bool


def declared_parameters(cls: type, stop_at: type) -> dict[str, Parameter]:
    """The parameters a strategy class declares: annotated class attributes of its own and of its
    bases below ``stop_at``, in declaration order."""
    params: dict[str, Parameter] = {}
    for klass in reversed(cls.__mro__):
        if klass is stop_at or not issubclass(klass, stop_at):
            continue
        hints = typing.get_type_hints(klass)
        own = inspect.get_annotations(klass)
        for name in own:
            kind = hints[name]
            if name.startswith("_") or typing.ClassVar in (kind, typing.get_origin(kind)):
                continue
            if kind not in _SUPPORTED:
                raise TypeError(
                    f"{cls.__name__}.{name}: parameters must be bool, int, float, str or Decimal"
                )
            has_default = name in klass.__dict__
            params[name] = Parameter(name, kind, klass.__dict__.get(name), not has_default)
        for name, param in list(params.items()):  # a new default, annotation not repeated
            if name not in own and name in klass.__dict__:
                params[name] = Parameter(name, param.type, klass.__dict__[name], False)
    return params


def _convert(param: Parameter, value: Any, owner: str) -> Any:
    kind = param.type
    where = f"{owner} parameter '{param.name}'"
    if isinstance(value, str) and kind is not str:
        text = value.strip()
        if kind is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ConfigError(f"{where} expects true or false, got {value!r}")
        try:
            return Decimal(text) if kind is Decimal else kind(text)
        except (ValueError, InvalidOperation):
            raise ConfigError(f"{where} expects {kind.__name__}, got {value!r}") from None
    if kind is bool and not isinstance(value, bool):
        raise ConfigError(f"{where} expects true or false, got {value!r}")
    if kind is int:
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        ):
            raise ConfigError(f"{where} expects a whole number, got {value!r}")
        return int(value)
    if kind in (float, Decimal):
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise ConfigError(f"{where} expects a number, got {value!r}")
        return Decimal(str(value)) if kind is Decimal else float(value)
    if not isinstance(value, kind):
        raise ConfigError(f"{where} expects {kind.__name__}, got {value!r}")
    return value


def resolve_parameters(
    owner: str, declared: dict[str, Parameter], given: dict[str, Any]
) -> dict[str, Any]:
    """Check given values against the declared parameters and return every parameter's value.

    Raises
    ------
    ConfigError
        For an unknown name (with a "did you mean" hint), a missing required one, or a value of
        the wrong type.
    """
    for name in given:
        if name not in declared:
            close = difflib.get_close_matches(name, list(declared), n=1)
            hint = f", did you mean '{close[0]}'?" if close else ""
            known = ", ".join(declared) or "none"
            raise ConfigError(
                f"unknown parameter '{name}' for {owner}{hint} (parameters: {known})"
            )
    values: dict[str, Any] = {}
    for name, param in declared.items():
        if name in given:
            values[name] = _convert(param, given[name], owner)
        elif param.required:
            raise ConfigError(f"{owner} needs parameter '{name}' ({param.type.__name__})")
        else:
            values[name] = param.default
    return values
