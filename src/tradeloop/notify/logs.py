"""A logging handler that turns ERROR (and CRITICAL) log records into alerts.

Attach it to the ``tradeloop`` logger once the router runs::

    handler = AlertLogHandler(router)
    logging.getLogger("tradeloop").addHandler(handler)

Records from the notification code itself, python-telegram-bot and httpx are ignored, so a
channel that fails (and logs it) cannot raise an alert about itself, which would fail again.
Secrets are masked in the alert as they are in log lines.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from tradeloop.core.logging import redact_text
from tradeloop.core.time import NANOS_PER_SECOND
from tradeloop.notify.base import Alert, AlertKind, Severity
from tradeloop.notify.router import NotificationRouter

#: Loggers (and their children) whose records never become alerts.
IGNORED_LOGGERS = ("tradeloop.notify", "telegram", "httpx", "httpcore")

_MAX_TITLE = 120
_MAX_TEXT = 1500


def _under(name: str, prefixes: Sequence[str]) -> bool:
    return any(name == p or name.startswith(f"{p}.") for p in prefixes)


class AlertLogHandler(logging.Handler):
    """Publishes an :class:`~tradeloop.notify.base.Alert` of kind ``error`` for each record
    at or above ``level``.

    Parameters
    ----------
    router : NotificationRouter
        Where the alerts go (through ``publish_threadsafe``: records may come from any thread).
    level : int, default logging.ERROR
        The lowest level that raises an alert; CRITICAL records make CRITICAL alerts, the
        others ERROR alerts.
    ignore : sequence of str, default IGNORED_LOGGERS
        Logger names whose records (and their children's) are skipped.
    """

    def __init__(self, router: NotificationRouter, level: int = logging.ERROR, *,
                 ignore: Sequence[str] = IGNORED_LOGGERS) -> None:
        super().__init__(level)
        self._router = router
        self._ignore = tuple(ignore)

    def emit(self, record: logging.LogRecord) -> None:
        """Publish the record as an alert (unless it comes from an ignored logger)."""
        if _under(record.name, self._ignore):
            return
        try:
            alert = self._alert(record)
        except Exception:
            self.handleError(record)
            return
        self._router.publish_threadsafe(alert)

    @staticmethod
    def _alert(record: logging.LogRecord) -> Alert:
        message = redact_text(record.getMessage())
        first_line = message.splitlines()[0] if message else record.levelname
        text = message
        fields = {"logger": record.name, "level": record.levelname}
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            detail = redact_text(f"{type(error).__name__}: {error}")
            text = f"{text}\n{detail}" if text else detail
            fields["error"] = type(error).__name__
        if len(first_line) > _MAX_TITLE:
            first_line = first_line[:_MAX_TITLE - 1] + "…"
        if len(text) > _MAX_TEXT:
            text = text[:_MAX_TEXT - 1] + "…"
        severity = Severity.CRITICAL if record.levelno >= logging.CRITICAL else Severity.ERROR
        return Alert(kind=AlertKind.ERROR, severity=severity,
                     title=f"{record.levelname.capitalize()}: {first_line}", text=text,
                     fields=fields, dedupe_key=f"{AlertKind.ERROR}|{record.name}|{message}",
                     created_ns=int(record.created * NANOS_PER_SECOND))


__all__ = ["IGNORED_LOGGERS", "AlertLogHandler"]
