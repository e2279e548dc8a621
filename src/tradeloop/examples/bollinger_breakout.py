"""Bollinger Band breakout, long only: buy a close above the upper band, sell a close back below
the middle band; each trade is sized as a percent of equity."""

from __future__ import annotations

from tradeloop.indicators import BollingerBands
from tradeloop.model.data import Bar
from tradeloop.strategy import Strategy


class BollingerBreakout(Strategy):
    """Ride a volatility breakout until price falls back to its average.

    The bands sit ``k`` standard deviations either side of the ``period``-bar moving average,
    so a close above the upper band is an unusually strong move. This is read as the start of
    a trend rather than as "overbought": while flat, the strategy buys when a bar closes above
    the upper band, and holds until a bar closes back below the middle band (the moving
    average), which says the impulse has faded.

    Each entry buys ``percent`` % of current equity at the signal bar's close, rounded down to
    whole lots; the market order fills at the next bar's open. Signals use completed bars only.

    Parameters
    ----------
    period : int, default 20
        Window of the moving average and standard deviation.
    k : float, default 2.0
        Band width in standard deviations.
    percent : float, default 50
        Position value as a percent of equity (above 100 uses leverage).
    """

    period: int = 20
    k: float = 2.0
    percent: float = 50.0

    def on_start(self) -> None:
        if self.percent <= 0:
            raise ValueError(f"percent must be positive, got {self.percent}")
        self.bands = self.indicator(BollingerBands(self.period, self.k))

    def on_bar(self, bar: Bar) -> None:
        bands = self.bands
        if not bands.ready:
            return
        position = self.position()
        if position.is_flat:
            if bar.close > bands.upper and not self.open_orders():
                quantity = self.size_percent_of_equity(self.percent)
                if quantity > 0:
                    self.buy(quantity)
        elif position.is_long and bar.close < bands.value:
            self.close()
