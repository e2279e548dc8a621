"""Structured logging: JSON lines with run context, rotating files, and secrets redacted.

Two ways to log, one output. Plain standard-library loggers keep working::

    log = get_logger(__name__)
    log.info("order sent", extra={"fields": {"client_order_id": "O-1", "qty": "100"}})

and structlog loggers take the fields as keywords::

    log = get_struct_logger(__name__)
    log.info("order sent", client_order_id="O-1", qty="100")

Both reach the standard library's ``tradeloop`` logger, whose handlers (see
:func:`setup_logging`) write one JSON object per line::

    {"ts": "2024-01-02T09:00:00.123456+00:00", "level": "info", "logger": "tradeloop.engine",
     "msg": "order sent", "run_id": "R-7", "strategy": "sma-eurusd", "client_order_id": "O-1",
     "qty": "100"}

or, on a terminal, ``INFO    tradeloop.engine: order sent run_id=R-7 ...``.

Context. Values bound with :func:`bind_context` or :func:`log_context` (usually ``run_id``,
``strategy``, ``symbol`` and ``client_order_id``) join every line logged in the same context.
They live in context variables, so an asyncio task sees what was bound when it was created, and
what it binds stays in the task.

Redaction. Every line passes through :func:`redact`: values of keys named like a secret
(``password``, ``token``, ``secret``, ``api_key``, ``authorization``...; not keys ending in
``_env``, which name an environment variable), ``SecretStr`` values, passwords in URLs
(``scheme://user:pass@host`` becomes ``scheme://user:***@host``), ``key=value`` pairs with such
keys inside text, and every value given to :func:`register_secret` are replaced by ``***``, in
fields, messages and exception text alike.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import math
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from structlog.contextvars import (
    bind_contextvars,
    bound_contextvars,
    clear_contextvars,
    get_contextvars,
    unbind_contextvars,
)
from structlog.typing import EventDict, WrappedLogger

#: What replaces a secret in logs.
MASK = "***"
#: Context keys the runtime binds when it knows them.
CONTEXT_KEYS = ("run_id", "strategy", "symbol", "client_order_id")

_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None)))
_CORE_KEYS = ("ts", "level", "logger", "msg")
_SECRET_WORDS = (
    "password", "passwd", "passphrase", "secret", "token", "api_key", "apikey",
    "authorization", "credential", "private_key",
)
_SECRET_NAMES = frozenset({"pwd", "pass", "auth"})
_SECRET_WORD_PATTERN = r"(?:password|passwd|passphrase|secret|token|api[_-]?key|authorization)"
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/?#@\s]*):(?P<password>[^@/?#\s]+)@"
)
_KEY_VALUE = re.compile(
    r"(?P<key>\b[\w-]{0,40}" + _SECRET_WORD_PATTERN + r"[\w-]{0,40})"
    r"(?P<sep>[\"']?\s*[=:]\s*[\"']?)"
    r"(?P<scheme>(?:bearer|basic|token)\s+)?"
    r"(?P<value>[^\s\"',;&)}\]]+)",
    re.IGNORECASE,
)
_MAX_DEPTH = 6



class _SecretRegistry:
    def __init__(self) -> None:
        self.values: tuple[str, ...] = ()  # longest first, so a secret inside another goes last
        self.lock = threading.Lock()


_registry = _SecretRegistry()


# -- redaction ----------------------------------------------------------------------------------


def is_secret_key(key: str) -> bool:
    """Tell whether a field or setting named ``key`` holds a secret.

    Parameters
    ----------
    key : str
        A field name such as ``"password"``, ``"db_password"``, ``"X-Api-Key"`` or
        ``"password_env"``.

    Returns
    -------
    bool
        True for names containing password, passwd, passphrase, secret, token, api_key,
        apikey, authorization, credential or private_key (case and ``-``/``_`` ignored) and
        for ``pwd``, ``pass`` and ``auth``; False for names ending in ``_env``, which hold the
        name of an environment variable rather than its value.
    """
    name = key.strip().lower().replace("-", "_")
    if name.endswith("_env"):
        return False
    return name in _SECRET_NAMES or any(word in name for word in _SECRET_WORDS)


def register_secret(value: object) -> None:
    """Mask ``value`` wherever it appears in a log line from now on.

    Parameters
    ----------
    value : str or SecretStr-like
        The secret itself, or an object with ``get_secret_value()`` (pydantic's
        ``SecretStr``). Empty values are ignored.
    """
    getter = getattr(value, "get_secret_value", None)
    text = str(getter() if callable(getter) else value)
    if not text:
        return
    with _registry.lock:
        if text not in _registry.values:
            _registry.values = tuple(sorted({*_registry.values, text}, key=len, reverse=True))


class SecretMask(logging.Filter):
    """Masks registered secrets (:func:`register_secret`) in the message and the exception
    text of each record of the loggers it is attached to, whatever handler then writes them:
    for libraries that log URLs holding tokens (httpx, python-telegram-bot)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's business
            return True
        masked = redact_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact_text(text)
        return True


