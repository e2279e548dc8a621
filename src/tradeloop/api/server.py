"""Serving the API: alone for a stored database (``tradeloop serve``) or beside a running
node (``tradeloop paper --api``), on 127.0.0.1 unless told otherwise, and never exposed
without TLS (or a TLS proxy in front) and a token to log in with."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from tradeloop.api.app import create_app
from tradeloop.config.api import ApiConfig
from tradeloop.core.errors import ConfigError
from tradeloop.services.control import NodeControl
from tradeloop.services.tokens import list_tokens

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """True for an address only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: assume it is reachable from elsewhere


def check_exposure(api: ApiConfig, *, active_tokens: int) -> None:
    """Refuse to serve beyond this machine without TLS (or a TLS proxy in front) and a token.

    Raises
    ------
    ConfigError
        Naming what is missing.
    """
    if bool(api.tls_cert) != bool(api.tls_key):
        raise ConfigError("api.tls_cert and api.tls_key go together: give both or neither")
    for name in ("tls_cert", "tls_key"):
        path = getattr(api, name)
        if path and not Path(path).expanduser().is_file():
            raise ConfigError(f"api.{name} {path} does not exist")
    if is_loopback(api.host):
        return
    if not (api.tls_cert or api.behind_proxy):
        raise ConfigError(
            f"--host {api.host} would expose the API beyond this machine in clear text: give "
            "--tls-cert and --tls-key, or --behind-proxy when a TLS proxy forwards to it")
    if active_tokens == 0:
        raise ConfigError(
            f"--host {api.host} would expose the API with no token to log in with: create "
            "one first (tradeloop token create NAME --scope read)")


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves SIGINT and SIGTERM to the node it runs beside."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def uvicorn_config(app: Any, api: ApiConfig) -> uvicorn.Config:
    """How uvicorn serves ``app``: our logging (no access log: URLs are not worth the noise),
    TLS when configured, proxy headers only behind a proxy."""
    return uvicorn.Config(
        app, host=api.host, port=api.port, log_config=None, access_log=False,
        ssl_certfile=api.tls_cert, ssl_keyfile=api.tls_key, proxy_headers=api.behind_proxy,
        forwarded_allow_ips=",".join(api.trusted_proxies) if api.behind_proxy else "",
        lifespan="on",
        ws="websockets-sansio", timeout_graceful_shutdown=5)


@dataclass
class ApiServer:
    """The API beside a node running in this process: started with the node, stopped with it.

    Parameters
    ----------
    api : ApiConfig
    webhook : optional
        The TradingView webhook's settings.
    """

    api: ApiConfig
    webhook: Any = None
    on_started: Callable[[str, int], None] | None = None
    server: uvicorn.Server | None = None
    app: Any = None

    async def run(self, control: NodeControl) -> None:
        """Serve until :meth:`stop`; ``on_started(host, port)`` once it listens."""
        self.app = create_app(control, behind_proxy=self.api.behind_proxy, webhook=self.webhook,
                              log_level=logging.getLevelName(self.api.stream_log_level))
        self.server = _QuietServer(uvicorn_config(self.app, self.api))
        serving = asyncio.create_task(self.server.serve())
        if self.on_started is not None:
            while self.port is None and not serving.done():
                await asyncio.sleep(0.02)
            if self.port is not None:
                self.on_started(self.api.host, self.port)
        await serving

    def stop(self) -> None:
        """Ask the server to finish."""
        if self.server is not None:
            self.server.should_exit = True

    @property
    def port(self) -> int | None:
        """The port it listens on (the one the OS chose for port 0), once started."""
        server = self.server
        if server is None or not server.started or not server.servers:
            return None
        sockets = server.servers[0].sockets
        return int(sockets[0].getsockname()[1]) if sockets else None

    async def wait_started(self, timeout_s: float = 10.0) -> int:
        """Wait until it listens; its port."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.port is None:
            if loop.time() > deadline:
                raise ConfigError(f"the API did not start on {self.api.host}:{self.api.port} "
                                  f"within {timeout_s:.0f} s")
            await asyncio.sleep(0.02)
        return int(self.port)


def serve_stored(control: NodeControl, api: ApiConfig, webhook: Any = None) -> None:
    """Serve a node's stored database (and its kill switch) until interrupted."""
    check_exposure(api, active_tokens=_active(control))
    app = create_app(control, behind_proxy=api.behind_proxy, webhook=webhook,
                     log_level=logging.getLevelName(api.stream_log_level))
    log.info("serving", extra={"fields": {"host": api.host, "port": api.port,
                                          "node": control.config.name}})
    uvicorn.Server(uvicorn_config(app, api)).run()


def _active(control: NodeControl) -> int:
    import time

    now = time.time_ns()
    return sum(1 for t in list_tokens(store=control.store) if t.state(now) == "active")
