"""The stand-in IB Gateway: state that outlives API connections (orders, executions, positions,
the market), the connections themselves, the test steering methods and the faults tests arm."""

from __future__ import annotations

import asyncio
import errno
import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .account import Account
from .contracts import EASTERN, Catalogue
from .history import HistoryService
from .market import MarketData
from .matching import Quote
from .orders import OrderBook
from .queries import push_account_change
from .records import ExecutionRecord, OrderRecord, snapshot
from .session import Session
from .summary import summarize

if TYPE_CHECKING:
    from .client import StandinClient
    from .contracts import Listing

log = logging.getLogger(__name__)

ACCOUNT = "DU1234567"
FAULTS = ("reject_fatal", "reject_retryable", "lose_answer", "duplicate_reports",
          "out_of_order")
FARM_MESSAGES = ((2104, "Market data farm connection is OK:usfarm"),
                 (2106, "HMDS data farm connection is OK:ushmds"),
                 (2158, "Sec-def data farm connection is OK:secdefnj"))


class ClientIdInUse(ConnectionError):
    """A second connection asked for a clientId that is connected already (TWS error 326)."""


class Faults:
    """Faults armed for the next order(s); each arming is used once."""

    def __init__(self) -> None:
        self.armed: Counter[str] = Counter()

    def arm(self, fault: str) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
        self.armed[fault] += 1

    def take(self, fault: str) -> bool:
        if self.armed[fault] > 0:
            self.armed[fault] -= 1
            return True
        return False


