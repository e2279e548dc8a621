"""What a strategy sees of the kernel. The engine provides it; strategies never import the
engine, a broker or the database."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from tradeloop.core.clock import Clock
from tradeloop.model.cache import Cache
from tradeloop.model.commands import Command
from tradeloop.model.orders import Order

if TYPE_CHECKING:
    from tradeloop.data.timeframes import BucketAlignment, Timeframe
    from tradeloop.indicators.base import Indicator
    from tradeloop.strategy.wake import WakeCondition


class PortfolioView(Protocol):
    """The account figures a strategy may read."""

    @property
    def equity(self) -> Decimal:
        """Balance plus unrealised PnL, in the account currency."""
        ...

    @property
    def balance(self) -> Decimal:
        """Starting cash plus realised PnL less commissions."""
        ...

    @property
    def cash(self) -> Decimal:
        """Balance less the cost of open positions."""
        ...

    def buying_power(self) -> Decimal:
        """Notional that can still be opened."""
        ...

    def unrealized_pnl(self, symbol: str | None = None) -> Decimal:
        """Unrealised PnL in the account currency."""
        ...

    def rate_to_account(self, currency: str) -> Decimal:
        """Account currency per unit of ``currency``."""
        ...


class StrategyContext(Protocol):
    """The kernel as one strategy sees it."""

    @property
    def clock(self) -> Clock:
        """The kernel's clock."""
        ...

    @property
    def cache(self) -> Cache:
        """Instruments, orders, positions and latest prices."""
        ...

    @property
    def portfolio(self) -> PortfolioView:
        """The account figures."""
        ...

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbols the strategy receives data for."""
        ...

    def send(self, command: Command) -> None:
        """Send a command through the risk gate."""
        ...

    def size_capacity(self, order: Order) -> Decimal:
        """The largest quantity, at most ``order``'s, that the risk gate's size limits let
        through for an order like ``order``."""
        ...

    def register_indicator(
        self, indicator: Indicator, symbol: str, timeframe: Timeframe | None = None,
        alignment: BucketAlignment | None = None,
    ) -> None:
        """Keep ``indicator`` updated with the bars of ``symbol`` (of ``timeframe``)."""
        ...

    def subscribe_bars(
        self, symbol: str, timeframe: Timeframe, alignment: BucketAlignment | None = None
    ) -> None:
        """Deliver ``symbol``'s bars of ``timeframe`` to ``on_bar`` as each one closes."""
        ...

    def register_wake(self, condition: WakeCondition) -> None:
        """Call ``on_bar`` for the bars of the condition's symbol only where one of the
        strategy's wake conditions holds."""
        ...
