"""The spot market (``/api/v3``): balances with free/locked, and the endpoints ccxt calls.

Commission is 0.1 % for maker and taker, taken from what the account receives (the base asset
on a buy, the quote asset on a sell), as on an account that does not pay fees in BNB.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from . import params as p
from .errors import (
    BinanceError,
    filter_failure,
    insufficient_balance,
    invalid_side,
    invalid_tif,
    invalid_type,
    mandatory,
    new_order_rejected,
    no_such_order,
    not_required,
    one_of,
    unknown_order,
)
from .market import Market, decimals, fmt, round_down
from .matching import ZERO, Engine, Order, Rules, Trade

COMMISSION_RATE = Decimal("0.001")
SPOT_ORDER_TYPES = ("LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT",
                    "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
_LIMIT_PRICED = frozenset({"LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"})
_WITH_TIF = frozenset({"LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"})
_STOPS = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})
_EIGHT = Decimal("0.00000001")
DEFAULT_SPOT_BALANCES = {"USDT": Decimal(10000), "BTC": Decimal(1), "ETH": Decimal(10),
                         "SOL": Decimal(100), "BNB": Decimal(0)}


def _f8(value: Decimal) -> str:
    return fmt(value, 8)


class SpotAccount:
    """Free and locked balance per asset; the spot :class:`~.matching.Ledger`."""

    def __init__(self, market: Market, balances: dict[str, Decimal]) -> None:
        self.market = market
        self.free = dict(balances)
        self.locked = dict.fromkeys(balances, ZERO)
        self.update_time = market.clock()

    def set_balance(self, asset: str, amount: Decimal) -> None:
        """Set the free balance of ``asset`` (what is locked stays locked)."""
        self.free[asset] = amount
        self.locked.setdefault(asset, ZERO)
        self.update_time = self.market.clock()

    def _move(self, asset: str, free: Decimal = ZERO, locked: Decimal = ZERO) -> None:
        self.free[asset] = self.free.get(asset, ZERO) + free
        self.locked[asset] = self.locked.get(asset, ZERO) + locked
        self.update_time = self.market.clock()

    def _asset(self, order: Order) -> str:
        spec = self.market.specs[order.symbol]
        return spec.quote if order.side == "BUY" else spec.base

    def admit(self, order: Order, price: Decimal) -> None:
        """Lock the quote funds (buy) or base quantity (sell) ``order`` needs."""
        per_unit = price if order.side == "BUY" else Decimal(1)
        need = order.remaining * per_unit
        asset = self._asset(order)
        if self.free.get(asset, ZERO) < need:
            raise insufficient_balance()
        self._move(asset, -need, need)
        order.reserved, order.reserve_per_unit = need, per_unit

    def fillable(self, order: Order, price: Decimal, qty: Decimal) -> Decimal:
        """All of ``qty``, unless a buy fills above what was locked and the rest is missing."""
        if order.side == "BUY" and price > order.reserve_per_unit:
            extra = (price - order.reserve_per_unit) * qty
            if self.free.get(self._asset(order), ZERO) < extra:
                return ZERO
        return qty

    def settle(self, order: Order, price: Decimal, qty: Decimal, maker: bool) -> Trade:
        """Pay for one fill from the locked funds and credit the proceeds less commission."""
        spec = self.market.specs[order.symbol]
        quote_qty = price * qty
        consumed = min(order.reserved, qty * order.reserve_per_unit)
        order.reserved -= consumed
        if order.side == "BUY":
            commission = (qty * COMMISSION_RATE).quantize(_EIGHT, ROUND_HALF_UP)
            self._move(spec.quote, consumed - quote_qty, -consumed)
            self._move(spec.base, qty - commission)
            asset = spec.base
        else:
            commission = (quote_qty * COMMISSION_RATE).quantize(_EIGHT, ROUND_HALF_UP)
            self._move(spec.base, consumed - qty, -consumed)
            self._move(spec.quote, quote_qty - commission)
            asset = spec.quote
        return Trade(0, order.order_id, order.symbol, order.side, price, qty, quote_qty,
                     commission, asset, self.market.clock(), maker)

    def release(self, order: Order) -> None:
        """Unlock what ``order`` still holds."""
        if order.reserved:
            self._move(self._asset(order), order.reserved, -order.reserved)
            order.reserved = ZERO


class SpotVenue:
    """Spot endpoints over a :class:`SpotAccount` and an :class:`~.matching.Engine`.

    Parameters
    ----------
    market : Market
    balances : dict of str to Decimal
        Opening free balances.
    next_trade_id : callable
    """

    def __init__(self, market: Market, balances: dict[str, Decimal],
                 next_trade_id: Callable[[], int]) -> None:
        self.market = market
        self.account = SpotAccount(market, balances)
        self.engine = Engine(market, self.account, Rules(
            duplicate=lambda: new_order_rejected("Duplicate order sent."),
            would_trigger=lambda: new_order_rejected("Order would trigger immediately."),
            would_take=lambda: new_order_rejected("Order would immediately match and take."),
            fok_unfilled=None), next_trade_id)
        self._order_ids = itertools.count(1_000_001)
        self.listen_keys: set[str] = set()

    @staticmethod
    def insufficient_funds() -> BinanceError:
        """What an order gets when the account lacks the funds."""
        return insufficient_balance()

    # -- public -----------------------------------------------------------------------------

    def exchange_info(self, params: p.Params) -> dict[str, Any]:
        """GET /api/v3/exchangeInfo."""
        chosen = p.symbol_list(params, self.market.specs)
        single = p.symbol(params, self.market.specs, required=False)
        names = chosen or ([single] if single else list(self.market.specs))
        return {
            "timezone": "UTC", "serverTime": self.market.clock(),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": 6000},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                 "limit": 100},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1,
                 "limit": 200000}],
            "exchangeFilters": [],
            "symbols": [self._symbol_info(name) for name in names],
        }

    def _symbol_info(self, name: str) -> dict[str, Any]:
        spec = self.market.specs[name]
        f = spec.spot
        return {
            "symbol": name, "status": "TRADING", "baseAsset": spec.base,
            "baseAssetPrecision": 8, "quoteAsset": spec.quote, "quotePrecision": 8,
            "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8, "orderTypes": list(SPOT_ORDER_TYPES),
            "icebergAllowed": False, "ocoAllowed": False, "otoAllowed": False,
            "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": False,
            "cancelReplaceAllowed": False, "amendAllowed": False,
            "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": _f8(f.min_price),
                 "maxPrice": _f8(f.max_price), "tickSize": _f8(f.tick)},
                {"filterType": "LOT_SIZE", "minQty": _f8(f.min_qty), "maxQty": _f8(f.max_qty),
                 "stepSize": _f8(f.step)},
                {"filterType": "MARKET_LOT_SIZE", "minQty": _f8(ZERO),
                 "maxQty": _f8(f.market_max_qty), "stepSize": _f8(ZERO)},
                {"filterType": "NOTIONAL", "minNotional": _f8(f.min_notional),
                 "applyMinToMarket": True, "maxNotional": "9000000.00000000",
                 "applyMaxToMarket": False, "avgPriceMins": 5},
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5}],
            "permissions": ["SPOT"], "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH",
                                                "NONE"],
        }

    def ticker_24hr(self, params: p.Params) -> Any:
        """GET /api/v3/ticker/24hr (one symbol, a list, or all)."""
        names = self._names(params)
        rows = [self._day(name) for name in names]
        return rows[0] if "symbol" in params else rows

    def _day(self, name: str) -> dict[str, Any]:
        open_ms, (o, h, lo, c, v, q) = self.market.day_stats(name)
        quote = self.market.quote(name)
        size = self.market.top_size(name, self.market.specs[name].spot.step)
        places = decimals(self.market.specs[name].spot.tick)

        def price(value: float) -> str:
            return fmt(round(value, places), 8)

        return {
            "symbol": name, "priceChange": price(c - o),
            "priceChangePercent": fmt((c - o) / o * 100, 3),
            "weightedAvgPrice": price(q / v if v else c), "prevClosePrice": price(o),
            "lastPrice": _f8(quote.mid), "lastQty": _f8(size), "bidPrice": _f8(quote.bid),
            "bidQty": _f8(size), "askPrice": _f8(quote.ask), "askQty": _f8(size),
            "openPrice": price(o), "highPrice": price(h), "lowPrice": price(lo),
            "volume": fmt(v, 8), "quoteVolume": fmt(q, 8),
            "openTime": open_ms, "closeTime": self.market.clock(), "firstId": -1, "lastId": -1,
            "count": 0,
        }

    def book_ticker(self, params: p.Params) -> Any:
        """GET /api/v3/ticker/bookTicker."""
        rows = []
        for name in self._names(params):
            quote = self.market.quote(name)
            size = _f8(self.market.top_size(name, self.market.specs[name].spot.step))
            rows.append({"symbol": name, "bidPrice": _f8(quote.bid), "bidQty": size,
                         "askPrice": _f8(quote.ask), "askQty": size})
        return rows[0] if "symbol" in params else rows

    def ticker_price(self, params: p.Params) -> Any:
        """GET /api/v3/ticker/price."""
        rows = [{"symbol": n, "price": _f8(self.market.quote(n).mid)}
                for n in self._names(params)]
        return rows[0] if "symbol" in params else rows

    def _names(self, params: p.Params) -> list[str]:
        chosen = p.symbol_list(params, self.market.specs)
        single = p.symbol(params, self.market.specs, required=False)
        return chosen or ([single] if single else list(self.market.specs))

    def depth(self, params: p.Params) -> dict[str, Any]:
        """GET /api/v3/depth."""
        name = p.symbol(params, self.market.specs)
        assert name is not None
        levels = p.limit(params, 100, 5000)
        f = self.market.specs[name].spot
        bids, asks = self.market.depth(name, min(levels, 50), f.tick, f.step)
        return {"lastUpdateId": self.market.clock(),
                "bids": [[_f8(a), _f8(b)] for a, b in bids],
                "asks": [[_f8(a), _f8(b)] for a, b in asks]}

    def klines(self, params: p.Params) -> list[list[Any]]:
        """GET /api/v3/klines."""
        return kline_rows(self.market, params, maximum=1000, futures=False)

    # -- account ----------------------------------------------------------------------------

    def account_info(self, params: p.Params) -> dict[str, Any]:
        """GET /api/v3/account."""
        omit_zero = p.flag(params, "omitZeroBalances")
        acc = self.account
        balances = [{"asset": a, "free": _f8(acc.free[a]), "locked": _f8(acc.locked[a])}
                    for a in sorted(acc.free)
                    if not omit_zero or acc.free[a] or acc.locked[a]]
        rate = _f8(COMMISSION_RATE)
        return {
            "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {"maker": rate, "taker": rate, "buyer": _f8(ZERO),
                                "seller": _f8(ZERO)},
            "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False,
            "updateTime": acc.update_time, "accountType": "SPOT", "balances": balances,
            "permissions": ["SPOT"], "uid": 354937868,
        }

    def new_order(self, params: p.Params) -> dict[str, Any]:
        """POST /api/v3/order."""
        order, resp_type = self._read_order(params)
        self.engine.submit(order)
        return self._placed(order, resp_type)

    def test_order(self, params: p.Params) -> dict[str, Any]:
        """POST /api/v3/order/test: validation only."""
        self._read_order(params)
        return {}

    def _read_order(self, params: p.Params) -> tuple[Order, str]:
        name = p.symbol(params, self.market.specs)
        assert name is not None
        side = p.choice(params, "side", ("BUY", "SELL"), invalid_side(), required=True)
        kind = p.choice(params, "type", SPOT_ORDER_TYPES, invalid_type(), required=True)
        assert side is not None and kind is not None
        cid = p.client_id(params, "newClientOrderId") or p.new_client_id()
        tif = p.choice(params, "timeInForce", ("GTC", "IOC", "FOK"), invalid_tif())
        if kind in _WITH_TIF and tif is None:
            raise mandatory("timeInForce")
        if kind not in _WITH_TIF and tif is not None:
            raise not_required("timeInForce")
        price = p.decimal(params, "price", required=kind in _LIMIT_PRICED)
        if kind not in _LIMIT_PRICED and price is not None:
            raise not_required("price")
        stop = p.decimal(params, "stopPrice", required=kind in _STOPS)
        if kind not in _STOPS and stop is not None:
            raise not_required("stopPrice")
        qty = p.decimal(params, "quantity")
        quote_qty = p.decimal(params, "quoteOrderQty")
        filters = self.market.specs[name].spot
        quote = self.market.quote(name)
        best = quote.ask if side == "BUY" else quote.bid
        if quote_qty is not None:
            if kind != "MARKET" or qty is not None:
                raise not_required("quoteOrderQty")
            qty = round_down(quote_qty / best, filters.step)
        if qty is None:
            if kind == "MARKET":
                raise one_of("quantity", "quoteOrderQty")
            raise mandatory("quantity")
        resp_type = p.choice(params, "newOrderRespType", ("ACK", "RESULT", "FULL")) or (
            "FULL" if kind in ("MARKET", "LIMIT") else "ACK")
        for value in (price, stop):
            if value is not None and (value < filters.min_price or value > filters.max_price
                                      or value % filters.tick):
                raise filter_failure("PRICE_FILTER")
        if kind == "MARKET" and qty > filters.market_max_qty:
            raise filter_failure("MARKET_LOT_SIZE")
        if qty < filters.min_qty or qty > filters.max_qty or qty % filters.step:
            raise filter_failure("LOT_SIZE")
        if qty * (price or stop or best) < filters.min_notional:
            raise filter_failure("NOTIONAL")
        now = self.market.clock()
        order = Order(next(self._order_ids), cid, name, side, kind, qty, price or ZERO,
                      stop or ZERO, tif or "GTC", now, now, working=kind not in _STOPS,
                      working_time=now if kind not in _STOPS else -1,
                      quote_order_qty=quote_qty or ZERO)
        return order, resp_type

    def get_order(self, params: p.Params) -> dict[str, Any]:
        """GET /api/v3/order."""
        order = self._lookup(params)
        if order is None:
            raise no_such_order()
        return self.order_view(order)

    def cancel_order(self, params: p.Params) -> dict[str, Any]:
        """DELETE /api/v3/order."""
        order = self._lookup(params)
        if order is None or not order.is_open:
            raise unknown_order()
        self.engine.cancel(order)
        return self._cancelled(order, p.client_id(params, "newClientOrderId"))

    def _lookup(self, params: p.Params) -> Order | None:
        name = p.symbol(params, self.market.specs)
        order_id = p.integer(params, "orderId")
        cid = p.text(params, "origClientOrderId")
        if order_id is None and cid is None:
            raise one_of("origClientOrderId", "orderId")
        return self.engine.find(name or "", order_id, cid)

    def open_orders(self, params: p.Params) -> list[dict[str, Any]]:
        """GET /api/v3/openOrders."""
        name = p.symbol(params, self.market.specs, required=False)
        return [self.order_view(o) for o in self.engine.open_orders(name)]

    def cancel_open_orders(self, params: p.Params) -> list[dict[str, Any]]:
        """DELETE /api/v3/openOrders (Binance answers -2011 when nothing is open)."""
        name = p.symbol(params, self.market.specs)
        orders = self.engine.open_orders(name)
        if not orders:
            raise unknown_order()
        for order in orders:
            self.engine.cancel(order)
        return [self._cancelled(o, None) for o in orders]

    def all_orders(self, params: p.Params) -> list[dict[str, Any]]:
        """GET /api/v3/allOrders."""
        name = p.symbol(params, self.market.specs)
        assert name is not None
        from_id = p.integer(params, "orderId")
        start, end = p.time_window(params, 24 * 3_600_000)
        count = p.limit(params, 500, 1000)
        chosen = [o for o in self.engine.iter_orders(name)
                  if (from_id is None or o.order_id >= from_id)
                  and (start is None or o.time >= start) and (end is None or o.time <= end)]
        chosen = chosen[:count] if from_id is not None or start is not None else chosen[-count:]
        return [self.order_view(o) for o in chosen]

    def my_trades(self, params: p.Params) -> list[dict[str, Any]]:
        """GET /api/v3/myTrades."""
        name = p.symbol(params, self.market.specs)
        order_id = p.integer(params, "orderId")
        from_id = p.integer(params, "fromId")
        start, end = p.time_window(params, 24 * 3_600_000)
        count = p.limit(params, 500, 1000)
        chosen = [t for t in self.engine.trades
                  if t.symbol == name and (order_id is None or t.order_id == order_id)
                  and (from_id is None or t.trade_id >= from_id)
                  and (start is None or t.time >= start) and (end is None or t.time <= end)]
        forward = from_id is not None or start is not None
        chosen = chosen[:count] if forward else chosen[-count:]
        return [{
            "symbol": t.symbol, "id": t.trade_id, "orderId": t.order_id, "orderListId": -1,
            "price": _f8(t.price), "qty": _f8(t.qty), "quoteQty": _f8(t.quote_qty),
            "commission": _f8(t.commission), "commissionAsset": t.commission_asset,
            "time": t.time, "isBuyer": t.side == "BUY", "isMaker": t.maker,
            "isBestMatch": True} for t in chosen]

    # -- shapes -----------------------------------------------------------------------------

    def _base(self, order: Order) -> dict[str, Any]:
        body = {
            "price": _f8(order.price), "origQty": _f8(order.qty),
            "executedQty": _f8(order.executed), "cummulativeQuoteQty": _f8(order.cum_quote),
            "status": order.status, "timeInForce": order.time_in_force, "type": order.type,
            "side": order.side}
        if order.type in _STOPS:
            body["stopPrice"] = _f8(order.stop_price)
        return body

    def _placed(self, order: Order, resp_type: str) -> dict[str, Any]:
        body: dict[str, Any] = {"symbol": order.symbol, "orderId": order.order_id,
                                "orderListId": -1, "clientOrderId": order.client_id,
                                "transactTime": order.time}
        if resp_type == "ACK":
            return body
        body.update(self._base(order))
        body.update({"origQuoteOrderQty": _f8(order.quote_order_qty),
                     "workingTime": order.working_time,
                     "selfTradePreventionMode": "EXPIRE_MAKER"})
        if resp_type == "FULL":
            body["fills"] = [{"price": _f8(t.price), "qty": _f8(t.qty),
                              "commission": _f8(t.commission),
                              "commissionAsset": t.commission_asset, "tradeId": t.trade_id}
                             for t in order.trades]
        return body

    def order_view(self, order: Order) -> dict[str, Any]:
        """An order as GET /api/v3/order shows it."""
        body: dict[str, Any] = {"symbol": order.symbol, "orderId": order.order_id,
                                "orderListId": -1, "clientOrderId": order.client_id}
        body.update(self._base(order))
        body.setdefault("stopPrice", _f8(ZERO))
        body.update({"icebergQty": _f8(ZERO), "time": order.time,
                     "updateTime": order.update_time, "isWorking": order.working,
                     "workingTime": order.working_time,
                     "origQuoteOrderQty": _f8(order.quote_order_qty),
                     "selfTradePreventionMode": "EXPIRE_MAKER"})
        return body

    def _cancelled(self, order: Order, cancel_id: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"symbol": order.symbol, "origClientOrderId": order.client_id,
                                "orderId": order.order_id, "orderListId": -1,
                                "clientOrderId": cancel_id or p.new_client_id(),
                                "transactTime": order.update_time}
        body.update(self._base(order))
        body["selfTradePreventionMode"] = "EXPIRE_MAKER"
        return body

    # -- user data stream -------------------------------------------------------------------

    def new_listen_key(self, params: p.Params) -> dict[str, Any]:
        """POST /api/v3/userDataStream."""
        key = p.new_client_id() + p.new_client_id() + p.new_client_id()[:16]
        self.listen_keys.add(key)
        return {"listenKey": key}

    def keep_listen_key(self, params: p.Params) -> dict[str, Any]:
        """PUT or DELETE /api/v3/userDataStream."""
        key = p.text(params, "listenKey", required=True)
        if key not in self.listen_keys:
            raise BinanceError(400, -1125, "This listenKey does not exist.")
        return {}


def kline_rows(market: Market, params: p.Params, *, maximum: int,
               futures: bool) -> list[list[Any]]:
    """Klines in Binance's array shape: prices on the tick grid, 8 decimals on spot."""
    name = p.symbol(params, market.specs)
    assert name is not None
    interval = p.text(params, "interval", required=True)
    assert interval is not None
    start, end = p.time_window(params, None)
    count = p.limit(params, 500, maximum)
    filters = market.specs[name].futures if futures else market.specs[name].spot
    tick, step = decimals(filters.tick), decimals(filters.step)
    price_places, qty_places = (tick, step) if futures else (8, 8)

    def price(value: float) -> str:
        return fmt(round(value, tick), price_places)

    rows = []
    for open_ms, close_ms, (o, h, lo, c, v, q) in market.klines(name, interval, start, end,
                                                                 count):
        rows.append([open_ms, price(o), price(h), price(lo), price(c), fmt(v, qty_places),
                     close_ms, fmt(q, tick), int(v * 7), fmt(v / 2, qty_places),
                     fmt(q / 2, tick), "0"])
    return rows
