"""The REST answers of the local Fyers, in the shapes of Fyers' API v3 documentation
(``{"s": "ok", "code": 200, "message": "", ...}`` with each endpoint's own key).

Times the documentation gives in IST text (``orderDateTime``: ``"09-Mar-2023 09:34:38"``) are
IST here too; candles and quotes carry epoch seconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .errors import FyersError, invalid
from .history import IST, History
from .matching import Book, Order, Trade
from .tokens import FY_ID

Body = dict[str, Any]


def ist_text(epoch: float) -> str:
    """``"09-Mar-2023 09:34:38"`` in IST."""
    return dt.datetime.fromtimestamp(epoch, IST).strftime("%d-%b-%Y %H:%M:%S")


def ok(**payload: Any) -> Body:
    """A success answer with ``payload``."""
    return {"s": "ok", "code": 200, "message": "", **payload}


def order_json(order: Order, book: Book) -> Body:
    """One entry of the order book."""
    spec = order.spec
    quote = book.quotes[spec.ticker]
    out: Body = {
        "clientId": FY_ID, "id": order.id, "id_fyers": f"fy-{order.id}",
        "exchOrdId": f"11000000{order.id[-8:]}" if order.status != 5 else "",
        "qty": order.qty, "remainingQuantity": order.remaining, "filledQty": order.filled,
        "discloseQty": 0, "limitPrice": float(order.limit), "stopPrice": float(order.stop),
        "tradedPrice": float(order.traded_price), "type": order.type,
        "fyToken": spec.fytoken, "exchange": spec.exchange_code, "segment": spec.segment_code,
        "symbol": spec.ticker, "instrument": 0 if spec.is_equity else 11,
        "message": order.message, "offlineOrder": order.offline,
        "orderDateTime": ist_text(order.created), "orderValidity": order.validity, "pan": "",
        "productType": order.product, "side": order.side, "status": order.status,
        "source": "API", "ex_sym": spec.ticker.split(":")[1].split("-")[0],
        "description": spec.description, "ch": 0.0, "chp": 0.0, "lp": float(quote.ltp),
        "slNo": order.sl_no, "dqQtyRem": 0, "orderNumStatus": f"{order.id}:{order.status}",
        "disclosedQty": 0, "orderTag": order.order_tag,
        "takeProfit": float(order.take_profit), "stopLoss": float(order.stop_loss),
    }
    if order.parent_id:
        out["parentId"] = order.parent_id
    return out


def trade_json(trade: Trade, row: int) -> Body:
    """One entry of the trade book."""
    order = trade.order
    return {
        "clientId": FY_ID, "orderDateTime": ist_text(trade.time), "orderNumber": order.id,
        "exchangeOrderNo": f"11000000{order.id[-8:]}", "exchange": order.spec.exchange_code,
        "side": order.side, "segment": order.spec.segment_code, "orderType": order.type,
        "fyToken": order.spec.fytoken, "productType": order.product, "tradedQty": trade.qty,
        "tradePrice": float(trade.price), "tradeValue": float(trade.price * trade.qty),
        "tradeNumber": trade.number, "row": row, "symbol": order.spec.ticker,
        "orderTag": order.order_tag,
    }


class Handlers:
    """What each endpoint answers, given the current book and history.

    Parameters
    ----------
    book : callable
        The current order book.
    history : History
    now : callable
        The server's clock in seconds.
    """

    def __init__(self, book: Callable[[], Book], history: History,
                 now: Callable[[], float]) -> None:
        self._book = book
        self.history = history
        self._now = now

    # -- user -------------------------------------------------------------------------------

    def profile(self, query: Body, body: Body) -> Body:
        return ok(data={"name": "STAND IN", "display_name": "standin", "fy_id": FY_ID,
                        "email_id": "s***n@example.com", "PAN": "AB***4F", "totp": True,
                        "mobile_number": "98******10", "pwd_to_expire": 40,
                        "ddpi_enabled": False, "mtf_enabled": False, "image": "",
                        "pin_change_date": "", "pwd_change_date": ""})

    def funds(self, query: Body, body: Body) -> Body:
        book = self._book()
        total = book.balance + book.realized
        used = book.utilized()
        rows = [("Total Balance", total), ("Utilized Amount", used),
                ("Clear Balance", total), ("Realized Profit and Loss", book.realized),
                ("Collaterals", Decimal(0)), ("Fund Transfer", Decimal(0)),
                ("Receivables", Decimal(0)), ("Adhoc Limit", Decimal(0)),
                ("Limit at start of the day", book.balance),
                ("Available Balance", total - used)]
        return ok(fund_limit=[{"id": k, "title": title, "equityAmount": float(amount),
                               "commodityAmount": 0.0}
                              for k, (title, amount) in enumerate(rows, start=1)])

    def holdings(self, query: Body, body: Body) -> Body:
        return ok(holdings=[], overall={"count_total": 0, "total_investment": 0.0,
                                        "total_current_value": 0.0, "total_pl": 0.0,
                                        "pnl_perc": 0.0})

    def logout(self, query: Body, body: Body) -> Body:
        return {"s": "ok", "code": 200, "message": "you are successfully logged out"}

    # -- transactions ------------------------------------------------------------------------

    def orders(self, query: Body, body: Body) -> Body:
        book = self._book()
        found = list(book.orders.values())
        if query.get("id"):
            found = [o for o in found if o.id == query["id"]]
            if not found:
                raise FyersError(-51, f"Invalid order id {query['id']!r}")
        if query.get("order_tag"):
            found = [o for o in found if o.order_tag == query["order_tag"]]
        return ok(orderBook=[order_json(o, book) for o in found])

    def tradebook(self, query: Body, body: Body) -> Body:
        trades = list(enumerate(self._book().trades, start=1))
        if query.get("order_tag"):
            trades = [(k, t) for k, t in trades if t.order.order_tag == query["order_tag"]]
        return ok(tradeBook=[trade_json(t, k) for k, t in trades])

    def positions(self, query: Body, body: Body) -> Body:
        book = self._book()
        rows = []
        for (ticker, product), pos in book.positions.items():
            ltp = book.quotes[ticker].ltp
            buy_avg = pos.buy_value / pos.buy_qty if pos.buy_qty else Decimal(0)
            sell_avg = pos.sell_value / pos.sell_qty if pos.sell_qty else Decimal(0)
            net_avg = buy_avg if pos.net > 0 else (sell_avg if pos.net < 0 else Decimal(0))
            unrealized = (ltp - net_avg) * pos.net * pos.spec.multiplier if pos.net else 0
            rows.append({
                "netQty": pos.net, "qty": abs(pos.net), "avgPrice": float(net_avg),
                "netAvg": float(net_avg), "side": (pos.net > 0) - (pos.net < 0),
                "productType": product, "realized_profit": 0.0,
                "unrealized_profit": float(unrealized), "pl": float(unrealized),
                "ltp": float(ltp), "buyQty": pos.buy_qty, "buyAvg": float(buy_avg),
                "buyVal": float(pos.buy_value), "sellQty": pos.sell_qty,
                "sellAvg": float(sell_avg), "sellVal": float(pos.sell_value), "slNo": 0,
                "fyToken": pos.spec.fytoken, "crossCurrency": "N", "rbiRefRate": 1.0,
                "qtyMulti_com": float(pos.spec.multiplier), "segment": pos.spec.segment_code,
                "symbol": ticker, "id": f"{ticker}-{product}", "cfBuyQty": 0,
                "cfSellQty": 0, "dayBuyQty": pos.buy_qty, "daySellQty": pos.sell_qty,
                "exchange": pos.spec.exchange_code})
        unrealized_total = float(book.unrealized())
        return ok(netPositions=rows, overall={
            "count_total": len(rows), "count_open": sum(1 for r in rows if r["netQty"]),
            "pl_total": float(book.realized) + unrealized_total,
            "pl_realized": float(book.realized), "pl_unrealized": unrealized_total})

    def place(self, query: Body, body: Body) -> Body:
        order = self._book().place(body)
        return {"s": "ok", "code": 1101, "message": f"Order submitted successfully. Your "
                f"Order Ref. No.{order.id}", "id": order.id}

    def modify(self, query: Body, body: Body) -> Body:
        order = self._book().modify(body)
        return {"s": "ok", "code": 1102, "message": "Successfully modified order",
                "id": order.id}

    def cancel(self, query: Body, body: Body) -> Body:
        order = self._book().cancel(str(body.get("id", "")))
        return {"s": "ok", "code": 1103, "message": "Successfully cancelled order",
                "id": order.id}

    # -- data --------------------------------------------------------------------------------

    def history_candles(self, query: Body, body: Body) -> Body:
        book = self._book()
        spec = book.by_ticker.get(str(query.get("symbol", "")))
        if spec is None:
            raise FyersError(-300, f"Invalid symbol {query.get('symbol')!r}")
        for key in ("resolution", "range_from", "range_to"):
            if not query.get(key):
                raise invalid(f"{key} is mandatory")
        candles = self.history.candles(spec, str(query["resolution"]),
                                       str(query.get("date_format", "0")),
                                       str(query["range_from"]), str(query["range_to"]))
        if not candles:
            return {"s": "no_data", "code": 200, "message": "", "candles": []}
        return {"s": "ok", "code": 200, "message": "", "candles": [list(c) for c in candles]}

    def quotes(self, query: Body, body: Body) -> Body:
        book = self._book()
        out = []
        for name in str(query.get("symbols", "")).split(","):
            spec = book.by_ticker.get(name)
            if spec is None:
                out.append({"n": name, "s": "error", "v": {"code": -300,
                                                           "errmsg": "invalid symbol"}})
                continue
            q = book.quotes[name]
            out.append({"n": name, "s": "ok", "v": {
                "ch": float(q.ltp - spec.price), "chp": 0.0, "lp": float(q.ltp),
                "spread": float(q.ask - q.bid), "ask": float(q.ask), "bid": float(q.bid),
                "open_price": float(q.open), "high_price": float(q.high),
                "low_price": float(q.low), "prev_close_price": float(spec.price),
                "atp": float(q.ltp), "volume": q.volume,
                "short_name": name.split(":")[1], "exchange": name.split(":")[0],
                "description": name, "original_name": name, "symbol": name,
                "fyToken": spec.fytoken, "tt": str(int(self._now()))}})
        return {"s": "ok", "code": 200, "d": out}

    def symbol_token(self, query: Body, body: Body) -> Body:
        book = self._book()
        names = body.get("symbols") or []
        valid = {n: book.by_ticker[n].fytoken for n in names if n in book.by_ticker}
        return {"s": "ok", "code": 200, "message": "", "validSymbol": valid,
                "invalidSymbol": [n for n in names if n not in book.by_ticker]}

    def market_status(self, query: Body, body: Body) -> Body:
        return ok(marketStatus=[{"exchange": 10, "market_type": "NORMAL", "segment": 10,
                                 "status": "OPEN"},
                                {"exchange": 10, "market_type": "NORMAL", "segment": 11,
                                 "status": "OPEN"},
                                {"exchange": 11, "market_type": "NORMAL", "segment": 20,
                                 "status": "OPEN"}])


__all__ = ["Handlers", "ist_text", "ok", "order_json", "trade_json"]
