"""``tradeloop kill``, ``resume`` and ``flatten``: the kill switch of a node, and closing its
positions from the command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tradeloop.config.node import load_node_config
from tradeloop.core.time import ns_to_iso

_out = Console(width=None if sys.stdout.isatty() else 120)


def kill(
    config: Annotated[Path, typer.Argument(help="The node's TOML file.")],
    flatten: Annotated[bool, typer.Option(
        "--flatten", help="Also close every position.")] = False,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")] = "",
    by: Annotated[str, typer.Option(help="Who (default: your user name).")] = "",
) -> None:
    """Engage the node's kill switch: no new order leaves (cancels do) until tradeloop resume,
    across restarts too. A running node stops trading at its next market data item."""
    from tradeloop.services.risk import kill_node

    state = kill_node(load_node_config(config), by=by, reason=reason, flatten=flatten)
    since = ns_to_iso(state.since) if state.since is not None else "now"
    _out.print(f"kill switch engaged since {since} by {state.by}: {state.reason}"
               + (" (positions will be closed)" if state.flatten else ""), highlight=False)


def resume(
    config: Annotated[Path, typer.Argument(help="The node's TOML file.")],
    by: Annotated[str, typer.Option(help="Who re-arms the switch.")] = "",
    reason: Annotated[str, typer.Option(help="Why it is safe to trade again.")] = "",
) -> None:
    """Re-arm the node's kill switch: trading resumes (refused while the kill file exists)."""
    from tradeloop.services.risk import resume_node

    settings = load_node_config(config)
    resume_node(settings, by=by, reason=reason)
    _out.print(f"kill switch re-armed by {by.strip()}: node {settings.name} may trade again",
               highlight=False)


def flatten(
    config: Annotated[Path, typer.Argument(help="The node's TOML file.")],
    symbol: Annotated[str | None, typer.Argument(help="Only this instrument.")] = None,
    wait: Annotated[float, typer.Option(
        help="Seconds to wait for the running node to take the request.")] = 10.0,
    by: Annotated[str, typer.Option(help="Who (default: your user name).")] = "",
) -> None:
    """Ask the running node to close its positions (all, or SYMBOL's) with market orders, and
    print the orders it sent."""
    from tradeloop.services.risk import flatten_node

    result = flatten_node(load_node_config(config), symbol, by=by, timeout_s=wait)
    if not result.orders:
        _out.print("no open position to close", highlight=False)
        return
    _out.print(f"{len(result.orders)} order(s) sent:", highlight=False)
    for client_order_id in result.orders:
        _out.print(f"  {client_order_id}", highlight=False)