class Gateway:
    """One IB Gateway with one paper account, ``DU1234567`` (USD)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.sessions: list[Session] = []
        self._perm_ids = itertools.count(1_857_000_001)
        self._exec_ids = itertools.count(1)
        self._pending = 0
        self.reset()

    # ------------------------------------------------------------------ state

    def reset(self) -> None:
        """No orders, no executions, flat, 1,000,000 USD, no faults, no prices, up; clients
        still connected are dropped."""
        with self.lock:
            self._drop_all()
            self._offset = 0.0
            self._down_until = 0.0
            self.catalogue = Catalogue(self.now().astimezone(EASTERN).date())
            self.book = OrderBook(self)
            self.account = Account(ACCOUNT)
            self.quotes: dict[int, Quote] = {}
            self.faults = Faults()
            self.market = MarketData(self)
            self.history = HistoryService(self)
            self.log: list[tuple[str, dict[str, Any]]] = []

    def now(self) -> datetime:
        """The gateway's wall clock (UTC, aware); ``advance`` moves it forward."""
        return datetime.now(UTC) + timedelta(seconds=self._offset)

    def clock(self) -> float:
        """The gateway's wall clock in epoch seconds."""
        return time.time() + self._offset

    def mono(self) -> float:
        """The gateway's monotonic clock (pacing, down time); ``advance`` moves it too."""
        return time.monotonic() + self._offset

    def next_perm_id(self) -> int:
        return next(self._perm_ids)

    def next_exec_id(self) -> str:
        return f"0000e0d5.{next(self._exec_ids):08x}.01.01"

    @contextmanager
    def operation(self) -> Iterator[None]:
        """Hold the lock for one request or steering call, then send what it produced."""
        with self.lock:
            try:
                yield
            finally:
                for sess in self.sessions:
                    sess.flush()

    # ------------------------------------------------------------------ steering

    def set_price(self, local_symbol: str, bid: float, ask: float, last: float | None = None,
                  *, bid_size: float | None = None, ask_size: float | None = None,
                  last_size: float | None = None) -> None:
        """Set the market of one contract: ticks to subscribers, real-time bars, and matching
        of working orders. Sizes of None mean the touch takes any quantity."""
        if bid > ask:
            raise ValueError(f"bid {bid} above ask {ask} for {local_symbol}")
        with self.operation():
            listing = self.catalogue.listing(local_symbol)
            quote = Quote(bid, ask, last, bid_size, ask_size, last_size)
            self.quotes[listing.con_id] = quote
            self.market.on_quote(listing, quote)
            self.book.on_market(listing, quote)
            self.book.expire(end_of_day=False)

    def fill(self, order_ref: str, quantity: float, price: float | None = None) -> None:
        """Fill ``quantity`` of the working order with this orderRef (at its limit price, or
        its stop price, or the touch, unless ``price`` is given)."""
        with self.operation():
            self.book.fill(order_ref, quantity, price)

    def arm(self, fault: str) -> None:
        """Arm a fault for the next order: ``reject_fatal``, ``reject_retryable``,
        ``lose_answer``, ``duplicate_reports`` or ``out_of_order``."""
        with self.lock:
            self.faults.arm(fault)

    def expire_day(self) -> None:
        """The end of the trading day: DAY orders are cancelled (GTD ones whose time passed
        too)."""
        with self.operation():
            self.book.expire(end_of_day=True)

    def advance(self, seconds: float) -> None:
        """Move the gateway's clock forward: GTD expiry, real-time bar windows, pacing
        windows and restart down time all follow it."""
        with self.operation():
            self._offset += seconds
            self.book.expire(end_of_day=False)
            self.market.close_windows()

    def set_position(self, local_symbol: str, quantity: float, avg_cost: float) -> None:
        """Give the account a position (as if traded before), without any execution."""
        with self.operation():
            listing = self.catalogue.listing(local_symbol)
            self.account.set_position(listing, quantity, avg_cost)
            self.account_changed(listing)

    def drop_connection(self) -> None:
        """Every connected client sees its socket close."""
        with self.lock:
            self._drop_all()

    def restart(self, down_s: float) -> None:
        """The daily reset: connections drop and connects are refused for ``down_s`` seconds
        of the gateway's clock; orders, positions and executions stay."""
        with self.lock:
            self._drop_all()
            self._down_until = self.mono() + down_s

    def lose_ib_link(self) -> None:
        """TWS loses its link to IB's servers (error 1100 to every client)."""
        with self.operation():
            for sess in self.sessions:
                sess.error(-1, 1100, "Connectivity between IB and Trader Workstation has been "
                                     "lost.")

    def restore_ib_link(self, data_lost: bool = False) -> None:
        """The link is back: error 1101 (data lost: resubscribe) or 1102 (data kept)."""
        code, text = ((1101, "Connectivity between IB and TWS has been restored - data lost.")
                      if data_lost else
                      (1102, "Connectivity between IB and TWS has been restored - data "
                             "maintained."))
        with self.operation():
            for sess in self.sessions:
                sess.error(-1, code, text)

    async def quiesce(self, rounds: int = 3) -> None:
        """Wait until every answer sent so far was delivered (and what it set off)."""
        quiet = 0
        while quiet < rounds:
            await asyncio.sleep(0)
            quiet = quiet + 1 if self._pending == 0 else 0

    # ------------------------------------------------------------------ views

    def submits(self, order_ref: str) -> int:
        """How many distinct order ids with this orderRef were placed (modifies not
        counted, refused ``reject_retryable`` attempts not counted)."""
        with self.lock:
            return len(self.book.submitted.get(order_ref, ()))

    @property
    def orders(self) -> tuple[OrderRecord, ...]:
        with self.lock:
            return tuple(snapshot(g) for g in sorted(self.book.orders.values(),
                                                     key=lambda g: g.perm_id))

    @property
    def executions(self) -> tuple[ExecutionRecord, ...]:
        with self.lock:
            return tuple(self.book.executions)

    @property
    def history_requests(self) -> tuple[tuple[float, str, str, str, str, str], ...]:
        with self.lock:
            return tuple(self.history.requests)

    @property
    def positions(self) -> dict[str, float]:
        with self.lock:
            return {h.listing.local_symbol: h.quantity
                    for h in self.account.holdings.values() if h.quantity}

    @property
    def connected_client_ids(self) -> tuple[int, ...]:
        with self.lock:
            return tuple(s.client_id for s in self.sessions)

    # ------------------------------------------------------------------ connections

    def attach(self, client: StandinClient, client_id: int,
               loop: asyncio.AbstractEventLoop) -> Session:
        """A client connects (ConnectionRefusedError while down; ClientIdInUse for a
        clientId already connected)."""
        with self.operation():
            if self.mono() < self._down_until:
                raise ConnectionRefusedError(
                    errno.ECONNREFUSED, f"Connect call failed ('{client.host}', {client.port})")
            if any(s.client_id == client_id for s in self.sessions):
                raise ClientIdInUse(f"clientId {client_id} already in use")
            sess = Session(client, client_id, loop, self._count_pending)
            self.sessions.append(sess)
            next_id = self.book.max_order_id.get(client_id, 0) + 1
            sess.send("managedAccounts", self.account.name)
            sess.send("nextValidId", next_id)
            for code, text in FARM_MESSAGES:
                sess.error(-1, code, text)
            return sess

    def detach(self, sess: Session) -> None:
        """The client closed its connection."""
        with self.lock:
            sess.close()
            if sess in self.sessions:
                self.sessions.remove(sess)

    def session_for(self, client_id: int) -> Session | None:
        return next((s for s in self.sessions if s.client_id == client_id), None)

    def account_changed(self, listing: Listing) -> None:
        push_account_change(self, self.account.holding(listing))

    def record(self, client_id: int, name: str, args: tuple[Any, ...]) -> None:
        """Note one message delivered to a client, or one request (``client.*``)."""
        with self.lock:
            self.log.append((name, {"clientId": client_id, **summarize(name, args)}))

    def _drop_all(self) -> None:
        for sess in list(self.sessions):
            sess.close()
            self.sessions.remove(sess)
            if sess.loop.is_closed():
                continue
            self._count_pending(1)
            sess.loop.call_soon_threadsafe(self._deliver_drop, sess)

    def _deliver_drop(self, sess: Session) -> None:
        self._count_pending(-1)
        sess.client.socket_closed(sess)

    def _count_pending(self, delta: int) -> None:
        self._pending += delta
