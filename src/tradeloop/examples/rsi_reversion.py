"""RSI mean reversion: buy when the RSI climbs back out of oversold, sell when it has recovered;
optionally the mirror image on the short side."""

from __future__ import annotations

from tradeloop.indicators import RSI
from tradeloop.model.data import Bar
from tradeloop.strategy import Strategy, crossed_above, crossed_below


class RsiReversion(Strategy):
    """Buy a washed-out market once it starts to bounce; get out when it has recovered.

    A market whose RSI sinks below ``oversold`` has been sold hard; buying while it is still
    falling is catching a knife, so the strategy waits for the RSI to cross back *up* through
    ``oversold`` (the selling is exhausting itself) and buys at the next bar's open. It exits
    when the RSI has recovered above ``exit_level`` (the midline by default) or, when
    ``exit_level`` is set above ``overbought``, once it crosses up through ``overbought``.

    With ``allow_short`` the same idea runs upside down: sell short when the RSI crosses back
    *down* through ``overbought`` while flat, cover when it falls below ``100 - exit_level``
    or crosses down through ``oversold``.

    Every decision uses the RSI of completed bars only; orders are market orders that fill at
    the next bar's open.

    Parameters
    ----------
    period : int, default 14
        RSI look-back (Wilder smoothing), at least 2.
    oversold : float, default 30
        Level the RSI must cross back up through to trigger a long entry.
    overbought : float, default 70
        Level that ends a long (and triggers a short entry with ``allow_short``).
    exit_level : float, default 50
        A long is closed when the RSI rises above it; a short when it falls below
        ``100 - exit_level``.
    size : float, default 100
        Units (shares) per trade.
    allow_short : bool, default False
        Also trade the short side.
    """

    period: int = 14
    oversold: float = 30.0
    overbought: float = 70.0
    exit_level: float = 50.0
    size: float = 100.0
    allow_short: bool = False

    def on_start(self) -> None:
        if not 0 < self.oversold < self.overbought < 100:
            raise ValueError(
                f"need 0 < oversold ({self.oversold}) < overbought ({self.overbought}) < 100"
            )
        if not 0 < self.exit_level < 100:
            raise ValueError(f"exit_level must lie between 0 and 100, got {self.exit_level}")
        if self.size <= 0:
            raise ValueError(f"size must be positive, got {self.size}")
        self.rsi = self.indicator(RSI(self.period))

    def on_bar(self, bar: Bar) -> None:
        rsi = self.rsi
        if not rsi.ready:
            return
        position = self.position()
        if position.is_long:
            if rsi.value > self.exit_level or crossed_above(rsi, self.overbought):
                self.close()
        elif position.is_short:
            if rsi.value < 100 - self.exit_level or crossed_below(rsi, self.oversold):
                self.close()
        elif crossed_above(rsi, self.oversold):
            self.buy(self.size)
        elif self.allow_short and crossed_below(rsi, self.overbought):
            self.sell(self.size)
