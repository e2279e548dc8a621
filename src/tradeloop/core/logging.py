"""Logging setup: human-readable lines on a terminal, one JSON object per line otherwise.

Use ``get_logger(__name__)`` and pass structured fields with ``extra={"fields": {...}}``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None)))


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    extra = {k: v for k, v in vars(record).items() if k not in _RESERVED and k != "message"}
    nested = extra.pop("fields", None)
    if isinstance(nested, dict):
        extra.update(nested)
    return extra


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON line."""
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        payload.update(_fields(record))
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class TextFormatter(logging.Formatter):
    """Formats a record as ``LEVEL logger: message key=value ...``."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one readable line."""
        extra = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        line = f"{record.levelname:<7} {record.name}: {record.getMessage()}"
        return f"{line} {extra}" if extra else line


def setup_logging(
    level: str = "INFO", json_lines: bool | None = None, log_file: Path | None = None,
    file_level: str = "INFO",
) -> None:
    """Configure the ``tradeloop`` logger.

    Parameters
    ----------
    level : str
        Minimum level written to stderr.
    json_lines : bool, optional
        Force JSON (True) or text (False) on stderr; by default JSON unless it is a terminal.
    log_file : Path, optional
        Also append JSON lines, tracebacks included, to this file.
    file_level : str
        Minimum level written to ``log_file``.
    """
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    console.setLevel(level.upper())
    handlers: list[logging.Handler] = [console]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setFormatter(JsonFormatter())
        to_file.setLevel(file_level.upper())
        handlers.append(to_file)
    root = logging.getLogger("tradeloop")
    for old in root.handlers:
        old.close()
    root.handlers[:] = handlers
    root.setLevel(min(h.level for h in handlers))
    root.propagate = False


def get_logger(name: str) -> logging.Logger:
    """Return a logger under the ``tradeloop`` hierarchy."""
    return logging.getLogger(name if name.startswith("tradeloop") else f"tradeloop.{name}")