_SECRET_MASK = SecretMask()


def mask_secrets_in(*prefixes: str) -> None:
    """Attach the :class:`SecretMask` to the loggers named ``prefixes`` and every logger below
    them that exists now."""
    for name in prefixes:
        logging.getLogger(name)
    for name, item in list(logging.root.manager.loggerDict.items()):
        if (isinstance(item, logging.Logger) and name.startswith(prefixes)
                and _SECRET_MASK not in item.filters):
            item.addFilter(_SECRET_MASK)


def clear_registered_secrets() -> None:
    """Forget every value given to :func:`register_secret` (for tests and restarts)."""
    with _registry.lock:
        _registry.values = ()


def _mask_key_value(match: re.Match[str]) -> str:
    if match.group("key").lower().endswith("_env") or match.group("value") == MASK:
        return match.group(0)
    return f"{match.group('key')}{match.group('sep')}{match.group('scheme') or ''}{MASK}"


def redact_text(text: str) -> str:
    """Mask the secrets in a piece of text.

    Parameters
    ----------
    text : str

    Returns
    -------
    str
        ``text`` with registered secrets, URL passwords and the values of secret-named
        ``key=value`` / ``key: value`` pairs replaced by ``***``.

    Examples
    --------
    >>> redact_text("connect postgresql+psycopg://bot:s3cret@db:5432/tl")
    'connect postgresql+psycopg://bot:***@db:5432/tl'
    >>> redact_text("GET /orders?api_key=abc123&page=2")
    'GET /orders?api_key=***&page=2'
    """
    for secret in _registry.values:
        if secret in text:
            text = text.replace(secret, MASK)
    if "://" in text:
        text = _URL_PASSWORD.sub(rf"\g<head>:{MASK}@", text)
    return _KEY_VALUE.sub(_mask_key_value, text)


def _is_secret_value(value: object) -> bool:
    return callable(getattr(value, "get_secret_value", None))


def redact(value: Any, key: str | None = None, _depth: int = 0) -> Any:
    """Return a JSON-ready copy of ``value`` with every secret masked.

    Parameters
    ----------
    value : object
        A field value: mappings and sequences are walked, strings are passed through
        :func:`redact_text`, ``SecretStr``-like objects become ``***``, numbers, booleans and
        None stay, anything else becomes its (redacted) text; NaN and infinities become text
        so that the line stays valid JSON.
    key : str, optional
        The name the value is logged under: a secret-named key masks the whole value (unless
        it is None or empty).

    Returns
    -------
    object
    """
    empty = value is None or (isinstance(value, str) and not value)
    if key is not None and not empty and is_secret_key(key):
        return MASK
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return redact_text(value)
    if _is_secret_value(value):
        return MASK
    if _depth >= _MAX_DEPTH:
        return redact_text(str(value))
    if isinstance(value, Mapping):
        return {str(k): redact(v, str(k), _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v, None, _depth + 1) for v in value]
    return redact_text(str(value))


# -- context ------------------------------------------------------------------------------------


def bind_context(**values: Any) -> None:
    """Add ``values`` (such as ``run_id=``, ``strategy=``) to every line of this context."""
    bind_contextvars(**values)


def unbind_context(*keys: str) -> None:
    """Remove ``keys`` from the logging context."""
    unbind_contextvars(*keys)


def clear_context() -> None:
    """Remove everything bound with :func:`bind_context`."""
    clear_contextvars()


@contextmanager
def log_context(**values: Any) -> Iterator[None]:
    """Bind ``values`` for the duration of a ``with`` block, then restore what was there.

    Examples
    --------
    >>> with log_context(run_id="R-1", strategy="sma"):
    ...     current_context()["run_id"]
    'R-1'
    """
    with bound_contextvars(**values):
        yield


def current_context() -> dict[str, Any]:
    """Return a copy of what is bound in this context."""
    return dict(get_contextvars())


# -- formatters ---------------------------------------------------------------------------------


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    extra = {k: v for k, v in vars(record).items() if k not in _RESERVED and k != "message"}
    nested = extra.pop("fields", None)
    if isinstance(nested, dict):
        extra.update(nested)
    return extra


class _StructuredFormatter(logging.Formatter):
    def event(self, record: logging.LogRecord) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact_text(record.getMessage()),
        }
        extra = {**get_contextvars(), **_fields(record)}
        for key, value in extra.items():
            payload[f"{key}_" if key in _CORE_KEYS else key] = redact(value, key)
        if record.exc_info:
            payload["exc"] = redact_text(self.formatException(record.exc_info))
        elif record.exc_text:
            payload["exc"] = redact_text(record.exc_text)
        if record.stack_info:
            payload["stack"] = redact_text(self.formatStack(record.stack_info))
        return payload


