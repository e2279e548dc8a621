"""How the matching engine holds each working order, read out and put back.

:class:`~tradeloop.brokers.simulated.venue.SimulatedVenue` keeps, for each working order, what
the order's own fields do not say: a trailing stop's best price so far, the session a DAY order
lives in, whether a stop-limit has triggered, whether a bracket child is active. The paper
venue stores that with the order so that a restart matches on exactly as before. These two
functions are the only code that reaches into the engine's private books; a public
export/restore hook on ``SimulatedVenue`` would replace them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tradeloop.brokers.paper.state import OrderRecord, WorkingRecord
from tradeloop.brokers.simulated.venue import SimulatedVenue
from tradeloop.core.errors import ConfigError
from tradeloop.model.cache import Cache


def working_state(sim: SimulatedVenue, client_order_id: str) -> WorkingRecord | None:
    """What the engine holds about a working order (None when it is not working)."""
    working = sim._by_id.get(client_order_id)
    if working is None:
        return None
    return WorkingRecord(active=working.active, start=working.start,
                         triggered=working.triggered, trail_ref=working.trail_ref,
                         day=working.day)


def restore_working(sim: SimulatedVenue, client_order_id: str,
                    record: WorkingRecord | None) -> None:
    """Put back what the engine held about a working order it was just given again."""
    working = sim._by_id.get(client_order_id)
    if working is None or record is None:
        return
    working.active, working.start = record.active, record.start
    working.triggered, working.trail_ref, working.day = (
        record.triggered, record.trail_ref, record.day)


def put_back(sim: SimulatedVenue, cache: Cache, records: Iterable[OrderRecord],
             state_path: Path) -> None:
    """Give the engine the orders of ``records`` that are still open (the orders themselves
    are in ``cache``), in arrival order to keep their matching priority, each as it held them.

    Raises
    ------
    ConfigError
        For an open order in a symbol that is not among the venue's instruments.
    """
    for record in records:
        order = cache.order(record.client_order_id)
        if order is None or not order.is_open:
            continue
        if record.symbol not in cache.instruments:
            raise ConfigError(
                f"paper venue state file {state_path} has open order {record.client_order_id} "
                f"in {record.symbol}, which is not among the venue's instruments"
            )
        sim.submit_order(order)
        restore_working(sim, record.client_order_id, record.working)
