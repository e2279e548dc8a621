"""The conformance targets of the FIX adapter, each on a real QuickFIX acceptor on 127.0.0.1,
started afresh for every point.

* ``fix/scripted``: the scripted FIX 4.4 broker (``tests/support/fix_acceptor``) with every
  capability it has: MARKET, LIMIT, STOP and STOP_LIMIT orders, five times in force, modify by
  cancel/replace, status requests, positions (AN/AP), balance (BB/BA), instruments from its
  SecurityList and quotes by MarketDataRequest. Steered through its CONTROL channel: prices,
  fills, a fatal reject, a lost answer ("silent"), duplicated and out-of-order reports, submit
  counts; dropping the session (``disconnect``) makes both the dropped connection and the
  retryable refusal (an order sent while the session is down is not sent, and retried).
* ``fix/ordermatch``: QuickFIX's ``ordermatch`` (FIX 4.2, LIMIT orders with DAY only, no
  replace, no status requests, no market data, no positions or balance), behind a
  :class:`~support.quickfix.FixProxy`. Prices and fills come from a second FIX session
  (:class:`~support.quickfix.MakerSession`) resting orders that ``ordermatch`` matches against
  ours: ``set_price`` rests an offer at the ask (only: a resting bid of the maker would take the
  maker's own fills), ``fill`` sells into one of our resting bids. The proxy cuts the line
  (dropped connection, retryable refusal), swallows the answer to the next order (outcome
  unknown: the answer comes back only through the session's resend recovery, and the order
  must be looked up without a status request), and counts submits. ``ordermatch`` cannot be
  made to reject an order, nor to send reports twice or out of order: those points are
  excluded with that reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from support.fix_acceptor import FixAcceptor, acceptor_binary_or_skip
from support.quickfix import (
    FixProxy,
    MakerSession,
    QuickFixAcceptor,
    quickfix_program,
    session_config,
)
from tradeloop.brokers.base import BrokerAdapter
from tradeloop.brokers.fix import build_adapter
from tradeloop.brokers.fix.config import FixAdapterConfig, ReconnectPolicy
from tradeloop.brokers.fix.execution import FixExecutionClient, venue_capabilities
from tradeloop.brokers.testing.harness import (
    COUNT_SUBMITS,
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
from tradeloop.model.instrument import Instrument

SYMBOL = "ABC"
#: A session that drops is back after this long: longer than ``LOGON_WAIT_S``, so an order
#: sent right after the drop fails (retryable) at least once before it goes through.
RECONNECT_S = 0.8
LOGON_WAIT_S = 0.4

SCRIPTED_SETTINGS: dict[str, Any] = {
    "venue": "FIXSIM", "account": "ACC1", "security_list": True, "tick_size_tag": 5001,
    "request_timeout_s": 1.5, "logon_wait_s": LOGON_WAIT_S,
    "capabilities": {"order_types": ["MARKET", "LIMIT", "STOP", "STOP_LIMIT"],
                     "time_in_force": ["DAY", "GTC", "IOC", "FOK", "GTD"],
                     "modify": True, "status_requests": True, "positions_requests": True,
                     "collateral_inquiry": True, "quotes": True},
}
ORDERMATCH_SETTINGS: dict[str, Any] = {
    "venue": "ORDERMATCH", "account_balance": "1000000", "account_currency": "USD",
    "instruments": [{"symbol": SYMBOL, "tick_size": "0.01", "lot_step": "1"}],
    "request_timeout_s": 0.5, "logon_wait_s": LOGON_WAIT_S,
    # The points' filled buys are GTC whatever the venue takes (points.py, _filled_buy):
    # they go out as DAY, which ordermatch never ends. GTC stays undeclared (and its point
    # excluded).
    "time_in_force_fallback": {"GTC": "DAY"},
    "capabilities": {"order_types": ["LIMIT"], "time_in_force": ["DAY"], "modify": False,
                     "status_requests": False, "positions_requests": False,
                     "collateral_inquiry": False, "quotes": False},
}
_RECONNECT = ReconnectPolicy(initial_backoff_s=RECONNECT_S, max_backoff_s=RECONNECT_S,
                             jitter=0)


def _spec(name: str, settings: dict[str, Any], steering: frozenset[str]) -> TargetSpec:
    probe = FixAdapterConfig.model_validate({
        **settings, "session": {"port": 1, "sender_comp_id": "A", "target_comp_id": "B",
                                "store_dir": "."}})
    return TargetSpec(name, venue_capabilities(probe), steering)


SCRIPTED = _spec("fix/scripted", SCRIPTED_SETTINGS, frozenset({
    PRICE, FILL, REJECT_FATAL, REJECT_RETRYABLE, LOSE_ANSWER, DUPLICATE_REPORTS, OUT_OF_ORDER,
    DROP_CONNECTION, COUNT_SUBMITS}))
ORDERMATCH = _spec("fix/ordermatch", ORDERMATCH_SETTINGS, frozenset({
    PRICE, FILL, REJECT_RETRYABLE, LOSE_ANSWER, DROP_CONNECTION, COUNT_SUBMITS}))


class _Adapters:
    """The adapters a target made, to wait until they noticed a dropped line."""

    def __init__(self) -> None:
        self.made: list[BrokerAdapter] = []

    def sessions_down(self) -> bool:
        for adapter in self.made:
            execution = adapter.execution
            assert isinstance(execution, FixExecutionClient)
            if execution.client.logged_on:
                return False
        return True

    async def until_down(self) -> None:
        deadline = time.monotonic() + 5
        while not self.sessions_down():
            if time.monotonic() > deadline:
                raise AssertionError("the adapter did not notice the dropped connection")
            await asyncio.sleep(0.01)


# -- the scripted acceptor -------------------------------------------------------------------


class ScriptedCounterparty:
    """The scripted broker, steered through its CONTROL channel."""

    steering = SCRIPTED.steering

    def __init__(self, acceptor: FixAcceptor, adapters: _Adapters) -> None:
        self.acceptor = acceptor
        self.control = acceptor.control
        self.adapters = adapters

    async def set_price(self, symbol: str, bid: Decimal, ask: Decimal) -> None:
        self.control.price(symbol, float(bid), float(ask))

    async def fill(self, client_order_id: str, quantity: Decimal) -> None:
        self.control.fill(client_order_id, float(quantity))

    async def arm(self, fault: str) -> None:
        if fault == REJECT_RETRYABLE:  # the session drops: the next order is not sent
            await self.drop_connections()
            return
        modes = {REJECT_FATAL: "reject_fatal", LOSE_ANSWER: "silent",
                 DUPLICATE_REPORTS: "duplicate", OUT_OF_ORDER: "out_of_order"}
        self.control.next_order(modes[fault])

    async def drop_connections(self) -> None:
        self.control.disconnect()
        await self.adapters.until_down()

    async def submits(self, client_order_id: str) -> int:
        return self.control.count(client_order_id)

    async def reset(self) -> None:
        self.control.reset()


def scripted_target(tmp: Path) -> Iterator[Target]:
    """A fresh scripted acceptor and the FIX adapter on it."""
    acceptor = FixAcceptor(acceptor_binary_or_skip(None), tmp / "acceptor",
                           sender_comp_id="BROKER", target_comp_ids=("CLIENT",))
    acceptor.start()
    acceptor.control.instrument(SYMBOL, 0.01, 1)
    adapters = _Adapters()

    def connect() -> BrokerAdapter:
        session = {"port": acceptor.fix_port, "sender_comp_id": "CLIENT",
                   "target_comp_id": "BROKER", "heartbeat_s": 2, "store_dir": tmp / "client",
                   "reconnect": _RECONNECT}
        adapter = build_adapter(FixAdapterConfig.model_validate(
            {**SCRIPTED_SETTINGS, "session": session}))
        adapters.made.append(adapter)
        return adapter

    try:
        yield Target(SCRIPTED, ScriptedCounterparty(acceptor, adapters), connect,
                     Instrument.equity(SYMBOL, venue="FIXSIM"), quantity=Decimal(10),
                     bid=Decimal("100.00"), ask=Decimal("100.02"), settle_s=15.0)
    finally:
        acceptor.stop()


# -- ordermatch -----------------------------------------------------------------------------


class OrdermatchCounterparty:
    """``ordermatch`` steered through a maker session and a proxy."""

    steering = ORDERMATCH.steering

    def __init__(self, maker: MakerSession, proxy: FixProxy, adapters: _Adapters) -> None:
        self.maker = maker
        self.proxy = proxy
        self.adapters = adapters

    async def set_price(self, symbol: str, bid: Decimal, ask: Decimal) -> None:
        self.maker.cancel_all()
        self.maker.place(symbol, "2", 1_000_000, ask)

    async def fill(self, client_order_id: str, quantity: Decimal) -> None:
        order = self.proxy.orders[client_order_id]
        side = "2" if order[54] == "1" else "1"
        self.maker.place(order[55], side, int(quantity), Decimal(order[44]))

    async def arm(self, fault: str) -> None:
        if fault == REJECT_RETRYABLE:
            await self.drop_connections()
        elif fault == LOSE_ANSWER:
            self.proxy.lose_next_answer()
        else:
            raise AssertionError(f"ordermatch cannot be steered to {fault}")

    async def drop_connections(self) -> None:
        self.proxy.drop()
        await self.adapters.until_down()

    async def submits(self, client_order_id: str) -> int:
        return self.proxy.submits[client_order_id]

    async def reset(self) -> None:
        self.maker.cancel_all()


def ordermatch_target(tmp: Path) -> Iterator[Target]:
    """A fresh ``ordermatch`` with a maker session, and the FIX adapter through a proxy."""
    acceptor = QuickFixAcceptor(quickfix_program("ordermatch", tmp / "programs"),
                                tmp / "ordermatch", begin_string="FIX.4.2",
                                sender_comp_id="ORDERMATCH", target_comp_id="CLIENT",
                                extra_target_comp_ids=("MAKER",))
    acceptor.start()
    proxy = FixProxy(acceptor.port)
    maker = MakerSession(session_config(acceptor, "MAKER", tmp / "maker")).start()
    adapters = _Adapters()

    def connect() -> BrokerAdapter:
        session = session_config(acceptor, "CLIENT", tmp / "client", port=proxy.port,
                                 reconnect=_RECONNECT)
        adapter = build_adapter(FixAdapterConfig.model_validate(
            {**ORDERMATCH_SETTINGS, "session": session}))
        adapters.made.append(adapter)
        return adapter

    try:
        yield Target(ORDERMATCH, OrdermatchCounterparty(maker, proxy, adapters), connect,
                     Instrument.equity(SYMBOL, venue="ORDERMATCH"), quantity=Decimal(10),
                     bid=Decimal("100.00"), ask=Decimal("100.02"), settle_s=15.0)
    finally:
        maker.stop()
        proxy.close()
        acceptor.stop()
