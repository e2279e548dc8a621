"""The error tree.

Business outcomes (an order denied by risk, rejected by a venue) are events, not exceptions.
Exceptions are for failures, and their class decides what the caller does: retry, stop, or look
the order up before doing anything else.
"""

from __future__ import annotations


class TradeloopError(Exception):
    """Base of every error tradeloop raises on purpose.

    Attributes
    ----------
    retryable : bool
        True when repeating the same call may succeed.
    """

    retryable: bool = False


class UserError(TradeloopError):
    """A mistake in the user's input: shown as one clear line, never as a traceback."""


class ConfigError(UserError):
    """A setting, parameter or command-line option is wrong."""


class DataError(UserError):
    """Input data is malformed: the message names the file, row and reason."""


class StrategyError(TradeloopError):
    """User strategy code raised; the strategy was stopped."""


class InvalidStateTransition(TradeloopError):
    """An order was asked to move to a state its state machine forbids."""


class VenueError(TradeloopError):
    """A venue or broker call failed."""


class RetryableVenueError(VenueError):
    """A transient failure (rate limit, busy, connection refused before sending): safe to retry."""

    retryable = True


class FatalVenueError(VenueError):
    """A failure that will not go away by retrying (bad credentials, unknown symbol)."""


class OutcomeUnknownError(VenueError):
    """The request may or may not have reached the venue (timeout, disconnect after sending).

    Never resend blindly: look the order up by its client order id first.
    """
