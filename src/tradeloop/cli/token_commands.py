"""``tradeloop token create|list|revoke``: the API tokens of the audit database.

``create`` writes the token alone on stdout (so ``TOKEN=$(tradeloop token create ...)``
captures just it) and everything else on stderr.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tradeloop.core.time import ns_to_iso
from tradeloop.persistence import AuditStore
from tradeloop.services.tokens import (
    SCOPES,
    TokenInfo,
    create_token,
    list_tokens,
    parse_expiry,
    revoke_token,
)

token_app = typer.Typer(
    no_args_is_help=True,
    help="API tokens: create one (shown once), list them, revoke one.",
)
# pipes and CI get whole rows, unless COLUMNS says otherwise
_out = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 200)
_err = Console(stderr=True, soft_wrap=True)
_STATE_STYLE = {"revoked": "red", "expired": "yellow", "active": "green"}


NodeOption = Annotated[Path | None, typer.Option(
    "--config", help="A node's TOML file: its [database] holds the tokens (default: the "
    "home's database, or TRADELOOP_DATABASE_URL's).")]


@contextmanager
def _node_store(config: Path | None) -> Iterator[AuditStore | None]:
    if config is None:
        yield None
        return
    from tradeloop.config.home import home_dir
    from tradeloop.config.node import load_node_config
    from tradeloop.persistence import open_database

    settings = load_node_config(config)
    url = settings.database.url.get_secret_value() or None
    database = open_database(url, home_dir())
    try:
        yield AuditStore(database)
    finally:
        database.close()


def _time(ns: int | None, none: str = "-") -> str:
    return none if ns is None else ns_to_iso(ns)[:19].replace("T", " ")


@token_app.command("create")
def create_command(
    name: Annotated[str, typer.Argument(help="A unique name: who or what uses the token.")],
    scope: Annotated[list[str], typer.Option(
        "--scope", "-s", help=f"One of {', '.join(SCOPES)} (each includes the ones before).")],
    expires: Annotated[str, typer.Option(
        help="Lifetime: 30d, 12h, 90m..., or never.")] = "90d",
    by: Annotated[str, typer.Option(help="Who creates it (default: your user name).")] = "",
    config: NodeOption = None,
) -> None:
    """Create an API token and print it once (only its hash is stored)."""
    with _node_store(config) as store:
        created = create_token(name, scope, expires_in=parse_expiry(expires), by=by,
                               store=store)
    info = created.info
    expiry = f"expires {_time(info.expires_ns)} UTC" if info.expires_ns else "never expires"
    _err.print(f"token {info.name!r} (id {info.id}) created: scopes {', '.join(info.scopes)}, "
               f"{expiry}", highlight=False)
    typer.echo(created.token)
    _err.print("[yellow]warning:[/yellow] this is the only time the token is shown; store it "
               "now (it cannot be shown again). Lost it? Revoke it and create another.",
               highlight=False)


@token_app.command("list")
def list_command(config: NodeOption = None) -> None:
    """Every token: name, scopes, created, expires, last used, revoked (never the secret)."""
    with _node_store(config) as store:
        tokens = list_tokens(store=store)
    if not tokens:
        _out.print("no API tokens yet: tradeloop token create NAME --scope read creates one",
                   highlight=False)
        return
    now = time.time_ns()
    table = Table(title="API tokens (times UTC)", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False, show_edge=False, collapse_padding=True)
    for column in ("id", "name", "scopes", "state", "created", "expires", "last used",
                   "revoked", "by"):
        table.add_column(column, no_wrap=column in ("id", "name"),
                         justify="right" if column == "id" else "left")
    for token in tokens:
        table.add_row(*_row(token, now))
    _out.print(table)


def _row(token: TokenInfo, now: int) -> tuple[str | Text, ...]:
    state = token.state(now)
    return (str(token.id), token.name, ",".join(token.scopes),
            Text(state, style=_STATE_STYLE[state]), _time(token.created_ns),
            _time(token.expires_ns, "never"), _time(token.last_used_ns, "never"),
            _time(token.revoked_ns), token.created_by)


@token_app.command("revoke")
def revoke_command(
    name: Annotated[str, typer.Argument(help="The token's name or id (token list).")],
    config: NodeOption = None,
) -> None:
    """Revoke a token: every request presenting it is refused from now on."""
    with _node_store(config) as store:
        token = revoke_token(name, store=store)
    _out.print(f"token {token.name!r} (id {token.id}) is revoked since "
               f"{_time(token.revoked_ns)} UTC", highlight=False)
