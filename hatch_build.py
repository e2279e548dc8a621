"""Wheel build hook: puts the compiled modules (docs/decisions/0011) into the wheel.

When mypy, setuptools and a C compiler are in the build environment (``make wheel`` builds
from the project's own environment, without isolation), the modules of
``tradeloop.core.native.COMPILED`` are compiled and the wheel carries them under
``tradeloop/_native`` with their manifest, tagged for this platform and interpreter.
Otherwise the wheel is pure Python, and says why. Editable installs are left alone: ``make``
compiles in place.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class NativeBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        if os.environ.get("TRADELOOP_PURE_WHEEL", "") not in ("", "0"):
            self.app.display_info("tradeloop: pure-Python wheel (TRADELOOP_PURE_WHEEL is set)")
            return
        sys.path.insert(0, str(Path(self.root) / "src"))
        try:
            from tradeloop.core import native
        finally:
            sys.path.pop(0)
        self._scratch = Path(tempfile.mkdtemp(prefix="tradeloop-wheel-native-"))
        out = self._scratch / "_native"
        try:
            native.build(out)
        except (ImportError, RuntimeError) as exc:
            self.app.display_warning(f"tradeloop: pure-Python wheel, the kernel modules were not "
                                     f"compiled: {exc}")
            return
        for file in out.rglob("*"):
            if file.is_file():
                target = Path("tradeloop", "_native", file.relative_to(out))
                build_data["force_include"][str(file)] = target.as_posix()
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        self.app.display_info("tradeloop: the wheel carries the compiled kernel modules")

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        scratch = getattr(self, "_scratch", None)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
