"""resolve_strategy: ``module:Class``, ``.py`` files (optionally ``:Class``) and bundled example
names, with clear errors for everything else."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tradeloop.core.errors import ConfigError
from tradeloop.examples.rsi_reversion import RsiReversion
from tradeloop.examples.sma_cross import SmaCross
from tradeloop.services import resolve_strategy
from tradeloop.strategy import Strategy

ONE = """
from tradeloop.strategy import Strategy


class Mine(Strategy):
    window: int = 3

    def on_bar(self, bar):
        pass
"""

TWO = """
from tradeloop.examples.sma_cross import SmaCross  # imported: not one of this file's own
from tradeloop.strategy import Strategy


class Alpha(Strategy):
    pass


class Beta(SmaCross):
    fast: int = 4
"""


def write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


# -- bundled examples and modules ---------------------------------------------------------------


@pytest.mark.parametrize("spec", ["sma_cross", "  sma_cross ", "SMA-Cross", "Sma_Cross"])
def test_bundled_example_names(spec: str) -> None:
    assert resolve_strategy(spec) is SmaCross


def test_unknown_example_name_gets_a_hint_and_the_list() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_strategy("sma_crss")
    message = str(info.value)
    assert "unknown example 'sma_crss', did you mean 'sma_cross'?" in message
    assert "rsi_reversion" in message and "gotobi" in message


def test_module_and_class() -> None:
    assert resolve_strategy("tradeloop.examples.sma_cross:SmaCross") is SmaCross
    assert resolve_strategy("tradeloop.examples.rsi_reversion:RsiReversion") is RsiReversion


def test_module_with_an_unknown_class_lists_what_it_has() -> None:
    with pytest.raises(ConfigError, match=r"tradeloop\.examples\.sma_cross: no Strategy subclass "
                                          r"named 'SmaCros' \(found: SmaCross\)"):
        resolve_strategy("tradeloop.examples.sma_cross:SmaCros")


def test_module_attribute_that_is_not_a_strategy() -> None:
    with pytest.raises(ConfigError, match="no Strategy subclass named 'SMA'"):
        resolve_strategy("tradeloop.examples.sma_cross:SMA")  # an indicator class


def test_missing_module() -> None:
    with pytest.raises(ConfigError, match=r"cannot import module 'no_such_pkg\.mod'"):
        resolve_strategy("no_such_pkg.mod:Thing")


def test_user_package_module_on_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "userpkg_resolve"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    write(pkg, "strats.py", TWO)
    monkeypatch.syspath_prepend(str(tmp_path))
    beta = resolve_strategy("userpkg_resolve.strats:Beta")
    assert beta.__name__ == "Beta" and issubclass(beta, SmaCross)
    assert beta().fast == 4


def test_user_module_whose_import_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "broken_mod_resolve.py", "import math\n\nRATE = 1 / 0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError) as info:
        resolve_strategy("broken_mod_resolve:Anything")
    message = str(info.value)
    assert "cannot import module 'broken_mod_resolve'" in message
    assert "ZeroDivisionError: division by zero" in message
    assert "broken_mod_resolve.py:3" in message


# -- files --------------------------------------------------------------------------------------


def test_a_file_with_one_strategy(tmp_path: Path) -> None:
    path = write(tmp_path, "mine.py", ONE)
    cls = resolve_strategy(str(path))
    assert cls.__name__ == "Mine" and issubclass(cls, Strategy)
    assert cls(window="7").window == 7
    assert resolve_strategy(f"{path}:Mine") is not None


def test_a_relative_file_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "relative_one.py", ONE)
    monkeypatch.chdir(tmp_path)
    assert resolve_strategy("relative_one.py").__name__ == "Mine"


def test_a_file_with_two_strategies_needs_a_class_name(tmp_path: Path) -> None:
    path = write(tmp_path, "two.py", TWO)
    with pytest.raises(ConfigError) as info:
        resolve_strategy(str(path))
    assert str(info.value) == (
        f"{path}: defines several strategies (Alpha, Beta); name one as FILE:Class"
    )
    assert resolve_strategy(f"{path}:Beta").__name__ == "Beta"
    assert resolve_strategy(f"{path}:Alpha").__name__ == "Alpha"


def test_a_file_class_that_is_not_there(tmp_path: Path) -> None:
    path = write(tmp_path, "two.py", TWO)
    with pytest.raises(ConfigError, match=r"no Strategy subclass named 'SmaCross' "
                                          r"\(found: Alpha, Beta\)"):
        resolve_strategy(f"{path}:SmaCross")  # imported into the file, not defined there


def test_a_file_without_strategies(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.py", "from tradeloop.strategy import Strategy\nX = 1\n")
    with pytest.raises(ConfigError, match=r"empty\.py: defines no subclass of "
                                          r"tradeloop\.strategy\.Strategy"):
        resolve_strategy(str(path))


def test_a_file_with_a_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad_syntax.py", ONE + "\n\ndef broken(:\n    pass\n")
    with pytest.raises(ConfigError) as info:
        resolve_strategy(str(path))
    line = (ONE + "\n\ndef broken(:\n").count("\n")
    assert str(info.value).startswith(f"{path}:{line}: syntax error: ")


def test_a_file_whose_import_raises_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "raises.py", ONE + "\nLIMIT = int('ten')\n")
    with pytest.raises(ConfigError) as info:
        resolve_strategy(str(path))
    line = (ONE + "\nLIMIT").count("\n") + 1
    assert str(info.value) == (
        f"{path}:{line}: importing the strategy failed: ValueError: invalid literal for int() "
        "with base 10: 'ten'"
    )


def test_an_error_deeper_down_points_at_the_files_own_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "helper_resolve_dep.py", "def load():\n    raise KeyError('setting')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = write(tmp_path, "uses_helper.py",
                 "import helper_resolve_dep\n\nhelper_resolve_dep.load()\n")
    with pytest.raises(ConfigError, match=r"uses_helper\.py:3: importing the strategy failed: "
                                          r"KeyError: 'setting'"):
        resolve_strategy(str(path))


def test_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.py"
    with pytest.raises(ConfigError, match=f"strategy file {missing} does not exist"):
        resolve_strategy(str(missing))
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_strategy(f"{missing}:Mine")


def test_a_strategy_file_that_fails_to_import_leaves_no_module_behind(tmp_path: Path) -> None:
    import sys

    broken = tmp_path / "broken_strategy.py"
    broken.write_text("raise RuntimeError('nope')\n")
    with pytest.raises(ConfigError, match="importing the strategy failed"):
        resolve_strategy(str(broken))
    assert "tradeloop_user_broken_strategy" not in sys.modules
