"""``tradeloop notify test``: send a test alert with a chart through the configured channels and
say, per channel, whether it arrived."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from tradeloop.config.node import load_node_config

notify_app = typer.Typer(no_args_is_help=True,
                         help="Notifications: check the channels of a node's [notify] table.")
_out = Console(width=None if sys.stdout.isatty() else 120)


@notify_app.command("test")
def notify_test(
    config: Annotated[Path, typer.Argument(help="The node's TOML file.")],
    channel: Annotated[str | None, typer.Option(
        "--channel", help="Only this channel (by name).")] = None,
    chart: Annotated[bool, typer.Option(help="Attach a sample chart.")] = True,
) -> None:
    """Send a test alert (with a chart) through every configured channel, or the one named;
    print "ok" or the reason per channel; exit 1 when any failed."""
    from tradeloop.notify.service import check_channels

    settings = load_node_config(config)
    results = asyncio.run(check_channels(settings.notify, channel, chart=chart))
    for result in results:
        if result.ok:
            _out.print(f"[green]ok[/green]   {escape(result.channel)}", highlight=False)
        else:
            _out.print(f"[red]FAIL[/red] {escape(result.channel)}: {escape(result.reason)}",
                       highlight=False)
    if not all(r.ok for r in results):
        raise typer.Exit(1)
