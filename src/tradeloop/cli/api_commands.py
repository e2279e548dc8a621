"""``tradeloop serve``: the API and dashboard of a node's stored database; and the API server
``tradeloop paper --api`` runs beside its node."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from tradeloop.config.home import home_dir
from tradeloop.config.node import NodeConfig, load_node_config
from tradeloop.core.logging import setup_logging

if TYPE_CHECKING:  # the server's imports (FastAPI, uvicorn) load only when it starts
    from tradeloop.api.server import ApiServer
    from tradeloop.persistence import AuditStore

_err = Console(stderr=True, soft_wrap=True)


def _apply(settings: NodeConfig, host: str | None, port: int | None,
           behind_proxy: bool | None = None, tls_cert: Path | None = None,
           tls_key: Path | None = None) -> None:
    api = settings.api
    if host is not None:
        api.host = host
    if port is not None:
        api.port = port
    if behind_proxy:
        api.behind_proxy = True
    if tls_cert is not None:
        api.tls_cert = str(tls_cert)
    if tls_key is not None:
        api.tls_key = str(tls_key)


def _store(settings: NodeConfig) -> AuditStore:
    from tradeloop.persistence import AuditStore, open_database

    url = settings.database.url.get_secret_value() or None
    return AuditStore(open_database(url, home_dir(), durability=settings.database.durability))


def _announce(host: str, port: int) -> None:
    shown = f"[{host}]" if ":" in host else host
    _err.print(f"api on http://{shown}:{port} (dashboard: /dashboard/, docs: /docs)",
               highlight=False)


def api_server(settings: NodeConfig, host: str | None = None,
               port: int | None = None) -> ApiServer:
    """The API server to run beside ``settings``' node, checked before the node starts.

    Raises
    ------
    ConfigError
        When the address would expose it without TLS or a token.
    """
    from tradeloop.api.server import ApiServer, check_exposure
    from tradeloop.services.tokens import count_active_tokens

    _apply(settings, host, port)
    store = _store(settings)
    try:
        check_exposure(settings.api, active_tokens=count_active_tokens(store))
    finally:
        store.database.close()
    return ApiServer(settings.api, webhook_settings(settings), on_started=_announce)


def webhook_settings(settings: NodeConfig) -> object | None:
    """The TradingView webhook's settings, when ``[api.webhook]`` enables it."""
    webhook = settings.api.webhook
    if not webhook.enabled:
        return None
    from tradeloop.api.webhook import settings_from_config

    return settings_from_config(webhook)


def serve(
    config: Annotated[Path, typer.Argument(help="The node's TOML file.")],
    host: Annotated[str | None, typer.Option(help="Address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8080).")] = None,
    behind_proxy: Annotated[bool, typer.Option(
        "--behind-proxy", help="A TLS proxy forwards to it: trust X-Forwarded-For.")] = False,
    tls_cert: Annotated[Path | None, typer.Option(help="TLS certificate (PEM).")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
) -> None:
    """Serve the API and dashboard of a node's audit database: its orders, positions, runs and
    risk events, and its kill switch (a node running elsewhere obeys it). Stop with Ctrl-C."""
    from tradeloop.api.server import serve_stored
    from tradeloop.services.control import NodeControl

    settings = load_node_config(config)
    setup_logging(level=settings.logging.level, json_lines=settings.logging.json_lines,
                  log_file=settings.log_path(home_dir()), rotate_mb=settings.logging.rotate_mb,
                  keep=settings.logging.keep)
    _apply(settings, host, port, behind_proxy, tls_cert, tls_key)
    store = _store(settings)
    control = NodeControl(settings, store)
    _announce(settings.api.host, settings.api.port)
    try:
        serve_stored(control, settings.api, webhook_settings(settings))
    finally:
        store.database.close()


__all__ = ["api_server", "serve"]
