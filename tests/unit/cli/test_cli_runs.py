"""``tradeloop backtest`` records a run; ``tradeloop runs list|show|compare`` read them back,
through the real command line with the home in tmp_path."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from tradeloop.cli import runs_commands
from tradeloop.cli.app import app

RUN_LINE = re.compile(r"^run (\d{8}T\d{6}Z-[0-9a-f]{8})$", re.MULTILINE)


def _cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "TRADELOOP_DATABASE_URL"}
    environ.update(TRADELOOP_HOME=str(home), COLUMNS="200", **env)
    return subprocess.run([sys.executable, "-m", "tradeloop", *args], capture_output=True,
                          text=True, check=False, env=environ, timeout=300)


def _backtest(home: Path, out: Path, *args: str) -> str:
    done = _cli(home, "backtest", "sma_cross", "--out", str(out), *args)
    assert done.returncode == 0, done.stderr
    found = RUN_LINE.search(done.stdout)
    assert found is not None, done.stdout
    return found.group(1)


def test_backtest_then_list_show_and_compare(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = _backtest(home, tmp_path / "a")
    second = _backtest(home, tmp_path / "b", "--param", "fast=5", "--from", "2010-01-01")

    listed = _cli(home, "runs", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.index(second) < listed.stdout.index(first)  # newest first
    assert "fast=5" in listed.stdout and "fast=10" in listed.stdout
    assert "GOOG 2010-01-04 .. 2013-03-01" in listed.stdout
    assert "backtest" in listed.stdout and "SmaCross" in listed.stdout

    suffix = second.rpartition("-")[2]
    shown = _cli(home, "runs", "show", suffix[:5])
    assert shown.returncode == 0, shown.stderr
    for text in (f"run {second}", "tradeloop.examples.sma_cross:SmaCross", "2010-01-04T00:00:00Z",
                 "sha256:", "range.from", "Total return", "Max drawdown",
                 str(tmp_path / "b" / "run.json")):
        assert text in shown.stdout, text

    compared = _cli(home, "runs", "compare", first, second)
    assert compared.returncode == 0, compared.stderr
    assert "parameters that differ" in compared.stdout
    assert re.search(r"fast\s+│ 10\s+│ 5\s+│", compared.stdout), compared.stdout
    assert "GOOG range" in compared.stdout and "range.from" in compared.stdout
    assert "Sharpe" in compared.stdout


def test_unknown_and_ambiguous_ids_are_one_line_errors(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run_id = _backtest(home, tmp_path / "a")
    unknown = _cli(home, "runs", "show", "nope")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == ("error: no run 'nope' in the audit database (tradeloop "
                                      "runs list shows the recorded runs)")
    alone = _cli(home, "runs", "compare", run_id)
    assert alone.returncode == 2 and "give at least two run ids" in alone.stderr
    assert "Traceback" not in unknown.stderr + alone.stderr


def test_a_broken_database_is_one_yellow_line_and_the_results_stay(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing' / 'audit.db'}"
    out = tmp_path / "out"
    done = _cli(tmp_path / "home", "backtest", "sma_cross", "--out", str(out),
                TRADELOOP_DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    assert RUN_LINE.search(done.stdout) is None
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert warnings[0].startswith("warning: run not recorded in the audit database: cannot open")
    assert (out / "trades.csv").is_file() and (out / "run.json").is_file()


def test_compare_highlights_the_best_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    runner = CliRunner()
    ids = []
    for k, fast in enumerate(("10", "5")):
        result = runner.invoke(app, ["backtest", "sma_cross", "--param", f"fast={fast}",
                                     "--out", str(tmp_path / str(k))])
        assert result.exit_code == 0, result.output
        found = RUN_LINE.search(result.output)
        assert found is not None
        ids.append(found.group(1))
    screen = Console(record=True, width=220, force_terminal=True, color_system="standard")
    monkeypatch.setattr(runs_commands, "_out", screen)
    result = runner.invoke(app, ["runs", "compare", *ids])
    assert result.exit_code == 0, result.output
    text = screen.export_text(styles=True)
    (line,) = [row for row in text.splitlines() if "Total return" in row]
    values = re.findall(r"(\x1b\[[0-9;]*m)?\s*(-?[\d.,]+ %)", line)
    assert len(values) == 2
    green = [bool(style and "32" in style) for style, _ in values]
    numbers = [float(v.replace(",", "").rstrip(" %")) for _, v in values]
    assert green == [n == max(numbers) for n in numbers] and sum(green) == 1
