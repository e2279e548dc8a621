"""REST routes under ``/api/v1``: each one formats a call to the service layer
(:class:`~tradeloop.services.control.NodeControl`) and nothing else.

The routes run on the event loop, the node's own thread, so they read and command the running
kernel without locks; reads that only touch the audit database go to a worker thread."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from tradeloop.api.auth import require
from tradeloop.services.control import NodeControl, OrderRequest
from tradeloop.services.market_bars import MAX_MARKET_BARS
from tradeloop.services.node_views import (
    AccountView,
    FillView,
    OrderView,
    PositionView,
    RiskEventView,
    RiskView,
    SignalView,
    StatusView,
)
from tradeloop.services.tokens import TokenInfo

READ = Depends(require("read"))
TRADE = Depends(require("trade"))
ADMIN = Depends(require("admin"))
Limit = Annotated[int, Query(ge=1, le=10_000, description="At most this many, newest first.")]



class Problem(BaseModel):
    """Why a request was refused (a validation error's detail is a list of problems)."""

    detail: str | list[dict[str, Any]]


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "no valid token, or it lacks the route's scope"},
    409: {"model": Problem, "description": "refused by the node's state (not running here, "
                                           "order no longer working...)"},
    422: {"model": Problem, "description": "a value that cannot be used"},
    429: {"model": Problem, "description": "too many failed logins from this address"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such order"}}

router = APIRouter(prefix="/api/v1", responses=_ERRORS)


def _control(request: Request) -> NodeControl:
    control: NodeControl = request.app.state.control
    return control


class PlaceOrder(BaseModel):
    """A manual order. Numbers as text keep them exact (``"0.1"``); JSON numbers are taken
    as written."""

    symbol: str = Field(min_length=1, max_length=64)
    side: str = Field(pattern="^(?i:buy|sell)$")
    quantity: Decimal = Field(gt=0, allow_inf_nan=False,
                              description="Positive; rounded down to the instrument's lot.")
    limit_price: Decimal | None = Field(default=None, gt=0, allow_inf_nan=False)
    stop_price: Decimal | None = Field(default=None, gt=0, allow_inf_nan=False)
    stop_loss: Decimal | None = Field(default=None, gt=0, allow_inf_nan=False,
                                      description="With take_profit: a bracket.")
    take_profit: Decimal | None = Field(default=None, gt=0, allow_inf_nan=False)
    time_in_force: Literal["GTC", "DAY", "IOC", "FOK"] = "GTC"
    reduce_only: bool = False
    client_order_id: str | None = Field(default=None, min_length=1, max_length=32,
                                        pattern="^[A-Za-z0-9-]+$")


class ModifyOrderBody(BaseModel):
    """What to change on a working order (at least one field)."""

    quantity: Decimal | None = Field(default=None, gt=0, allow_inf_nan=False)
    limit_price: Decimal | None = Field(default=None, gt=0, allow_inf_nan=False)
    stop_price: Decimal | None = Field(default=None, gt=0, allow_inf_nan=False)


class Reason(BaseModel):
    """Why (kept in the audit trail)."""

    reason: str = Field(default="", max_length=500)


class KillBody(Reason):
    """Engage the kill switch, optionally closing every position."""

    flatten: bool = False


class RearmBody(BaseModel):
    """Re-arm the kill switch: why it is safe to trade again."""

    reason: str = Field(min_length=1, max_length=500)


class FlattenBody(BaseModel):
    """Close every position, or one symbol's."""

    symbol: str | None = Field(default=None, max_length=64)


class FlattenResult(BaseModel):
    """The closing orders sent."""

    client_order_ids: list[str]


class RunItem(BaseModel):
    """A recorded run."""

    run_id: str
    mode: str
    status: str
    started_ns: int
    ended_ns: int | None
    strategies: list[str]


class EquityPoint(BaseModel):
    """One account snapshot."""

    ts: int
    balance: str
    equity: str


class Performance(BaseModel):
    """The account now and its recorded equity curve (oldest first)."""

    account: AccountView
    equity: list[EquityPoint]


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _who(token: TokenInfo) -> str:
    return f"token:{token.name}"


@router.get("/status", response_model=StatusView)
async def status(request: Request, _: TokenInfo = READ) -> StatusView:
    """The node at a glance: running, trading state, kill switch, counts."""
    return _control(request).status()


@router.get("/account", response_model=AccountView)
async def account(request: Request, _: TokenInfo = READ) -> AccountView:
    """Balance, equity, the day's PnL and the drawdown."""
    return _control(request).account()


@router.get("/positions", response_model=list[PositionView])
async def positions(request: Request, _: TokenInfo = READ) -> list[PositionView]:
    """Open positions."""
    return _control(request).positions()


@router.get("/orders", response_model=list[OrderView])
async def orders(request: Request, open_only: bool = False, limit: Limit = 200,
           _: TokenInfo = READ) -> list[OrderView]:
    """Orders, newest first."""
    return _control(request).orders(open_only=open_only, limit=limit)


@router.get("/orders/{client_order_id}", response_model=OrderView, responses=_NOT_FOUND)
async def order(request: Request, client_order_id: str, _: TokenInfo = READ) -> OrderView:
    """One order."""
    return _control(request).order(client_order_id)


@router.post("/orders", response_model=OrderView, status_code=202)
async def place_order(request: Request, body: PlaceOrder, token: TokenInfo = TRADE) -> OrderView:
    """Send an order through the risk gate; its status says what became of it so far."""
    return _control(request).place_order(OrderRequest(
        symbol=body.symbol, side=body.side, quantity=str(body.quantity),
        limit_price=_text(body.limit_price), stop_price=_text(body.stop_price),
        time_in_force=body.time_in_force, reduce_only=body.reduce_only,
        tag=f"api:{token.name}", client_order_id=body.client_order_id,
        stop_loss=_text(body.stop_loss), take_profit=_text(body.take_profit)))


@router.delete("/orders/{client_order_id}", response_model=OrderView, status_code=202,
                responses=_NOT_FOUND)
async def cancel_order(request: Request, client_order_id: str, _: TokenInfo = TRADE) -> OrderView:
    """Ask the venue to cancel a working order."""
    return _control(request).cancel_order(client_order_id)


@router.patch("/orders/{client_order_id}", response_model=OrderView, status_code=202,
               responses=_NOT_FOUND)
async def modify_order(request: Request, client_order_id: str, body: ModifyOrderBody,
                 _: TokenInfo = TRADE) -> OrderView:
    """Change a working order's quantity or prices."""
    return _control(request).modify_order(
        client_order_id, quantity=_text(body.quantity), limit_price=_text(body.limit_price),
        stop_price=_text(body.stop_price))


@router.get("/fills", response_model=list[FillView])
async def fills(request: Request, limit: Limit = 200, _: TokenInfo = READ) -> list[FillView]:
    """Executions, newest first."""
    return await run_in_threadpool(_control(request).fills, limit)


@router.get("/signals", response_model=list[SignalView])
async def signals(request: Request, limit: Limit = 100, _: TokenInfo = READ) -> list[SignalView]:
    """Inbound signals (TradingView alerts), newest first."""
    return await run_in_threadpool(_control(request).signals, limit)


@router.get("/risk", response_model=RiskView)
async def risk(request: Request, _: TokenInfo = READ) -> RiskView:
    """The trading state, what holds it, the latest risk decisions."""
    return _control(request).risk()


@router.get("/risk/events", response_model=list[RiskEventView])
async def risk_events(request: Request, limit: Limit = 100,
                _: TokenInfo = READ) -> list[RiskEventView]:
    """Risk decisions, newest first."""
    return await run_in_threadpool(_control(request).risk_events, limit)


@router.get("/runs", response_model=list[RunItem])
async def runs(request: Request, limit: Limit = 20, _: TokenInfo = READ) -> list[RunItem]:
    """Recorded runs (backtests, optimisations, sessions), newest first."""
    recorded = await run_in_threadpool(_control(request).store.runs, limit)
    return [RunItem(run_id=r.run_id, mode=r.mode, status=r.status, started_ns=r.started_ns,
                    ended_ns=r.ended_ns, strategies=list(r.strategy_ids)) for r in recorded]


@router.get("/performance", response_model=Performance)
async def performance(request: Request, _: TokenInfo = READ) -> Performance:
    """The account and its equity curve."""
    control = _control(request)
    snapshots = await run_in_threadpool(control.store.account_snapshots, control.run_id)
    points = [EquityPoint(ts=s.ts, balance=str(s.balance), equity=str(s.equity))
              for s in snapshots]
    return Performance(account=control.account(), equity=points)


@router.get("/config")
async def config(request: Request, _: TokenInfo = ADMIN) -> dict[str, Any]:
    """The node's settings, every secret masked."""
    return _control(request).redacted_config()


@router.post("/control/pause", response_model=RiskView)
async def pause(request: Request, body: Reason, token: TokenInfo = TRADE) -> RiskView:
    """Stop new entries (orders that reduce positions still pass) until resumed."""
    return _control(request).pause(_who(token), body.reason)


@router.post("/control/resume", response_model=RiskView)
async def resume(request: Request, body: Reason, token: TokenInfo = TRADE) -> RiskView:
    """Lift a pause."""
    return _control(request).resume(_who(token), body.reason)


@router.post("/control/kill", response_model=RiskView)
async def kill(request: Request, body: KillBody, token: TokenInfo = TRADE) -> RiskView:
    """Engage the kill switch: no new orders until re-armed, across restarts too."""
    return _control(request).kill(_who(token), body.reason, body.flatten)


@router.post("/control/rearm", response_model=RiskView)
async def rearm(request: Request, body: RearmBody, token: TokenInfo = ADMIN) -> RiskView:
    """Re-arm the kill switch."""
    return _control(request).rearm(_who(token), body.reason)


@router.post("/control/flatten", response_model=FlattenResult)
async def flatten(request: Request, body: FlattenBody, token: TokenInfo = TRADE) -> FlattenResult:
    """Close positions with market orders."""
    control = _control(request)
    if control.running:
        return FlattenResult(client_order_ids=control.flatten(body.symbol, _who(token)))
    # a node elsewhere takes the request from its control folder: wait off the loop
    sent = await run_in_threadpool(control.flatten, body.symbol, _who(token))
    return FlattenResult(client_order_ids=sent)


@router.post("/control/stop", status_code=202)
async def stop(request: Request, body: Reason, token: TokenInfo = ADMIN) -> dict[str, str]:
    """Stop the node (it exits after closing its session)."""
    _control(request).stop(body.reason or f"stopped by {_who(token)}")
    return {"status": "stopping"}


def view(value: Any) -> Any:
    """A view as plain data (for the WebSocket)."""
    return asdict(value)


class BarItem(BaseModel):
    """One bar: its open time (UTC ns) and OHLCV, as numbers (bars are float64)."""

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class Bars(BaseModel):
    """Bars of one symbol, oldest first; the last may still be forming. Built from the
    quotes the node has seen (mid price, volume = number of quotes) or from its bars."""

    symbol: str
    timeframe: str
    symbols: list[str] = Field(description="The node's instruments.")
    bars: list[BarItem]


@router.get("/bars", response_model=Bars)
async def bars(
    request: Request,
    symbol: Annotated[str | None, Query(max_length=64, description="Default: the first "
                                        "instrument with market data.")] = None,
    timeframe: Annotated[str, Query(max_length=16, description="1m, 5m, 1h, 1d, H1...")] = "1m",
    limit: Annotated[int, Query(ge=1, le=MAX_MARKET_BARS, description="At most this many, "
                                "the newest.")] = 500,
    _: TokenInfo = READ,
) -> Bars:
    """OHLCV bars of the market data the running node has seen."""
    control = _control(request)
    found = control.bars(symbol, timeframe, limit)
    return Bars(symbol=found.symbol, timeframe=found.timeframe, symbols=control.market_symbols(),
                bars=[BarItem(ts=b.ts, open=b.open, high=b.high, low=b.low, close=b.close,
                              volume=b.volume) for b in found.bars])
