from __future__ import annotations

import subprocess
import sys

import pytest

from tradeloop.core.errors import ConfigError
from tradeloop.data import bundled_names
from tradeloop.examples import EXAMPLE_DATA, EXAMPLES, load_example
from tradeloop.strategy import Strategy

EXPECTED = {
    "sma_cross": ("SmaCross", "GOOG"),
    "rsi_reversion": ("RsiReversion", "GOOG"),
    "bollinger_breakout": ("BollingerBreakout", "GOOG"),
    "ma_rsi_atr": ("MaRsiAtr", "GOOG"),
    "gotobi": ("Gotobi", "EURUSD"),
}


def test_registry_lists_every_example_with_its_data() -> None:
    assert set(EXAMPLES) == set(EXPECTED)
    assert set(EXAMPLE_DATA) == set(EXPECTED)
    for name, (class_name, data) in EXPECTED.items():
        module_path, registered_class = EXAMPLES[name]
        assert module_path == f"tradeloop.examples.{name}"
        assert registered_class == class_name
        assert EXAMPLE_DATA[name] == data
        assert data in bundled_names()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_load_example_returns_the_strategy_class(name: str) -> None:
    cls = load_example(name)
    assert isinstance(cls, type)
    assert issubclass(cls, Strategy)
    assert cls.__name__ == EXPECTED[name][0]


@pytest.mark.parametrize("name", ["rsi_reversion", "bollinger_breakout", "ma_rsi_atr", "gotobi"])
def test_new_examples_document_every_parameter(name: str) -> None:
    cls = load_example(name)
    doc = cls.__doc__ or ""
    assert "Parameters\n    ----------" in doc
    for parameter in cls.parameters:
        assert f"\n    {parameter} : " in doc, parameter


@pytest.mark.parametrize("spelling", ["MA_RSI_ATR", " ma-rsi-atr ", "Ma_Rsi_Atr"])
def test_load_example_forgives_case_spaces_and_hyphens(spelling: str) -> None:
    assert load_example(spelling).__name__ == "MaRsiAtr"


def test_unknown_example_suggests_the_closest_name() -> None:
    with pytest.raises(ConfigError, match=r"unknown example 'bolinger_breakout', did you mean "
                       r"'bollinger_breakout'\?") as info:
        load_example("bolinger_breakout")
    assert "sma_cross" in str(info.value)  # the list of examples follows


def test_unknown_example_without_a_close_match_lists_the_examples() -> None:
    with pytest.raises(ConfigError) as info:
        load_example("zzzz")
    message = str(info.value)
    assert "did you mean" not in message
    for name in EXPECTED:
        assert name in message


def test_importing_the_package_imports_no_example_module() -> None:
    code = (
        "import sys, tradeloop.examples as ex\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('tradeloop.examples.'))\n"
        "assert loaded == [], loaded\n"
        "assert 'tradeloop.strategy' not in sys.modules\n"
        "assert 'tradeloop.indicators' not in sys.modules\n"
        "ex.load_example('gotobi')\n"
        "assert 'tradeloop.examples.gotobi' in sys.modules\n"
        "assert 'tradeloop.examples.rsi_reversion' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
