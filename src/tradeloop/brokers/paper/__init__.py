"""The paper venue: the simulated venue as a stateful broker, in process or served.

* :class:`PaperVenue` (:mod:`.venue`): one paper account with its own books and state file,
  matched like the simulated venue of backtests.
* :class:`InProcessPaperClient`: the execution client on a venue in the node's process (the
  default paper mode).
* :class:`PaperExecutionClient` and :class:`PaperMarketDataClient`: the clients of a venue
  served by :func:`tradeloop.brokers.paper.server.serve` (``tradeloop venue serve``), over
  HTTP and WebSocket; the protocol is in ``docs/paper-venue-protocol.md``.

:func:`create_execution_client` is the factory: in process when given a venue, else over the
network. The server lives in :mod:`.server` (imported on demand: it needs FastAPI and uvicorn).
"""

from __future__ import annotations

import httpx

from tradeloop.brokers.paper.books import SubmitResult
from tradeloop.brokers.paper.config import (
    MarketSourceConfig,
    PaperAccountConfig,
    PaperClientConfig,
    PaperServerConfig,
)
from tradeloop.brokers.paper.data import PaperMarketDataClient
from tradeloop.brokers.paper.errors import (
    PaperFatalError,
    PaperOutcomeUnknownError,
    PaperRetryableError,
)
from tradeloop.brokers.paper.execution import PaperExecutionClient
from tradeloop.brokers.paper.inprocess import InProcessPaperClient
from tradeloop.brokers.paper.venue import PaperVenue

#: The name this adapter is registered under.
NAME = "paper"


def create_execution_client(
    config: PaperClientConfig | None = None,
    *,
    venue: PaperVenue | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    since_seq: int | None = None,
) -> InProcessPaperClient | PaperExecutionClient:
    """The paper execution client: on ``venue`` in this process when given, else over HTTP.

    Parameters
    ----------
    config : PaperClientConfig, optional
        Where a served venue is (ignored in process but for ``owner``).
    venue : PaperVenue, optional
        A venue in this process: the default paper mode.
    transport : httpx.AsyncBaseTransport, optional
        The HTTP transport of the network client.
    since_seq : int, optional
        Deliver the events after this seq on connect.
    """
    if venue is not None:
        owner = config.owner if config is not None else ""
        return InProcessPaperClient(venue, owner=owner, since_seq=since_seq)
    return PaperExecutionClient(config, transport=transport, since_seq=since_seq)


__all__ = [
    "NAME",
    "InProcessPaperClient",
    "MarketSourceConfig",
    "PaperAccountConfig",
    "PaperClientConfig",
    "PaperExecutionClient",
    "PaperFatalError",
    "PaperMarketDataClient",
    "PaperOutcomeUnknownError",
    "PaperRetryableError",
    "PaperServerConfig",
    "PaperVenue",
    "SubmitResult",
    "create_execution_client",
]
