"""The USD-M futures market (``/fapi``): the endpoints ccxt's binanceusdm calls.

Conditional orders (STOP, STOP_MARKET, TAKE_PROFIT, TAKE_PROFIT_MARKET,
TRAILING_STOP_MARKET) live in the Algo Service (:mod:`.algo`), as on Binance since December
2025; ``POST /fapi/v1/order`` refuses them with -4120, as Binance does.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from . import params as p
from .errors import (
    BinanceError,
    invalid_side,
    invalid_tif,
    invalid_type,
    invalid_value,
    mandatory,
    margin_insufficient,
    no_such_order,
    one_of,
    unknown_order,
)
from .futures_account import MAINT_MARGIN_RATE, MAKER_RATE, TAKER_RATE, FuturesAccount
from .market import Filters, Market, decimals, fmt
from .matching import ZERO, Engine, Order, Rules, Trade
from .spot import kline_rows

FUTURES_ORDER_TYPES = ("LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
                       "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")
FUTURES_TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX")
SEVEN_DAYS_MS = 7 * 86_400_000


def duplicated_client_id() -> BinanceError:
    """-4116: a client order id already used by an open order."""
    return BinanceError(400, -4116, "ClientOrderId is duplicated.")


def would_trigger() -> BinanceError:
    """-2021: a conditional order whose trigger price is already reached."""
    return BinanceError(400, -2021, "Order would immediately trigger.")


def check_futures_filters(f: Filters, notional_price: Decimal, qty: Decimal,
                          prices: tuple[Decimal | None, ...], reduce_only: bool) -> None:
    """Binance USD-M's filter errors for quantity, prices and notional."""
    for price in prices:
        if price is None:
            continue
        if price < f.min_price:
            raise BinanceError(400, -4013, "Price less than min price.")
        if price > f.max_price:
            raise BinanceError(400, -4002, "Price greater than max price.")
        if price % f.tick:
            raise BinanceError(400, -4014, "Price not increased by tick size.")
    if qty <= 0:
        raise BinanceError(400, -4003, "Quantity less than or equal to zero.")
    if qty < f.min_qty:
        raise BinanceError(400, -4004, "Quantity less than min quantity.")
    if qty > f.max_qty:
        raise BinanceError(400, -4005, "Quantity greater than max quantity.")
    if qty % f.step:
        raise BinanceError(400, -1111, "Precision is over the maximum defined for this asset.")
    if not reduce_only and qty * notional_price < f.min_notional:
        raise BinanceError(400, -4164, f"Order's notional must be no smaller than "
                                       f"{f.min_notional.normalize():f} (unless you choose "
                                       "reduce only).")


