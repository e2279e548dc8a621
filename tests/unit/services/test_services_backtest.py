"""The backtest use case: parsing options, slicing data, and writing nothing on a mistake."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from tradeloop.core.errors import ConfigError, UserError
from tradeloop.core.time import NANOS_PER_DAY, dt_to_ns
from tradeloop.data import bundled_path, load_bars
from tradeloop.model.data import BarSeries
from tradeloop.services import BacktestRequest, parse_params, run_backtest
from tradeloop.services.backtest import parse_time

FILES = {"trades.csv", "orders.csv", "denials.csv", "fills.csv", "equity.csv", "metrics.json",
         "run.json"}


@cache
def goog() -> BarSeries:
    return load_bars(bundled_path("GOOG")).bars


def ns(*args: int) -> int:
    return dt_to_ns(datetime(*args, tzinfo=UTC))


# -- parse_params -------------------------------------------------------------------------------


def test_parse_params() -> None:
    assert parse_params([]) == {}
    assert parse_params(["fast=5", " slow = 20 ", "expr=a=b", "empty="]) == {
        "fast": "5", "slow": "20", "expr": "a=b", "empty": ""}
    assert parse_params(["x=1", "x=2"]) == {"x": "2"}  # the last one wins


@pytest.mark.parametrize("item", ["fast", "=5", "  =5", ""])
def test_parse_params_errors(item: str) -> None:
    with pytest.raises(ConfigError, match=f"--param {item!r}: write it as name=value"):
        parse_params(["ok=1", item])


# -- parse_time ---------------------------------------------------------------------------------


def test_parse_time_of_dates() -> None:
    assert parse_time("2024-01-02", "--from") == ns(2024, 1, 2)
    assert parse_time(" 2024-01-02 ", "--from") == ns(2024, 1, 2)
    end = parse_time("2024-01-02", "--to", end_of_day=True)
    assert end == ns(2024, 1, 3) - 1_000  # the whole day, to the last microsecond
    assert end - parse_time("2024-01-02", "--to") == NANOS_PER_DAY - 1_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02T10:30:00+09:00", ns(2024, 1, 2, 1, 30)),
        ("2024-01-02T10:30:00-05:00", ns(2024, 1, 2, 15, 30)),
        ("2024-01-02T10:30:00Z", ns(2024, 1, 2, 10, 30)),
        ("2024-01-02T10:30", ns(2024, 1, 2, 10, 30)),  # naive means UTC
        ("2024-01-02 10:30:15.250", ns(2024, 1, 2, 10, 30, 15, 250_000)),
    ],
)
def test_parse_time_of_datetimes(text: str, expected: int) -> None:
    assert parse_time(text, "--from") == expected
    assert parse_time(text, "--to", end_of_day=True) == expected  # a time is taken as given


@pytest.mark.parametrize("text", ["yesterday", "2024-02-30", "2024-13-01", "02/01/2024", ""])
def test_parse_time_errors_name_the_option(text: str) -> None:
    with pytest.raises(ConfigError, match=f"--to {text!r} is not a date: use YYYY-MM-DD"):
        parse_time(text, "--to")


# -- run_backtest -------------------------------------------------------------------------------


def test_a_bundled_example_runs_on_its_own_data(tmp_path: Path) -> None:
    out = tmp_path / "out"
    outcome = run_backtest(BacktestRequest("sma_cross", out_dir=out))
    assert outcome.strategy_name == "SmaCross"
    assert outcome.out_dir == out
    assert {p.name for p in outcome.files} == FILES
    assert all(p.parent == out and p.stat().st_size > 0 for p in outcome.files)
    run = outcome.result.run
    assert run.bars == len(goog())
    assert run.symbols == ["GOOG"]
    assert [d.bars.symbol for d in outcome.data] == ["GOOG"]
    assert run.failures == []


def test_example_names_are_forgiven_for_the_default_data_too(tmp_path: Path) -> None:
    outcome = run_backtest(BacktestRequest(" SMA-Cross ", out_dir=tmp_path / "o"))
    assert outcome.strategy_name == "SmaCross"
    assert outcome.result.run.bars == len(goog())


def test_from_and_to_slice_the_data_inclusively(tmp_path: Path) -> None:
    request = BacktestRequest(
        "sma_cross", data=("goog",), start="2010-01-04", end="2010-06-30",
        params={"fast": "5", "slow": "12"}, out_dir=tmp_path / "o",
    )
    run = run_backtest(request).result.run
    ts = goog().ts
    expected = ts[(ts >= ns(2010, 1, 4)) & (ts <= ns(2010, 6, 30))]
    assert run.series[0].ts.tolist() == expected.tolist()
    assert run.timeline[0] == ns(2010, 1, 4) and run.timeline[-1] == ns(2010, 6, 30)
    assert run.strategies == {"SmaCross": {"fast": 5, "slow": 12, "size": 1}}
    assert all(ns(2010, 1, 4) <= f.ts <= ns(2010, 6, 30) for f in run.fills)


def test_only_from_or_only_to(tmp_path: Path) -> None:
    late = run_backtest(BacktestRequest("sma_cross", start="2013-01-01",
                                        out_dir=tmp_path / "a")).result.run
    assert late.timeline[0] >= ns(2013, 1, 1) and late.timeline[-1] == goog().ts[-1]
    early = run_backtest(BacktestRequest("sma_cross", end="2004-12-31",
                                         out_dir=tmp_path / "b")).result.run
    assert early.timeline[0] == goog().ts[0] and early.timeline[-1] <= ns(2004, 12, 31)


def test_a_data_file_and_a_symbol_name(tmp_path: Path) -> None:
    csv = tmp_path / "prices.csv"
    csv.write_text(bundled_path("GOOG").read_text())
    run = run_backtest(BacktestRequest(
        "tradeloop.examples.sma_cross:SmaCross", data=(str(csv),), symbols=("ALPHABET",),
        out_dir=tmp_path / "o",
    )).result.run
    assert run.symbols == ["ALPHABET"]
    assert np.array_equal(run.series[0].close, goog().close)
    assert {f.symbol for f in run.fills} == {"ALPHABET"}


def test_a_user_strategy_file_on_bundled_data(tmp_path: Path) -> None:
    script = tmp_path / "buy_once.py"
    script.write_text(
        "from tradeloop.strategy import Strategy\n\n\n"
        "class BuyOnce(Strategy):\n"
        "    size: int = 3\n\n"
        "    def on_bar(self, bar):\n"
        "        if self.position().is_flat and not self.open_orders():\n"
        "            self.buy(self.size)\n"
    )
    outcome = run_backtest(BacktestRequest(
        str(script), data=("GOOG",), params={"size": "7"}, end="2004-09-30",
        out_dir=tmp_path / "o",
    ))
    (fill,) = outcome.result.run.fills
    assert fill.last_qty == 7 and fill.ts == goog().ts[1]
    assert outcome.strategy_name == "BuyOnce"


MISTAKES = [
    ({"strategy": "sma_crss"}, "did you mean 'sma_cross'"),
    ({"params": {"fsat": "5"}}, "did you mean 'fast'"),
    ({"params": {"fast": "five"}}, "parameter 'fast' expects int"),
    ({"data": ("GOOG", "EURUSD"), "symbols": ("A",)},
     "1 --symbol values for 2 --data files: give one per file"),
    ({"start": "2012-01-01", "end": "2011-01-01"}, "--from 2012-01-01 is after --to 2011-01-01"),
    ({"start": "2030-01-01"}, "no bars in the chosen range"),
    ({"start": "01/02/2010"}, "--from '01/02/2010' is not a date"),
    ({"data": ("no_such_file.csv",)}, "data file no_such_file.csv does not exist (bundled"),
    ({"conflict": "random"}, "--conflict must be one of stop_first, target_first, path"),
    ({"cash": "-5"}, "--cash must be positive"),
    ({"cash": "lots"}, "--cash 'lots' is not a number"),
    ({"commission": "cheap"}, "commission 'cheap'"),
    ({"strategy": "tradeloop.examples.sma_cross:Nope"}, "no Strategy subclass named 'Nope'"),
]


@pytest.mark.parametrize(("change", "message"), MISTAKES)
def test_a_user_mistake_is_a_clear_error_and_writes_nothing(
    tmp_path: Path, tradeloop_home: Path, change: dict[str, object], message: str
) -> None:
    fields: dict[str, object] = {"strategy": "sma_cross", "out_dir": tmp_path / "out"}
    fields.update(change)
    with pytest.raises(UserError) as info:
        run_backtest(BacktestRequest(**fields))  # type: ignore[arg-type]
    assert message in str(info.value)
    assert not (tmp_path / "out").exists()
    assert not (tradeloop_home / "backtests").exists()


def test_without_an_example_a_data_file_is_required(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text("from tradeloop.strategy import Strategy\n\nclass S(Strategy):\n    pass\n")
    with pytest.raises(ConfigError, match="give at least one --data FILE"):
        run_backtest(BacktestRequest(str(script), out_dir=tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_default_output_folder_is_under_the_home(tradeloop_home: Path) -> None:
    outcome = run_backtest(BacktestRequest("sma_cross", start="2012-06-01"))
    assert outcome.out_dir.parent == tradeloop_home / "backtests"
    assert outcome.out_dir.name.endswith("-SmaCross")
    assert {p.name for p in outcome.out_dir.iterdir()} == FILES


def test_the_instruments_file_in_the_home_gives_the_contract(
    tradeloop_home: Path, tmp_path: Path
) -> None:
    # GOOG's bars traded as a contract worth 10 per point: the PnL is ten times the plain run's
    plain = run_backtest(BacktestRequest("sma_cross", data=("GOOG",), out_dir=tmp_path / "a"))
    (tradeloop_home / "instruments.toml").write_text(
        '[GOOG]\nasset_class = "future"\nquote = "USD"\ntick_size = "0.01"\n'
        'multiplier = "10"\n', encoding="utf-8",
    )
    scaled = run_backtest(BacktestRequest("sma_cross", data=("GOOG",), out_dir=tmp_path / "b"))
    assert scaled.result.run.instruments["GOOG"].multiplier == 10
    plain_pnl = plain.result.run.final_equity - plain.result.run.start_equity
    scaled_pnl = scaled.result.run.final_equity - scaled.result.run.start_equity
    assert plain_pnl != 0
    assert scaled_pnl == plain_pnl * 10


def test_a_broken_instruments_file_is_one_clear_error(
    tradeloop_home: Path, tmp_path: Path
) -> None:
    (tradeloop_home / "instruments.toml").write_text(
        '[GOOG]\nasset_class = "equity"\nquote = "USD"\ntick_sise = "0.01"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"instruments.toml.*\[GOOG\].*tick_sise"):
        run_backtest(BacktestRequest("sma_cross", data=("GOOG",), out_dir=tmp_path / "c"))
    assert not (tmp_path / "c").exists()