class JsonFormatter(_StructuredFormatter):
    """Formats a record as one JSON object per line, context included and secrets masked.

    The keys are ``ts`` (ISO 8601, UTC), ``level``, ``logger``, ``msg``, then the bound
    context, then the record's fields (``extra={"fields": {...}}``, other ``extra`` keys, or a
    structlog logger's keywords) as top-level keys, and ``exc`` with the traceback, if any.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON line."""
        return json.dumps(self.event(record), default=str, ensure_ascii=False)


class TextFormatter(_StructuredFormatter):
    """Formats a record as ``LEVEL logger: message key=value ...``, secrets masked.

    Tracebacks are left out: they go to the JSON log file.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one readable line."""
        payload = self.event(record)
        payload.pop("exc", None)
        payload.pop("stack", None)
        head = f"{record.levelname:<7} {payload.pop('logger')}: {payload.pop('msg')}"
        del payload["ts"], payload["level"]
        extra = " ".join(f"{k}={v}" for k, v in payload.items())
        return f"{head} {extra}" if extra else head


# -- loggers ------------------------------------------------------------------------------------


def _to_stdlib(
    logger: WrappedLogger, method_name: str, event_dict: EventDict
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    event = event_dict.pop("event", "")
    args = tuple(event_dict.pop("positional_args", ()))
    kwargs: dict[str, Any] = {
        key: event_dict.pop(key) for key in ("exc_info", "stack_info") if key in event_dict
    }
    kwargs["extra"] = {"fields": event_dict}
    return (str(event), *args), kwargs


_PROCESSORS = (structlog.stdlib.filter_by_level, _to_stdlib)


def get_logger(name: str) -> logging.Logger:
    """Return a standard-library logger under the ``tradeloop`` hierarchy."""
    return logging.getLogger(name if name.startswith("tradeloop") else f"tradeloop.{name}")


def get_struct_logger(name: str, **bound: Any) -> structlog.stdlib.BoundLogger:
    """Return a structlog logger that writes through :func:`get_logger` ``(name)``.

    Parameters
    ----------
    name : str
        Usually ``__name__``; put under ``tradeloop.`` when it is not already.
    **bound
        Fields carried by every line of this logger (``log.bind()`` adds more).

    Examples
    --------
    >>> log = get_struct_logger("tradeloop.feeds", source="replay")
    >>> log.info("feed started", items=120)
    """
    return structlog.stdlib.BoundLogger(get_logger(name), list(_PROCESSORS), dict(bound))


def setup_logging(
    level: str = "INFO", json_lines: bool | None = None, log_file: Path | None = None,
    file_level: str = "INFO", rotate_mb: float = 50.0, keep: int = 10,
) -> None:
    """Configure the ``tradeloop`` logger (replacing what an earlier call set up), and route
    ``structlog.get_logger()`` through it.

    Parameters
    ----------
    level : str
        Minimum level written to stderr.
    json_lines : bool, optional
        Force JSON (True) or text (False) on stderr; by default JSON unless it is a terminal.
    log_file : Path, optional
        Also append JSON lines, tracebacks included, to this file (its directory is created).
    file_level : str
        Minimum level written to ``log_file``.
    rotate_mb : float, default 50
        Start a new file once ``log_file`` reaches this many mebibytes; 0 never rotates.
    keep : int, default 10
        Rotated files kept (``run.log.1`` is the newest); must be at least 1 when rotating.

    Raises
    ------
    ValueError
        A negative ``rotate_mb``, or ``keep`` below 1 while rotating.
    """
    if rotate_mb < 0 or (rotate_mb > 0 and keep < 1):
        raise ValueError(f"log rotation needs rotate_mb >= 0 and keep >= 1, got "
                         f"rotate_mb={rotate_mb} and keep={keep}")
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    console.setLevel(level.upper())
    handlers: list[logging.Handler] = [console]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        to_file: logging.FileHandler
        if rotate_mb > 0:
            to_file = logging.handlers.RotatingFileHandler(
                log_file, maxBytes=max(1, int(rotate_mb * 1024 * 1024)), backupCount=keep,
                encoding="utf-8",
            )
        else:
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
    structlog.configure(  # so that structlog.get_logger() writes through the same handlers
        processors=list(_PROCESSORS), logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger, cache_logger_on_first_use=False,
    )


__all__ = [
    "CONTEXT_KEYS",
    "MASK",
    "JsonFormatter",
    "TextFormatter",
    "bind_context",
    "clear_context",
    "clear_registered_secrets",
    "current_context",
    "get_logger",
    "get_struct_logger",
    "is_secret_key",
    "log_context",
    "redact",
    "redact_text",
    "register_secret",
    "setup_logging",
    "unbind_context",
]
