"""The paper venue's state file: its private books in SQLite, one transaction per change.

This is the venue's own state, not the node's audit database. Every change of the venue's books
(a new order, a fill, a cancel, market data that moved a trailing stop) is written in one
transaction before anyone is told about it, so that killing the venue process (``kill -9``)
loses nothing it acknowledged. Marks and the clock alone are written in batches (see
:mod:`.marks`). The file runs in WAL mode with ``synchronous=NORMAL``: a committed transaction
survives the death of the process; only a power cut may lose the last ones. The disk is synced
only at checkpoints, every ``wal_autocheckpoint`` pages of log. SQLite's default of 1000 is
kept: measured from 250 to 10,000 pages, smaller logs checkpoint more often (more slow commits)
and larger ones less often but for longer (up to 15 ms at 4,000 pages, 34 ms at 10,000).

The connection holds the file exclusively: a second venue on the same file is refused.

Tables: ``meta`` (one row: account, counters, clock), ``orders`` (one row per client order
id), ``fills`` (one row per trade id), ``positions`` (one row per symbol), ``marks`` (last
market data per symbol) and ``events`` (every order event, by seq, for replay).
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import msgspec

from tradeloop.brokers.paper.protocol import EVENT_TYPES
from tradeloop.core.errors import ConfigError, DataError
from tradeloop.model import events as ev
from tradeloop.model.account import Account
from tradeloop.model.enums import (
    AccountType,
    ContingencyType,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TrailingOffsetType,
)
from tradeloop.model.orders import Order
from tradeloop.model.reports import FillReport

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DEFAULT_MARKS_FLUSH_MS = 250.0
"""How long market data that changes only marks and the clock may stay unsaved (ms)."""
DEFAULT_WAL_AUTOCHECKPOINT = 1000
"""Write-ahead log pages between checkpoints (SQLite's default)."""
_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY, book_no INTEGER NOT NULL, record BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS fills (
    trade_id TEXT PRIMARY KEY, fill_no INTEGER NOT NULL, ts INTEGER NOT NULL,
    owner TEXT NOT NULL, record BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS positions (symbol TEXT PRIMARY KEY, record BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS marks (symbol TEXT PRIMARY KEY, record BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, client_order_id TEXT NOT NULL, owner TEXT NOT NULL,
    kind TEXT NOT NULL, payload BLOB NOT NULL);
"""


class WorkingRecord(msgspec.Struct, kw_only=True):
    """How the matching engine holds a working order (what its fields alone do not say)."""

    active: bool
    start: float
    triggered: bool
    trail_ref: float | None
    day: str


class OrderRecord(msgspec.Struct, kw_only=True):
    """One order of the venue with its bookkeeping."""

    client_order_id: str
    strategy_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    ts_init: int
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    trailing_offset: Decimal | None = None
    trailing_offset_type: TrailingOffsetType = TrailingOffsetType.PRICE
    time_in_force: TimeInForce = TimeInForce.GTC
    expire_ns: int | None = None
    reduce_only: bool = False
    contingency: ContingencyType = ContingencyType.NONE
    linked_ids: tuple[str, ...] = ()
    parent_id: str | None = None
    position_id: str | None = None
    tags: tuple[str, ...] = ()
    status: OrderStatus = OrderStatus.INITIALIZED
    venue_order_id: str | None = None
    filled_qty: Decimal = Decimal(0)
    avg_px: Decimal | None = None
    commission: Decimal = Decimal(0)
    ts_last: int = 0
    reason: str = ""
    trade_ids: list[str] = msgspec.field(default_factory=list)
    owner: str = ""
    reject_code: str = ""
    ts_accepted: int = 0
    book_no: int = 0
    working: WorkingRecord | None = None


class PositionRecord(msgspec.Struct, kw_only=True):
    """The account's net position in one symbol."""

    symbol: str
    currency: str
    multiplier: Decimal
    quantity: Decimal
    avg_px: Decimal
    realized_pnl: Decimal
    commissions: Decimal
    ts_opened: int
    ts_closed: int | None
    entry_side: OrderSide | None
    ts_last: int = 0


class MarkRecord(msgspec.Struct, kw_only=True):
    """The last market data of one symbol: its time, last price and last quote."""

    symbol: str
    last_ns: int
    last_price: float | None = None
    quote_ts: int | None = None
    bid: float = 0.0
    ask: float = 0.0
    bid_size: float = 0.0
    ask_size: float = 0.0


class MetaRecord(msgspec.Struct, kw_only=True):
    """The account and the counters of the venue."""

    schema_version: int
    venue: str
    account_id: str
    currency: str
    account_type: AccountType
    starting_balance: Decimal
    balance: Decimal
    commissions: Decimal
    last_seq: int = 0
    venue_order_no: int = 0
    trade_no: int = 0
    book_no: int = 0
    fill_no: int = 0
    clock_ns: int = 0


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An order event as the venue published it."""

    seq: int
    event: ev.OrderEvent
    owner: str = ""


@dataclass(frozen=True, slots=True)
class StoredFill:
    """A fill with the owner of its order."""

    fill: FillReport
    owner: str = ""


@dataclass(slots=True)
class VenueSnapshot:
    """Everything the state file holds, as read at start."""

    meta: MetaRecord
    orders: list[OrderRecord]
    fills: list[StoredFill]
    positions: list[PositionRecord]
    marks: list[MarkRecord]


@dataclass(slots=True)
class StateChanges:
    """What one change of the venue writes, in one transaction."""

    meta: MetaRecord
    orders: list[OrderRecord] = field(default_factory=list)
    fills: list[tuple[int, StoredFill]] = field(default_factory=list)
    positions: list[PositionRecord] = field(default_factory=list)
    marks: list[MarkRecord] = field(default_factory=list)
    events: list[StoredEvent] = field(default_factory=list)


_encoder = msgspec.json.Encoder(decimal_format="string")


def encode_event(event: ev.OrderEvent) -> bytes:
    """An order event as JSON (its class name travels separately)."""
    return _encoder.encode(event)


def decode_event(kind: str, payload: bytes | str) -> ev.OrderEvent:
    """An order event from its class name and JSON.

    Raises
    ------
    ValueError
        For an unknown kind or a payload that does not fit it.
    """
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        raise ValueError(f"unknown order event kind {kind!r}")
    try:
        return msgspec.json.decode(payload, type=cls)
    except msgspec.DecodeError as exc:
        raise ValueError(f"malformed {kind}: {exc}") from None


def order_record(order: Order, *, owner: str = "", reject_code: str = "", ts_accepted: int = 0,
                 book_no: int = 0, working: WorkingRecord | None = None) -> OrderRecord:
    """The state file's row of an order and its bookkeeping."""
    o = order
    return OrderRecord(
        client_order_id=o.client_order_id, strategy_id=o.strategy_id, symbol=o.symbol,
        side=o.side, order_type=o.order_type, quantity=o.quantity, ts_init=o.ts_init,
        price=o.price, trigger_price=o.trigger_price, trailing_offset=o.trailing_offset,
        trailing_offset_type=o.trailing_offset_type, time_in_force=o.time_in_force,
        expire_ns=o.expire_ns, reduce_only=o.reduce_only, contingency=o.contingency,
        linked_ids=o.linked_ids, parent_id=o.parent_id, position_id=o.position_id,
        tags=o.tags, status=o.status, venue_order_id=o.venue_order_id,
        filled_qty=o.filled_qty, avg_px=o.avg_px, commission=o.commission,
        ts_last=o.ts_last, reason=o.reason, trade_ids=sorted(o.trade_ids), owner=owner,
        reject_code=reject_code, ts_accepted=ts_accepted, book_no=book_no, working=working,
    )


def order_from_record(r: OrderRecord) -> Order:
    """The order a state file row holds, in the state it had."""
    return Order(
        client_order_id=r.client_order_id, strategy_id=r.strategy_id, symbol=r.symbol,
        side=r.side, order_type=r.order_type, quantity=r.quantity, ts_init=r.ts_init,
        price=r.price, trigger_price=r.trigger_price, trailing_offset=r.trailing_offset,
        trailing_offset_type=r.trailing_offset_type, time_in_force=r.time_in_force,
        expire_ns=r.expire_ns, reduce_only=r.reduce_only, contingency=r.contingency,
        linked_ids=r.linked_ids, parent_id=r.parent_id, position_id=r.position_id,
        tags=r.tags, status=r.status, venue_order_id=r.venue_order_id,
        filled_qty=r.filled_qty, avg_px=r.avg_px, commission=r.commission,
        ts_last=r.ts_last, reason=r.reason, trade_ids=tuple(r.trade_ids),
    )


def fresh_copy(order: Order, ts_init: int) -> Order:
    """A new order with the fields of ``order`` (none of its history), sent at ``ts_init``."""
    return Order(
        client_order_id=order.client_order_id, strategy_id=order.strategy_id,
        symbol=order.symbol, side=order.side, order_type=order.order_type,
        quantity=order.quantity, ts_init=ts_init, price=order.price,
        trigger_price=order.trigger_price, trailing_offset=order.trailing_offset,
        trailing_offset_type=order.trailing_offset_type, time_in_force=order.time_in_force,
        expire_ns=order.expire_ns, reduce_only=order.reduce_only,
        contingency=order.contingency, linked_ids=tuple(order.linked_ids),
        parent_id=order.parent_id, position_id=order.position_id, tags=tuple(order.tags),
    )


def new_meta(venue: str, account: Account) -> MetaRecord:
    """The record of a new state file for ``account`` at ``venue``."""
    return MetaRecord(
        schema_version=SCHEMA_VERSION, venue=venue, account_id=account.account_id,
        currency=account.currency, account_type=account.account_type,
        starting_balance=account.balance, balance=account.balance, commissions=Decimal(0),
    )


def check_owner(meta: MetaRecord, account: Account, venue: str, path: Path) -> None:
    """Refuse a state file of another account or venue.

    Raises
    ------
    ConfigError
        Naming the file and both accounts.
    """
    if (meta.account_id, meta.currency, meta.account_type) != (
            account.account_id, account.currency, account.account_type):
        raise ConfigError(
            f"paper venue state file {path} belongs to account {meta.account_id} "
            f"({meta.account_type} in {meta.currency}), not {account.account_id} "
            f"({account.account_type} in {account.currency})"
        )
    if meta.venue != venue:
        raise ConfigError(f"paper venue state file {path} belongs to venue {meta.venue}, "
                          f"not {venue}")


class PaperStateStore:
    """The state file of one paper venue.

    Parameters
    ----------
    path : str or Path
        The SQLite file; created (with its directory) when missing.
    wal_autocheckpoint : int, default 1000
        Pages written to the write-ahead log before a commit copies them into the file
        (a checkpoint: the only time the file is synced to disk).

    Raises
    ------
    DataError
        When the file is not a paper venue state file (or is damaged).
    ConfigError
        When another venue process holds the file.
    """

    def __init__(self, path: str | Path, *,
                 wal_autocheckpoint: int = DEFAULT_WAL_AUTOCHECKPOINT) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # One venue owns the connection; its lock serialises the threads that use it.
            self._db = sqlite3.connect(
                self.path, timeout=0.2, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise DataError(f"paper venue state file {self.path}: {exc}") from None
        try:
            self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(f"PRAGMA wal_autocheckpoint={int(wal_autocheckpoint)}")
            self._db.executescript(_SCHEMA)
            self._db.execute("BEGIN IMMEDIATE")  # a write lock, kept: locking_mode=EXCLUSIVE
            self._db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self._db.close()
            if "locked" in str(exc):
                raise ConfigError(
                    f"paper venue state file {self.path} is in use by another venue process"
                ) from None
            raise DataError(f"paper venue state file {self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise DataError(f"paper venue state file {self.path}: {exc}") from None

    def close(self) -> None:
        """Close the file (the state stays on disk)."""
        self._db.close()

    def load(self) -> VenueSnapshot | None:
        """Read the whole state, or None for a new file.

        Raises
        ------
        DataError
            When a row cannot be read, naming the table and key.
        """
        row = self._db.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()
        if row is None:
            return None
        meta = self._decode(row[0], MetaRecord, "meta", "state")
        if meta.schema_version != SCHEMA_VERSION:
            raise DataError(f"paper venue state file {self.path}: schema version "
                            f"{meta.schema_version}, this tradeloop reads {SCHEMA_VERSION}")
        orders = [self._decode(r, OrderRecord, "orders", k) for k, r in self._db.execute(
            "SELECT client_order_id, record FROM orders ORDER BY book_no")]
        fills = [StoredFill(self._decode(r, FillReport, "fills", k), owner)
                 for k, owner, r in self._db.execute(
                     "SELECT trade_id, owner, record FROM fills ORDER BY fill_no")]
        positions = [self._decode(r, PositionRecord, "positions", k) for k, r in
                     self._db.execute("SELECT symbol, record FROM positions ORDER BY symbol")]
        marks = [self._decode(r, MarkRecord, "marks", k) for k, r in
                 self._db.execute("SELECT symbol, record FROM marks ORDER BY symbol")]
        return VenueSnapshot(meta, orders, fills, positions, marks)

    def commit(self, changes: StateChanges) -> None:
        """Write one change in one transaction: all of it, or (on failure) none of it."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('state', ?)",
                       (_encoder.encode(changes.meta),))
            db.executemany(
                "INSERT OR REPLACE INTO orders (client_order_id, book_no, record) VALUES (?,?,?)",
                [(o.client_order_id, o.book_no, _encoder.encode(o)) for o in changes.orders])
            db.executemany(
                "INSERT INTO fills (trade_id, fill_no, ts, owner, record) VALUES (?,?,?,?,?)",
                [(f.fill.trade_id, no, f.fill.ts, f.owner, _encoder.encode(f.fill))
                 for no, f in changes.fills])
            db.executemany(
                "INSERT OR REPLACE INTO positions (symbol, record) VALUES (?, ?)",
                [(p.symbol, _encoder.encode(p)) for p in changes.positions])
            db.executemany(
                "INSERT OR REPLACE INTO marks (symbol, record) VALUES (?, ?)",
                [(m.symbol, _encoder.encode(m)) for m in changes.marks])
            db.executemany(
                "INSERT INTO events (seq, client_order_id, owner, kind, payload) "
                "VALUES (?,?,?,?,?)",
                [(e.seq, e.event.client_order_id, e.owner, e.event.kind, encode_event(e.event))
                 for e in changes.events])
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def events_since(
        self, seq: int, limit: int = 1000, owner: str | None = None
    ) -> list[StoredEvent]:
        """Events with a seq above ``seq``, oldest first, at most ``limit``."""
        if owner is None:
            rows = self._db.execute(
                "SELECT seq, owner, kind, payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit))
        else:
            rows = self._db.execute(
                "SELECT seq, owner, kind, payload FROM events WHERE seq > ? AND owner = ? "
                "ORDER BY seq LIMIT ?", (seq, owner, limit))
        out = []
        for s, own, kind, payload in rows:
            try:
                out.append(StoredEvent(s, decode_event(kind, payload), own))
            except ValueError as exc:
                raise DataError(f"paper venue state file {self.path}: events seq {s}: "
                                f"{exc}") from None
        return out

    def _decode(self, raw: bytes, cls: type[_T], table: str, key: str) -> _T:
        try:
            return msgspec.json.decode(raw, type=cls)
        except msgspec.DecodeError as exc:
            raise DataError(
                f"paper venue state file {self.path}: {table} {key!r}: {exc}"
            ) from None


__all__ = [
    "DEFAULT_MARKS_FLUSH_MS",
    "DEFAULT_WAL_AUTOCHECKPOINT",
    "SCHEMA_VERSION",
    "MarkRecord",
    "MetaRecord",
    "OrderRecord",
    "PaperStateStore",
    "PositionRecord",
    "StateChanges",
    "StoredEvent",
    "StoredFill",
    "VenueSnapshot",
    "WorkingRecord",
    "check_owner",
    "decode_event",
    "encode_event",
    "fresh_copy",
    "new_meta",
    "order_from_record",
    "order_record",
]
