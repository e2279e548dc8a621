"""A stand-in for IB Gateway/TWS at ib_async's Client layer, for tests only.

``StandinClient`` replaces ib_async's socket ``Client``; ib_async's own ``IB`` and ``Wrapper``
run unmodified on top of it. Every client talks to one process-wide :data:`GATEWAY`, whose
orders, executions and positions outlive connections (an adapter that reconnects finds them
again). Tests steer it (``set_price``, ``fill``, ``arm``, ``drop_connection``, ``restart``,
``advance``, ``expire_day``) and read what reached it (``submits``, ``orders``, ``executions``,
``history_requests``, ``log``). An adapter uses it through
``client_factory = "support.ib_standin:client_factory"``.
"""

from __future__ import annotations

from typing import Any

from .client import StandinClient
from .contracts import Catalogue, Listing
from .gateway import ACCOUNT, FAULTS, Gateway
from .matching import Quote
from .records import ExecutionRecord, OrderRecord

GATEWAY = Gateway()


def client_factory(wrapper: Any) -> StandinClient:
    """A new API client bound to :data:`GATEWAY` (use as ``ib.client = client_factory(
    ib.wrapper)``, then ``ib.client.apiEnd += ib.disconnectedEvent``)."""
    return StandinClient(wrapper, GATEWAY)


__all__ = ["ACCOUNT", "FAULTS", "GATEWAY", "Catalogue", "ExecutionRecord", "Gateway",
           "Listing", "OrderRecord", "Quote", "StandinClient", "client_factory"]
