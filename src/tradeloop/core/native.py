"""Compiled builds of the modules whose cost is the interpreter's own (the risk gate and what
it reads for every order: the cache, the portfolio's valuation, FX rates; and the rest of the
order path: the execution engine, the simulated venue, orders, instruments, positions,
accounts, the message bus and client order ids), and the import hook that uses them only while
they match their sources (docs/decisions/0011).

``make native`` (:func:`main` with ``build``) compiles :data:`COMPILED` with mypyc (it needs mypy
and a C compiler; ``make`` runs it) into ``tradeloop/_native``, with a manifest of the sources'
SHA-256 hashes. Importing ``tradeloop`` calls :func:`install`: when the manifest was built for
this interpreter and every source still has the hash it was compiled from, those modules load
from the compiled files; otherwise all of them load from source, and a changed source is
reported once, as a warning. The two builds behave the same: CI runs the whole suite on the
compiled one and the tests of these modules again on the source (``make pure``);
``TRADELOOP_PURE_PYTHON=1`` forces the source build.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import logging
import os
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

#: The modules compiled, all or none of them: compiled classes reach into each other.
COMPILED = (
    "tradeloop.model.cache",
    "tradeloop.portfolio.fx",
    "tradeloop.portfolio.portfolio",
    "tradeloop.risk.base",
    "tradeloop.risk.calendar_rules",
    "tradeloop.risk.engine",
    "tradeloop.risk.limits",
    "tradeloop.risk.loss",
    "tradeloop.risk.pacing",
    "tradeloop.risk.rules",
    "tradeloop.risk.trading_day",
    "tradeloop.execution.engine",
    "tradeloop.brokers.simulated.venue",
    "tradeloop.brokers.simulated.matching",
    "tradeloop.brokers.simulated.fees",
    "tradeloop.model.instrument",
    "tradeloop.model.position",
    "tradeloop.model.account",
    "tradeloop.model.orders",
    "tradeloop.core.bus",
    "tradeloop.core.identifiers",
    "tradeloop.strategy.desk",
)
#: Set to 1 to load every module from source.
PURE_ENV = "TRADELOOP_PURE_PYTHON"
PACKAGE_DIR = Path(__file__).resolve().parent.parent
BUILD_DIR = PACKAGE_DIR / "_native"
MANIFEST = "manifest.json"
_GROUP = "tradeloop_native"

_status = ["source: not installed yet"]


class _CompiledFinder(importlib.abc.MetaPathFinder):
    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        file = self.files.get(fullname)
        if file is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(file))
        return importlib.util.spec_from_file_location(fullname, file, loader=loader)


def _source(module: str) -> Path:
    return PACKAGE_DIR.parent.joinpath(*module.split(".")).with_suffix(".py")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _build_tag() -> str:
    return f"{sys.implementation.cache_tag} {importlib.machinery.EXTENSION_SUFFIXES[0]}"


def check(build_dir: Path = BUILD_DIR) -> tuple[dict[str, Path] | None, str]:
    """The compiled file of each module, or None and why the sources must be used.

    Parameters
    ----------
    build_dir : Path
        Where :func:`build` wrote the compiled files and the manifest.

    Returns
    -------
    files : dict of str to Path, or None
        Module name to compiled file (the shared runtime library included).
    reason : str
        "compiled", or why not.
    """
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        return None, f"{PURE_ENV} is set"
    manifest_path = build_dir / MANIFEST
    if not manifest_path.is_file():
        return None, "not built (make native)"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest["build"] != _build_tag():
            return None, f"built for {manifest['build']}, not this interpreter"
        files = {name: build_dir / file for name, file in manifest["files"].items()}
        changed = [name for name, digest in manifest["sources"].items()
                   if _digest(_source(name)) != digest]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return None, f"unreadable manifest {manifest_path}: {exc}"
    if set(manifest["sources"]) != set(COMPILED):
        return None, "built for another set of modules (make native)"
    if changed:
        return None, (f"{', '.join(changed)} changed since the build (make native)")
    missing = [str(f) for f in files.values() if not f.is_file()]
    if missing:
        return None, f"missing {', '.join(missing)}"
    return files, "compiled"


def install(build_dir: Path = BUILD_DIR) -> str:
    """Load :data:`COMPILED` from their compiled build when it is current; returns the status.

    A build whose sources changed is reported once with a warning; the modules then load from
    source. Call it before any of them is imported (``tradeloop/__init__.py`` does).
    """
    files, reason = check(build_dir)
    if files is None:
        if "changed since" in reason:
            log.warning("compiled modules are out of date, their Python source runs "
                        "(make native rebuilds them)",
                        extra={"fields": {"reason": reason}})
        _status[0] = f"source: {reason}"
    elif loaded := [name for name in COMPILED if name in sys.modules]:
        _status[0] = f"source: {', '.join(loaded)} imported before the compiled build"
    else:
        if not any(isinstance(f, _CompiledFinder) for f in sys.meta_path):
            sys.meta_path.insert(0, _CompiledFinder(files))
        _status[0] = "compiled"
    return _status[0]


def status() -> str:
    """How :data:`COMPILED` were loaded: "compiled", or "source: " and why."""
    return _status[0]


def is_compiled(module: ModuleType) -> bool:
    """Whether ``module`` was loaded from a compiled file."""
    spec = getattr(module, "__spec__", None)
    return spec is not None and isinstance(spec.loader, importlib.machinery.ExtensionFileLoader)


def build(build_dir: Path = BUILD_DIR, *, jobs: int = 2) -> list[str]:
    """Compile :data:`COMPILED` with mypyc into ``build_dir`` and write its manifest.

    Parameters
    ----------
    build_dir : Path
        Replaced as a whole, only once the new build is complete.
    jobs : int
        C compiler processes.

    Returns
    -------
    list of str
        The compiled modules.

    Raises
    ------
    RuntimeError
        When mypy or the C compiler fail; the previous build, if any, is left as it was.
    """
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        raise RuntimeError(f"no C compiler: {compiler} is not on the PATH")
    from mypyc.build import mypycify  # needs mypy; only at build time
    from setuptools import setup

    sources = {name: _source(name) for name in COMPILED}
    digests = {name: _digest(path) for name, path in sources.items()}
    src_root = PACKAGE_DIR.parent
    with tempfile.TemporaryDirectory(prefix="tradeloop-native-") as tmp:
        work = Path(tmp)
        config = work / "mypy.ini"  # not the project's: its notes on other modules stop mypyc
        config.write_text(f"[mypy]\nignore_missing_imports = True\ncache_dir = {work / 'cache'}\n",
                          encoding="utf-8")
        here = Path.cwd()
        os.chdir(src_root)  # mypy names the modules from their paths under src
        try:
            extensions = mypycify(
                [f"--config-file={config}",
                 *(str(path.relative_to(src_root)) for path in sources.values())],
                opt_level="3", group_name=_GROUP, target_dir=str(work / "c"),
            )
            setup(name="tradeloop-native", ext_modules=extensions, script_args=[
                "-q", "build_ext", "--build-lib", str(work / "lib"),
                "--build-temp", str(work / "tmp"), "--parallel", str(jobs)])
        except SystemExit as exc:  # setuptools and mypyc end with it on errors
            raise RuntimeError(f"compiling the kernel modules failed: {exc}") from None
        finally:
            os.chdir(here)
        lib = work / "lib"
        staged = work / "staged"
        files: dict[str, str] = {}
        for built in lib.rglob("*" + importlib.machinery.EXTENSION_SUFFIXES[0]):
            relative = built.relative_to(lib)
            target = staged / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(built, target)
            files[_module_name(relative)] = str(relative)
        absent = sorted(set(COMPILED) - set(files))
        if absent:
            raise RuntimeError(f"compiling the kernel modules built no module for {absent}")
        (staged / MANIFEST).write_text(json.dumps(
            {"build": _build_tag(), "sources": digests, "files": files}, indent=1),
            encoding="utf-8")
        _swap_in(staged, build_dir)
    return sorted(COMPILED)


def _swap_in(staged: Path, build_dir: Path) -> None:
    # a process importing meanwhile sees the old build or none, never half of one
    fresh = build_dir.with_name(build_dir.name + ".new")
    old = build_dir.with_name(build_dir.name + ".old")
    for leftover in (fresh, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    shutil.copytree(staged, fresh)
    if build_dir.exists():
        build_dir.rename(old)
    fresh.rename(build_dir)
    shutil.rmtree(old, ignore_errors=True)


def rebuild(value: Any) -> tuple[Any, tuple[Any, ...]]:
    """``__reduce__`` for a frozen dataclass in a compiled module: pickle it through its
    constructor. A compiled frozen dataclass refuses the attribute writes with which the
    dataclass' own unpickling restores it, and optimisation workers receive pickled configs.
    """
    return type(value), tuple(getattr(value, f.name) for f in dataclasses.fields(value) if f.init)


def _module_name(relative: Path) -> str:
    stem = relative.name.split(".", 1)[0]
    return ".".join((*relative.parts[:-1], stem))


def main(argv: Sequence[str]) -> int:
    """``build`` or ``status``, for ``make native``; returns the exit status."""
    args = list(argv)
    if args == ["build"]:
        try:
            built = build()
        except (ImportError, RuntimeError) as exc:
            sys.stderr.write(f"kernel modules not compiled, the Python source is used: {exc}\n")
            return 1
        sys.stdout.write(f"compiled {len(built)} modules into {BUILD_DIR}\n")
        return 0
    if args in ([], ["status"]):
        sys.stdout.write(f"compiled kernel modules: {check()[1]}\n")
        return 0
    sys.stderr.write("usage: main(['build']) or main(['status'])\n")
    return 2
