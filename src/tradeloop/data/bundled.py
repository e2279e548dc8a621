"""Sample data files shipped with tradeloop, found through ``importlib.resources``.

``GOOG``: 2148 daily bars of Alphabet (Google) shares, 2004-08-19 to 2013-03-01.
``EURUSD``: 5000 hourly bars of the euro against the US dollar, 2017-04-19 to 2018-02-07.
Both are CSV files with ``Date,Open,High,Low,Close,Volume`` columns and UTC timestamps.
"""

from __future__ import annotations

import atexit
from contextlib import ExitStack
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from tradeloop.core.errors import ConfigError

_PACKAGE = "tradeloop.data"
_FOLDER = "samples"
_SUFFIX = ".csv"
_extracted = ExitStack()
atexit.register(_extracted.close)
_paths: dict[str, Path] = {}


def _folder() -> Traversable:
    return resources.files(_PACKAGE).joinpath(_FOLDER)


def bundled_names() -> list[str]:
    """Return the names of the bundled sample files, sorted.

    Returns
    -------
    list of str
        Upper-case names such as ``"EURUSD"`` and ``"GOOG"``.
    """
    return sorted(
        entry.name[: -len(_SUFFIX)].upper()
        for entry in _folder().iterdir()
        if entry.is_file() and entry.name.lower().endswith(_SUFFIX)
    )


def bundled_path(name: str) -> Path:
    """Return the path of a bundled sample file.

    Parameters
    ----------
    name : str
        A name from :func:`bundled_names`, any case, with or without ``.csv``.

    Returns
    -------
    Path
        A real file; when tradeloop is imported from a zip archive the file is extracted to a
        temporary location that lasts until the interpreter exits.

    Raises
    ------
    ConfigError
        For an unknown name; the message lists the available names.

    Examples
    --------
    >>> bundled_path("goog").name
    'GOOG.csv'
    """
    key = name.strip().upper()
    if key.endswith(_SUFFIX.upper()):
        key = key[: -len(_SUFFIX)]
    if key in _paths:
        return _paths[key]
    names = bundled_names()
    if key not in names:
        raise ConfigError(
            f"no bundled data named {name!r}; available: {', '.join(names)}"
        )
    entry = next(
        e for e in _folder().iterdir() if e.name.lower() == (key + _SUFFIX).lower()
    )
    path = entry if isinstance(entry, Path) else _extracted.enter_context(resources.as_file(entry))
    _paths[key] = path
    return path
