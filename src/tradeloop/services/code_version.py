"""Which code ran: the tradeloop version, plus the git commit when run from a checkout."""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import tradeloop

logger = logging.getLogger(__name__)

_GIT_TIMEOUT_S = 5.0
_SHORT = 12


@dataclass(frozen=True)
class CodeVersion:
    """The tradeloop version that ran a run, and the git commit behind it when known.

    Attributes
    ----------
    version : str
        The package version (``tradeloop.__version__``).
    commit : str or None
        The full commit hash when tradeloop runs from a git checkout, else None.
    dirty : bool
        True when that checkout had uncommitted changes to tracked files (as
        ``git describe --dirty`` counts them).
    """

    version: str
    commit: str | None = None
    dirty: bool = False

    @property
    def label(self) -> str:
        """``0.1.0``, ``0.1.0+g1a2b3c4d5e6f`` or ``0.1.0+g1a2b3c4d5e6f+dirty``."""
        if self.commit is None:
            return self.version
        return f"{self.version}+g{self.commit[:_SHORT]}" + ("+dirty" if self.dirty else "")


def detect_code_version(package_dir: Path | None = None, git: str | None = None) -> CodeVersion:
    """Find the version of the code in ``package_dir``.

    Never fails: without git, outside a checkout, or when git misbehaves, the answer is the
    bare package version.

    Parameters
    ----------
    package_dir : Path, optional
        The directory of the ``tradeloop`` package; the installed one by default.
    git : str, optional
        The git executable; the one on ``PATH`` by default.

    Returns
    -------
    CodeVersion
    """
    plain = CodeVersion(tradeloop.__version__)
    root = package_dir or Path(tradeloop.__file__).resolve().parent
    executable = git or shutil.which("git")
    if executable is None:
        return plain
    # the package's own file must be tracked: a site-packages copy inside some other
    # checkout (a virtualenv in a project) is not that project's code
    if _git(executable, root, "ls-files", "--error-unmatch", "--", "__init__.py") is None:
        return plain
    commit = _git(executable, root, "rev-parse", "--verify", "HEAD")
    if not commit:
        return plain
    status = _git(executable, root, "--no-optional-locks", "status", "--porcelain",
                  "--untracked-files=no")
    return CodeVersion(plain.version, commit.strip(), bool(status and status.strip()))


@cache
def code_version() -> CodeVersion:
    """The version of the running tradeloop, found once per process (the code in memory does
    not change when files are edited afterwards)."""
    return detect_code_version()


def _git(executable: str, root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            [executable, "-C", str(root), *args], capture_output=True, text=True,
            timeout=_GIT_TIMEOUT_S, check=False, stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        logger.debug("git is not usable", extra={"fields": {"error": str(exc)}})
        return None
    if done.returncode != 0:
        return None
    return done.stdout


__all__ = ["CodeVersion", "code_version", "detect_code_version"]
