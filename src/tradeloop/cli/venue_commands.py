"""``tradeloop venue serve``: the paper venue as its own process, like a broker."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

venue_app = typer.Typer(no_args_is_help=True, help="Run the paper venue as its own process.")


@venue_app.command()
def serve(
    symbol: Annotated[list[str], typer.Option(
        "--symbol", help="An instrument it trades (bundled or instruments-file spec); repeat.")],
    state: Annotated[Path | None, typer.Option(
        help="State file (default: $TRADELOOP_HOME/paper/venue.db).")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free port).")] = 8801,
    cash: Annotated[str, typer.Option(help="Balance of a new account.")] = "100000",
    currency: Annotated[str, typer.Option(help="Currency of a new account.")] = "USD",
    market: Annotated[str, typer.Option(
        help="Market data: none (pushed by hand), bars, quotes or synthetic.")] = "none",
    data: Annotated[Path | None, typer.Option(help="Bar or quote file for --market.")] = None,
    speed: Annotated[float, typer.Option(help="Replay speed (1 real time, 0 flat out).")] = 1.0,
    commission: Annotated[str, typer.Option(help="e.g. 0.1%,min=1.")] = "",
    slippage: Annotated[str, typer.Option(help="e.g. 1tick.")] = "",
    allow_admin: Annotated[bool, typer.Option(
        help="Accept market data pushed over HTTP (tests, demos).")] = False,
    allow_faults: Annotated[bool, typer.Option(
        help="Accept fault injection requests (tests only).")] = False,
) -> None:
    """Serve a paper account over HTTP and WebSocket (protocol: docs/paper-venue-protocol.md).

    It keeps filling resting orders from its own market data while nodes are away; the bearer
    token comes from TRADELOOP_PAPER_TOKEN, and a non-loopback address needs one."""
    from tradeloop.services.venue import serve_venue

    serve_venue(list(symbol), state=state, host=host, port=port, cash=cash, currency=currency,
                market=market, data=data, speed=speed, commission=commission,
                slippage=slippage, allow_admin=allow_admin, allow_faults=allow_faults)
