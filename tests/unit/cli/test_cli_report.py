"""``tradeloop report RUN`` and ``tradeloop backtest --report``: through the real command line,
with the home in tmp_path; user mistakes are one line on stderr and exit code 2."""

from __future__ import annotations

import csv
import json
import re
import sys
import webbrowser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradeloop.cli.app import app, main

RUN_LINE = re.compile(r"^run (\d{8}T\d{6}Z-[0-9a-f]{8})$", re.MULTILINE)
DATA_BLOCK = re.compile(
    r'<script type="application/json" id="tradeloop-data">(.*?)</script>', re.S)


@pytest.fixture(autouse=True)
def _home_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADELOOP_DATABASE_URL", raising=False)


def _backtest(runner: CliRunner, out: Path, *args: str) -> str:
    result = runner.invoke(app, ["backtest", "sma_cross", "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    found = RUN_LINE.search(result.output)
    assert found is not None, result.output
    return found.group(1)


def _entries(path: Path) -> int:
    found = DATA_BLOCK.search(path.read_text(encoding="utf-8"))
    assert found is not None
    payload = json.loads(found.group(1))
    return sum(m["role"] == "entry" for s in payload["symbols"] for m in s["markers"])


def _trades_in(out: Path) -> int:
    with (out / "trades.csv").open(newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def _main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
          *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["tradeloop", *args])
    with pytest.raises(SystemExit) as stopped:
        main()
    captured = capsys.readouterr()
    code = stopped.value.code
    return code if isinstance(code, int) else 1, captured.out, captured.err


def test_backtest_with_report_writes_report_html(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["backtest", "sma_cross", "--out", str(out), "--report"])
    assert result.exit_code == 0, result.output
    assert f"report {out / 'report.html'}" in result.output.splitlines()
    assert _entries(out / "report.html") == _trades_in(out) > 0


def test_backtest_without_report_writes_none(tmp_path: Path) -> None:
    _backtest(CliRunner(), tmp_path / "out")
    assert not (tmp_path / "out" / "report.html").exists()


def test_report_by_id_and_prefix_prints_the_path(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", opened.append)
    runner = CliRunner()
    out = tmp_path / "out"
    run_id = _backtest(runner, out, "--param", "fast=7")

    result = runner.invoke(app, ["report", run_id])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out / "report.html")
    assert _entries(out / "report.html") == _trades_in(out)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert run_id in page and "fast=7 slow=30 size=1" in page
    assert opened == []

    target = tmp_path / "mine.html"
    suffix = run_id.rpartition("-")[2]
    result = runner.invoke(app, ["report", suffix[:6], "--out", str(target), "--open"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(target)
    assert opened == [target.resolve().as_uri()]


def test_an_unknown_run_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _main(monkeypatch, capsys, "report", "nope")
    assert code == 2 and out == ""
    assert err.strip() == ("error: no run 'nope' in the audit database (tradeloop runs list "
                           "shows the recorded runs)")


def test_out_to_an_unwritable_place_is_one_line_and_exit_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    run_id = _backtest(CliRunner(), tmp_path / "out")
    capsys.readouterr()
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    target = blocker / "report.html"
    code, out, err = _main(monkeypatch, capsys, "report", run_id, "--out", str(target))
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert lines == [f"error: cannot write the report to {target}: {blocker} is not a "
                     "directory"]


def test_changed_data_is_one_line_naming_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from tradeloop.data import bundled_path

    data = tmp_path / "GOOG.csv"
    lines = bundled_path("GOOG").read_text(encoding="utf-8").splitlines()
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run_id = _backtest(CliRunner(), tmp_path / "out", "--data", str(data))
    capsys.readouterr()
    parts = lines[100].split(",")
    parts[4] = f"{float(parts[4]) + 0.01:.2f}"  # a close a cent higher, the high above it
    parts[2] = f"{max(float(parts[2]), float(parts[4])):.2f}"
    lines[100] = ",".join(parts)
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = _main(monkeypatch, capsys, "report", run_id)
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith(f"error: run {run_id}: the data of GOOG ({data}) changed since the "
                           "run: fingerprint sha256:")
    assert not (tmp_path / "out" / "report.html").exists()
