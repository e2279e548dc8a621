"""``tradeloop paper``, ``replay`` and ``status``: running a node and checking on it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from tradeloop.config.home import home_dir
from tradeloop.config.node import load_node_config
from tradeloop.core.logging import setup_logging
from tradeloop.core.time import ns_to_iso

if TYPE_CHECKING:
    from tradeloop.config.node import NodeConfig
    from tradeloop.services.node import Companion, PaperSession

_out = Console(width=None if sys.stdout.isatty() else 120)
_err = Console(stderr=True, soft_wrap=True)


def paper(
    config: Annotated[Path, typer.Argument(help="The node's TOML file.")],
    speed: Annotated[float | None, typer.Option(
        help="Replay speed: 0 as fast as possible, 1 real time, N times faster.")] = None,
    api: Annotated[bool, typer.Option(
        "--api", help="Serve the API and dashboard beside the node ([api] in the config).")
    ] = False,
    host: Annotated[str | None, typer.Option(help="The API's address (default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="The API's port (default 8080).")] = None,
) -> None:
    """Paper trade: the strategies on live, replayed or synthetic data, filled by the simulated
    venue (in process, or the one at [venue] url). Stop with Ctrl-C."""
    from tradeloop.services.node import run_paper

    settings = load_node_config(config)
    if speed is not None:
        settings.data.speed = speed
    beside = _companions(settings, api, host, port)
    session = run_paper(settings, beside=beside)
    _finish(session)


def _companions(settings: NodeConfig, api: bool, host: str | None, port: int | None
                ) -> list[Companion]:
    setup_logging(level=settings.logging.level, json_lines=settings.logging.json_lines,
                  log_file=settings.log_path(home_dir()), rotate_mb=settings.logging.rotate_mb,
                  keep=settings.logging.keep)
    beside: list[Companion] = []
    if api or settings.api.enabled or host is not None or port is not None:
        from tradeloop.cli.api_commands import api_server

        beside.append(api_server(settings, host, port))
    if settings.notify.channels:
        from tradeloop.notify.service import NotificationService

        beside.append(NotificationService(settings))
    return beside


def _finish(session: PaperSession) -> None:
    for line in session.summary.lines():
        _out.print(line, highlight=False)
    _out.print(f"run {session.run_id}: tradeloop replay {session.run_id} compares it with a "
               "backtest", highlight=False)
    if session.summary.failures:
        raise typer.Exit(1)


def replay(
    run_id: Annotated[str, typer.Argument(help="A paper or live run (tradeloop status lists "
                                                 "them).")],
) -> None:
    """Re-run a recorded run's market data through the backtester and list every difference
    in orders and fills."""
    from tradeloop.services.replay import replay_run

    report = replay_run(run_id)
    _out.print(f"run {run_id}: {report.orders_run} orders and {report.fills_run} fills; "
               f"backtest: {report.orders_backtest} orders and {report.fills_backtest} fills",
               highlight=False)
    for line in report.only_in_run:
        _out.print(f"  only in the run:      {line}", highlight=False)
    for line in report.only_in_backtest:
        _out.print(f"  only in the backtest: {line}", highlight=False)
    if report.same:
        _out.print("no difference: the run and the backtest agree order for order and fill "
                   "for fill")
        return
    raise typer.Exit(1)


def status(
    runs: Annotated[int, typer.Option(help="How many recent runs to list.")] = 5,
) -> None:
    """Recent runs, open orders and positions from the audit database."""
    from tradeloop.persistence import AuditStore, open_database

    store = AuditStore(open_database(None, home_dir()))
    table = Table(title="recent runs", title_justify="left")
    for column in ("run", "mode", "status", "started", "ended", "strategies"):
        table.add_column(column)
    for run in store.runs(limit=runs):
        table.add_row(run.run_id, run.mode, run.status, ns_to_iso(run.started_ns),
                      ns_to_iso(run.ended_ns) if run.ended_ns else "-",
                      ", ".join(run.strategy_ids))
    _out.print(table)
    open_orders = store.orders(open_only=True)
    _out.print(f"{len(open_orders)} open order(s)")
    for order in open_orders:
        _out.print(f"  {order.client_order_id} {order.side.value} {order.quantity} "
                   f"{order.symbol} {order.order_type.value} {order.status.value}",
                   highlight=False)
    positions = store.latest_positions()
    _out.print(f"{len(positions)} open position(s)")
    for position in positions:
        _out.print(f"  {position.symbol} {position.quantity} @ {position.avg_px} "
                   f"({position.strategy_id})", highlight=False)


def order(
    side: Annotated[str, typer.Argument(help="buy or sell.")],
    symbol: Annotated[str, typer.Argument(help="The instrument.")],
    quantity: Annotated[str, typer.Argument(help="How much, in units (rounded down to the lot).")],
    config: Annotated[Path, typer.Option("--config", help="The node's TOML file.")],
    limit: Annotated[str | None, typer.Option(help="Limit price.")] = None,
    stop: Annotated[str | None, typer.Option(help="Stop (trigger) price.")] = None,
) -> None:
    """Place one order by hand, through the node's risk gate, write-ahead and venue."""
    from tradeloop.services.manual import place_manual_order

    result = place_manual_order(load_node_config(config), side, symbol, quantity, limit, stop)
    _out.print(f"{result.client_order_id}: {result.status}"
               + (f" ({result.reason})" if result.reason else "")
               + (f", filled {result.filled_qty}" if result.filled_qty else ""), highlight=False)
    if result.status in ("DENIED", "REJECTED"):
        raise typer.Exit(1)


def doctor(
    config: Annotated[Path, typer.Argument(help="The node's TOML file.")],
) -> None:
    """Check a node's settings, database, instruments, strategies and venue, and say what was
    found."""
    from tradeloop.services.doctor import diagnose

    checks = diagnose(load_node_config(config))
    for check in checks:
        mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
        _out.print(f"{mark} {check.name}: {check.detail}", highlight=False)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


def live(
    config: Annotated[Path, typer.Argument(help="The node's TOML file (mode = \"live\").")],
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Live data from the broker, simulated fills.")] = False,
    api: Annotated[bool, typer.Option(
        "--api", help="Serve the API and dashboard beside the node ([api] in the config).")
    ] = False,
    host: Annotated[str | None, typer.Option(help="The API's address (default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="The API's port (default 8080).")] = None,
) -> None:
    """Trade live through the configured [broker] (or, with --dry-run, simulated fills on its
    data). The node reconciles with the broker before any strategy runs. Stop with Ctrl-C."""
    from tradeloop.services.live import run_live

    settings = load_node_config(config)
    beside = _companions(settings, api, host, port)
    _finish(run_live(settings, beside=tuple(beside), dry_run=dry_run))
