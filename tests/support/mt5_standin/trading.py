"""``order_check``, ``order_send`` and ``order_calc_margin`` of the stand-in."""

from __future__ import annotations

from typing import Any

from . import TERMINAL, _call
from . import records as r
from .terminal import Order, Spec

_BUYS = (r.ORDER_TYPE_BUY, r.ORDER_TYPE_BUY_LIMIT, r.ORDER_TYPE_BUY_STOP,
         r.ORDER_TYPE_BUY_STOP_LIMIT)
_PENDING = (r.ORDER_TYPE_BUY_LIMIT, r.ORDER_TYPE_SELL_LIMIT, r.ORDER_TYPE_BUY_STOP,
            r.ORDER_TYPE_SELL_STOP, r.ORDER_TYPE_BUY_STOP_LIMIT, r.ORDER_TYPE_SELL_STOP_LIMIT)
COMMENT_LIMIT = 31


def _request(request: dict[str, Any]) -> Any:
    values = dict.fromkeys(r.TradeRequest._fields, 0)
    values.update(comment="", symbol="")
    values.update({k: v for k, v in request.items() if k in values})
    return r.TradeRequest(**values)


def market_fillings(spec: Spec) -> set[int]:
    """The filling policies a market deal of ``spec`` may ask for: instant and request
    execution always fill or kill; market execution as the symbol's FOK/IOC flags allow;
    exchange execution also allows RETURN (the rest of a partial fill stays working)."""
    if spec.exemode in (r.SYMBOL_TRADE_EXECUTION_INSTANT, r.SYMBOL_TRADE_EXECUTION_REQUEST):
        return {r.ORDER_FILLING_FOK}
    allowed = {policy for policy, flag in ((r.ORDER_FILLING_FOK, r.SYMBOL_FILLING_FOK),
                                           (r.ORDER_FILLING_IOC, r.SYMBOL_FILLING_IOC))
               if spec.filling_mode & flag}
    if spec.exemode == r.SYMBOL_TRADE_EXECUTION_EXCHANGE:
        allowed.add(r.ORDER_FILLING_RETURN)
    return allowed


def _requoted(q: Any) -> bool:
    """An instant or request execution deal whose price the market has left by more than the
    request's deviation (in points): the server answers with a requote and its prices."""
    spec = TERMINAL.symbols.get(q.symbol)
    if q.action != r.TRADE_ACTION_DEAL or spec is None or spec.exemode not in (
            r.SYMBOL_TRADE_EXECUTION_INSTANT, r.SYMBOL_TRADE_EXECUTION_REQUEST):
        return False
    market = spec.ask if q.type == r.ORDER_TYPE_BUY else spec.bid
    return abs(float(q.price) - market) > int(q.deviation) * spec.point + spec.point / 2


def _closes(q: Any, is_buy: bool) -> bool:
    """A market deal that only closes (part of) a position: the one it names (hedging), or
    the symbol's one position (netting)."""
    t = TERMINAL
    if q.action != r.TRADE_ACTION_DEAL:
        return False
    if q.position:
        held = t.positions.get(q.position)
    elif t.hedging:
        return False
    else:
        held = next((p for p in t.positions.values() if p.symbol == q.symbol), None)
    opposite = r.POSITION_TYPE_SELL if is_buy else r.POSITION_TYPE_BUY
    return held is not None and held.type == opposite and float(q.volume) <= held.volume + 1e-9


