"""A served paper venue for tests: uvicorn in a background thread on a free 127.0.0.1 port,
talked to with the real clients; stoppable and restartable on the same port."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import httpx
import uvicorn
from pydantic import SecretStr

from tradeloop.brokers.paper.config import PaperClientConfig
from tradeloop.brokers.paper.server import create_app
from tradeloop.brokers.paper.venue import PaperVenue
from tradeloop.model.data import Bar


def free_socket(port: int = 0) -> socket.socket:
    """A socket bound on 127.0.0.1 (a free port unless one is given)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


class ServedVenue:
    """A paper venue served by uvicorn in a background thread.

    Parameters
    ----------
    venue : PaperVenue
    port : int
        0 for a free one; give the previous port to restart on the same address.
    app_options
        Passed to ``create_app`` (token, allow_admin, allow_faults...).
    """

    def __init__(self, venue: PaperVenue, port: int = 0, **app_options: Any) -> None:
        app_options.setdefault("allow_admin", True)
        self.venue = venue
        self.token: SecretStr | None = app_options.get("token")
        self.sock = free_socket(port)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        app = create_app(venue, **app_options)
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the paper venue server did not start")
            time.sleep(0.01)

    def client_config(self, **options: Any) -> PaperClientConfig:
        """Client settings pointing at this server (with its token unless told otherwise)."""
        options.setdefault("token", self.token)
        options.setdefault("request_timeout_s", 5.0)
        options.setdefault("reconnect_initial_s", 0.02)
        options.setdefault("reconnect_max_s", 0.2)
        return PaperClientConfig(url=self.url, **options)

    def http(self) -> httpx.Client:
        """A plain HTTP client on the server (with its token)."""
        headers = {}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token.get_secret_value()}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=10, trust_env=False)

    def push(self, item: Bar) -> None:
        """Push a bar through ``POST /v1/admin/market``."""
        body = {"type": "bar", "symbol": item.symbol, "ts": item.ts, "open": item.open,
                "high": item.high, "low": item.low, "close": item.close,
                "volume": item.volume, "timeframe": item.timeframe}
        with self.http() as client:
            client.post("/v1/admin/market", json=body).raise_for_status()

    def fault(self, **fault: Any) -> None:
        """Arm a fault through ``POST /v1/admin/faults``."""
        with self.http() as client:
            client.post("/v1/admin/faults", json=fault).raise_for_status()

    def stop(self) -> None:
        """Stop the server and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(20)
        self.sock.close()
