"""The local cTrader account: symbols, prices, orders, deals, positions and the balance.

A small matching model with cTrader's rules as the Open API reference describes them: volumes
in cents of a unit checked against each symbol's minimum and step, prices in 1/100000,
MARKET/LIMIT/STOP/STOP_LIMIT/MARKET_RANGE orders, GTC/GTD/IOC/FOK, stop-limit ranges in points,
positions per order on a hedging account (an order with ``positionId`` reduces that position)
or one per symbol on a netting account, stop-loss/take-profit on positions, commissions and
realised PnL in the deposit currency (USD, ``moneyDigits`` 2).

Every change returns the ``(payload type, body)`` events cTrader would push, with the order
they concern; the server decides who receives them (and applies injected faults).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tradeloop.brokers.ctrader import messages as m
from tradeloop.brokers.ctrader.messages import PT, ExecutionType

ACCOUNT_ID = 44_000_001
ASSETS = {1: "EUR", 2: "USD", 3: "GBP", 4: "JPY"}
DEPOSIT_ASSET = 2
LEVERAGE_IN_CENTS = 3000  # 1:30
COMMISSION_PER_MILLION_USD = Decimal(30)
STARTING_BALANCE = Decimal(100_000)
PENDING = m.OrderStatus.ORDER_STATUS_ACCEPTED


class Refused(Exception):
    """A request cTrader refuses: its error code and description."""

    def __init__(self, code: str, description: str = "") -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


@dataclass(frozen=True)
class SymbolSpec:
    """One listed symbol; volumes in cents, the opening quote in 1/100000."""

    symbol_id: int
    name: str
    base_asset: int
    quote_asset: int
    digits: int
    pip_position: int
    min_volume: int
    step_volume: int
    max_volume: int
    lot_size: int
    bid: int
    ask: int

    @property
    def point(self) -> int:
        """One point (the smallest price step) in 1/100000."""
        return 10 ** (5 - self.digits)


DEFAULT_SYMBOLS = (
    SymbolSpec(1, "EURUSD", 1, 2, 5, 4, 100_000, 100_000, 10_000_000_000, 10_000_000,
               108_500, 108_502),
    SymbolSpec(2, "GBPUSD", 3, 2, 5, 4, 100_000, 100_000, 10_000_000_000, 10_000_000,
               127_000, 127_003),
    SymbolSpec(3, "USDJPY", 2, 4, 3, 2, 100_000, 100_000, 10_000_000_000, 10_000_000,
               15_000_000, 15_001_000),
)


def now_ms() -> int:
    """The server's clock."""
    return time.time_ns() // 1_000_000


@dataclass
class Order:
    """A cTrader order."""

    order_id: int
    symbol_id: int
    side: int
    order_type: int
    volume: int
    time_in_force: int
    client_order_id: str = ""
    label: str = ""
    comment: str = ""
    limit_price: int | None = None
    stop_price: int | None = None
    slippage: int = 0
    expiration_ms: int = 0
    position_id: int = 0
    closing: bool = False
    status: int = PENDING
    executed: int = 0
    notional: int = 0  # sum of volume x price of the deals, for the average
    open_ms: int = 0
    update_ms: int = 0
    stop_loss: int | None = None
    take_profit: int | None = None
    relative_stop_loss: int | None = None
    relative_take_profit: int | None = None
    triggered: bool = False
    faults: set[str] = field(default_factory=set)

    @property
    def pending(self) -> bool:
        """True while it can still fill."""
        return self.status == PENDING and self.executed < self.volume


@dataclass
class Position:
    """A cTrader position."""

    position_id: int
    symbol_id: int
    side: int
    volume: int = 0
    price: int = 0
    status: int = m.PositionStatus.POSITION_STATUS_CREATED
    open_ms: int = 0
    update_ms: int = 0
    stop_loss: int | None = None
    take_profit: int | None = None
    commission: Decimal = Decimal(0)


