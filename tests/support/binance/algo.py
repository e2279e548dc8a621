"""USD-M conditional orders in the Algo Service (``/fapi/v1/algoOrder`` and friends).

An algo order waits (``algoStatus`` NEW) until the mid price reaches its trigger price
(STOP / STOP_MARKET: a buy when the price rises to it, a sell when it falls to it;
TAKE_PROFIT / TAKE_PROFIT_MARKET the other way round). TRAILING_STOP_MARKET activates at
``activatePrice`` (at once when absent), then follows the best price since activation and
triggers when the price comes back by ``callbackRate`` percent. On triggering it places a
regular order in the matching engine (MARKET, or LIMIT at ``price`` for STOP/TAKE_PROFIT),
whose id becomes ``actualOrderId``: status TRIGGERED while that order is open, FINISHED once it
is done, REJECTED when the engine refuses it (margin, reduce-only).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import params as p
from .errors import BinanceError, invalid_tif, invalid_type, invalid_value, no_such_order
from .futures import (
    FUTURES_TIME_IN_FORCE,
    FuturesVenue,
    check_futures_filters,
    check_position_side,
    duplicated_client_id,
    would_trigger,
)
from .market import fmt
from .matching import STOP_LIKE, ZERO, Order

ALGO_TYPES = ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
              "TRAILING_STOP_MARKET")
_LIMIT_AFTER_TRIGGER = frozenset({"STOP", "TAKE_PROFIT"})


@dataclass
class AlgoOrder:
    """A conditional order waiting in the Algo Service."""

    algo_id: int
    client_algo_id: str
    symbol: str
    side: str
    order_type: str
    qty: Decimal
    price: Decimal
    trigger_price: Decimal
    time_in_force: str
    working_type: str
    reduce_only: bool
    close_position: bool
    price_protect: bool
    callback_rate: Decimal
    activate_price: Decimal
    create_time: int
    update_time: int
    status: str = "NEW"
    trigger_time: int = 0
    actual_order_id: int | None = None
    activated: bool = False
    extreme: Decimal = ZERO


class AlgoService:
    """The Algo Service of the USD-M market.

    Parameters
    ----------
    venue : FuturesVenue
        Where triggered orders are placed.
    """

    def __init__(self, venue: FuturesVenue) -> None:
        self.venue = venue
        self.orders: dict[int, AlgoOrder] = {}
        self._ids = itertools.count(1_000_000_000_001)
        self.listeners: list[Callable[[AlgoOrder], None]] = []
        """Called whenever an algo order is placed or changes status (ALGO_UPDATE)."""

    def _notify(self, algo: AlgoOrder) -> None:
        for listener in self.listeners:
            listener(algo)

    # -- endpoints --------------------------------------------------------------------------

    def new_algo_order(self, params: p.Params) -> dict[str, Any]:
        """POST /fapi/v1/algoOrder."""
        if p.choice(params, "algoType", ("CONDITIONAL",), required=True) is None:
            raise invalid_value("algoType")
        market = self.venue.market
        name = p.symbol(params, market.specs)
        assert name is not None
        side = p.choice(params, "side", ("BUY", "SELL"), required=True)
        kind = p.choice(params, "type", ALGO_TYPES, invalid_type(), required=True)
        assert side is not None and kind is not None
        check_position_side(params)
        cid = p.client_id(params, "clientAlgoId") or p.new_client_id()
        if any(a.client_algo_id == cid for a in self.open_orders(name)):
            raise duplicated_client_id()
        tif = p.choice(params, "timeInForce", FUTURES_TIME_IN_FORCE, invalid_tif()) or "GTC"
        close_position = p.flag(params, "closePosition")
        qty = p.decimal(params, "quantity", required=not close_position)
        price = p.decimal(params, "price", required=kind in _LIMIT_AFTER_TRIGGER)
        trailing = kind == "TRAILING_STOP_MARKET"
        trigger = p.decimal(params, "triggerPrice", required=not trailing)
        rate = p.decimal(params, "callbackRate", required=trailing)
        activate = p.decimal(params, "activatePrice")
        if rate is not None and not Decimal("0.1") <= rate <= Decimal(10):
            raise BinanceError(400, -4136, "Invalid callBack rate.")
        working_type = p.choice(params, "workingType", ("MARK_PRICE", "CONTRACT_PRICE"))
        reduce_only = p.flag(params, "reduceOnly") or close_position
        mid = market.quote(name).mid
        if qty is not None:
            check_futures_filters(self.venue.filters(name), price or trigger or mid, qty,
                                  (price, trigger, activate), reduce_only)
        now = market.clock()
        algo = AlgoOrder(next(self._ids), cid, name, side, kind, qty or ZERO, price or ZERO,
                         trigger or ZERO, tif, working_type or "CONTRACT_PRICE", reduce_only,
                         close_position, p.flag(params, "priceProtect"), rate or ZERO,
                         activate or ZERO, now, now)
        if not trailing and self._reached(algo, mid):
            raise would_trigger()
        if trailing and (activate is None or self._activates(algo, mid)):
            algo.activated, algo.extreme = True, mid
        self.orders[algo.algo_id] = algo
        self._notify(algo)
        return self.view(algo)

    def get_algo_order(self, params: p.Params) -> dict[str, Any]:
        """GET /fapi/v1/algoOrder."""
        algo = self._lookup(params)
        if algo is None:
            raise no_such_order()
        return self.view(algo)

    def cancel_algo_order(self, params: p.Params) -> dict[str, Any]:
        """DELETE /fapi/v1/algoOrder."""
        algo = self._lookup(params)
        if algo is None or algo.status != "NEW":
            raise BinanceError(400, -2011, "Unknown order sent.")
        self._cancel(algo)
        return {"algoId": algo.algo_id, "clientAlgoId": algo.client_algo_id, "code": "200",
                "msg": "success"}

    def open_algo_orders(self, params: p.Params) -> list[dict[str, Any]]:
        """GET /fapi/v1/openAlgoOrders."""
        name = p.symbol(params, self.venue.market.specs, required=False)
        return [self.view(a) for a in self.open_orders(name)]

    def cancel_all_algo(self, params: p.Params) -> dict[str, Any]:
        """DELETE /fapi/v1/algoOpenOrders."""
        name = p.symbol(params, self.venue.market.specs)
        for algo in self.open_orders(name):
            self._cancel(algo)
        return {"code": 200, "msg": "success"}

    def all_algo_orders(self, params: p.Params) -> list[dict[str, Any]]:
        """GET /fapi/v1/allAlgoOrders."""
        name = p.symbol(params, self.venue.market.specs)
        start, end = p.time_window(params, 7 * 86_400_000)
        count = p.limit(params, 500, 1000)
        chosen = [a for a in self.orders.values() if a.symbol == name
                  and (start is None or a.create_time >= start)
                  and (end is None or a.create_time <= end)]
        chosen = chosen[:count] if start is not None else chosen[-count:]
        return [self.view(a) for a in chosen]

    def _lookup(self, params: p.Params) -> AlgoOrder | None:
        algo_id = p.integer(params, "algoId")
        cid = p.text(params, "clientAlgoId")
        if algo_id is None and cid is None:
            raise BinanceError(400, -1102, "Param 'algoId' or 'clientAlgoId' must be sent, but "
                                           "both were empty/null!")
        if algo_id is not None:
            return self.orders.get(algo_id)
        found = [a for a in self.orders.values() if a.client_algo_id == cid]
        return found[-1] if found else None

    def _cancel(self, algo: AlgoOrder) -> None:
        algo.status = "CANCELED"
        algo.update_time = self.venue.market.clock()
        self._notify(algo)

    def open_orders(self, symbol: str | None = None) -> list[AlgoOrder]:
        """Algo orders not yet triggered or cancelled."""
        return [a for a in self.orders.values()
                if a.status == "NEW" and (symbol is None or a.symbol == symbol)]

    def find(self, key: int | str) -> AlgoOrder | None:
        """An algo order by algo id or client algo id."""
        for algo in reversed(self.orders.values()):
            if key in (algo.algo_id, algo.client_algo_id):
                return algo
        return None

    # -- triggering -------------------------------------------------------------------------

    def on_price(self, symbol: str) -> None:
        """Trigger the algo orders of ``symbol`` the current price reaches."""
        mid = self.venue.market.quote(symbol).mid
        for algo in self.open_orders(symbol):
            if algo.order_type == "TRAILING_STOP_MARKET":
                if not algo.activated:
                    if not self._activates(algo, mid):
                        continue
                    algo.activated, algo.extreme = True, mid
                better = max if algo.side == "SELL" else min
                algo.extreme = better(algo.extreme, mid)
                back = algo.extreme * algo.callback_rate / 100
                if (algo.side == "SELL" and mid <= algo.extreme - back) or \
                        (algo.side == "BUY" and mid >= algo.extreme + back):
                    self._trigger(algo)
            elif self._reached(algo, mid):
                self._trigger(algo)

    @staticmethod
    def _reached(algo: AlgoOrder, mid: Decimal) -> bool:
        rising = (algo.order_type in STOP_LIKE) == (algo.side == "BUY")
        return mid >= algo.trigger_price if rising else mid <= algo.trigger_price

    @staticmethod
    def _activates(algo: AlgoOrder, mid: Decimal) -> bool:
        if not algo.activate_price:
            return True
        return mid >= algo.activate_price if algo.side == "SELL" else \
            mid <= algo.activate_price

    def _trigger(self, algo: AlgoOrder) -> None:
        venue = self.venue
        now = venue.market.clock()
        algo.trigger_time = algo.update_time = now
        qty = algo.qty
        if algo.close_position:
            qty = abs(venue.account.positions[algo.symbol].amount)
        limit = algo.order_type in _LIMIT_AFTER_TRIGGER
        order = Order(venue.next_order_id(), algo.client_algo_id, algo.symbol, algo.side,
                      "LIMIT" if limit else "MARKET", qty, algo.price if limit else ZERO,
                      algo.trigger_price, algo.time_in_force if limit else "GTC", now, now,
                      working=True, working_time=now, reduce_only=algo.reduce_only,
                      orig_type=algo.order_type)
        if qty <= 0:
            algo.status = "EXPIRED"
            self._notify(algo)
            return
        algo.status = "TRIGGERING"
        try:
            venue.engine.submit(order)
        except BinanceError:
            algo.status = "REJECTED"
        else:
            algo.status = "TRIGGERED"
            algo.actual_order_id = order.order_id
        self._notify(algo)

    # -- shape ------------------------------------------------------------------------------

    def view(self, algo: AlgoOrder) -> dict[str, Any]:
        """An algo order in Binance's shape."""
        venue = self.venue
        price, name = venue.price_text, algo.symbol
        status = algo.status
        actual = venue.engine.orders.get(algo.actual_order_id or -1)
        if status == "TRIGGERED" and actual is not None and not actual.is_open:
            status = "FINISHED"
        zero_price = price(name, ZERO)
        return {
            "algoId": algo.algo_id, "clientAlgoId": algo.client_algo_id,
            "algoType": "CONDITIONAL", "orderType": algo.order_type, "symbol": name,
            "side": algo.side, "positionSide": "BOTH", "timeInForce": algo.time_in_force,
            "quantity": venue.qty_text(name, algo.qty), "algoStatus": status,
            "actualOrderId": str(algo.actual_order_id or ""),
            "actualPrice": fmt(actual.avg_price if actual is not None else ZERO, 5),
            "triggerPrice": price(name, algo.trigger_price), "price": price(name, algo.price),
            "icebergQuantity": None, "tpTriggerPrice": zero_price, "tpPrice": zero_price,
            "slTriggerPrice": zero_price, "slPrice": zero_price, "tpOrderType": "",
            "selfTradePreventionMode": "EXPIRE_MAKER", "workingType": algo.working_type,
            "priceMatch": "NONE", "closePosition": algo.close_position,
            "priceProtect": algo.price_protect, "reduceOnly": algo.reduce_only,
            "activatePrice": price(name, algo.activate_price) if algo.activate_price else "",
            "callbackRate": str(algo.callback_rate) if algo.callback_rate else "",
            "createTime": algo.create_time, "updateTime": algo.update_time,
            "triggerTime": algo.trigger_time, "goodTillDate": 0}
