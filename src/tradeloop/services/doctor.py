"""``doctor``: check a node's settings, database, venue and data before running it, and say
what was found."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from tradeloop.config.home import home_dir
from tradeloop.config.node import NodeConfig
from tradeloop.core.errors import TradeloopError


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


def diagnose(config: NodeConfig, home: Path | None = None) -> list[Check]:
    """Check the database, the instruments and strategies, and the venue connection."""
    home = home or home_dir()
    return [Check("config", True, f"{config.mode} node {config.name!r}, data from "
                  f"{config.data.source}"), _database(config, home),
            *_venue_and_data(config, home)]


__all__ = ["Check", "diagnose"]
