"""Trend following with a momentum filter and volatility-based risk: a moving-average crossover
confirmed by the RSI, protected by an ATR stop-loss and a take-profit, sized so that a stopped-out
trade loses a fixed percent of equity."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from tradeloop.indicators import ATR, EMA, RSI, SMA
from tradeloop.model.data import Bar
from tradeloop.model.enums import OrderSide
from tradeloop.model.events import OrderFilled
from tradeloop.model.instrument import to_decimal
from tradeloop.model.orders import Order
from tradeloop.strategy import Strategy, crossed_above, crossed_below

_MA_TYPES = {"ema": EMA, "sma": SMA}


class MaRsiAtr(Strategy):
    """Buy a confirmed up-trend with a stop one volatility unit away and a fixed risk budget.

    *Signal.* While flat, a cross of the fast moving average above the slow one says a new
    up-trend may be starting. Crossovers whipsaw in sideways markets, so the entry is taken
    only when momentum agrees: the RSI must be above ``rsi_min`` (50 by default, i.e. gains
    have outweighed losses lately).

    *Protection.* The entry is a bracket: a market order plus a stop-loss ``atr_mult`` ATRs
    below the entry price and a take-profit ``reward_risk`` times that distance above it;
    whichever exit fills first cancels the other. Because the market order fills at the next
    bar's open, not at the signal close, both exits are re-anchored to the actual fill price
    as soon as the entry fills (the stop is rounded up to the tick, never further away). With
    ``exit_on_cross`` the trade is also closed, at the next open, when the fast average
    crosses back below the slow one.

    *Sizing.* The quantity is chosen so that being stopped out costs ``risk_percent`` % of
    equity: ``size_for_risk(risk_percent, atr_mult * ATR)``, rounded down to the lot step and
    capped by the risk limits on size. A trade whose size comes to zero is skipped. A price gap
    through the stop can still lose more than the budget: a stop order fills at the first price
    available.

    Signals use completed bars only.

    Parameters
    ----------
    fast : int, default 20
        Period of the fast moving average.
    slow : int, default 50
        Period of the slow moving average; must exceed ``fast``.
    ma_type : str, default "ema"
        ``"ema"`` or ``"sma"``.
    rsi_period : int, default 14
    rsi_min : float, default 50
        Entries need the RSI strictly above this.
    atr_period : int, default 14
    atr_mult : float, default 2.0
        Stop distance in ATRs.
    reward_risk : float, default 2.0
        Take-profit distance as a multiple of the stop distance.
    risk_percent : float, default 1.0
        Percent of equity lost if the stop is hit.
    exit_on_cross : bool, default True
        Also close when the fast average crosses below the slow one.
    """

    fast: int = 20
    slow: int = 50
    ma_type: str = "ema"
    rsi_period: int = 14
    rsi_min: float = 50.0
    atr_period: int = 14
    atr_mult: float = 2.0
    reward_risk: float = 2.0
    risk_percent: float = 1.0
    exit_on_cross: bool = True

    def on_start(self) -> None:
        kind = self.ma_type.lower()
        if kind not in _MA_TYPES:
            raise ValueError(f"ma_type must be one of {sorted(_MA_TYPES)}, got {self.ma_type!r}")
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be shorter than slow ({self.slow})")
        for name in ("atr_mult", "reward_risk", "risk_percent"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.risk_percent > 100:
            raise ValueError(f"risk_percent must be at most 100, got {self.risk_percent}")
        average = _MA_TYPES[kind]
        self.fast_ma = self.indicator(average(self.fast))
        self.slow_ma = self.indicator(average(self.slow))
        self.rsi = self.indicator(RSI(self.rsi_period))
        self.atr = self.indicator(ATR(self.atr_period))
        self._entry: Order | None = None
        self._exits: tuple[Order, Order] | None = None
        self._distance = Decimal(0)

    def on_bar(self, bar: Bar) -> None:
        if not (self.slow_ma.ready and self.rsi.ready and self.atr.ready):
            return
        position = self.position()
        if position.is_long:
            if self.exit_on_cross and crossed_below(self.fast_ma, self.slow_ma):
                for order in self.open_orders():
                    self.cancel(order)
                self.close(tag="cross_exit")
            return
        if not position.is_flat or self.open_orders():
            return
        if crossed_above(self.fast_ma, self.slow_ma) and self.rsi.value > self.rsi_min:
            self._enter(bar)

    def on_fill(self, fill: OrderFilled) -> None:
        entry = self._entry
        if entry is None or fill.client_order_id != entry.client_order_id:
            return
        if self._exits is None or entry.avg_px is None:
            return
        stop_order, target_order = self._exits
        inst = self.instrument()
        fill_px = entry.avg_px
        stop = ((fill_px - self._distance) / inst.tick_size).to_integral_value(ROUND_CEILING)
        stop_px = stop * inst.tick_size
        target_px = inst.make_price(fill_px + to_decimal(self.reward_risk) * self._distance)
        if stop_px > 0 and stop_order.is_open:
            self.modify(stop_order, trigger_price=stop_px)
        if target_order.is_open:
            self.modify(target_order, price=target_px)

    def _enter(self, bar: Bar) -> None:
        distance = to_decimal(self.atr_mult) * to_decimal(self.atr.value)
        if distance <= 0:
            return
        quantity = self.size_for_risk(self.risk_percent, distance)
        if quantity <= 0:
            self.log.info(f"skipped an entry at {self.now:%Y-%m-%d}: the risk-based size "
                          "rounds down to 0")
            return
        reference = to_decimal(bar.close)
        stop = reference - distance
        if stop <= self.instrument().tick_size:
            return
        target = reference + to_decimal(self.reward_risk) * distance
        entry, stop_order, target_order = self.bracket(
            OrderSide.BUY, quantity, stop_loss=stop, take_profit=target
        )
        self._entry, self._exits, self._distance = entry, (stop_order, target_order), distance
