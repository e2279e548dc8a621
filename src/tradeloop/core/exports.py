"""Names a package exports but imports only on first use (a module ``__getattr__``)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any


def import_on_first_use(
    package: str, homes: Mapping[str, str], namespace: dict[str, Any], name: str
) -> Any:
    """Import ``name`` from its module in ``homes`` and keep it in the package's ``namespace``.

    Call it from a package's module-level ``__getattr__``.

    Raises
    ------
    AttributeError
        For a name that is not in ``homes``.
    """
    home = homes.get(name)
    if home is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    namespace[name] = value
    return value
