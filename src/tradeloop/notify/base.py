"""The notifier port: what an alert is, and the one method a channel (Telegram, a webhook,
Slack, Discord) implements.

A channel's ``send`` either delivers the alert or raises: :class:`RetryLater` when trying
again may work (the service is down, a rate limit with the delay it asked for), anything else
when it will not (a bad token, a chat that does not exist). The router decides what to retry;
channels never sleep or loop themselves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol


class Severity(IntEnum):
    """How much an alert matters; channels take alerts at or above their minimum."""

    INFO = 20
    WARNING = 30
    ERROR = 40
    CRITICAL = 50


class AlertKind:
    """The kinds of alerts, for routing (``[[notify.channels]] events = [...]``)."""

    FILL = "fill"
    TRADE_CLOSED = "trade_closed"
    ORDER_REJECTED = "order_rejected"
    ORDER_DENIED = "order_denied"
    RISK_STATE = "risk_state"
    KILL_SWITCH = "kill_switch"
    ERROR = "error"
    LIFECYCLE = "lifecycle"
    DAILY_SUMMARY = "daily_summary"
    TEST = "test"

    ALL = (FILL, TRADE_CLOSED, ORDER_REJECTED, ORDER_DENIED, RISK_STATE, KILL_SWITCH, ERROR,
           LIFECYCLE, DAILY_SUMMARY, TEST)


@dataclass(frozen=True)
class Alert:
    """One message for people.

    Attributes
    ----------
    kind : str
        One of :class:`AlertKind`.
    severity : Severity
    title : str
        One short line ("Filled: BUY 1000 EURUSD @ 1.0998").
    text : str
        Plain text, a few lines with the key numbers.
    fields : dict of str to str
        The key numbers by name, for channels that lay them out (Slack, Discord, HTML).
    image : bytes, optional
        A PNG chart to attach.
    dedupe_key : str
        Alerts with the same key within the router's window are sent once; default the
        kind, title and text.
    created_ns : int
        When it was raised (wall clock); the router drops alerts older than a channel's
        maximum age instead of sending stale news.
    """

    kind: str
    severity: Severity
    title: str
    text: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    image: bytes | None = None
    dedupe_key: str = ""
    created_ns: int = field(default_factory=time.time_ns)

    @property
    def key(self) -> str:
        """The de-duplication key."""
        return self.dedupe_key or f"{self.kind}|{self.title}|{self.text}"


class Notifier(Protocol):
    """A channel alerts go out through."""

    name: str

    async def send(self, alert: Alert) -> None:
        """Deliver ``alert``, or raise (:class:`RetryLater` when a retry may work)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class NotifyError(Exception):
    """A channel could not deliver an alert and retrying will not help. The message never
    holds a token or a secret."""


class RetryLater(NotifyError):
    """A channel could not deliver an alert now; ``after_s`` is how long the service asked us
    to wait (None: the router's backoff decides)."""

    def __init__(self, reason: str, after_s: float | None = None) -> None:
        super().__init__(reason)
        self.after_s = after_s