def _validate(q: Any) -> tuple[int, str, float]:
    """(retcode, comment, margin) of a request: 0 when it would be accepted."""
    t = TERMINAL
    if q.action in (r.TRADE_ACTION_REMOVE, r.TRADE_ACTION_MODIFY):
        return (0, "Done", 0.0) if q.order in t.orders else (r.TRADE_RETCODE_INVALID_ORDER,
                                                              "Invalid order", 0.0)
    if q.action == r.TRADE_ACTION_SLTP:
        held = t.positions.get(q.position)
        if held is None:
            return r.TRADE_RETCODE_POSITION_CLOSED, "Position doesn't exist", 0.0
        owner = t.symbols[held.symbol]
        long = held.type == r.POSITION_TYPE_BUY
        close = owner.bid if long else owner.ask  # the price the position would close at
        if (q.sl and (q.sl >= close if long else q.sl <= close)) or (
                q.tp and (q.tp <= close if long else q.tp >= close)):
            return r.TRADE_RETCODE_INVALID_STOPS, "Invalid stops", 0.0
        return 0, "Done", 0.0
    spec: Spec | None = t.symbols.get(q.symbol)
    if spec is None:
        return r.TRADE_RETCODE_INVALID, "Invalid request", 0.0
    is_buy = q.type in _BUYS
    closing = _closes(q, is_buy)
    if spec.trade_mode == r.SYMBOL_TRADE_MODE_DISABLED:
        return r.TRADE_RETCODE_TRADE_DISABLED, "Trade disabled", 0.0
    if spec.trade_mode == r.SYMBOL_TRADE_MODE_CLOSEONLY and not closing:
        return r.TRADE_RETCODE_CLOSE_ONLY, "Close only", 0.0
    if spec.trade_mode == r.SYMBOL_TRADE_MODE_LONGONLY and not is_buy and not closing:
        return r.TRADE_RETCODE_LONG_ONLY, "Long only", 0.0
    if spec.trade_mode == r.SYMBOL_TRADE_MODE_SHORTONLY and is_buy and not closing:
        return r.TRADE_RETCODE_SHORT_ONLY, "Short only", 0.0
    volume = float(q.volume)
    steps = volume / spec.volume_step
    if not spec.volume_min <= volume <= spec.volume_max or abs(steps - round(steps)) > 1e-6:
        return r.TRADE_RETCODE_INVALID_VOLUME, "Invalid volume", 0.0
    if q.action == r.TRADE_ACTION_DEAL:
        if q.type_filling not in market_fillings(spec):
            return r.TRADE_RETCODE_INVALID_FILL, "Unsupported filling mode", 0.0
        if q.type not in (r.ORDER_TYPE_BUY, r.ORDER_TYPE_SELL):
            return r.TRADE_RETCODE_INVALID_ORDER, "Invalid order type", 0.0
        if spec.bid <= 0:
            return r.TRADE_RETCODE_PRICE_OFF, "No prices", 0.0
        price = spec.ask if is_buy else spec.bid
    elif q.action == r.TRADE_ACTION_PENDING:
        if q.type not in _PENDING:
            return r.TRADE_RETCODE_INVALID_ORDER, "Invalid order type", 0.0
        price = float(q.price)
        market = spec.ask if is_buy else spec.bid
        limit = q.type in (r.ORDER_TYPE_BUY_LIMIT, r.ORDER_TYPE_SELL_LIMIT)
        above = price > market
        if price <= 0 or (limit and above == is_buy) or (not limit and above != is_buy):
            return r.TRADE_RETCODE_INVALID_PRICE, "Invalid price", 0.0
        if q.type_time == r.ORDER_TIME_SPECIFIED and not q.expiration:
            return r.TRADE_RETCODE_INVALID_EXPIRATION, "Invalid expiration", 0.0
    else:
        return r.TRADE_RETCODE_INVALID, "Invalid request", 0.0
    if q.sl and ((is_buy and q.sl >= price) or (not is_buy and q.sl <= price)):
        return r.TRADE_RETCODE_INVALID_STOPS, "Invalid stops", 0.0
    if q.tp and ((is_buy and q.tp <= price) or (not is_buy and q.tp >= price)):
        return r.TRADE_RETCODE_INVALID_STOPS, "Invalid stops", 0.0
    margin = 0.0 if q.position else t.margin_needed(spec, volume, price)
    free = t.balance + t.floating() - t.margin_used()
    if margin > free:
        return r.TRADE_RETCODE_NO_MONEY, "No money", margin
    return 0, "Done", margin


@_call()
def order_check(request: dict[str, Any]) -> Any:
    t = TERMINAL
    q = _request(request)
    t.checked.append(q)
    code, comment, margin = _validate(q)
    equity = t.balance + t.floating()
    used = t.margin_used() + margin
    return r.OrderCheckResult(code, round(t.balance, 2), round(equity, 2),
                              round(t.floating(), 2), round(margin, 2),
                              round(equity - used, 2),
                              round(equity / used * 100, 2) if used else 0.0, comment, q)


@_call()
def order_calc_margin(action: int, symbol: str, volume: float, price: float) -> Any:
    spec = TERMINAL.symbols.get(symbol)
    if spec is None:
        TERMINAL.fail(r.RES_E_INVALID_PARAMS, "Terminal: Invalid params")
        return None
    return round(TERMINAL.margin_needed(spec, volume, price), 2)


def _result(code: int, q: Any, comment: str, *, deal: int = 0, order: int = 0,
            volume: float = 0.0, price: float = 0.0) -> Any:
    spec = TERMINAL.symbols.get(q.symbol)
    bid, ask = (spec.bid, spec.ask) if spec is not None else (0.0, 0.0)
    return r.OrderSendResult(code, deal, order, volume, price, bid, ask, comment, 1, 0, q)


