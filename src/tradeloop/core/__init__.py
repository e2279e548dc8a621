"""Clocks, the message bus, identifiers, the error tree and logging."""

from typing import TYPE_CHECKING, Any

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
from tradeloop.core.exports import import_on_first_use

if TYPE_CHECKING:
    from tradeloop.core.bus import MessageBus
    from tradeloop.core.identifiers import ClientOrderIdGenerator, client_order_id

# imported on first use: they are among the compiled modules (tradeloop.core.native), and the
# package's own import must not load them before the import hook is installed
_LAZY = {
    "MessageBus": "tradeloop.core.bus",
    "ClientOrderIdGenerator": "tradeloop.core.identifiers",
    "client_order_id": "tradeloop.core.identifiers",
}


def __getattr__(name: str) -> Any:
    return import_on_first_use(__name__, _LAZY, globals(), name)


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
