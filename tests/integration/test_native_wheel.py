"""The wheel carries the compiled risk gate (hatch_build.py), and an install of it uses it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tradeloop.core import native

ROOT = Path(__file__).resolve().parents[2]
PROBE = ("import tradeloop.risk.rules as r; from tradeloop.core import native; "
         "print(native.status()); print(r.__file__)")


def _wheel(out: Path, **env: str) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-build-isolation", "--no-deps",
         "-w", str(out), str(ROOT)],
        check=True, env={**os.environ, **env}, capture_output=True, timeout=600,
    )
    (wheel,) = out.glob("tradeloop-*.whl")
    return wheel


def _run_from(wheel: Path, folder: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(folder)
    env = {k: v for k, v in os.environ.items() if k != native.PURE_ENV}
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=folder.parent, check=True,
                          env={**env, "PYTHONPATH": str(folder)}, capture_output=True,
                          text=True, timeout=120)
    return done.stdout.split("\n")


def test_the_wheel_carries_the_compiled_gate_and_an_install_loads_it(tmp_path: Path) -> None:
    if native.check(native.BUILD_DIR)[0] is None and not os.environ.get(
            "TRADELOOP_REQUIRE_NATIVE"):
        pytest.skip(f"nothing compiles here: {native.status()}")
    wheel = _wheel(tmp_path / "dist")
    assert wheel.name.startswith("tradeloop-0.1.0-cp3") and "none-any" not in wheel.name
    names = zipfile.ZipFile(wheel).namelist()
    assert "tradeloop/_native/manifest.json" in names
    compiled = [n for n in names if n.startswith("tradeloop/_native/tradeloop/")]
    assert len(compiled) == len(native.COMPILED)
    status, rules_file, _ = _run_from(wheel, tmp_path / "site")
    assert status == "compiled"
    assert rules_file.startswith(str(tmp_path / "site" / "tradeloop" / "_native"))


def test_a_pure_wheel_when_asked_runs_the_source(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "dist", TRADELOOP_PURE_WHEEL="1")
    assert wheel.name == "tradeloop-0.1.0-py3-none-any.whl"
    assert not [n for n in zipfile.ZipFile(wheel).namelist() if "_native" in n]
    status, rules_file, _ = _run_from(wheel, tmp_path / "site")
    assert status == "source: not built (make native)"
    assert rules_file == str(tmp_path / "site" / "tradeloop" / "risk" / "rules.py")
