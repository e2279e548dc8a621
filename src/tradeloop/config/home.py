"""The tradeloop home directory: ``$TRADELOOP_HOME``, or ``~/.tradeloop`` when unset."""

from __future__ import annotations

import os
from pathlib import Path


def home_dir(create: bool = True) -> Path:
    """Where tradeloop keeps its data store, database, logs, state and run outputs.

    Parameters
    ----------
    create : bool
        Create the directory if it does not exist.
    """
    configured = os.environ.get("TRADELOOP_HOME", "").strip()
    path = Path(configured).expanduser() if configured else Path.home() / ".tradeloop"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path
