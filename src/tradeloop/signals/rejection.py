"""Why an inbound alert was refused: one exception carrying an HTTP status, a machine code and a
human reason that names the field at fault and never repeats the passphrase or the body."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

RejectionCode = Literal[
    "body_too_large", "ip_not_allowed", "malformed", "bad_passphrase", "invalid", "stale",
    "from_future", "duplicate",
]

#: The HTTP status of each rejection code, in the order the checks run.
REJECTION_STATUS: Final[Mapping[str, int]] = MappingProxyType({
    "body_too_large": 413,
    "ip_not_allowed": 403,
    "malformed": 400,
    "bad_passphrase": 401,
    "invalid": 422,
    "stale": 422,
    "from_future": 422,
    "duplicate": 409,
})

_SHOWN_ID_CHARS = 80


class AlertRejected(Exception):
    """An inbound alert was refused; the webhook answers ``status`` with ``code`` and ``reason``.

    Parameters
    ----------
    code : str
        One of the keys of :data:`REJECTION_STATUS`.
    reason : str
        One line for a human: what is wrong and with which field. Never holds the passphrase or
        the body.

    Attributes
    ----------
    status : int
        The HTTP status to answer with (413, 403, 400, 401, 422 or 409).
    code : str
        The machine-readable code.
    reason : str
        The human-readable reason (also ``str(exc)``).
    """

    def __init__(self, code: RejectionCode, reason: str) -> None:
        if code not in REJECTION_STATUS:
            raise ValueError(f"unknown rejection code {code!r}")
        super().__init__(reason)
        self.code: RejectionCode = code
        self.status: int = REJECTION_STATUS[code]
        self.reason: str = reason

    def __repr__(self) -> str:
        return f"AlertRejected({self.code!r}, {self.reason!r})"


def duplicate_alert(alert_id: str) -> AlertRejected:
    """The rejection of an alert whose id was received before (409, ``"duplicate"``).

    The webhook raises it when storing the signal finds its de-duplication key taken.

    Parameters
    ----------
    alert_id : str
        The alert's id (``TradingViewAlert.alert_id``).

    Returns
    -------
    AlertRejected
        To be raised by the caller.
    """
    shown = alert_id if len(alert_id) <= _SHOWN_ID_CHARS else alert_id[:_SHOWN_ID_CHARS] + "..."
    return AlertRejected("duplicate", f"alert id {shown!r} was already received: ignored")


__all__ = ["REJECTION_STATUS", "AlertRejected", "RejectionCode", "duplicate_alert"]
