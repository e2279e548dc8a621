"""Errors of the audit database."""

from __future__ import annotations

from tradeloop.core.errors import DataError, TradeloopError


class PersistenceError(TradeloopError):
    """A read or write of the audit database failed (locked, disconnected, closed, refused).

    On the order path this is fatal for the order at hand: an intent that could not be
    committed is not sent (fail closed).
    """


class MissingIntentError(DataError):
    """An order event arrived for an order whose intent was never recorded."""