@dataclass
class Deal:
    """One execution."""

    deal_id: int
    order_id: int
    position_id: int
    symbol_id: int
    side: int
    volume: int
    price: int
    ms: int
    commission: Decimal
    closed: dict[str, Any] | None = None


Event = tuple[int, dict[str, Any], Order | None]


class Account:
    """One trading account and its market.

    Parameters
    ----------
    symbols : tuple of SymbolSpec
    hedged : bool
        A hedging account (positions per order) or a netting one (one per symbol).
    """

    def __init__(self, symbols: tuple[SymbolSpec, ...] = DEFAULT_SYMBOLS, *,
                 hedged: bool = True) -> None:
        self.specs = {s.symbol_id: s for s in symbols}
        self.by_name = {s.name: s for s in symbols}
        self.hedged = hedged
        self.registered_ms = now_ms() - 30 * 86_400_000
        self.balance = STARTING_BALANCE
        self.prices = {s.symbol_id: (s.bid, s.ask) for s in symbols}
        self.orders: dict[int, Order] = {}
        self.positions: dict[int, Position] = {}
        self.deals: list[Deal] = []
        self._ids = itertools.count(1_000_001)
        self._deal_ids = itertools.count(5_000_001)

    # -- serialising ------------------------------------------------------------------------

    def px(self, symbol_id: int, value: int) -> float:
        """A price in 1/100000 as cTrader's double."""
        return round(value / 100_000, self.specs[symbol_id].digits)

    def order_body(self, o: Order) -> dict[str, Any]:
        """``ProtoOAOrder``."""
        body: dict[str, Any] = {
            "orderId": o.order_id,
            "tradeData": {"symbolId": o.symbol_id, "volume": o.volume, "tradeSide": o.side,
                          "openTimestamp": o.open_ms, "label": o.label or None,
                          "comment": o.comment or None},
            "orderType": o.order_type, "orderStatus": o.status,
            "executedVolume": o.executed, "utcLastUpdateTimestamp": o.update_ms,
            "clientOrderId": o.client_order_id or None, "timeInForce": o.time_in_force,
            "positionId": o.position_id or None, "closingOrder": o.closing,
            "expirationTimestamp": o.expiration_ms or None,
            "limitPrice": self.px(o.symbol_id, o.limit_price)
            if o.limit_price is not None else None,
            "stopPrice": self.px(o.symbol_id, o.stop_price)
            if o.stop_price is not None else None,
            "slippageInPoints": o.slippage or None,
            "stopLoss": self.px(o.symbol_id, o.stop_loss) if o.stop_loss else None,
            "takeProfit": self.px(o.symbol_id, o.take_profit) if o.take_profit else None,
            "relativeStopLoss": o.relative_stop_loss,
            "relativeTakeProfit": o.relative_take_profit,
        }
        if o.executed:
            body["executionPrice"] = round(o.notional / o.executed / 100_000,
                                           self.specs[o.symbol_id].digits)
        return body

    def position_body(self, p: Position) -> dict[str, Any]:
        """``ProtoOAPosition``."""
        return {
            "positionId": p.position_id,
            "tradeData": {"symbolId": p.symbol_id, "volume": p.volume, "tradeSide": p.side,
                          "openTimestamp": p.open_ms},
            "positionStatus": p.status, "swap": 0, "price": self.px(p.symbol_id, p.price),
            "stopLoss": self.px(p.symbol_id, p.stop_loss) if p.stop_loss else None,
            "takeProfit": self.px(p.symbol_id, p.take_profit) if p.take_profit else None,
            "utcLastUpdateTimestamp": p.update_ms,
            "commission": -int(p.commission * 100), "moneyDigits": 2,
            "usedMargin": int(self._margin(p) * 100),
        }

    def deal_body(self, d: Deal) -> dict[str, Any]:
        """``ProtoOADeal``."""
        return {"dealId": d.deal_id, "orderId": d.order_id, "positionId": d.position_id,
                "volume": d.volume, "filledVolume": d.volume, "symbolId": d.symbol_id,
                "createTimestamp": d.ms, "executionTimestamp": d.ms,
                "utcLastUpdateTimestamp": d.ms, "executionPrice": self.px(d.symbol_id, d.price),
                "tradeSide": d.side, "dealStatus": m.DealStatus.FILLED,
                "commission": -int(d.commission * 100), "moneyDigits": 2,
                "closePositionDetail": d.closed}

    def trader_body(self) -> dict[str, Any]:
        """``ProtoOATrader``."""
        return {"ctidTraderAccountId": ACCOUNT_ID, "balance": int(self.balance * 100),
                "depositAssetId": DEPOSIT_ASSET, "leverageInCents": LEVERAGE_IN_CENTS,
                "accountType": m.AccountType.HEDGED if self.hedged else m.AccountType.NETTED,
                "traderLogin": 7_000_001, "brokerName": "Local Broker",
                "registrationTimestamp": self.registered_ms, "moneyDigits": 2}

    def _execution(self, kind: int, o: Order, deal: Deal | None = None,
                   error: str = "") -> Event:
        position = self.positions.get(o.position_id)
        return (PT.EXECUTION_EVENT, {
            "ctidTraderAccountId": ACCOUNT_ID, "executionType": kind,
            "order": self.order_body(o),
            "position": self.position_body(position) if position is not None else None,
            "deal": self.deal_body(deal) if deal is not None else None,
            "errorCode": error or None, "isServerEvent": o.closing or None}, o)

    # -- money ------------------------------------------------------------------------------

    def _usd(self, symbol_id: int, amount_quote: Decimal, price: int) -> Decimal:
        spec = self.specs[symbol_id]
        if ASSETS[spec.quote_asset] == "USD":
            return amount_quote
        if ASSETS[spec.base_asset] == "USD":
            return amount_quote * 100_000 / price
        return amount_quote

    def _notional_usd(self, symbol_id: int, volume: int, price: int) -> Decimal:
        units = Decimal(volume) / 100
        return self._usd(symbol_id, units * Decimal(price) / 100_000, price)

    def _margin(self, p: Position) -> Decimal:
        if p.volume == 0:
            return Decimal(0)
        return (self._notional_usd(p.symbol_id, p.volume, p.price) * 100
                / LEVERAGE_IN_CENTS).quantize(Decimal("0.01"))

    def unrealised(self, p: Position) -> Decimal:
        """Net unrealised PnL of an open position in USD."""
        bid, ask = self.prices[p.symbol_id]
        mark = bid if p.side == m.TradeSide.BUY else ask
        sign = 1 if p.side == m.TradeSide.BUY else -1
        quote = Decimal(sign * (mark - p.price)) / 100_000 * Decimal(p.volume) / 100
        return self._usd(p.symbol_id, quote, mark).quantize(Decimal("0.01"))

    def free_margin(self) -> Decimal:
        """Equity less the margin in use."""
        open_ = [p for p in self.positions.values() if p.volume]
        return self.balance + sum((self.unrealised(p) for p in open_), Decimal(0)) \
            - sum((self._margin(p) for p in open_), Decimal(0))

    # -- orders -----------------------------------------------------------------------------

    def new_order(self, req: dict[str, Any]) -> tuple[Order, list[Event]]:
        """Validate and book a ``ProtoOANewOrderReq``; its events.

        Raises
        ------
        Refused
            What cTrader would refuse (``ProtoOAOrderErrorEvent``).
        """
        spec = self.specs.get(int(req.get("symbolId", 0)))
        if spec is None:
            raise Refused("SYMBOL_NOT_FOUND", "symbol not found")
        volume = int(req.get("volume", 0))
        if volume < spec.min_volume or volume % spec.step_volume or volume > spec.max_volume:
            raise Refused("TRADING_BAD_VOLUME", f"invalid volume {volume}")
        kind = int(req.get("orderType", 0))
        cid = str(req.get("clientOrderId", ""))
        if len(cid) > 50 or len(str(req.get("label", ""))) > 100:
            raise Refused("INVALID_REQUEST", "clientOrderId or label too long")
        side = int(req.get("tradeSide", 0))
        if side not in (m.TradeSide.BUY, m.TradeSide.SELL):
            raise Refused("INVALID_REQUEST", "trade side")
        tif = int(req.get("timeInForce", m.TimeInForce.GOOD_TILL_CANCEL))
        o = Order(0, spec.symbol_id, side, kind, volume, tif, cid, str(req.get("label", "")),
                  str(req.get("comment", "")))
        self._prices_of(o, req, spec)
        self._protection_of(o, req, spec)
        self._position_of(o, req)
        if tif == m.TimeInForce.GOOD_TILL_DATE:
            o.expiration_ms = int(req.get("expirationTimestamp", 0) or 0)
            if o.expiration_ms <= now_ms():
                raise Refused("TRADING_BAD_EXPIRATION_DATE", "expiration in the past")
        if not o.position_id or not self.hedged:
            ask = self.prices[spec.symbol_id][1]
            need = self._notional_usd(spec.symbol_id, volume, ask) * 100 / LEVERAGE_IN_CENTS
            if need > self.free_margin():
                raise Refused("NOT_ENOUGH_MONEY", "not enough money")
        o.order_id = next(self._ids)
        o.open_ms = o.update_ms = now_ms()
        if not o.position_id:
            o.position_id = self._new_position_id(spec.symbol_id, side)
        self.orders[o.order_id] = o
        events = [self._execution(ExecutionType.ORDER_ACCEPTED, o)]
        events += self._match(o, fresh=True)
        return o, events

    def _prices_of(self, o: Order, req: dict[str, Any], spec: SymbolSpec) -> None:
        def scaled(name: str) -> int | None:
            value = req.get(name)
            return round(float(value) * 100_000) if value is not None else None

        if o.order_type == m.OrderType.LIMIT:
            o.limit_price = scaled("limitPrice")
            if not o.limit_price or o.limit_price <= 0:
                raise Refused("TRADING_BAD_PRICES", "a LIMIT order needs a limit price")
        elif o.order_type in (m.OrderType.STOP, m.OrderType.STOP_LIMIT):
            o.stop_price = scaled("stopPrice")
            if not o.stop_price or o.stop_price <= 0:
                raise Refused("TRADING_BAD_STOPS", "a STOP order needs a stop price")
            o.slippage = int(req.get("slippageInPoints", 0) or 0)
            bid, ask = self.prices[spec.symbol_id]
            if (o.side == m.TradeSide.BUY and o.stop_price <= ask) or \
                    (o.side == m.TradeSide.SELL and o.stop_price >= bid):
                raise Refused("TRADING_BAD_STOPS", "the stop price is on the wrong side of "
                              "the market")
        elif o.order_type not in (m.OrderType.MARKET, m.OrderType.MARKET_RANGE):
            raise Refused("INVALID_REQUEST", f"order type {o.order_type}")

    def _protection_of(self, o: Order, req: dict[str, Any], spec: SymbolSpec) -> None:
        market = o.order_type in (m.OrderType.MARKET, m.OrderType.MARKET_RANGE)
        if market and (req.get("stopLoss") is not None or req.get("takeProfit") is not None):
            raise Refused("TRADING_BAD_STOPS", "absolute stop loss and take profit are not "
                          "supported for MARKET orders")
        if req.get("stopLoss") is not None:
            o.stop_loss = round(float(req["stopLoss"]) * 100_000)
        if req.get("takeProfit") is not None:
            o.take_profit = round(float(req["takeProfit"]) * 100_000)
        o.relative_stop_loss = req.get("relativeStopLoss")
        o.relative_take_profit = req.get("relativeTakeProfit")

    def _position_of(self, o: Order, req: dict[str, Any]) -> None:
        wanted = int(req.get("positionId", 0) or 0)
        if not wanted:
            return
        pos = self.positions.get(wanted)
        if pos is None or pos.status != m.PositionStatus.POSITION_STATUS_OPEN:
            raise Refused("POSITION_NOT_FOUND", f"position {wanted} not found")
        if pos.symbol_id != o.symbol_id or (pos.side != o.side and o.volume > pos.volume):
            raise Refused("TRADING_BAD_VOLUME", "the order does not fit the position")
        o.position_id = wanted

    def _new_position_id(self, symbol_id: int, side: int) -> int:
        if not self.hedged:
            for pos in self.positions.values():
                if pos.symbol_id == symbol_id and pos.status in (
                        m.PositionStatus.POSITION_STATUS_OPEN,
                        m.PositionStatus.POSITION_STATUS_CREATED):
                    return pos.position_id
        position_id = next(self._ids)
        self.positions[position_id] = Position(position_id, symbol_id, side,
                                               open_ms=now_ms(), update_ms=now_ms())
        return position_id

    def cancel(self, order_id: int) -> list[Event]:
        """``ProtoOACancelOrderReq``."""
        o = self.orders.get(order_id)
        if o is None or not o.pending or o.order_type in (m.OrderType.MARKET,
                                                          m.OrderType.MARKET_RANGE):
            raise Refused("ORDER_NOT_FOUND", f"order {order_id} not found")
        return [self._close(o, m.OrderStatus.ORDER_STATUS_CANCELLED,
                            ExecutionType.ORDER_CANCELLED)]

    def amend(self, req: dict[str, Any]) -> list[Event]:
        """``ProtoOAAmendOrderReq``."""
        o = self.orders.get(int(req.get("orderId", 0)))
        if o is None:
            raise Refused("ORDER_NOT_FOUND", "order not found")
        if not o.pending or o.order_type in (m.OrderType.MARKET, m.OrderType.MARKET_RANGE):
            raise Refused("UNABLE_TO_AMEND_ORDER", "the order is not pending")
        spec = self.specs[o.symbol_id]
        if req.get("volume") is not None:
            volume = int(req["volume"])
            if volume <= o.executed or volume < spec.min_volume or volume % spec.step_volume:
                raise Refused("TRADING_BAD_VOLUME", f"invalid volume {volume}")
            o.volume = volume
        if req.get("limitPrice") is not None:
            if o.order_type != m.OrderType.LIMIT:
                raise Refused("TRADING_BAD_PRICES", "only a LIMIT order has a limit price")
            o.limit_price = round(float(req["limitPrice"]) * 100_000)
        if req.get("stopPrice") is not None:
            if o.order_type not in (m.OrderType.STOP, m.OrderType.STOP_LIMIT):
                raise Refused("TRADING_BAD_STOPS", "only stop orders have a stop price")
            o.stop_price = round(float(req["stopPrice"]) * 100_000)
        if req.get("slippageInPoints") is not None:
            o.slippage = int(req["slippageInPoints"])
        if req.get("expirationTimestamp") is not None:
            o.expiration_ms = int(req["expirationTimestamp"])
        o.update_ms = now_ms()
        return [self._execution(ExecutionType.ORDER_REPLACED, o), *self._match(o)]

    def close_position(self, position_id: int, volume: int) -> list[Event]:
        """``ProtoOAClosePositionReq``: a market order against the position."""
        pos = self.positions.get(position_id)
        if pos is None or pos.status != m.PositionStatus.POSITION_STATUS_OPEN:
            raise Refused("POSITION_NOT_FOUND", f"position {position_id} not found")
        if volume <= 0 or volume > pos.volume:
            raise Refused("TRADING_BAD_VOLUME", f"invalid volume {volume}")
        o = self._closing_order(pos, volume, m.OrderType.MARKET)
        return [self._execution(ExecutionType.ORDER_ACCEPTED, o), *self._match(o)]

    def _closing_order(self, pos: Position, volume: int, kind: int) -> Order:
        side = m.TradeSide.SELL if pos.side == m.TradeSide.BUY else m.TradeSide.BUY
        o = Order(next(self._ids), pos.symbol_id, side, kind, volume,
                  m.TimeInForce.IMMEDIATE_OR_CANCEL, position_id=pos.position_id,
                  closing=True, open_ms=now_ms(), update_ms=now_ms())
        self.orders[o.order_id] = o
        return o

    def _close(self, o: Order, status: int, kind: int) -> Event:
        o.status = status
        o.update_ms = now_ms()
        pos = self.positions.get(o.position_id)
        if pos is not None and pos.status == m.PositionStatus.POSITION_STATUS_CREATED \
                and not any(x.pending and x.position_id == pos.position_id
                            for x in self.orders.values() if x is not o):
            del self.positions[pos.position_id]
        return self._execution(kind, o)

    # -- matching ---------------------------------------------------------------------------

    def set_price(self, symbol_id: int, bid: int, ask: int) -> list[Event]:
        """Move the market: resting orders and position stops that it reaches execute."""
        self.prices[symbol_id] = (bid, ask)
        events: list[Event] = []
        for o in sorted(self.orders.values(), key=lambda x: x.order_id):
            if o.symbol_id == symbol_id and o.pending:
                events += self._match(o)
        for pos in list(self.positions.values()):
            if pos.symbol_id == symbol_id and pos.status == m.PositionStatus.POSITION_STATUS_OPEN:
                events += self._stops(pos)
        return events

    def _match(self, o: Order, fresh: bool = False) -> list[Event]:
        bid, ask = self.prices[o.symbol_id]
        buy = o.side == m.TradeSide.BUY
        touch = ask if buy else bid
        kind = o.order_type
        if kind in (m.OrderType.MARKET, m.OrderType.MARKET_RANGE):
            return self._fill(o, o.volume - o.executed, touch)
        if kind in (m.OrderType.STOP, m.OrderType.STOP_LIMIT) and not o.triggered:
            assert o.stop_price is not None
            if (buy and ask < o.stop_price) or (not buy and bid > o.stop_price):
                return []
            o.triggered = True
            if kind == m.OrderType.STOP:
                return self._fill(o, o.volume - o.executed, touch)
            point = self.specs[o.symbol_id].point
            o.limit_price = o.stop_price + (o.slippage * point if buy else -o.slippage * point)
        assert o.limit_price is not None
        if (buy and ask <= o.limit_price) or (not buy and bid >= o.limit_price):
            price = touch if fresh or kind == m.OrderType.STOP_LIMIT else o.limit_price
            return self._fill(o, o.volume - o.executed, price)
        if fresh and o.time_in_force in (m.TimeInForce.IMMEDIATE_OR_CANCEL,
                                         m.TimeInForce.FILL_OR_KILL):
            return [self._close(o, m.OrderStatus.ORDER_STATUS_CANCELLED,
                                ExecutionType.ORDER_CANCELLED)]
        return []

    def fill(self, order_id: int, volume: int) -> list[Event]:
        """Fill ``volume`` of a resting order at its own price (a partial fill)."""
        o = self.orders.get(order_id)
        if o is None or not o.pending:
            raise Refused("ORDER_NOT_FOUND", f"order {order_id} is not pending")
        price = o.limit_price if o.limit_price is not None else o.stop_price
        assert price is not None
        return self._fill(o, min(volume, o.volume - o.executed), price)

    def _fill(self, o: Order, volume: int, price: int) -> list[Event]:
        ms = now_ms()
        pos = self.positions[o.position_id]
        spec = self.specs[o.symbol_id]
        commission = (self._notional_usd(o.symbol_id, volume, price)
                      * COMMISSION_PER_MILLION_USD / 1_000_000).quantize(Decimal("0.01"))
        deal = Deal(next(self._deal_ids), o.order_id, pos.position_id, o.symbol_id, o.side,
                    volume, price, ms, commission)
        self.balance -= commission
        if pos.volume == 0 or pos.side == o.side:
            pos.price = (pos.price * pos.volume + price * volume) // (pos.volume + volume)
            pos.volume += volume
            pos.side = o.side
            pos.status = m.PositionStatus.POSITION_STATUS_OPEN
            pos.commission += commission
            self._protect(pos, o, price)
        else:
            closed = min(volume, pos.volume)
            sign = 1 if pos.side == m.TradeSide.BUY else -1
            gross = self._usd(o.symbol_id, Decimal(sign * (price - pos.price)) / 100_000
                              * Decimal(closed) / 100, price).quantize(Decimal("0.01"))
            self.balance += gross
            deal.closed = {"entryPrice": round(pos.price / 100_000, spec.digits),
                           "grossProfit": int(gross * 100), "swap": 0,
                           "commission": -int(commission * 100),
                           "balance": int(self.balance * 100), "closedVolume": closed,
                           "moneyDigits": 2}
            pos.volume -= closed
            if volume > closed:  # a netting account turns around
                pos.side, pos.volume, pos.price = o.side, volume - closed, price
            if pos.volume == 0:
                pos.status = m.PositionStatus.POSITION_STATUS_CLOSED
        pos.update_ms = ms
        self.deals.append(deal)
        o.executed += volume
        o.notional += volume * price
        o.update_ms = ms
        done = o.executed >= o.volume
        if done:
            o.status = m.OrderStatus.ORDER_STATUS_FILLED
        kind = ExecutionType.ORDER_FILLED if done else ExecutionType.ORDER_PARTIAL_FILL
        event = self._execution(kind, o, deal)
        if pos.status == m.PositionStatus.POSITION_STATUS_CLOSED:
            del self.positions[pos.position_id]
        return [event]

    def _protect(self, pos: Position, o: Order, price: int) -> None:
        sign = 1 if pos.side == m.TradeSide.BUY else -1
        if o.stop_loss:
            pos.stop_loss = o.stop_loss
        elif o.relative_stop_loss:
            pos.stop_loss = price - sign * int(o.relative_stop_loss)
        if o.take_profit:
            pos.take_profit = o.take_profit
        elif o.relative_take_profit:
            pos.take_profit = price + sign * int(o.relative_take_profit)

    def _stops(self, pos: Position) -> list[Event]:
        bid, ask = self.prices[pos.symbol_id]
        buy = pos.side == m.TradeSide.BUY
        mark = bid if buy else ask
        hit_sl = pos.stop_loss is not None and (mark <= pos.stop_loss if buy
                                                else mark >= pos.stop_loss)
        hit_tp = pos.take_profit is not None and (mark >= pos.take_profit if buy
                                                  else mark <= pos.take_profit)
        if not (hit_sl or hit_tp):
            return []
        o = self._closing_order(pos, pos.volume, m.OrderType.STOP_LOSS_TAKE_PROFIT)
        return self._fill(o, o.volume, mark)

    def expire(self) -> list[Event]:
        """GTD orders whose time has come."""
        now = now_ms()
        return [self._close(o, m.OrderStatus.ORDER_STATUS_EXPIRED, ExecutionType.ORDER_EXPIRED)
                for o in list(self.orders.values())
                if o.pending and o.expiration_ms and o.expiration_ms <= now]

    # -- queries ----------------------------------------------------------------------------

    def pending_orders(self) -> list[Order]:
        """Orders that can still fill (protection orders are never pending here)."""
        return [o for o in self.orders.values() if o.pending]

    def open_positions(self) -> list[Position]:
        """Positions with volume."""
        return [p for p in self.positions.values()
                if p.status == m.PositionStatus.POSITION_STATUS_OPEN]

    def by_client_id(self, client_order_id: str) -> Order | None:
        """The latest order carrying this client order id."""
        found = [o for o in self.orders.values() if o.client_order_id == client_order_id]
        return max(found, key=lambda o: o.order_id) if found else None


__all__ = ["ACCOUNT_ID", "ASSETS", "DEFAULT_SYMBOLS", "Account", "Deal", "Event", "Order",
           "Position", "Refused", "SymbolSpec", "now_ms"]
