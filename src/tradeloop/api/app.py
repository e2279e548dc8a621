"""The FastAPI app of a node: REST under ``/api/v1``, the event stream at ``/api/v1/ws``,
``/health``, ``/metrics``, the TradingView webhook and the dashboard.

:func:`create_app` builds it around a :class:`~tradeloop.services.control.NodeControl`;
:mod:`tradeloop.api.server` serves it (alone for a stored database, or beside a running node).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.websockets import WebSocketState

from tradeloop import __version__
from tradeloop.analytics.report import LIGHTWEIGHT_CHARTS_VERSION
from tradeloop.api.auth import WS_PROTOCOL, AuthGate, client_address, require, websocket_token
from tradeloop.api.metrics import CONTENT_TYPE, NodeMetrics
from tradeloop.api.routes import Problem, router
from tradeloop.api.stream import EventHub, StreamLogHandler, equity_ticker
from tradeloop.core.errors import TradeloopError, UserError
from tradeloop.persistence import PersistenceError
from tradeloop.services.control import NodeControl, NodeNotRunning, OrderNotFound
from tradeloop.services.tokens import FailedAuthLimiter, TokenInfo, authenticate

log = logging.getLogger(__name__)

DASHBOARD_DIR = Path(__file__).parent / "dashboard"
_WS_AUTH_TIMEOUT_S = 10.0


def create_app(control: NodeControl, *, authenticator: Callable[[str, str], TokenInfo] | None
               = None, limiter: FailedAuthLimiter | None = None, behind_proxy: bool = False,
               webhook: Any = None, log_level: int = logging.WARNING) -> FastAPI:
    """The app of one node.

    Parameters
    ----------
    control : NodeControl
        The node (running here, or only its database).
    authenticator : callable, optional
        ``(token, scope) -> TokenInfo``; default the audit database's tokens.
    limiter : FailedAuthLimiter, optional
        Failed-authentication limits per client address.
    behind_proxy : bool
        Trust ``X-Forwarded-For`` for the client's address (only behind your own proxy).
    webhook : optional
        The TradingView webhook's settings; without them the webhook answers 404.
    log_level : int
        Log records at or above it go to the event stream.
    """
    hub = EventHub()
    metrics = NodeMetrics(control.node)
    hub_event = hub.on_event

    def on_event(event: Any) -> None:
        metrics.on_event(event)
        hub_event(event)

    log_handler = StreamLogHandler(hub, log_level)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        hub.attach(asyncio.get_running_loop())
        if control.node is not None:
            control.node.kernel.bus.subscribe("events.*", on_event)
        logging.getLogger("tradeloop").addHandler(log_handler)
        tasks = [asyncio.create_task(metrics.watch_loop()),
                 asyncio.create_task(equity_ticker(hub, lambda: asdict(control.account())))]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            logging.getLogger("tradeloop").removeHandler(log_handler)
            if control.node is not None:
                control.node.kernel.bus.unsubscribe("events.*", on_event)

    app = FastAPI(
        title="tradeloop", version=__version__, lifespan=lifespan,
        description="Watch and steer a tradeloop node. Every route but /health and the "
                    "TradingView webhook needs a bearer token (tradeloop token create).",
    )
    app.state.control = control
    app.state.auth = AuthGate(authenticator or _default_authenticator(control),
                              limiter or FailedAuthLimiter())
    app.state.behind_proxy = behind_proxy
    app.state.hub = hub
    app.state.metrics = metrics
    app.state.webhook = webhook
    app.include_router(router)
    _errors(app)
    _plain_routes(app, control, metrics)
    _websocket(app, hub)
    if webhook is not None:
        from tradeloop.api.webhook import add_webhook

        add_webhook(app, webhook)
    _chart_library(app)  # before the mount, which would answer for /dashboard/... first
    if DASHBOARD_DIR.is_dir():
        app.mount("/dashboard", StaticFiles(directory=DASHBOARD_DIR, html=True),
                  name="dashboard")
    return app


def _default_authenticator(control: NodeControl) -> Callable[[str, str], TokenInfo]:
    def check(token: str, scope: str) -> TokenInfo:
        return authenticate(token, scope, store=control.store)

    return check


def _errors(app: FastAPI) -> None:
    @app.exception_handler(NodeNotRunning)
    async def not_running(_: Request, exc: NodeNotRunning) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(OrderNotFound)
    async def not_found(_: Request, exc: OrderNotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(UserError)
    async def user_error(_: Request, exc: UserError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(PersistenceError)
    async def database_down(_: Request, exc: PersistenceError) -> JSONResponse:
        log.error("audit database failed", extra={"fields": {"error": str(exc)}})
        return JSONResponse({"detail": "the audit database is not available"},
                            status_code=503)

    @app.exception_handler(TradeloopError)
    async def refused(_: Request, exc: TradeloopError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)


def _plain_routes(app: FastAPI, control: NodeControl, metrics: NodeMetrics) -> None:
    @app.get("/health", tags=["health"])
    async def health() -> dict[str, Any]:
        """Liveness: no token needed, no details given."""
        return {"status": "ok", "running": control.running}

    @app.get("/metrics", tags=["metrics"], response_class=Response,
             dependencies=[_scope("read")], responses={
                 200: {"content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}},
                       "description": "Prometheus' text format"},
                 401: {"model": Problem, "description": "no valid token"},
                 429: {"model": Problem, "description": "too many failed logins"}})
    async def prometheus() -> Response:
        """Prometheus metrics (a token with the read scope)."""
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/dashboard/")


def _chart_library(app: FastAPI) -> None:
    # the package ships one copy of lightweight-charts: the report's (analytics/assets)
    library = resources.files("tradeloop.analytics") / "assets" / (
        f"lightweight-charts-{LIGHTWEIGHT_CHARTS_VERSION}.standalone.production.js")

    @app.get("/dashboard/vendor/lightweight-charts.js", include_in_schema=False)
    async def chart_library() -> Response:
        return Response(library.read_bytes(), media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})


def _scope(scope: str) -> Any:
    from fastapi import Depends

    return Depends(require(scope))


def _websocket(app: FastAPI, hub: EventHub) -> None:
    @app.websocket("/api/v1/ws")
    async def stream(websocket: WebSocket) -> None:
        """The event stream (a token with the read scope, as ``Authorization: Bearer`` or the
        ``bearer.<token>`` subprotocol beside ``tradeloop``)."""
        gate: AuthGate = app.state.auth
        client_name = client_address(websocket, app.state.behind_proxy)
        try:
            token = await gate.check(websocket_token(websocket), "read", client_name,
                                     "WS /api/v1/ws")
        except Exception as exc:  # HTTPException: refuse before accepting
            status = getattr(exc, "status_code", 401)
            await websocket.send_denial_response(JSONResponse(
                {"detail": getattr(exc, "detail", "not authorised")}, status_code=status))
            return
        offered = [p.strip() for p in
                   websocket.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
        await websocket.accept(subprotocol=WS_PROTOCOL if WS_PROTOCOL in offered else None)
        client = hub.connect(f"{client_name}:{token.name}")
        sender = asyncio.create_task(_send(websocket, client))
        try:
            while True:  # the client may send pings; anything else is ignored
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            hub.disconnect(client)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender


async def _send(websocket: WebSocket, client: Any) -> None:
    while True:
        payload = await client.queue.get()
        if payload is None:  # too slow: dropped
            with contextlib.suppress(Exception):
                await websocket.close(code=1013, reason="too slow: reconnect")
            return
        if websocket.application_state is not WebSocketState.CONNECTED:
            return
        await websocket.send_text(payload.decode())
