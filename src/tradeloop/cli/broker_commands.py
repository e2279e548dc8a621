"""``tradeloop broker login NAME``: the logins a person must do (an OAuth consent, a daily code).

What to open goes to stderr; the answer is read from the terminal (not echoed when it is a
secret is the broker's business: the addresses pasted back are one-time codes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tradeloop.services.live import broker_login

broker_app = typer.Typer(
    no_args_is_help=True,
    help="Broker accounts: log in where the broker needs a person (schwab, fyers).",
)
_err = Console(stderr=True, soft_wrap=True)


@broker_app.command()
def login(
    name: Annotated[str, typer.Argument(help="The broker: schwab or fyers.")],
    settings: Annotated[Path | None, typer.Option(
        help="TOML file with the adapter's settings (a node config's [broker.settings]).")
    ] = None,
) -> None:
    """Log in to a broker and store its tokens, encrypted, for the nodes that trade there."""
    broker_login(name, settings, ask=typer.prompt,
                 show=lambda text: _err.print(text, highlight=False))
    _err.print(f"{name}: logged in; the tokens are stored for the nodes that use them")
