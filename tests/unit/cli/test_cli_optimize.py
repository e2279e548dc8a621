"""``tradeloop optimize`` through the real command line: the ranked table, the verdicts, the
files, the run, a resumed study, and one-line errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

RUN_LINE = re.compile(r"^run (\d{8}T\d{6}Z-[0-9a-f]{8})$", re.MULTILINE)


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "TRADELOOP_DATABASE_URL"}
    environ.update(TRADELOOP_HOME=str(home), COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "tradeloop", *args], capture_output=True,
                          text=True, check=False, env=environ, timeout=300)


def test_a_grid_prints_the_ranking_verdicts_and_files(tmp_path: Path) -> None:
    done = _cli(tmp_path / "home", "optimize", "sma_cross", "--param", "fast=5:15:5",
                "--param", "slow=20:40:10", "--workers", "2", "--out", str(tmp_path / "o"))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "SmaCross: 9 trials, best first" in out
    assert "9 trials (0 failed) on 2 local processes" in out
    assert re.search(r"^DSR \d\.\d\d: ", out, re.MULTILINE)
    assert re.search(r"^PBO \d\.\d\d: ", out, re.MULTILINE)
    assert f"wrote {tmp_path / 'o' / 'report.html'}" in out
    run_id = RUN_LINE.search(out)
    assert run_id is not None
    shown = _cli(tmp_path / "home", "runs", "show", run_id.group(1))
    assert shown.returncode == 0 and "optimize" in shown.stdout


def test_rerunning_a_tpe_study_resumes_it(tmp_path: Path) -> None:
    args = ("optimize", "sma_cross", "--param", "fast=2:40", "--param", "slow=20:200",
            "--constraint", "fast < slow", "--method", "tpe", "--workers", "1")
    first = _cli(tmp_path / "home", *args, "--trials", "5", "--out", str(tmp_path / "a"))
    assert first.returncode == 0, first.stderr
    study = re.search(r"^study (SmaCross-tpe-[0-9a-f]{12})$", first.stdout, re.MULTILINE)
    assert study is not None
    again = _cli(tmp_path / "home", *args, "--trials", "8", "--out", str(tmp_path / "b"))
    assert again.returncode == 0, again.stderr
    assert f"study {study.group(1)}, 5 resumed" in again.stdout
    assert "8 trials (0 failed)" in again.stdout


def test_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    for args, message in [
        (("--param", "fast=5:15:5", "--objective", "sharp"), "--objective 'sharp'"),
        (("--param", "fast=50:5"), "the stop 5 is below the start 50"),
        (("--param", "fast=5:15:5", "--method", "tpe"), "--method tpe needs --trials N"),
        (("--param", "fast=5:15:5", "--heatmap", "fast"), "--heatmap 'fast': name two"),
        (("--param", "fast=5:15:5", "--dask", "tcp://127.0.0.1:9"),
         "--dask tcp://127.0.0.1:9: cannot reach the scheduler"),
    ]:
        done = _cli(tmp_path / "home", "optimize", "sma_cross", *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr
