"""The conformance target of the paper adapter: the served paper venue (the simulated venue's
matching behind the paper broker's HTTP and WebSocket protocol) on 127.0.0.1, a fresh one per
point, steered through its admin and fault endpoints. A background ticker re-sends the current
quote ten times a second, as a live market would, so market orders have a price to fill at."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx

from support.paper_venue import ServedVenue
from tradeloop.brokers.base import BrokerAdapter
from tradeloop.brokers.paper.adapter import CAPABILITIES, create_adapter
from tradeloop.brokers.paper.venue import PaperVenue
from tradeloop.brokers.simulated.venue import SimulatedVenueConfig
from tradeloop.brokers.testing.harness import (
    DROP_CONNECTION,
    DUPLICATE_REPORTS,
    FILL,
    LOSE_ANSWER,
    OUT_OF_ORDER,
    PRICE,
    REJECT_FATAL,
    REJECT_RETRYABLE,
    Target,
    TargetSpec,
)
from tradeloop.model.account import Account
from tradeloop.model.enums import AccountType
from tradeloop.model.instrument import Instrument

SPEC = TargetSpec("paper/served-venue", CAPABILITIES, frozenset({
    PRICE, FILL, REJECT_FATAL, REJECT_RETRYABLE, LOSE_ANSWER, DUPLICATE_REPORTS, OUT_OF_ORDER,
    DROP_CONNECTION,
}))
REQUEST_TIMEOUT_S = 1.0

_FAULTS = {
    REJECT_FATAL: {"kind": "reject", "code": "INSUFFICIENT_FUNDS"},
    REJECT_RETRYABLE: {"kind": "reject", "code": "BUSY"},
    LOSE_ANSWER: {"kind": "delay_answer", "delay_s": REQUEST_TIMEOUT_S * 2.5},
    DUPLICATE_REPORTS: {"kind": "duplicate_events", "count": 20},
    OUT_OF_ORDER: {"kind": "fill_before_ack"},
}


class PaperCounterparty:
    """The served venue, steered over HTTP."""

    steering = SPEC.steering

    def __init__(self, served: ServedVenue) -> None:
        self.served = served
        self._http = served.http()
        self._quote: tuple[str, Decimal, Decimal] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._ticker.start()

    def close(self) -> None:
        self._stop.set()
        self._ticker.join(5)
        self._http.close()

    def _post(self, path: str, body: dict[str, object]) -> None:
        with self._lock:
            self._http.post(path, json=body).raise_for_status()

    def _send_quote(self) -> None:
        if self._quote is not None:
            symbol, bid, ask = self._quote
            self._post("/v1/admin/market", {"type": "quote", "symbol": symbol,
                                            "ts": time.time_ns(), "bid": float(bid),
                                            "ask": float(ask), "bid_size": 1e6,
                                            "ask_size": 1e6})

    def _tick(self) -> None:
        while not self._stop.wait(0.1):
            try:
                self._send_quote()
            except httpx.HTTPError:
                continue  # the server is stopping

    async def set_price(self, symbol: str, bid: Decimal, ask: Decimal) -> None:
        self._quote = (symbol, bid, ask)
        self._send_quote()

    async def fill(self, client_order_id: str, quantity: Decimal) -> None:
        with self._lock:
            order = self._http.get(f"/v1/orders/{client_order_id}").json()
        self._post("/v1/admin/market", {"type": "trade", "symbol": order["symbol"],
                                        "ts": time.time_ns(), "price": float(order["price"]),
                                        "size": float(quantity)})

    async def arm(self, fault: str) -> None:
        self._post("/v1/admin/faults", _FAULTS[fault])

    async def drop_connections(self) -> None:
        self._post("/v1/admin/faults", {"kind": "drop_stream", "after_events": 1})

    async def submits(self, client_order_id: str) -> int:
        raise NotImplementedError("the paper venue does not count submits")

    async def reset(self) -> None:
        return None  # every point gets a fresh venue


def paper_target(tmp: Path) -> Iterator[Target]:
    """A fresh served paper venue and the paper adapter on it."""
    instrument = Instrument.equity("ABC", venue="PAPER")
    venue = PaperVenue(tmp / "venue.db", [instrument],
                       account=Account("PAPER-001", "USD", AccountType.MARGIN,
                                       Decimal(1_000_000)),
                       config=SimulatedVenueConfig(venue="PAPER", volume_limit=1.0))
    served = ServedVenue(venue, allow_faults=True)
    counterparty = PaperCounterparty(served)

    def connect() -> BrokerAdapter:
        return create_adapter({"url": served.url, "request_timeout_s": REQUEST_TIMEOUT_S,
                               "reconnect_initial_s": 0.02, "reconnect_max_s": 0.2},
                              variant="", home=tmp)

    try:
        yield Target(SPEC, counterparty, connect, instrument, quantity=Decimal(10),
                     bid=Decimal("100.00"), ask=Decimal("100.02"))
    finally:
        counterparty.close()
        served.stop()
        venue.close()
