"""An ASGI app served by uvicorn on 127.0.0.1 in a thread: how the stand-ins of venues and
services (Binance, Alpaca, Schwab, Fyers, Polygon, Telegram) answer a test.

The first start takes a free port; a start after :meth:`LocalServer.stop` takes the same port
again, so a client configured with it sees an outage and a recovery, as it would of the real
service.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Self

import uvicorn
from starlette.types import ASGIApp


class LocalServer:
    """One ASGI app on 127.0.0.1.

    Parameters
    ----------
    app : ASGI app
    name : str
        What it stands in for, in its thread's name and in errors ("the local Fyers").
    websockets : bool
        Whether it also serves websocket connections.
    """

    def __init__(self, app: ASGIApp, name: str, *, websockets: bool = False) -> None:
        self._app = app
        self._name = name
        self._websockets = websockets
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """True while it answers."""
        return self._server is not None

    def start(self) -> None:
        """Serve: on a free port the first time, on the same port after :meth:`stop`.

        Raises
        ------
        RuntimeError
            It did not start within 10 s.
        """
        if self._server is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        options = {"ws": "websockets-sansio"} if self._websockets else {}
        config = uvicorn.Config(self._app, log_config=None, log_level="warning",
                                access_log=False, lifespan="off", timeout_graceful_shutdown=1,
                                **options)
        server = uvicorn.Server(config)
        slug = self._name.lower().replace(" ", "-")
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                                  name=f"{slug}-{self.port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError(f"{self._name} did not start")
            time.sleep(0.01)
        self._server, self._thread = server, thread

    def stop(self) -> None:
        """Stop answering: connections are refused until :meth:`start`."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout=10)
        self._server = self._thread = None


class LocalService:
    """The base of a stand-in that a :class:`LocalServer` serves (set as ``_http`` in its
    ``__init__``): started and stopped, or used as a context manager.

    A stand-in with connections of its own to cut when it stops (websocket streams) overrides
    :meth:`_cut_connections`.
    """

    _http: LocalServer

    @property
    def running(self) -> bool:
        """True while it answers."""
        return self._http.running

    @property
    def port(self) -> int:
        """The port it serves on (0 before the first start)."""
        return self._http.port

    def start(self) -> None:
        """Serve on 127.0.0.1: a free port the first time, the same port after :meth:`stop`."""
        self._http.start()

    def stop(self) -> None:
        """Stop answering (an outage): connections are cut and refused until :meth:`start`."""
        if not self._http.running:
            return
        self._cut_connections()
        self._http.stop()

    def _cut_connections(self) -> None:
        return None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