@_call()
def order_send(request: dict[str, Any]) -> Any:
    t = TERMINAL
    q = _request(request)
    t.sent.append(q)
    if t.faults.moves:
        symbol, bid, ask = t.faults.moves.pop(0)
        t.set_price(symbol, bid, ask)
    if t.faults.next_retcode:
        code = t.faults.next_retcode.pop(0)
        if code == -1:
            t.fail(r.RES_E_INTERNAL_FAIL_TIMEOUT, "Terminal: Timeout")
            return None
        return _result(code, q, "armed")
    code, comment, _ = _validate(q)
    if code:
        return _result(code, q, comment)
    if _requoted(q):
        return _result(r.TRADE_RETCODE_REQUOTE, q, "Requote")
    result = _execute(q)
    if result.retcode in (r.TRADE_RETCODE_DONE, r.TRADE_RETCODE_PLACED) and q.comment:
        t.submits[q.comment[:COMMENT_LIMIT]] = t.submits.get(q.comment[:COMMENT_LIMIT], 0) + 1
    if t.faults.book_then:
        after = t.faults.book_then.pop(0)
        if after is None:
            t.fail(r.RES_E_INTERNAL_FAIL_RECEIVE, "Terminal: Receive failed")
            return None
        return _result(after, q, "Request timed out")
    return result


def _execute(q: Any) -> Any:
    t = TERMINAL
    if q.action == r.TRADE_ACTION_DEAL:
        spec = t.symbols[q.symbol]
        is_buy = q.type == r.ORDER_TYPE_BUY
        order = t.new_order(symbol=q.symbol, type=q.type, volume_initial=float(q.volume),
                            volume_current=float(q.volume), price_open=0.0,
                            price_stoplimit=0.0, sl=float(q.sl), tp=float(q.tp),
                            type_time=r.ORDER_TIME_GTC, type_filling=q.type_filling,
                            time_expiration=0, magic=q.magic,
                            comment=q.comment[:COMMENT_LIMIT])
        deal, price = t.execute_market(spec, is_buy, float(q.volume), q.magic, order.comment,
                                       order.ticket, q.position)
        order.price_open, order.volume_current = price, 0.0
        order.position_id = deal["position_id"]
        if (q.sl or q.tp) and deal["position_id"] in t.positions:
            held = t.positions[deal["position_id"]]
            held.sl, held.tp = float(q.sl), float(q.tp)
        t._retire(order, r.ORDER_STATE_FILLED)
        return _result(r.TRADE_RETCODE_DONE, q, "Request executed", deal=deal["ticket"],
                       order=order.ticket, volume=float(q.volume), price=price)
    if q.action == r.TRADE_ACTION_PENDING:
        order = t.new_order(symbol=q.symbol, type=q.type, volume_initial=float(q.volume),
                            volume_current=float(q.volume), price_open=float(q.price),
                            price_stoplimit=float(q.stoplimit), sl=float(q.sl),
                            tp=float(q.tp), type_time=q.type_time,
                            type_filling=q.type_filling,
                            time_expiration=int(q.expiration or 0), magic=q.magic,
                            comment=q.comment[:COMMENT_LIMIT])
        t.orders[order.ticket] = order
        return _result(r.TRADE_RETCODE_PLACED, q, "Request executed", order=order.ticket,
                       volume=float(q.volume), price=float(q.price))
    if q.action == r.TRADE_ACTION_REMOVE:
        pending: Order = t.orders[q.order]
        t._retire(pending, r.ORDER_STATE_CANCELED)
        return _result(r.TRADE_RETCODE_DONE, q, "Request executed", order=q.order)
    if q.action == r.TRADE_ACTION_MODIFY:
        # as documented: price, sl, tp, type_time and expiration are all taken from the
        # request (zero sl/tp remove them, type_time 0 is GTC); stoplimit for stop-limits only
        pending = t.orders[q.order]
        stop_limit = pending.type in (r.ORDER_TYPE_BUY_STOP_LIMIT, r.ORDER_TYPE_SELL_STOP_LIMIT)
        new = (float(q.price or pending.price_open), float(q.sl), float(q.tp),
               float(q.stoplimit) if stop_limit else pending.price_stoplimit,
               int(q.type_time), int(q.expiration or 0))
        if new == (pending.price_open, pending.sl, pending.tp, pending.price_stoplimit,
                   pending.type_time, pending.time_expiration):
            return _result(r.TRADE_RETCODE_NO_CHANGES, q, "No changes", order=q.order)
        (pending.price_open, pending.sl, pending.tp, pending.price_stoplimit,
         pending.type_time, pending.time_expiration) = new
        return _result(r.TRADE_RETCODE_DONE, q, "Request executed", order=q.order)
    held = t.positions[q.position]  # TRADE_ACTION_SLTP
    held.sl, held.tp = float(q.sl), float(q.tp)
    return _result(r.TRADE_RETCODE_DONE, q, "Request executed")
