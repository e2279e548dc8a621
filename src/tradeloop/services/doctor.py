"""``doctor``: check a node's settings, database, venue and data before running it, and say
what was found."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from tradeloop.config.home import home_dir
from tradeloop.config.node import NodeConfig
from tradeloop.core.errors import TradeloopError
from tradeloop.model.account import Account
from tradeloop.model.enums import AccountType, OrderSide, OrderType
from tradeloop.model.orders import Order

if TYPE_CHECKING:
    from tradeloop.brokers.base import BrokerAdapter
    from tradeloop.model.instrument import Instrument


@dataclass(frozen=True)
class Check:
    """One thing doctor looked at."""

    name: str
    ok: bool
    detail: str


def _database(config: NodeConfig, home: Path) -> Check:
    from tradeloop.persistence import AuditStore, open_database, redact_url

    url = config.database.url.get_secret_value() or None
    try:
        database = open_database(url, home)
    except TradeloopError as exc:
        return Check("database", False, str(exc))
    try:
        runs = AuditStore(database).runs(limit=1)
        last = f"; last run {runs[0].run_id} ({runs[0].status})" if runs else "; no runs yet"
        return Check("database", True, f"{redact_url(str(database.url))} at schema "
                     f"{database.schema_revision()}{last}")
    finally:
        database.close()


def _venue_and_data(config: NodeConfig, home: Path) -> list[Check]:
    from tradeloop.services.node import build_node

    checks: list[Check] = []
    try:
        node, store, run_id, _ = build_node(config, home, record_run=False, wall_clock=True)
    except TradeloopError as exc:
        return [Check("node", False, str(exc))]
    kernel = node.kernel
    checks.append(Check("instruments", True, ", ".join(
        f"{i.symbol} (tick {i.tick_size}, lot {i.lot_step})"
        for i in kernel.cache.instruments.values())))
    checks.append(Check("strategies", True, ", ".join(
        f"{r.strategy.id} on {'/'.join(r.symbols)}" for r in kernel.runners)))

    async def connect() -> Check:
        try:
            await node.client.connect()
            account = await node.client.account()
            positions = await node.client.positions()
            orders = await node.client.open_orders()
        except TradeloopError as exc:
            return Check("venue", False, str(exc))
        finally:
            await node.client.disconnect()
        return Check("venue", True, f"{node.client.venue}: balance {account.balance} "
                     f"{account.currency}, {len(positions)} position(s), {len(orders)} open "
                     "order(s)")

    checks.append(asyncio.run(connect()))
    del store, run_id
    return checks


def _broker(config: NodeConfig, home: Path) -> list[Check]:
    from tradeloop.services.live import broker_adapter

    try:
        adapter = broker_adapter(config, home)
    except TradeloopError as exc:
        return [Check("broker", False, str(exc))]
    return asyncio.run(_broker_checks(config, adapter))


async def _broker_checks(config: NodeConfig, adapter: BrokerAdapter) -> list[Check]:
    from tradeloop.services.live import node_symbols

    checks: list[Check] = []
    caps = adapter.capabilities.describe()
    try:
        await adapter.execution.connect()
        checks.append(Check("broker", True, f"{adapter.name} connected; "
                            + ", ".join(f"{k}: {v}" for k, v in caps.items())))
        account = await adapter.execution.account()
        positions = await adapter.execution.positions()
        orders = await adapter.execution.open_orders()
        checks.append(Check("account", True, f"{account.account_id}: balance "
                            f"{account.balance} {account.currency}, equity {account.equity}, "
                            f"{len(positions)} position(s), {len(orders)} open order(s)"))
        symbols = node_symbols(config)
        instruments = await adapter.instruments.instruments(symbols or None)
        checks.append(Check("instruments", True, ", ".join(
            f"{i.symbol} (tick {i.tick_size}, lot {i.lot_step}, min {i.min_quantity})"
            for i in instruments) or "none"))
        checks.extend(_what_if(config, adapter, account.currency, account.balance, instruments))
    except TradeloopError as exc:
        checks.append(Check("broker", False, f"{adapter.name}: {exc}"))
    finally:
        await adapter.close()
    return checks


def _what_if(config: NodeConfig, adapter: BrokerAdapter, currency: str, balance: Decimal,
             instruments: list[Instrument]) -> list[Check]:
    """A smallest market order per instrument, checked as the node would check it (venue
    capabilities, tick and lot, the risk gate with this account) and never sent."""
    from tradeloop.core.clock import LiveClock
    from tradeloop.services.node import node_kernel

    account = Account("doctor", currency, AccountType.MARGIN, balance)
    kernel, _ = node_kernel(config, LiveClock(), account, instruments)
    checks = []
    for inst in instruments:
        quantity = max(inst.min_quantity, inst.lot_step)
        order = Order(client_order_id=f"doctor-{inst.symbol}", strategy_id="doctor",
                      symbol=inst.symbol, side=OrderSide.BUY, order_type=OrderType.MARKET,
                      quantity=quantity, ts_init=kernel.clock.now_ns())
        native = adapter.capabilities.supports(order)
        denial = kernel.risk.check(order)
        how = "sent as is" if native else "emulated (the venue lacks it natively)"
        if denial is None:
            checks.append(Check(f"what-if {inst.symbol}", True,
                                f"BUY {quantity} at market would pass the risk gate; {how}"))
        else:
            checks.append(Check(f"what-if {inst.symbol}", False,
                                f"BUY {quantity} at market would be denied: {denial.reason}"))
    return checks


def diagnose(config: NodeConfig, home: Path | None = None) -> list[Check]:
    """Check the database, the instruments and strategies, and the venue or broker: connect,
    account, instruments and a what-if order that is never sent."""
    home = home or home_dir()
    first = [Check("config", True, f"{config.mode} node {config.name!r}, data from "
                   f"{config.data.source}"), _database(config, home)]
    if config.mode == "live":
        return [*first, *_broker(config, home)]
    return [*first, *_venue_and_data(config, home)]


__all__ = ["Check", "diagnose"]
