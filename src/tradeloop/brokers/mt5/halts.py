"""Symbols the trade server halted (:class:`Halts`): after a halt-this-symbol return code
(trading disabled, market closed, long only, short only, close only), new orders on the symbol
are refused locally for a while instead of being sent to be refused again; orders the halt
still allows (a buy when long only, a sell when short only, a close when close only) go on."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from tradeloop.brokers.mt5.retcodes import describe
from tradeloop.model.enums import OrderSide

logger = logging.getLogger(__name__)
LONG_ONLY, SHORT_ONLY, CLOSE_ONLY = 10042, 10043, 10044


@dataclass(frozen=True)
class Halt:
    """One halted symbol.

    Attributes
    ----------
    code : int
        The return code that halted it.
    until_ns : int
        When (monotonic nanoseconds) the trade server is asked again.
    """

    code: int
    until_ns: int

    def allows(self, side: OrderSide) -> bool:
        """True when the halt lets any order of ``side`` through (long or short only)."""
        return (self.code == LONG_ONLY and side is OrderSide.BUY) or (
            self.code == SHORT_ONLY and side is OrderSide.SELL)

    @property
    def allows_closing(self) -> bool:
        """True when an order that only reduces a position may still go (long, short or
        close only; not when trading is disabled or the market closed)."""
        return self.code in (LONG_ONLY, SHORT_ONLY, CLOSE_ONLY)


class Halts:
    """The halted symbols of one account.

    Parameters
    ----------
    hold_s : float
        How long a halt refuses orders locally.
    now_ns : callable, optional
        A monotonic clock in nanoseconds.
    """

    def __init__(self, hold_s: float,
                 now_ns: Callable[[], int] = time.monotonic_ns) -> None:
        self.hold_s = hold_s
        self._now = now_ns
        self._halts: dict[str, Halt] = {}

    def halt(self, symbol: str, code: int) -> None:
        """Halt ``symbol`` for ``hold_s`` from now (again, if it was)."""
        self._halts[symbol] = Halt(code, self._now() + int(self.hold_s * 1e9))
        logger.error("symbol halted by the trade server", extra={"fields": {
            "symbol": symbol, "retcode": describe(code), "for_s": self.hold_s}})

    def get(self, symbol: str) -> Halt | None:
        """The halt of ``symbol`` while it lasts (None once it has run out)."""
        halt = self._halts.get(symbol)
        if halt is not None and self._now() >= halt.until_ns:
            del self._halts[symbol]
            logger.info("symbol halt ran out: orders go to the trade server again",
                        extra={"fields": {"symbol": symbol}})
            return None
        return halt

    def seconds_left(self, halt: Halt) -> float:
        """How long ``halt`` still lasts."""
        return max(0.0, (halt.until_ns - self._now()) / 1e9)

    def __contains__(self, symbol: object) -> bool:
        return isinstance(symbol, str) and self.get(symbol) is not None


__all__ = ["CLOSE_ONLY", "LONG_ONLY", "SHORT_ONLY", "Halt", "Halts"]
