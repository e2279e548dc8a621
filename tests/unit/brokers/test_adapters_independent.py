"""Every registered adapter is named in the import-linter contract that keeps adapters from
importing each other, so a new adapter cannot slip past it."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tradeloop.brokers.base import ADAPTERS

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"


def _contract(name: str) -> dict[str, object]:
    contracts = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c["name"] == name)


def test_every_adapter_is_independent_of_the_others() -> None:
    contract = _contract("Venue adapters import nothing from each other")
    assert contract["type"] == "independence"
    packages = {path.split(":")[0].removesuffix(".adapter") for path in ADAPTERS.values()}
    assert packages <= set(contract["modules"])  # type: ignore[arg-type]


def test_no_adapter_imports_the_engine() -> None:
    contract = _contract("Venue adapters never import the engine")
    assert contract["source_modules"] == ["tradeloop.brokers"]
    assert "tradeloop.engine" in contract["forbidden_modules"]  # type: ignore[operator]
