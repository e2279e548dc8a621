"""The compiled kernel modules (risk gate, order path): which build runs, that a stale build is
never used, and that what they define still pickles."""

from __future__ import annotations

import importlib
import json
import logging
import os
import pickle
import re
import shutil
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tradeloop.brokers.simulated.fees import (
    Commission,
    NoCommission,
    NoSlippage,
    PercentSlippage,
    SpreadSlippage,
    TickSlippage,
)
from tradeloop.brokers.simulated.venue import SimulatedVenueConfig
from tradeloop.core import native
from tradeloop.model.instrument import Instrument


def _manifest(folder: Path, **changes: object) -> Path:
    """A manifest as :func:`native.build` writes it, for sources as they are now."""
    files = {name: f"{name.replace('.', '/')}.so" for name in native.COMPILED}
    for file in files.values():
        (folder / file).parent.mkdir(parents=True, exist_ok=True)
        (folder / file).write_bytes(b"")
    manifest = {
        "build": native._build_tag(),
        "sources": {name: native._digest(native._source(name)) for name in native.COMPILED},
        "files": files,
    }
    manifest.update(changes)
    (folder / native.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def test_the_risk_gate_runs_the_build_asked_for() -> None:
    modules = [importlib.import_module(name) for name in native.COMPILED]
    if os.environ.get(native.PURE_ENV, "") not in ("", "0"):
        assert native.status() == f"source: {native.PURE_ENV} is set"
        assert not any(native.is_compiled(m) for m in modules)
        return
    if native.status() != "compiled" and not os.environ.get("TRADELOOP_REQUIRE_NATIVE"):
        pytest.skip(f"risk gate not compiled here: {native.status()}")
    assert native.status() == "compiled"
    assert all(native.is_compiled(m) for m in modules), [m.__file__ for m in modules]


def test_a_current_build_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(native.PURE_ENV, raising=False)
    files, reason = native.check(_manifest(tmp_path))
    assert reason == "compiled"
    assert files is not None and set(files) == set(native.COMPILED)
    assert files["tradeloop.risk.rules"] == tmp_path / "tradeloop/risk/rules.so"


def _stale(module: str) -> dict[str, str]:
    digests = {name: native._digest(native._source(name)) for name in native.COMPILED}
    digests[module] = "0" * 64
    return digests


@pytest.mark.parametrize(("changes", "reason"), [
    ({"sources": _stale("tradeloop.risk.limits")},
     "tradeloop.risk.limits changed since the build (make native)"),
    ({"build": "cpython-39 .so"}, "built for cpython-39 .so, not this interpreter"),
    ({"sources": {"tradeloop.risk.rules": "x"}}, "built for another set of modules"),
    ({"files": None}, "unreadable manifest"),
])
def test_a_build_that_does_not_match_is_not_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, changes: dict[str, object],
        reason: str) -> None:
    monkeypatch.delenv(native.PURE_ENV, raising=False)
    files, why = native.check(_manifest(tmp_path, **changes))
    assert files is None
    assert why.startswith(reason)


def test_a_missing_build_or_the_switch_means_source(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(native.PURE_ENV, raising=False)
    assert native.check(tmp_path) == (None, "not built (make native)")
    built = _manifest(tmp_path / "b")
    shutil.rmtree(built / "tradeloop")
    files, why = native.check(built)
    assert files is None and why.startswith("missing ")
    monkeypatch.setenv(native.PURE_ENV, "1")
    assert native.check(_manifest(tmp_path / "c")) == (None, f"{native.PURE_ENV} is set")


def test_a_stale_build_warns_and_installs_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(native.PURE_ENV, raising=False)
    before, saved = list(sys.meta_path), native.status()
    try:
        with caplog.at_level(logging.WARNING, logger=native.__name__):
            status = native.install(_manifest(tmp_path, sources=_stale("tradeloop.risk.pacing")))
    finally:
        native._status[0] = saved
    assert status == "source: tradeloop.risk.pacing changed since the build (make native)"
    assert sys.meta_path == before
    assert "out of date" in caplog.text


def test_a_build_arriving_after_the_modules_were_imported_is_not_mixed_in(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(native.PURE_ENV, raising=False)
    saved = native.status()
    importlib.import_module("tradeloop.risk.rules")
    try:
        status = native.install(_manifest(tmp_path))
    finally:
        native._status[0] = saved
    assert status.startswith("source: ") and "tradeloop.risk.rules" in status
    assert status.endswith("imported before the compiled build")


def test_make_rebuilds_when_any_compiled_source_changes() -> None:
    makefile = (native.PACKAGE_DIR.parents[1] / "Makefile").read_text(encoding="utf-8")
    block = makefile.split("NATIVE_SOURCES :=", 1)[1].split("\n\n", 1)[0]
    prefixed = list(re.finditer(r"addprefix ([\w/]+),([\w.\s\\]+)\)", block))
    assert prefixed
    listed = {found.group(1) + name for found in prefixed
              for name in found.group(2).replace("\\", " ").split()}
    for found in prefixed:
        block = block.replace(found.group(0), "")
    listed |= set(re.findall(r"(src/tradeloop/[\w/]+\.py)", block))
    root = native.PACKAGE_DIR.parents[1]
    expected = {str(native._source(name).relative_to(root)) for name in native.COMPILED}
    assert listed == expected | {"src/tradeloop/core/native.py"}


def test_without_a_c_compiler_the_build_stops_at_once_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no compiler on it
    with pytest.raises(RuntimeError, match="no C compiler"):
        native.build(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_new_build_replaces_the_old_one_whole(tmp_path: Path) -> None:
    old = _manifest(tmp_path / "_native")
    (old / "stale.so").write_bytes(b"old")
    staged = _manifest(tmp_path / "staged")
    native._swap_in(staged, old)
    assert not (old / "stale.so").exists()
    assert (old / native.MANIFEST).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_native", "staged"]


def test_frozen_settings_of_compiled_modules_pickle_whole() -> None:
    # optimisation workers receive the backtest's settings pickled; compiled frozen dataclasses
    # refuse the writes with which a dataclass is normally unpickled
    venue = SimulatedVenueConfig(
        venue="X", commission=Commission(percent=Decimal("0.1"), minimum=Decimal(1)),
        slippage=TickSlippage(2), conflict="path", volume_limit=0.25, day_timezone="Asia/Tokyo")
    for value in (venue, Instrument.fx_pair("USDJPY"), Instrument.equity("GOOG"), NoCommission(),
                  NoSlippage(), PercentSlippage(Decimal("0.05")), SpreadSlippage()):
        back = pickle.loads(pickle.dumps(value))
        assert type(back) is type(value) and back == value
    assert pickle.loads(pickle.dumps(venue)).slippage.ticks == 2
