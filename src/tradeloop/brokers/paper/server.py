"""The paper venue served over HTTP and WebSocket (``tradeloop venue serve``).

:func:`create_app` wraps a :class:`~tradeloop.brokers.paper.venue.PaperVenue` in a FastAPI app:
the REST API, the ``/v1/stream`` WebSocket of order events (with their seq) and market data,
the admin endpoints, and a background task feeding the venue from its market data source, so
resting orders keep filling while no node is connected. :func:`serve` builds everything from a
:class:`~tradeloop.brokers.paper.config.PaperServerConfig` and runs it under uvicorn until
stopped. The protocol is documented in ``docs/paper-venue-protocol.md``.

Every venue call runs on the server's event loop (the handlers are coroutines), so calls are
serialised and events reach the stream in seq order. The server listens on 127.0.0.1 by
default and refuses a non-loopback address without a bearer token.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, TypeVar

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Query, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import SecretStr
from starlette.websockets import WebSocketDisconnect

from tradeloop.brokers.paper import parse
from tradeloop.brokers.paper.config import PaperServerConfig
from tradeloop.brokers.paper.errors import PaperFatalError
from tradeloop.brokers.paper.market import MarketSource, feed, market_source_from_config
from tradeloop.brokers.paper.protocol import (
    API_PREFIX,
    HTTP_STATUS,
    ORDER_REJECT_CODES,
    RETRYABLE_CODES,
    ErrorAnswer,
    ErrorDetail,
    EventsAnswer,
    FaultRequest,
    FaultsAnswer,
    HealthAnswer,
    HelloMessage,
    ModifyRequest,
    OrderRequest,
    ReasonCode,
    SubmitAnswer,
)
from tradeloop.brokers.paper.stream import FaultPlan, StreamHub
from tradeloop.brokers.paper.venue import PaperVenue
from tradeloop.brokers.simulated.fees import parse_commission, parse_slippage
from tradeloop.brokers.simulated.venue import SimulatedVenueConfig
from tradeloop.core.errors import ConfigError, DataError, FatalVenueError
from tradeloop.model.account import Account
from tradeloop.model.instrument import Instrument

logger = logging.getLogger(__name__)

_JSON = "application/json"
_T = TypeVar("_T")


class _Refused(Exception):
    def __init__(self, code: str, reason: str, headers: Mapping[str, str] | None = None
                 ) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.headers = dict(headers or {})


def _json(body: object, status: int = 200) -> Response:
    return Response(parse.encode(body), status_code=status, media_type=_JSON)


def _error(code: str, reason: str, *, order: Any = None,
           headers: Mapping[str, str] | None = None) -> Response:
    known = code in ReasonCode.__members__
    status = HTTP_STATUS[ReasonCode(code)] if known else 500
    detail = ErrorDetail(code=code, reason=reason, retryable=known and code in RETRYABLE_CODES)
    return Response(parse.encode(ErrorAnswer(error=detail, order=order)), status_code=status,
                    media_type=_JSON, headers=dict(headers or {}))


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: SecretStr | None) -> None:
    """Refuse to listen beyond this machine without a token.

    Raises
    ------
    ConfigError
        For a non-loopback ``host`` and no token.
    """
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"the paper venue will not listen on {host} without a token: set "
            "TRADELOOP_PAPER_TOKEN, or listen on 127.0.0.1"
        )


def _authorized(headers: Mapping[str, str], token: SecretStr | None) -> bool:
    if token is None:
        return True
    scheme, _, given = headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.get_secret_value().encode())


def create_app(
    venue: PaperVenue,
    *,
    token: SecretStr | None = None,
    allow_admin: bool = False,
    allow_faults: bool = False,
    market_source: MarketSource | None = None,
    stream_queue_limit: int = 10_000,
) -> FastAPI:
    """The FastAPI app serving ``venue``.

    Parameters
    ----------
    venue : PaperVenue
        Used only from the app's event loop while the app runs; the caller closes it. A
        background task has it save its marks every ``marks_flush_ms`` (for data that
        arrived just before a pause in the feed).
    token : SecretStr, optional
        Bearer token every request (but ``GET /health``) and the stream must carry.
    allow_admin : bool
        Enable ``POST /v1/admin/market``.
    allow_faults : bool
        Enable ``/v1/admin/faults``.
    market_source : MarketSource, optional
        Fed to the venue by a background task while the app runs.
    stream_queue_limit : int
        Messages a stream reader may fall behind before the server drops its connection (it
        reconnects and fills the gap from ``/v1/events``).
    """
    faults = FaultPlan()
    hub = StreamHub(faults, stream_queue_limit)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub.attach(asyncio.get_running_loop())
        unsubscribe = venue.subscribe(hub.on_event)
        unsubscribe_market = venue.subscribe_market(hub.on_market)
        tasks = [asyncio.create_task(_save_marks(venue))] if venue.marks_flush_ms else []
        if market_source is not None:
            tasks.append(asyncio.create_task(_run_source(market_source, venue)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            unsubscribe()
            unsubscribe_market()
            hub.close_all()

    app = FastAPI(title="tradeloop paper venue", version="1", lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)

    async def authorize(request: Request) -> None:
        if not _authorized(request.headers, token):
            raise _Refused(ReasonCode.UNAUTHORIZED, "missing or wrong bearer token",
                           {"WWW-Authenticate": "Bearer"})

    api = APIRouter(prefix=API_PREFIX, dependencies=[Depends(authorize)])

    @app.exception_handler(_Refused)
    async def refused(request: Request, exc: _Refused) -> Response:
        return _error(exc.code, exc.reason, headers=exc.headers)

    @app.exception_handler(PaperFatalError)
    async def venue_refused(request: Request, exc: PaperFatalError) -> Response:
        return _error(exc.code, exc.reason, order=exc.order)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(ReasonCode.BAD_REQUEST, f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(DataError)
    async def bad_data(request: Request, exc: DataError) -> Response:
        return _error(ReasonCode.BAD_REQUEST, str(exc))

    @app.exception_handler(FatalVenueError)
    async def venue_failed(request: Request, exc: FatalVenueError) -> Response:
        return _error(ReasonCode.INTERNAL, str(exc))

    @app.get("/health")
    async def health() -> Response:
        status = "failed" if venue.failed else "ok"
        return _json(HealthAnswer(status=status, venue=venue.venue, last_seq=venue.last_seq,
                                  market_ns=venue.market_ns), 503 if venue.failed else 200)

    @api.post("/orders")
    async def submit(request: Request) -> Response:
        body = _decode_body(await request.body(), OrderRequest, "order")
        try:
            order = parse.order_from_request(body)
        except ValueError as exc:
            raise _Refused(ReasonCode.INVALID_ORDER, str(exc)) from None
        fault = faults.take_submit()
        if fault is not None and fault.kind == "reject":
            reason = fault.reason or f"simulated {fault.code.lower().replace('_', ' ')}"
            if fault.code in RETRYABLE_CODES:
                headers = {"Retry-After": "1"} if fault.code == ReasonCode.RATE_LIMITED else {}
                return _error(fault.code, reason, headers=headers)
            result = venue.reject(order, fault.code, reason, owner=body.owner)
        else:
            if fault is not None and fault.kind == "fill_before_ack":
                hub.hold_ack(order.client_order_id)
            result = venue.submit(order, owner=body.owner)
        if fault is not None and fault.kind == "delay_answer":
            await asyncio.sleep(fault.delay_s)
        if result.rejected:
            return _error(result.code or ReasonCode.INVALID_ORDER, result.report.reason,
                          order=result.report)
        answer = SubmitAnswer(order=result.report, duplicate=result.duplicate)
        return _json(answer, 200 if result.duplicate else 201)

    @api.get("/orders")
    async def list_orders(open_only: bool = Query(False, alias="open"),
                          owner: str | None = None) -> Response:
        return _json(venue.orders(open_only=open_only, owner=owner))

    @api.get("/orders/{client_order_id}")
    async def order_status(client_order_id: str) -> Response:
        report = venue.status(client_order_id)
        if report is None:
            raise _Refused(ReasonCode.ORDER_NOT_FOUND, f"no order {client_order_id} at the venue")
        return _json(report)

    @api.delete("/orders/{client_order_id}")
    async def cancel(client_order_id: str) -> Response:
        return _json(venue.cancel(client_order_id))

    @api.patch("/orders/{client_order_id}")
    async def modify(client_order_id: str, request: Request) -> Response:
        body = _decode_body(await request.body() or b"{}", ModifyRequest, "modification")
        return _json(venue.modify(client_order_id, body.quantity, body.price,
                                  body.trigger_price))

    @api.get("/fills")
    async def fills(since: int = 0, owner: str | None = None) -> Response:
        return _json(venue.fills_since(since, owner))

    @api.get("/positions")
    async def positions() -> Response:
        return _json(venue.positions())

    @api.get("/account")
    async def account() -> Response:
        return _json(venue.account())

    @api.get("/instruments")
    async def instruments() -> Response:
        return _json(venue.instruments())

    @api.get("/events")
    async def events(since_seq: int = Query(0, ge=0), limit: int = Query(1000, ge=1, le=10_000),
                     owner: str | None = None) -> Response:
        found = venue.events_since(since_seq, limit, owner)
        return _json(EventsAnswer(events=[parse.event_message(e) for e in found],
                                  last_seq=venue.last_seq))

    @api.post("/admin/market")
    async def push_market(request: Request) -> Response:
        if not allow_admin:
            raise _Refused(ReasonCode.FORBIDDEN, "admin endpoints are disabled on this venue")
        try:
            message = parse.decode_market(await request.body())
        except PaperFatalError as exc:
            raise _Refused(ReasonCode.BAD_REQUEST, exc.reason) from None
        feed(venue, parse.market_from_message(message))
        return _json(HealthAnswer(status="ok", venue=venue.venue, last_seq=venue.last_seq,
                                  market_ns=venue.market_ns))

    @api.post("/admin/faults")
    async def arm_fault(request: Request) -> Response:
        _faults_allowed(allow_faults)
        fault = _decode_body(await request.body(), FaultRequest, "fault")
        _check_fault(fault)
        faults.arm(fault)
        return _json(FaultsAnswer(armed=faults.armed()))

    @api.get("/admin/faults")
    async def list_faults() -> Response:
        _faults_allowed(allow_faults)
        return _json(FaultsAnswer(armed=faults.armed()))

    @api.delete("/admin/faults")
    async def clear_faults() -> Response:
        _faults_allowed(allow_faults)
        faults.clear()
        return _json(FaultsAnswer(armed=[]))

    app.include_router(api)

    @app.websocket(f"{API_PREFIX}/stream")
    async def stream(websocket: WebSocket) -> None:
        if not _authorized(websocket.headers, token):
            await websocket.close(code=1008)  # before accept: the handshake gets HTTP 403
            return
        query = websocket.query_params
        symbols = query.get("symbols")
        await websocket.accept()
        connection = hub.register(
            events=query.get("events", "1") != "0", market=query.get("market", "0") != "0",
            symbols=frozenset(s for s in symbols.split(",") if s) if symbols else None,
        )
        try:
            hello = HelloMessage(venue=venue.venue, last_seq=venue.last_seq)
            await websocket.send_text(parse.encode(hello).decode())
            await hub.pump(websocket, connection)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the reader went away
        finally:
            hub.unregister(connection)

    return app


def _decode_body(raw: bytes, cls: type[_T], what: str) -> _T:
    if not raw:
        raise _Refused(ReasonCode.BAD_REQUEST, f"the {what} is missing from the body")
    try:
        return parse.decode(raw, cls, what)
    except PaperFatalError as exc:
        raise _Refused(ReasonCode.BAD_REQUEST, exc.reason) from None


def _faults_allowed(allowed: bool) -> None:
    if not allowed:
        raise _Refused(ReasonCode.FORBIDDEN, "fault injection is disabled on this venue")


def _check_fault(fault: FaultRequest) -> None:
    if fault.kind == "reject" and fault.code not in RETRYABLE_CODES | ORDER_REJECT_CODES:
        allowed = ", ".join(sorted(RETRYABLE_CODES | ORDER_REJECT_CODES))
        raise _Refused(ReasonCode.BAD_REQUEST,
                       f"fault reject: code {fault.code!r} is not one of {allowed}")
    if fault.delay_s < 0 or fault.after_events < 1 or fault.count < 1:
        raise _Refused(ReasonCode.BAD_REQUEST,
                       "fault: delay_s must be >= 0, after_events and count >= 1")


async def _run_source(source: MarketSource, venue: PaperVenue) -> None:
    try:
        await source.run(venue)
    except asyncio.CancelledError:
        raise
    except Exception:  # a broken data source stops feeding; the venue keeps answering
        logger.exception("paper venue market data source failed")


async def _save_marks(venue: PaperVenue) -> None:
    """Save the marks of data that arrived just before a pause in the feed (the venue saves
    them by itself while data keeps coming)."""
    every_s = venue.marks_flush_ms / 1000
    while True:
        await asyncio.sleep(every_s)
        try:
            venue.persist_marks()
        except Exception:  # the venue has stopped and logged why
            return


def build_venue(config: PaperServerConfig,
                instruments: Sequence[Instrument] | None = None) -> PaperVenue:
    """The venue a server config describes.

    Parameters
    ----------
    config : PaperServerConfig
    instruments : sequence of Instrument, optional
        Used instead of resolving ``config.symbols``.

    Raises
    ------
    ConfigError
        For unknown symbols, bad fee specs, or a state file of another account.
    """
    if instruments is None:
        from tradeloop.data.instruments import bundled_instruments, load_instruments

        book = (load_instruments(config.instruments_file) if config.instruments_file
                else bundled_instruments())
        instruments = [book.instrument(symbol) for symbol in config.symbols]
    if not instruments:
        raise ConfigError("the paper venue needs at least one instrument (symbols)")
    venue_config = SimulatedVenueConfig(
        venue=config.venue, commission=parse_commission(config.commission),
        slippage=parse_slippage(config.slippage), conflict=config.conflict,
        volume_limit=config.volume_limit, day_timezone=config.day_timezone,
    )
    acc = config.account
    account = Account(acc.account_id, acc.currency, acc.account_type, acc.balance)
    return PaperVenue(config.state_path, instruments, account=account, config=venue_config,
                      marks_flush_ms=config.marks_flush_ms)


def _listen(host: str, port: int) -> socket.socket:
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        raise ConfigError(f"the paper venue cannot listen on {host}:{port}: "
                          f"{exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def serve(config: PaperServerConfig, instruments: Sequence[Instrument] | None = None) -> None:
    """Run a paper venue server until it is stopped (Ctrl-C or SIGTERM).

    Parameters
    ----------
    config : PaperServerConfig
    instruments : sequence of Instrument, optional
        Used instead of resolving ``config.symbols``.

    Raises
    ------
    ConfigError
        For a non-loopback host without a token, an address in use, unknown symbols, a state
        file of another account or held by another process.
    DataError
        For a damaged state file or unreadable market data.
    """
    token = config.resolved_token()
    check_bind(config.host, token)
    sock = _listen(config.host, config.port)
    try:
        venue = build_venue(config, instruments)
    except BaseException:
        sock.close()
        raise
    try:
        source = market_source_from_config(
            config.market, {i.symbol: i for i in venue.instruments()})
        app = create_app(venue, token=token, allow_admin=config.allow_admin,
                         allow_faults=config.allow_faults, market_source=source)
        server = uvicorn.Server(uvicorn.Config(
            app, log_level=config.log_level, access_log=False, lifespan="on"))
        logger.info("paper venue serving", extra={"fields": {
            "host": config.host, "port": sock.getsockname()[1],
            "state": str(venue.state_path), "token": token is not None}})
        server.run(sockets=[sock])
    finally:
        sock.close()
        venue.close()


__all__ = ["build_venue", "check_bind", "create_app", "is_loopback", "serve"]
