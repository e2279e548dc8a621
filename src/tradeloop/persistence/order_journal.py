"""The order half of the audit store: write-ahead intents, order events, fills, adoption.

An order's row holds what it is (side, type, prices...) and its current state (status, filled
quantity, average price, venue id). Each event is applied to the order rebuilt from its row by
the order's own state machine (:meth:`Order.apply`), and the row, the event and, for a fill,
the execution are written in one transaction. Recording the same event or the same trade twice
changes nothing. These writes are on a node's order path, so they run as driver SQL rendered
once (:mod:`tradeloop.persistence.driver_sql`), not as Core statements built per call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa

from tradeloop.core.clock import Clock, LiveClock
from tradeloop.core.errors import DataError, InvalidStateTransition
from tradeloop.model import events as ev
from tradeloop.model.orders import TERMINAL, Order
from tradeloop.model.orders import replace as replace_order
from tradeloop.model.reports import OrderStatusReport
from tradeloop.persistence import codec
from tradeloop.persistence.db import Database
from tradeloop.persistence.driver_sql import insert_row, select_row, update_row
from tradeloop.persistence.errors import MissingIntentError
from tradeloop.persistence.tables import fills, order_events, orders

logger = logging.getLogger(__name__)

_FINAL = tuple(status.value for status in TERMINAL)
_CHUNK = 500  # ids per IN (...) when loading events of many orders

#: Strategy id given to orders adopted from a venue.
EXTERNAL_STRATEGY = "EXTERNAL"


def insert_ignoring_duplicates(
    connection: sa.Connection, table: sa.Table, values: Mapping[str, Any]
) -> bool:
    """Insert one row unless it violates a unique constraint; True when it was inserted."""
    return insert_row(connection, table, values, ignore_duplicates=True)


class OrderJournal:
    """Orders, their events and their fills in the audit database.

    Implements :class:`tradeloop.execution.ports.IntentJournal`. Use it through
    :class:`~tradeloop.persistence.repositories.AuditStore`.

    Parameters
    ----------
    database : Database
    clock : Clock, optional
        Stamps ``recorded_ns`` and records without their own time; a live clock by default.
    venue_of : callable, optional
        Maps a symbol to its venue (the cache's instrument venue); fills are unique per venue
        and trade id. Without it every venue is ``""``.
    """

    def __init__(
        self,
        database: Database,
        *,
        clock: Clock | None = None,
        venue_of: Callable[[str], str] | None = None,
    ) -> None:
        self._db = database
        self._clock: Clock = clock or LiveClock()
        self._venue_of = venue_of or (lambda _symbol: "")
        #: The run new rows belong to (set by ``start_run``); None outside a run.
        self.run_id: str | None = None
        self._stored_with_intent: ev.OrderSubmitted | None = None

    @property
    def database(self) -> Database:
        """The database the store writes to."""
        return self._db

    # -- the intent journal ---------------------------------------------------------------------

    def record_intent(self, order: Order, submitted: ev.OrderSubmitted | None = None) -> None:
        """Commit ``order`` before it is sent: the write-ahead record of the intent.

        The order is stored with its current state and the events already applied to it. An
        order recorded before is not duplicated: only events it did not have yet are added.

        Parameters
        ----------
        order : Order
        submitted : OrderSubmitted, optional
            The submission the node is about to apply to ``order``. It is stored, applied, in
            the same commit, so sending the order costs one durable commit rather than two;
            recording the same event afterwards (as the audit recorder does) changes nothing.

        Raises
        ------
        PersistenceError
            When the commit fails. The caller must not send the order (fail closed).
        """
        venue = self._venue_of(order.symbol)
        events = list(order.events)
        if submitted is not None:
            order = replace_order(order)
            order.apply(submitted)  # on a copy: the node applies it once the intent is durable
            events.append(submitted)
        values = codec.order_values(order)
        values.update(run_id=self.run_id, venue=venue, external=False,
                      recorded_ns=self._clock.now_ns())
        with self._db.write_transaction() as connection:
            if insert_ignoring_duplicates(connection, orders, values):
                for event in events:
                    self._store_applied_event(connection, event, venue)
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug("intent recorded", extra={"fields": {
                        "client_order_id": order.client_order_id,
                        "status": order.status.value}})
                self._stored_with_intent = submitted
                return
            for event in events:
                self._apply_event(connection, event)
            logger.info("intent already recorded", extra={"fields": {
                "client_order_id": order.client_order_id}})

    def record_event(self, event: ev.OrderEvent) -> None:
        """Commit an order event and the order state it leads to.

        A fill is also booked in ``fills``; a trade id already booked for the venue, or an
        event recorded before, is ignored. An event the order's state machine refuses is kept
        (marked not applied) and leaves the order as it was.

        Raises
        ------
        MissingIntentError
            When no intent was recorded for the event's order.
        PersistenceError
            When the commit fails.
        """
        if event is self._stored_with_intent:  # committed with its intent a moment ago
            self._stored_with_intent = None
            return
        with self._db.write_transaction(durable=False) as connection:
            self._apply_event(connection, event)

    def open_intents(self) -> list[Order]:
        """Orders recorded here that have not reached a final state, oldest first.

        These are the orders to look up at the venue after a restart: submitted, working,
        partially filled, or never confirmed as sent.
        """
        return self._select_orders(~orders.c.status.in_(_FINAL))

    # -- reading orders -------------------------------------------------------------------------

    def order(self, client_order_id: str) -> Order | None:
        """The order with this client order id, as last recorded, or None."""
        found = self._select_orders(orders.c.client_order_id == client_order_id)
        return found[0] if found else None

    def orders(self, run_id: str | None = None, open_only: bool = False) -> list[Order]:
        """Recorded orders, oldest first.

        Parameters
        ----------
        run_id : str, optional
            Only the orders created during this run.
        open_only : bool
            Only orders not in a final state (as :meth:`open_intents`).
        """
        conditions: list[sa.ColumnElement[bool]] = []
        if run_id is not None:
            conditions.append(orders.c.run_id == run_id)
        if open_only:
            conditions.append(~orders.c.status.in_(_FINAL))
        return self._select_orders(*conditions)

    def order_events(self, client_order_id: str) -> list[ev.OrderEvent]:
        """Every event recorded for one order, applied or not, in recording order."""
        with self._db.read_transaction() as connection:
            rows = connection.execute(
                sa.select(order_events.c.kind, order_events.c.payload)
                .where(order_events.c.client_order_id == client_order_id)
                .order_by(order_events.c.id)
            ).all()
        return [codec.decode_event(kind, payload, codec.ORDER_EVENT_TYPES)
                for kind, payload in rows]

    def fills(self, since_ts: int | None = None, run_id: str | None = None) -> list[ev.OrderFilled]:
        """Booked executions, oldest first.

        Parameters
        ----------
        since_ts : int, optional
            Only fills at or after this time (UTC nanoseconds).
        run_id : str, optional
            Only fills booked during this run.
        """
        query = sa.select(fills).order_by(fills.c.ts, fills.c.id)
        if since_ts is not None:
            query = query.where(fills.c.ts >= since_ts)
        if run_id is not None:
            query = query.where(fills.c.run_id == run_id)
        with self._db.read_transaction() as connection:
            rows = connection.execute(query).mappings().all()
        return [codec.fill_from_row(row) for row in rows]

    # -- orders this node did not create ---------------------------------------------------------

    def adopt_external(
        self, report: OrderStatusReport, strategy_id: str = EXTERNAL_STRATEGY
    ) -> Order:
        """Record an order found at the venue that this node did not create.

        Reconciliation calls it for a venue order without a local intent (placed by hand, or
        by another system). Adopting the same order again refreshes its state from the report.
        A report without a client order id is keyed ``EXT-<venue order id>``.

        Returns
        -------
        Order
            The order as recorded, flagged external.

        Raises
        ------
        DataError
            When the report describes no valid order, or names an order this node created
            (those change through their events, not through adoption).
        PersistenceError
            When the commit fails.
        """
        client_order_id = report.client_order_id or f"EXT-{report.venue_order_id}"
        adopted = codec.order_from_report(report, client_order_id, strategy_id)
        with self._db.write_transaction() as connection:
            row = self._locked_row(connection, client_order_id)
            if row is None:
                values = codec.order_values(adopted)
                values.update(run_id=self.run_id, venue=self._venue_of(adopted.symbol),
                              external=True, recorded_ns=self._clock.now_ns())
                insert_row(connection, orders, values)
            elif not row["external"]:
                raise DataError(
                    f"venue order {report.venue_order_id}: {client_order_id} is an order this "
                    "node created; reconcile it through its events instead of adopting it"
                )
            else:
                update_row(connection, orders, codec.order_state_values(adopted),
                           "client_order_id", client_order_id)
        logger.info("adopted an external order", extra={"fields": {
            "client_order_id": client_order_id, "venue_order_id": report.venue_order_id,
            "status": report.status.value}})
        stored = self.order(client_order_id)
        assert stored is not None
        return stored

    # -- internals ------------------------------------------------------------------------------

    def _locked_row(self, connection: sa.Connection, client_order_id: str) -> dict[str, Any] | None:
        return select_row(connection, orders, "client_order_id", client_order_id,
                          for_update=True)

    def _store_applied_event(
        self, connection: sa.Connection, event: ev.OrderEvent, venue: str
    ) -> None:
        if isinstance(event, ev.OrderFilled):
            values = codec.fill_values(event, venue)
            values["run_id"] = self.run_id
            insert_ignoring_duplicates(connection, fills, values)
        insert_ignoring_duplicates(connection, order_events, self._event_values(event, True))

    def _event_values(self, event: ev.OrderEvent, applied: bool) -> dict[str, Any]:
        encoded = codec.encode_event(event)
        return {
            "client_order_id": event.client_order_id,
            "kind": event.kind,
            "ts": event.ts,
            "payload": msgspec.Raw(encoded),  # the event's JSON, not encoded a second time
            "event_key": codec.event_key(event, encoded),
            "applied": applied,
            "recorded_ns": self._clock.now_ns(),
            "run_id": self.run_id,
        }

    def _apply_event(self, connection: sa.Connection, event: ev.OrderEvent) -> None:
        row = self._locked_row(connection, event.client_order_id)
        if row is None:
            raise MissingIntentError(
                f"{event.kind} for order {event.client_order_id}: no intent recorded for it"
            )
        fill_key: dict[str, Any] | None = None
        if isinstance(event, ev.OrderFilled):
            fill_key = {"venue": row["venue"], "trade_id": event.trade_id}
            values = codec.fill_values(event, row["venue"])
            values["run_id"] = self.run_id
            if not insert_ignoring_duplicates(connection, fills, values):
                logger.info("ignored a duplicate fill", extra={"fields": {
                    "client_order_id": event.client_order_id, "trade_id": event.trade_id}})
                return
        values = self._event_values(event, True)
        if not insert_ignoring_duplicates(connection, order_events, values):
            if fill_key is not None:  # a fill refused before, sent again: still not booked
                self._unbook(connection, fill_key)
            logger.debug("ignored an event recorded before", extra={"fields": {
                "client_order_id": event.client_order_id, "event": event.kind}})
            return
        order = codec.order_from_row(row)
        try:
            order.apply(event)
        except InvalidStateTransition as exc:
            connection.execute(
                order_events.update().where(order_events.c.event_key == values["event_key"])
                .values(applied=False)
            )
            if fill_key is not None:  # not booked in memory either: keep fills = booked fills
                self._unbook(connection, fill_key)
            logger.warning("recorded an event the order refuses", extra={"fields": {
                "client_order_id": event.client_order_id, "event": event.kind,
                "error": str(exc)}})
            return
        update_row(connection, orders, codec.order_state_values(order), "client_order_id",
                   order.client_order_id)

    def _unbook(self, connection: sa.Connection, fill_key: Mapping[str, Any]) -> None:
        connection.execute(fills.delete().where(
            fills.c.venue == fill_key["venue"], fills.c.trade_id == fill_key["trade_id"]
        ))

    def _select_orders(self, *conditions: sa.ColumnElement[bool]) -> list[Order]:
        query = sa.select(orders).order_by(orders.c.created_ns, orders.c.client_order_id)
        if conditions:
            query = query.where(*conditions)
        with self._db.read_transaction() as connection:
            rows = connection.execute(query).mappings().all()
            ids = [row["client_order_id"] for row in rows]
            events = self._applied_events(connection, ids)
            trade_ids = self._trade_ids(connection, ids)
        return [
            codec.order_from_row(
                row, events.get(row["client_order_id"], ()),
                trade_ids.get(row["client_order_id"], ()),
            )
            for row in rows
        ]

    def _applied_events(
        self, connection: sa.Connection, ids: Sequence[str]
    ) -> dict[str, list[ev.OrderEvent]]:
        found: dict[str, list[ev.OrderEvent]] = {}
        for chunk in _chunks(ids):
            rows = connection.execute(
                sa.select(order_events.c.client_order_id, order_events.c.kind,
                          order_events.c.payload)
                .where(order_events.c.client_order_id.in_(chunk), order_events.c.applied)
                .order_by(order_events.c.id)
            ).all()
            for client_order_id, kind, payload in rows:
                found.setdefault(client_order_id, []).append(
                    codec.decode_event(kind, payload, codec.ORDER_EVENT_TYPES)
                )
        return found

    def _trade_ids(self, connection: sa.Connection, ids: Sequence[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for chunk in _chunks(ids):
            rows = connection.execute(
                sa.select(fills.c.client_order_id, fills.c.trade_id)
                .where(fills.c.client_order_id.in_(chunk))
                .order_by(fills.c.id)  # the order they were applied in, as the order keeps them
            ).all()
            for client_order_id, trade_id in rows:
                found.setdefault(client_order_id, []).append(trade_id)
        return found


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start:start + _CHUNK]
