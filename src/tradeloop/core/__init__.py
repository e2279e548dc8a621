"""Clocks, the message bus, identifiers, the error tree and logging."""

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import Clock, LiveClock, TestClock
from tradeloop.core.errors import (
    ConfigError,
    DataError,
    FatalVenueError,
    InvalidStateTransition,
    OutcomeUnknownError,
    RetryableVenueError,
    StrategyError,
    TradeloopError,
    UserError,
    VenueError,
)
from tradeloop.core.identifiers import ClientOrderIdGenerator, client_order_id

__all__ = [
    "ClientOrderIdGenerator",
    "Clock",
    "ConfigError",
    "DataError",
    "FatalVenueError",
    "InvalidStateTransition",
    "LiveClock",
    "MessageBus",
    "OutcomeUnknownError",
    "RetryableVenueError",
    "StrategyError",
    "TestClock",
    "TradeloopError",
    "UserError",
    "VenueError",
    "client_order_id",
]
