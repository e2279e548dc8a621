"""Answers to the requests that ask the gateway what it holds: open and completed orders,
executions (with TWS's execution filter), positions, account values and summary, and what-if
orders."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from ib_async.contract import Contract
from ib_async.objects import ExecutionFilter
from ib_async.order import Order, OrderState

from .matching import commission
from .orders import order_status_args
from .records import ExecutionRecord, wire_contract, wire_order, wire_state
from .timefmt import parse_tws_time

if TYPE_CHECKING:
    from .account import Holding
    from .gateway import Gateway
    from .session import Session

SUMMARY_TAGS = ("AccountType", "NetLiquidation", "TotalCashValue", "EquityWithLoanValue",
                "GrossPositionValue", "InitMarginReq", "MaintMarginReq", "AvailableFunds",
                "ExcessLiquidity", "BuyingPower", "UnrealizedPnL", "RealizedPnL")


def open_orders(gw: Gateway, sess: Session, all_clients: bool) -> None:
    """``reqOpenOrders`` / ``reqAllOpenOrders``: openOrder and orderStatus for each working,
    transmitted order, then openOrderEnd."""
    for g in gw.book.live():
        if not g.transmitted or not (all_clients or g.client_id == sess.client_id):
            continue
        if g.client_id == sess.client_id:
            g.lost = False
            g.held = None
        sess.send("openOrder", g.order_id, wire_contract(g), wire_order(g, gw.account.name),
                  wire_state(g))
        sess.send(*order_status_args(g))
    sess.send("openOrderEnd")


def completed_orders(gw: Gateway, sess: Session, api_only: bool) -> None:
    """``reqCompletedOrders``: every filled, cancelled or rejected order, then the end."""
    done = sorted((g for g in gw.book.orders.values() if g.done),
                  key=lambda g: (g.completed_time, g.perm_id))
    for g in done:
        if g.client_id == sess.client_id:
            g.lost = False
            g.held = None
        sess.send("completedOrder", wire_contract(g),
                  wire_order(g, gw.account.name, completed=True), wire_state(g))
    sess.send("completedOrdersEnd")


def executions(gw: Gateway, sess: Session, req_id: int, filt: ExecutionFilter) -> None:
    """``reqExecutions``: execDetails and commissionReport for each matching execution."""
    try:
        since = parse_tws_time(filt.time) if filt.time else None
    except ValueError:
        since = None
    for rec in gw.book.executions:
        if not _passes(rec, filt, gw.account.name, since):
            continue
        g = gw.book.orders.get((rec.client_id, rec.order_id))
        if g is not None and g.client_id == sess.client_id:
            g.lost = False
        sess.send("execDetails", req_id, copy.deepcopy(rec.contract),
                  rec.execution(gw.account.name))
        sess.send("commissionReport", rec.commission_report())
    sess.send("execDetailsEnd", req_id)


def _passes(rec: ExecutionRecord, f: ExecutionFilter, account: str, since: object) -> bool:
    side = {"BUY": "BOT", "SELL": "SLD"}.get(f.side.upper(), f.side.upper())
    c = rec.contract
    checks = [
        not f.clientId or f.clientId == rec.client_id,
        not f.acctCode or f.acctCode == account,
        not f.symbol or f.symbol.upper() == c.symbol,
        not f.secType or f.secType.upper() == c.secType,
        not f.exchange or f.exchange.upper() in (c.exchange, rec.execution(account).exchange),
        not side or side == rec.side,
        since is None or rec.time >= since,  # type: ignore[operator]
    ]
    return all(checks)


def what_if(gw: Gateway, sess: Session, req_id: int, contract: Contract, order: Order) -> None:
    """A what-if ``placeOrder``: an openOrder whose state carries margin and commission
    estimates; nothing is booked."""
    listing = gw.catalogue.resolve(contract)
    if listing is None:
        sess.error(req_id, 200, "No security definition has been found for the request")
        return
    quote = gw.quotes.get(listing.con_id)
    price = quote.mid() if quote else listing.base_price
    value = float(order.totalQuantity) * price * listing.multiplier_value
    margin = 12_000.0 * float(order.totalQuantity) if listing.sec_type == "FUT" else 0.25 * value
    fee = commission(listing.sec_type, float(order.totalQuantity), price,
                     listing.multiplier_value)
    net = next(float(v) for t, v, _ in gw.account.values(gw.quotes) if t == "NetLiquidation")
    state = OrderState(
        status="PreSubmitted", initMarginBefore="0", maintMarginBefore="0",
        equityWithLoanBefore=f"{net:.2f}", initMarginChange=f"{margin:.2f}",
        maintMarginChange=f"{0.8 * margin:.2f}", equityWithLoanChange=f"{-fee:.2f}",
        initMarginAfter=f"{margin:.2f}", maintMarginAfter=f"{0.8 * margin:.2f}",
        equityWithLoanAfter=f"{net - fee:.2f}", commission=fee, minCommission=fee,
        maxCommission=fee, commissionCurrency="USD")
    echo = Order(**{k: getattr(order, k) for k in ("action", "totalQuantity", "orderType",
                                                    "lmtPrice", "auxPrice", "tif")})
    echo.orderId, echo.clientId, echo.whatIf = req_id, sess.client_id, True
    sess.send("openOrder", req_id, listing.contract(), echo, state)


def positions(gw: Gateway, sess: Session) -> None:
    """``reqPositions``: a position for each holding, then positionEnd; updates follow."""
    sess.positions = True
    for h in gw.account.holdings.values():
        if h.quantity:
            sess.send("position", gw.account.name, _account_contract(h), h.quantity,
                      h.avg_cost)
    sess.send("positionEnd")


def account_updates(gw: Gateway, sess: Session, subscribe: bool, account: str) -> None:
    """``reqAccountUpdates``: account values, portfolio, time, then accountDownloadEnd."""
    if not subscribe:
        sess.account_updates = ""
        return
    name = account or gw.account.name
    sess.account_updates = name
    for tag, value, ccy in gw.account.values(gw.quotes):
        sess.send("updateAccountValue", tag, value, ccy, name)
        sess.account_sent[(tag, ccy)] = value
    for h in gw.account.holdings.values():
        if h.quantity:
            sess.send("updatePortfolio", _account_contract(h),
                      *gw.account.portfolio_row(h, gw.quotes), name)
    sess.send("updateAccountTime", f"{gw.now():%H:%M}")
    sess.send("accountDownloadEnd", name)


def account_multi(gw: Gateway, sess: Session, req_id: int, account: str,
                  model_code: str) -> None:
    """``reqAccountUpdatesMulti``: accountUpdateMulti rows then the end."""
    name = account or gw.account.name
    sess.account_multi[req_id] = name
    for tag, value, ccy in gw.account.values(gw.quotes):
        sess.send("accountUpdateMulti", req_id, name, model_code, tag, value, ccy)
        sess.account_sent[(tag, ccy)] = value
    sess.send("accountUpdateMultiEnd", req_id)


def account_summary(gw: Gateway, sess: Session, req_id: int, tags: str) -> None:
    """``reqAccountSummary``: the requested tags (those the stand-in keeps), then the end."""
    wanted = {t.strip() for t in tags.split(",") if t.strip()}
    for tag, value, ccy in gw.account.values(gw.quotes):
        if tag in wanted and tag in SUMMARY_TAGS and ccy != "BASE":
            sess.send("accountSummary", req_id, gw.account.name, tag, value, ccy)
    sess.send("accountSummaryEnd", req_id)


def push_account_change(gw: Gateway, h: Holding) -> None:
    """After an execution: position, portfolio and the account values that changed, to
    their subscribers."""
    values = gw.account.values(gw.quotes)
    for sess in gw.sessions:
        changed = [(t, v, c) for t, v, c in values if sess.account_sent.get((t, c)) != v]
        if sess.positions:
            sess.send("position", gw.account.name, _account_contract(h), h.quantity,
                      h.avg_cost)
        if sess.account_updates:
            sess.send("updatePortfolio", _account_contract(h),
                      *gw.account.portfolio_row(h, gw.quotes), gw.account.name)
            for tag, value, ccy in changed:
                sess.send("updateAccountValue", tag, value, ccy, gw.account.name)
        for req_id, name in sess.account_multi.items():
            for tag, value, ccy in changed:
                sess.send("accountUpdateMulti", req_id, name, "", tag, value, ccy)
        if sess.account_updates or sess.account_multi:
            sess.account_sent.update(((t, c), v) for t, v, c in changed)


def _account_contract(h: Holding) -> Contract:
    c = h.listing.contract()
    c.exchange = ""
    return c