class FuturesVenue:
    """USD-M endpoints over a :class:`FuturesAccount` and an :class:`~.matching.Engine`.

    Parameters
    ----------
    market : Market
    balances : dict of str to Decimal
    next_trade_id : callable
    """

    def __init__(self, market: Market, balances: dict[str, Decimal],
                 next_trade_id: Callable[[], int]) -> None:
        self.market = market
        self.account = FuturesAccount(market, balances)
        self.engine = Engine(market, self.account, Rules(
            duplicate=duplicated_client_id, would_trigger=would_trigger,
            would_take=lambda: BinanceError(
                400, -5022, "Due to the order could not be executed as maker, the Post Only "
                "order will be rejected. The order will not be recorded in the order history"),
            fok_unfilled=lambda: BinanceError(
                400, -5021, "Due to the order could not be filled immediately, the FOK order "
                "has been rejected. The order will not be recorded in the order history")),
            next_trade_id)
        self._order_ids = itertools.count(4_000_000_001)
        self.listen_keys: set[str] = set()

    @staticmethod
    def insufficient_funds() -> BinanceError:
        """What an order gets when the account lacks the margin."""
        return margin_insufficient()

    def filters(self, symbol: str) -> Filters:
        """The USD-M filters of ``symbol``."""
        return self.market.specs[symbol].futures

    def price_text(self, symbol: str, value: Decimal) -> str:
        """A price with the symbol's price precision."""
        return fmt(value, decimals(self.filters(symbol).tick))

    def qty_text(self, symbol: str, value: Decimal) -> str:
        """A quantity with the symbol's quantity precision."""
        return fmt(value, decimals(self.filters(symbol).step))

    def next_order_id(self) -> int:
        """A fresh order id."""
        return next(self._order_ids)

    # -- public -----------------------------------------------------------------------------

    def exchange_info(self, params: p.Params) -> dict[str, Any]:
        """GET /fapi/v1/exchangeInfo."""
        return {
            "timezone": "UTC", "serverTime": self.market.clock(), "futuresType": "U_MARGINED",
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": 2400},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1,
                 "limit": 1200},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                 "limit": 300}],
            "exchangeFilters": [],
            "assets": [{"asset": a, "marginAvailable": True, "autoAssetExchange": "-10000"}
                       for a in ("USDT", "USDC", "BNB")],
            "symbols": [self._symbol_info(name) for name in self.market.specs],
        }

    def _symbol_info(self, name: str) -> dict[str, Any]:
        spec, f = self.market.specs[name], self.filters(name)
        return {
            "symbol": name, "pair": name, "contractType": "PERPETUAL",
            "deliveryDate": 4133404800000, "onboardDate": 1569398400000, "status": "TRADING",
            "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
            "baseAsset": spec.base, "quoteAsset": spec.quote, "marginAsset": spec.quote,
            "pricePrecision": decimals(f.tick), "quantityPrecision": decimals(f.step),
            "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN",
            "underlyingSubType": ["PoW"], "triggerProtect": "0.0500",
            "liquidationFee": "0.012500", "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": str(f.min_price),
                 "maxPrice": str(f.max_price), "tickSize": str(f.tick)},
                {"filterType": "LOT_SIZE", "minQty": str(f.min_qty), "maxQty": str(f.max_qty),
                 "stepSize": str(f.step)},
                {"filterType": "MARKET_LOT_SIZE", "minQty": str(f.min_qty),
                 "maxQty": str(f.market_max_qty), "stepSize": str(f.step)},
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                {"filterType": "MIN_NOTIONAL", "notional": str(f.min_notional)},
                {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500",
                 "multiplierDown": "0.9500", "multiplierDecimal": "4"}],
            "orderTypes": list(FUTURES_ORDER_TYPES),
            "timeInForce": [*FUTURES_TIME_IN_FORCE, "GTD"],
        }

    def _names(self, params: p.Params) -> list[str]:
        single = p.symbol(params, self.market.specs, required=False)
        return [single] if single else list(self.market.specs)

    def ticker_24hr(self, params: p.Params) -> Any:
        """GET /fapi/v1/ticker/24hr (no bid/ask on USD-M, as on Binance)."""
        rows = []
        for name in self._names(params):
            open_ms, (o, h, lo, c, v, q) = self.market.day_stats(name)

            def price(value: float | Decimal, symbol: str = name) -> str:
                return self.price_text(symbol, Decimal(str(value)))

            size = self.market.top_size(name, self.filters(name).step)
            rows.append({
                "symbol": name, "priceChange": price(c - o),
                "priceChangePercent": fmt((c - o) / o * 100, 3),
                "weightedAvgPrice": price(q / v if v else c),
                "lastPrice": price(self.market.quote(name).mid),
                "lastQty": self.qty_text(name, size), "openPrice": price(o),
                "highPrice": price(h), "lowPrice": price(lo),
                "volume": self.qty_text(name, Decimal(str(v))), "quoteVolume": fmt(q, 2),
                "openTime": open_ms, "closeTime": self.market.clock(), "firstId": 0,
                "lastId": 0, "count": 0})
        return rows[0] if "symbol" in params else rows

    def book_ticker(self, params: p.Params) -> Any:
        """GET /fapi/v1/ticker/bookTicker."""
        rows = []
        for name in self._names(params):
            quote = self.market.quote(name)
            size = self.qty_text(name, self.market.top_size(name, self.filters(name).step))
            now = self.market.clock()
            rows.append({"symbol": name, "bidPrice": self.price_text(name, quote.bid),
                         "bidQty": size, "askPrice": self.price_text(name, quote.ask),
                         "askQty": size, "time": now, "lastUpdateId": now})
        return rows[0] if "symbol" in params else rows

    def ticker_price(self, params: p.Params) -> Any:
        """GET /fapi/v1/ticker/price."""
        rows = [{"symbol": n, "price": self.price_text(n, self.market.quote(n).mid),
                 "time": self.market.clock()} for n in self._names(params)]
        return rows[0] if "symbol" in params else rows

    def premium_index(self, params: p.Params) -> Any:
        """GET /fapi/v1/premiumIndex (mark = index = mid, zero funding)."""
        now = self.market.clock()
        rows = [{"symbol": n, "markPrice": self.price_text(n, self.market.quote(n).mid),
                 "indexPrice": self.price_text(n, self.market.quote(n).mid),
                 "estimatedSettlePrice": self.price_text(n, self.market.quote(n).mid),
                 "lastFundingRate": "0.00010000", "interestRate": "0.00010000",
                 "nextFundingTime": (now // 28_800_000 + 1) * 28_800_000, "time": now}
                for n in self._names(params)]
        return rows[0] if "symbol" in params else rows

    def depth(self, params: p.Params) -> dict[str, Any]:
        """GET /fapi/v1/depth."""
        name = p.symbol(params, self.market.specs)
        assert name is not None
        levels = p.limit(params, 500, 1000)
        f = self.filters(name)
        bids, asks = self.market.depth(name, min(levels, 50), f.tick, f.step)
        now = self.market.clock()
        return {"lastUpdateId": now, "E": now, "T": now,
                "bids": [[self.price_text(name, a), self.qty_text(name, b)] for a, b in bids],
                "asks": [[self.price_text(name, a), self.qty_text(name, b)] for a, b in asks]}

    def klines(self, params: p.Params) -> list[list[Any]]:
        """GET /fapi/v1/klines."""
        return kline_rows(self.market, params, maximum=1500, futures=True)

    # -- orders -----------------------------------------------------------------------------

    def new_order(self, params: p.Params) -> dict[str, Any]:
        """POST /fapi/v1/order (LIMIT and MARKET; conditional types go to the Algo Service)."""
        name = p.symbol(params, self.market.specs)
        assert name is not None
        side = p.choice(params, "side", ("BUY", "SELL"), invalid_side(), required=True)
        kind = p.choice(params, "type", FUTURES_ORDER_TYPES, invalid_type(), required=True)
        assert side is not None and kind is not None
        if kind not in ("LIMIT", "MARKET"):
            raise BinanceError(400, -4120, "Order type not supported for this endpoint. "
                                           "Please use the Algo Order API endpoints instead.")
        check_position_side(params)
        cid = p.client_id(params, "newClientOrderId") or p.new_client_id()
        tif = p.choice(params, "timeInForce", FUTURES_TIME_IN_FORCE, invalid_tif())
        if kind == "LIMIT" and tif is None:
            raise mandatory("timeInForce")
        price = p.decimal(params, "price", required=kind == "LIMIT")
        qty = p.decimal(params, "quantity", required=True)
        assert qty is not None
        reduce_only = p.flag(params, "reduceOnly")
        resp_type = p.choice(params, "newOrderRespType", ("ACK", "RESULT")) or "ACK"
        quote = self.market.quote(name)
        reference = price if price is not None else (quote.ask if side == "BUY" else quote.bid)
        check_futures_filters(self.filters(name), reference, qty,
                              (price if kind == "LIMIT" else None,), reduce_only)
        now = self.market.clock()
        order = Order(self.next_order_id(), cid, name, side, kind, qty, price or ZERO, ZERO,
                      tif or "GTC", now, now, working=True, working_time=now,
                      reduce_only=reduce_only, orig_type=kind)
        self.engine.submit(order)
        if resp_type == "ACK":
            return self.order_view(order, ack=True)
        return self.order_view(order)

    def modify_order(self, params: p.Params) -> dict[str, Any]:
        """PUT /fapi/v1/order: new price and quantity for an open LIMIT order."""
        order = self._lookup(params)
        if order is None or not order.is_open or order.type != "LIMIT":
            raise no_such_order()
        side = p.choice(params, "side", ("BUY", "SELL"), invalid_side(), required=True)
        if side != order.side:
            raise invalid_value("side")
        qty = p.decimal(params, "quantity", required=True)
        price = p.decimal(params, "price", required=True)
        assert qty is not None and price is not None
        if qty == order.qty and price == order.price:
            raise BinanceError(400, -5027, "No need to modify the order.")
        if qty <= order.executed:
            raise invalid_value("quantity")
        check_futures_filters(self.filters(order.symbol), price, qty, (price,),
                              order.reduce_only)
        self.engine.modify(order, qty, price)
        return self.order_view(order)

    def get_order(self, params: p.Params) -> dict[str, Any]:
        """GET /fapi/v1/order."""
        order = self._lookup(params)
        if order is None:
            raise no_such_order()
        return self.order_view(order, with_time=True)

    def open_order(self, params: p.Params) -> dict[str, Any]:
        """GET /fapi/v1/openOrder."""
        order = self._lookup(params)
        if order is None or not order.is_open:
            raise no_such_order()
        return self.order_view(order, with_time=True)

    def cancel_order(self, params: p.Params) -> dict[str, Any]:
        """DELETE /fapi/v1/order."""
        order = self._lookup(params)
        if order is None or not order.is_open:
            raise unknown_order()
        self.engine.cancel(order)
        return self.order_view(order)

    def _lookup(self, params: p.Params) -> Order | None:
        name = p.symbol(params, self.market.specs)
        order_id = p.integer(params, "orderId")
        cid = p.text(params, "origClientOrderId")
        if order_id is None and cid is None:
            raise one_of("orderId", "origClientOrderId")
        return self.engine.find(name or "", order_id, cid)

    def open_orders(self, params: p.Params) -> list[dict[str, Any]]:
        """GET /fapi/v1/openOrders."""
        name = p.symbol(params, self.market.specs, required=False)
        return [self.order_view(o, with_time=True) for o in self.engine.open_orders(name)]

    def cancel_all(self, params: p.Params) -> dict[str, Any]:
        """DELETE /fapi/v1/allOpenOrders."""
        name = p.symbol(params, self.market.specs)
        for order in self.engine.open_orders(name):
            self.engine.cancel(order)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def all_orders(self, params: p.Params) -> list[dict[str, Any]]:
        """GET /fapi/v1/allOrders."""
        name = p.symbol(params, self.market.specs)
        assert name is not None
        from_id = p.integer(params, "orderId")
        start, end = p.time_window(params, SEVEN_DAYS_MS)
        count = p.limit(params, 500, 1000)
        chosen = [o for o in self.engine.iter_orders(name)
                  if (from_id is None or o.order_id >= from_id)
                  and (start is None or o.time >= start) and (end is None or o.time <= end)]
        chosen = chosen[:count] if from_id is not None or start is not None else chosen[-count:]
        return [self.order_view(o, with_time=True) for o in chosen]

    def user_trades(self, params: p.Params) -> list[dict[str, Any]]:
        """GET /fapi/v1/userTrades."""
        name = p.symbol(params, self.market.specs)
        order_id = p.integer(params, "orderId")
        from_id = p.integer(params, "fromId")
        start, end = p.time_window(params, SEVEN_DAYS_MS)
        count = p.limit(params, 500, 1000)
        chosen = [t for t in self.engine.trades
                  if t.symbol == name and (order_id is None or t.order_id == order_id)
                  and (from_id is None or t.trade_id >= from_id)
                  and (start is None or t.time >= start) and (end is None or t.time <= end)]
        forward = from_id is not None or start is not None
        chosen = chosen[:count] if forward else chosen[-count:]
        return [self._trade_view(t) for t in chosen]

    def _trade_view(self, t: Trade) -> dict[str, Any]:
        return {"buyer": t.side == "BUY", "commission": fmt(t.commission, 8),
                "commissionAsset": t.commission_asset, "id": t.trade_id, "maker": t.maker,
                "orderId": t.order_id, "price": self.price_text(t.symbol, t.price),
                "qty": self.qty_text(t.symbol, t.qty), "quoteQty": fmt(t.quote_qty, 8),
                "realizedPnl": fmt(t.realized_pnl, 8), "side": t.side, "positionSide": "BOTH",
                "symbol": t.symbol, "time": t.time}

    def order_view(self, order: Order, *, with_time: bool = False,
                   ack: bool = False) -> dict[str, Any]:
        """An order in USD-M's shape (ACK shows it as just accepted)."""
        price, qty = self.price_text, self.qty_text
        executed, cum_quote, status = order.executed, order.cum_quote, order.status
        if ack:
            executed, cum_quote, status = ZERO, ZERO, "NEW"
        avg = cum_quote / executed if executed else ZERO
        body: dict[str, Any] = {
            "orderId": order.order_id, "symbol": order.symbol, "status": status,
            "clientOrderId": order.client_id, "price": price(order.symbol, order.price),
            "avgPrice": price(order.symbol, avg), "origQty": qty(order.symbol, order.qty),
            "executedQty": qty(order.symbol, executed), "cumQty": qty(order.symbol, executed),
            "cumQuote": fmt(cum_quote, 5), "timeInForce": order.time_in_force,
            "type": order.type, "reduceOnly": order.reduce_only, "closePosition": False,
            "side": order.side, "positionSide": "BOTH",
            "stopPrice": price(order.symbol, order.stop_price),
            "workingType": "CONTRACT_PRICE", "priceProtect": False,
            "origType": order.orig_type or order.type, "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0,
            "updateTime": order.update_time}
        if with_time:
            body["time"] = order.time
        return body

    # -- account ----------------------------------------------------------------------------

    def account_info(self, params: p.Params, *, version: int = 3) -> dict[str, Any]:
        """GET /fapi/v3/account (and /fapi/v2/account, which adds per-position detail)."""
        acc = self.account
        t = acc.totals()
        assets = []
        for asset, balance in sorted(acc.wallet.items()):
            margin = asset == "USDT"
            assets.append({
                "asset": asset, "walletBalance": fmt(balance, 8),
                "unrealizedProfit": fmt(t["upnl"] if margin else ZERO, 8),
                "marginBalance": fmt(balance + (t["upnl"] if margin else ZERO), 8),
                "maintMargin": fmt(t["maint"] if margin else ZERO, 8),
                "initialMargin": fmt(t["position_im"] + t["order_im"] if margin else ZERO, 8),
                "positionInitialMargin": fmt(t["position_im"] if margin else ZERO, 8),
                "openOrderInitialMargin": fmt(t["order_im"] if margin else ZERO, 8),
                "crossWalletBalance": fmt(balance, 8),
                "crossUnPnl": fmt(t["upnl"] if margin else ZERO, 8),
                "availableBalance": fmt(t["available"] if margin else balance, 8),
                "maxWithdrawAmount": fmt(t["available"] if margin else balance, 8),
                "marginAvailable": True, "updateTime": acc.asset_time.get(asset, 0)})
        positions = []
        for name, position in acc.positions.items():
            if not position.amount and version == 3:
                continue
            row = {"symbol": name, "positionSide": "BOTH",
                   "positionAmt": self.qty_text(name, position.amount),
                   "unrealizedProfit": fmt(acc.unrealized(name), 8), "isolatedMargin": "0",
                   "notional": fmt(acc.notional(name), 8), "isolatedWallet": "0",
                   "initialMargin": fmt(acc.position_margin(name) + acc.order_margin[name], 8),
                   "maintMargin": fmt(acc.maint_margin(name), 8),
                   "updateTime": position.update_time}
            if version == 2:
                row.update({"leverage": str(acc.leverage[name]), "isolated": False,
                            "entryPrice": self.price_text(name, position.entry),
                            "breakEvenPrice": self.price_text(name, position.entry),
                            "maxNotional": "1000000",
                            "positionInitialMargin": fmt(acc.position_margin(name), 8),
                            "openOrderInitialMargin": fmt(acc.order_margin[name], 8),
                            "bidNotional": "0", "askNotional": "0"})
            positions.append(row)
        body: dict[str, Any] = {
            "totalInitialMargin": fmt(t["position_im"] + t["order_im"], 8),
            "totalMaintMargin": fmt(t["maint"], 8), "totalWalletBalance": fmt(t["wallet"], 8),
            "totalUnrealizedProfit": fmt(t["upnl"], 8),
            "totalMarginBalance": fmt(t["margin_balance"], 8),
            "totalPositionInitialMargin": fmt(t["position_im"], 8),
            "totalOpenOrderInitialMargin": fmt(t["order_im"], 8),
            "totalCrossWalletBalance": fmt(t["wallet"], 8),
            "totalCrossUnPnl": fmt(t["upnl"], 8), "availableBalance": fmt(t["available"], 8),
            "maxWithdrawAmount": fmt(t["available"], 8), "assets": assets,
            "positions": positions}
        if version == 2:
            body.update({"feeTier": 0, "canTrade": True, "canDeposit": True,
                         "canWithdraw": True, "feeBurn": False, "tradeGroupId": -1,
                         "updateTime": 0, "multiAssetsMargin": False})
        return body

    def account_info_v2(self, params: p.Params) -> dict[str, Any]:
        """GET /fapi/v2/account."""
        return self.account_info(params, version=2)

    def balance(self, params: p.Params) -> list[dict[str, Any]]:
        """GET /fapi/v2/balance and /fapi/v3/balance."""
        acc = self.account
        t = acc.totals()
        return [{"accountAlias": "SgsR", "asset": asset, "balance": fmt(balance, 8),
                 "crossWalletBalance": fmt(balance, 8),
                 "crossUnPnl": fmt(t["upnl"] if asset == "USDT" else ZERO, 8),
                 "availableBalance": fmt(t["available"] if asset == "USDT" else balance, 8),
                 "maxWithdrawAmount": fmt(t["available"] if asset == "USDT" else balance, 8),
                 "marginAvailable": True, "updateTime": acc.asset_time.get(asset, 0)}
                for asset, balance in sorted(acc.wallet.items())]

    def position_risk(self, params: p.Params, *, version: int = 3) -> list[dict[str, Any]]:
        """GET /fapi/v3/positionRisk (v3: symbols with a position or open orders)."""
        acc = self.account
        name = p.symbol(params, self.market.specs, required=False)
        rows = []
        for symbol, position in acc.positions.items():
            if name is not None and symbol != name:
                continue
            busy = position.amount or acc.order_margin[symbol]
            if version == 3 and not busy:
                continue
            price = self.price_text
            row: dict[str, Any] = {
                "symbol": symbol, "positionSide": "BOTH",
                "positionAmt": self.qty_text(symbol, position.amount),
                "entryPrice": price(symbol, position.entry),
                "breakEvenPrice": price(symbol, position.entry),
                "markPrice": fmt(acc.mark(symbol), 8),
                "unRealizedProfit": fmt(acc.unrealized(symbol), 8),
                "liquidationPrice": fmt(acc.liquidation_price(symbol), 8),
                "isolatedMargin": "0", "notional": fmt(acc.notional(symbol), 8),
                "isolatedWallet": "0", "updateTime": position.update_time}
            if version == 3:
                row.update({
                    "marginAsset": "USDT",
                    "initialMargin": fmt(acc.position_margin(symbol) + acc.order_margin[symbol],
                                         8),
                    "maintMargin": fmt(acc.maint_margin(symbol), 8),
                    "positionInitialMargin": fmt(acc.position_margin(symbol), 8),
                    "openOrderInitialMargin": fmt(acc.order_margin[symbol], 8), "adl": 0,
                    "bidNotional": "0", "askNotional": "0"})
            else:
                row.update({"marginType": "cross", "isAutoAddMargin": "false",
                            "leverage": str(acc.leverage[symbol]),
                            "maxNotionalValue": "1000000"})
            rows.append(row)
        return rows

    def position_risk_v2(self, params: p.Params) -> list[dict[str, Any]]:
        """GET /fapi/v2/positionRisk."""
        return self.position_risk(params, version=2)

    def leverage_bracket(self, params: p.Params) -> Any:
        """GET /fapi/v1/leverageBracket (one bracket per symbol)."""
        name = p.symbol(params, self.market.specs, required=False)
        rows = [{"symbol": s, "notionalCoef": 1.0, "brackets": [
            {"bracket": 1, "initialLeverage": 125, "notionalCap": 1_000_000,
             "notionalFloor": 0, "maintMarginRatio": float(MAINT_MARGIN_RATE), "cum": 0.0}]}
            for s in ([name] if name else self.market.specs)]
        return rows[0] if name else rows

    def set_leverage(self, params: p.Params) -> dict[str, Any]:
        """POST /fapi/v1/leverage."""
        name = p.symbol(params, self.market.specs)
        assert name is not None
        value = p.integer(params, "leverage", required=True)
        assert value is not None
        if not 1 <= value <= 125:
            raise BinanceError(400, -4028, f"Leverage {value} is not valid")
        self.account.leverage[name] = value
        return {"leverage": value, "maxNotionalValue": "1000000", "symbol": name}

    def commission_rate(self, params: p.Params) -> dict[str, Any]:
        """GET /fapi/v1/commissionRate."""
        name = p.symbol(params, self.market.specs)
        return {"symbol": name, "makerCommissionRate": str(MAKER_RATE),
                "takerCommissionRate": str(TAKER_RATE)}

    # -- user data stream -------------------------------------------------------------------

    def new_listen_key(self, params: p.Params) -> dict[str, Any]:
        """POST /fapi/v1/listenKey."""
        key = p.new_client_id() + p.new_client_id() + p.new_client_id()[:20]
        self.listen_keys.add(key)
        return {"listenKey": key}

    def keep_listen_key(self, params: p.Params) -> dict[str, Any]:
        """PUT /fapi/v1/listenKey (returns the key) and DELETE (returns {})."""
        if not self.listen_keys:
            raise BinanceError(400, -1125, "This listenKey does not exist. Please use "
                                           "`POST /fapi/v1/listenKey` to recreate `listenKey`")
        return {"listenKey": next(iter(self.listen_keys))}


def check_position_side(params: p.Params) -> None:
    """One-way mode only: ``positionSide`` may be absent or BOTH (-4061 otherwise)."""
    side = p.choice(params, "positionSide", ("BOTH", "LONG", "SHORT"))
    if side not in (None, "BOTH"):
        raise BinanceError(400, -4061, "Order's position side does not match user's setting.")
