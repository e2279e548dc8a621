"""The strategy base class: subclass it, declare parameters, implement the hooks you need.

.. code-block:: python

    class SmaCross(Strategy):
        fast: int = 10
        slow: int = 30

        def on_start(self):
            self.fast_ma = self.indicator(SMA(self.fast))
            self.slow_ma = self.indicator(SMA(self.slow))

        def on_bar(self, bar):
            if crossed_above(self.fast_ma, self.slow_ma) and self.position().is_flat:
                self.buy(1)
            elif crossed_below(self.fast_ma, self.slow_ma) and self.position().is_long:
                self.close()
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, overload

from tradeloop.core.clock import Clock
from tradeloop.core.identifiers import ClientOrderIdGenerator
from tradeloop.core.logging import get_logger
from tradeloop.core.time import ns_to_dt
from tradeloop.data.timeframes import BucketAlignment, Timeframe, parse_timeframe
from tradeloop.model import commands as cmd
from tradeloop.model.cache import Cache
from tradeloop.model.data import Bar, QuoteTick, TradeTick
from tradeloop.model.enums import (
    ContingencyType,
    OrderSide,
    OrderType,
    TimeInForce,
)
from tradeloop.model.events import OrderEvent, OrderFilled
from tradeloop.model.instrument import Instrument, to_decimal
from tradeloop.model.orders import Number, Order
from tradeloop.model.position import Position
from tradeloop.strategy import sizing
from tradeloop.strategy.context import PortfolioView, StrategyContext
from tradeloop.strategy.desk import OrderDesk
from tradeloop.strategy.params import Parameter, declared_parameters, resolve_parameters
from tradeloop.strategy.wake import WakeCondition

if TYPE_CHECKING:
    from tradeloop.indicators.base import Indicator

# read on every order: bound once, as an enum member lookup costs about 60 ns on Python 3.11
_BUY, _SELL = OrderSide.BUY, OrderSide.SELL
IndicatorT = TypeVar("IndicatorT", bound="Indicator")
T = TypeVar("T")


# A part of the kernel a strategy reads on every order (its cache, its clock), kept on the
# strategy once it is attached, so the order path reads an attribute instead of a chain of
# properties (each an interpreted call); read before that, it raises as Strategy.context does.
class _FromContext(Generic[T]):
    @overload
    def __get__(self, strategy: None, owner: type) -> _FromContext[T]: ...
    @overload
    def __get__(self, strategy: Strategy, owner: type) -> T: ...
    def __get__(self, strategy: Strategy | None, owner: type) -> T | _FromContext[T]:
        if strategy is None:
            return self
        raise RuntimeError(f"strategy {strategy.id} is not attached to an engine yet")


class Strategy:
    """Base class of every strategy.

    Parameters are annotated class attributes (``fast: int = 10``). Pass values as keyword
    arguments; an unknown name raises with a "did you mean" hint.

    Parameters
    ----------
    strategy_id : str, optional
        Stable id used in client order ids and logs; defaults to the class name.
    **params
        Values for declared parameters.
    """

    parameters: ClassVar[dict[str, Parameter]] = {}
    # set by attach(), when the attribute hides the descriptor. The base class's own state has
    # mangled names, so that a subclass's self._cache or self._ids cannot clash with it.
    __cache: _FromContext[Cache] = _FromContext()
    __clock: _FromContext[Clock] = _FromContext()
    __symbols: _FromContext[tuple[str, ...]] = _FromContext()
    __desk: _FromContext[OrderDesk] = _FromContext()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.parameters = declared_parameters(cls, Strategy)

    def __init__(self, strategy_id: str | None = None, **params: Any) -> None:
        values = resolve_parameters(type(self).__name__, type(self).parameters, params)
        for name, value in values.items():
            setattr(self, name, value)
        self.params: dict[str, Any] = values
        self.id = strategy_id or type(self).__name__
        self.log = get_logger(f"tradeloop.strategy.{self.id}")
        self.__ctx: StrategyContext | None = None
        self.__ids = ClientOrderIdGenerator(self.id)

    # -- hooks: override what you need -------------------------------------------------------

    def on_start(self) -> None:
        """Called once before the first bar: declare indicators here."""

    def on_bar(self, bar: Bar) -> None:
        """Called with every completed bar of the strategy's symbols (only where a wake
        condition holds, for a symbol that has them: see :meth:`wake_when`)."""

    def on_tick(self, tick: QuoteTick | TradeTick) -> None:
        """Called with every tick of the strategy's symbols."""

    def on_fill(self, fill: OrderFilled) -> None:
        """Called after each execution of one of this strategy's orders."""

    def on_order(self, event: OrderEvent) -> None:
        """Called with every event of this strategy's orders (fills included)."""

    def on_stop(self) -> None:
        """Called once after the last bar, or when the run is stopped."""

    # -- the kernel, as the strategy sees it ------------------------------------------------

    def attach(self, context: StrategyContext) -> None:
        """Connect the strategy to a kernel (done by the engine)."""
        self.__ctx = context
        self.__cache = context.cache
        self.__clock = context.clock
        self.__symbols = context.symbols
        self.__desk = OrderDesk(self.id, self.__ids, context.cache, context.clock,
                                context.symbols, context.send, self.log)

    @property
    def context(self) -> StrategyContext:
        """The kernel context; raises before the strategy is added to an engine."""
        if self.__ctx is None:
            raise RuntimeError(f"strategy {self.id} is not attached to an engine yet")
        return self.__ctx

    @property
    def symbol(self) -> str:
        """The strategy's first (main) symbol."""
        return self.__symbols[0]

    @property
    def symbols(self) -> tuple[str, ...]:
        """Every symbol the strategy receives data for."""
        return self.__symbols

    @property
    def now_ns(self) -> int:
        """Current time in UTC nanoseconds."""
        return self.__clock.now_ns()

    @property
    def now(self) -> datetime:
        """Current time as a UTC datetime."""
        return ns_to_dt(self.__clock.now_ns())

    @property
    def portfolio(self) -> PortfolioView:
        """Equity, balance, cash and buying power of the account."""
        return self.context.portfolio

    def instrument(self, symbol: str | None = None) -> Instrument:
        """The instrument of ``symbol`` (default: the main symbol)."""
        return self.__cache.instrument(symbol or self.symbol)

    def indicator(
        self, indicator: IndicatorT, symbol: str | None = None,
        timeframe: str | Timeframe | None = None, alignment: BucketAlignment | None = None,
    ) -> IndicatorT:
        """Register an indicator that updates itself with each bar of ``symbol``.

        Parameters
        ----------
        indicator : Indicator
        symbol : str, optional
            Default: the main symbol.
        timeframe : str, optional
            Feed the indicator bars of another, longer timeframe (``"1h"``), built from the
            symbol's own bars; it updates as each of those bars closes. The bars themselves
            reach ``on_bar`` only after :meth:`subscribe_bars`.
        alignment : BucketAlignment, optional
            Where those bars start (a daily boundary, a session open); UTC midnight by default.
        """
        frame = None if timeframe is None else parse_timeframe(timeframe)
        self.context.register_indicator(indicator, symbol or self.symbol, frame, alignment)
        return indicator

    def wake_when(self, *conditions: WakeCondition) -> None:
        """Call :meth:`on_bar` only on the bars where one of ``conditions`` holds.

        Declare them in :meth:`on_start`, after the indicators they read. Each condition
        follows the bars of its indicators' symbol; bars of symbols without a condition still
        reach ``on_bar`` every time. Orders, fills, ``on_fill``, ``on_order`` and alerts are not
        affected. A backtest skips the bars where nothing can happen, so a strategy that acts
        only on such events runs much faster, with the same results.

        Parameters
        ----------
        *conditions : WakeCondition
            :class:`~tradeloop.strategy.wake.CrossAbove`, ``CrossBelow``, ``Cross``, ``Above``
            or ``Below`` of the strategy's indicators or constant levels.

        Examples
        --------
        >>> def on_start(self):
        ...     self.fast_ma = self.indicator(SMA(10))
        ...     self.slow_ma = self.indicator(SMA(30))
        ...     self.wake_when(Cross(self.fast_ma, self.slow_ma))
        """
        for condition in conditions:
            if not isinstance(condition, WakeCondition):
                raise TypeError(
                    f"{self.id}: wake_when takes conditions such as Cross(fast, slow), not "
                    f"{type(condition).__name__}"
                )
            self.context.register_wake(condition)

    def subscribe_bars(
        self, timeframe: str | Timeframe, symbol: str | None = None,
        alignment: BucketAlignment | None = None,
    ) -> str:
        """Also receive ``symbol``'s bars of another timeframe in ``on_bar``.

        Call it in ``on_start``. Each such bar arrives once it has closed, after the last of the
        finer bars it is built from, so a strategy never sees a bar before its end.

        Parameters
        ----------
        timeframe : str
            ``"5m"``, ``"1h"``, ``"4h"``, ``"1d"``... (MetaTrader's ``"H1"`` works too).
        symbol : str, optional
            Default: the main symbol.
        alignment : BucketAlignment, optional
            Where the bars start: ``BucketAlignment("America/New_York", "17:00")`` gives FX
            daily bars; UTC midnight by default.

        Returns
        -------
        str
            The timeframe's canonical spelling, which is what ``bar.timeframe`` carries.

        Examples
        --------
        >>> def on_start(self):
        ...     self.hourly = self.subscribe_bars("1h")
        >>> def on_bar(self, bar):
        ...     if bar.timeframe == self.hourly:
        ...         ...
        """
        frame = parse_timeframe(timeframe)
        self.context.subscribe_bars(symbol or self.symbol, frame, alignment)
        return frame.label

    def position(self, symbol: str | None = None) -> Position:
        """The strategy's net position in ``symbol``; a flat position when there is none."""
        return self.__desk.position(symbol)

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """This strategy's orders that can still fill."""
        return self.__cache.open_orders(symbol, self.id)

    def last_price(self, symbol: str | None = None) -> float:
        """The latest price seen for ``symbol`` (NaN before any)."""
        return self.__cache.last_prices.get(symbol or self.symbol, float("nan"))

    # -- orders -------------------------------------------------------------------------------

    def buy(self, quantity: Number, symbol: str | None = None, **options: Any) -> Order:
        """Buy ``quantity`` units. See :meth:`order` for ``limit``, ``stop``, ``trail`` and more."""
        if options:
            return self.order(_BUY, quantity, symbol, **options)
        return self.__desk.market(_BUY, quantity, symbol)

    def sell(self, quantity: Number, symbol: str | None = None, **options: Any) -> Order:
        """Sell ``quantity`` units. See :meth:`order`."""
        if options:
            return self.order(_SELL, quantity, symbol, **options)
        return self.__desk.market(_SELL, quantity, symbol)

    def order(
        self,
        side: OrderSide,
        quantity: Number,
        symbol: str | None = None,
        *,
        limit: Number | None = None,
        stop: Number | None = None,
        touch: Number | None = None,
        trail: Number | None = None,
        trail_percent: Number | None = None,
        tif: TimeInForce | str = TimeInForce.GTC,
        expire_ns: int | None = None,
        reduce_only: bool = False,
        tag: str = "",
        position_id: str | None = None,
    ) -> Order:
        """Create and send one order.

        The type follows from the prices given: none is a market order, ``limit`` a limit,
        ``stop`` a stop, ``stop`` and ``limit`` a stop-limit, ``touch`` a market-if-touched,
        ``trail`` (price distance) or ``trail_percent`` a trailing stop. ``position_id`` names
        the position an order adds to or closes when the account keeps one position per
        opening order (hedging).

        Returns
        -------
        Order
            The order as sent; later events update it in place.
        """
        return self.__desk.send_one(self.__desk.make(
            side if isinstance(side, OrderSide) else OrderSide(side.upper()), quantity, symbol,
            limit, stop, touch, trail, trail_percent, tif, expire_ns, reduce_only, tag,
            position_id,
        ))

    def prepare(self, side: OrderSide | str, quantity: Number, symbol: str | None = None,
                **options: Any) -> Order:
        """Create an order without sending it, to link it with others in :meth:`oco` or
        :meth:`oto`. Takes the same options as :meth:`order`."""
        order_side = side if isinstance(side, OrderSide) else OrderSide(side.upper())
        return self.__desk.make(order_side, quantity, symbol, **options)

    def oco(self, *orders: Order) -> tuple[Order, ...]:
        """Send prepared orders as one-cancels-other: when one fills (or ends), the venue or
        the order emulator cancels the rest.

        Raises
        ------
        ValueError
            With fewer than two orders, or an order that was already sent or linked.
        """
        self._check_unlinked(orders, 2, "oco")
        for order in orders:
            order.contingency = ContingencyType.OCO
            order.linked_ids = tuple(o.client_order_id for o in orders if o is not order)
        return self.__desk.send_new(orders)

    def oto(self, parent: Order, *children: Order) -> tuple[Order, ...]:
        """Send a prepared ``parent`` with ``children`` that start working once it fills.

        Raises
        ------
        ValueError
            Without a child, or for an order that was already sent or linked.
        """
        self._check_unlinked((parent, *children), 2, "oto")
        parent.contingency = ContingencyType.OTO
        parent.linked_ids = tuple(c.client_order_id for c in children)
        for child in children:
            child.parent_id = parent.client_order_id
        return self.__desk.send_new((parent, *children))

    def _check_unlinked(self, orders: tuple[Order, ...], least: int, what: str) -> None:
        if len(orders) < least:
            raise ValueError(f"{self.id}: {what}() needs at least {least} orders")
        cache = self.__cache
        for order in orders:
            if order.client_order_id in cache.orders or order.linked_ids or order.parent_id:
                raise ValueError(
                    f"{self.id}: {what}() takes orders from prepare() that were not sent or "
                    f"linked yet ({order.client_order_id} was)"
                )

    def close(self, symbol: str | None = None, tag: str = "close") -> Order | None:
        """Flatten the strategy's position in ``symbol`` with a market order (one per open
        position when the account hedges).

        Market closing orders already working count: calling ``close()`` on two bars in a row
        sends one order (working stops and targets do not count). Returns the last order sent,
        or None when nothing is left to close.
        """
        return self.__desk.close(symbol, tag)

    def cancel(self, order: Order | str) -> None:
        """Cancel a working order (an ``Order`` or its client order id)."""
        oid = order if isinstance(order, str) else order.client_order_id
        self.context.send(cmd.CancelOrder(oid, self.now_ns))

    def modify(
        self, order: Order | str, quantity: Number | None = None, price: Number | None = None,
        trigger_price: Number | None = None,
    ) -> None:
        """Change a working order; ``None`` keeps a field as it is."""
        oid = order if isinstance(order, str) else order.client_order_id
        target = self.__cache.order(oid)
        inst = self.instrument(target.symbol if target else None)
        self.context.send(cmd.ModifyOrder(
            oid, self.now_ns,
            None if quantity is None else inst.make_quantity(quantity),
            None if price is None else inst.make_price(price),
            None if trigger_price is None else inst.make_price(trigger_price),
        ))

    def bracket(
        self,
        side: OrderSide | str,
        quantity: Number,
        stop_loss: Number,
        take_profit: Number,
        symbol: str | None = None,
        entry: Number | None = None,
        tag: str = "",
    ) -> tuple[Order, Order, Order]:
        """Send an entry with a stop-loss and a take-profit that cancel each other.

        The entry is a market order, or a limit order at ``entry``. The two exits start working
        once the entry fills; when one of them fills the other is cancelled.
        """
        entry_side = OrderSide(side.upper()) if isinstance(side, str) else side
        exit_side = entry_side.opposite
        parent = self.__desk.make(entry_side, quantity, symbol, limit=entry, tag=tag or "entry")
        sl = self.__desk.make(exit_side, quantity, symbol, stop=stop_loss, reduce_only=True,
                              tag="stop_loss")
        tp = self.__desk.make(exit_side, quantity, symbol, limit=take_profit, reduce_only=True,
                              tag="take_profit")
        parent.contingency, parent.linked_ids = ContingencyType.OTO, (
            sl.client_order_id, tp.client_order_id)
        for leg, other in ((sl, tp), (tp, sl)):
            leg.parent_id = parent.client_order_id
            leg.contingency, leg.linked_ids = ContingencyType.OCO, (other.client_order_id,)
        parent, sl, tp = self.__desk.send_new((parent, sl, tp))
        return parent, sl, tp

    # -- sizing -------------------------------------------------------------------------------

    def size_percent_of_equity(
        self, percent: Number, symbol: str | None = None, side: OrderSide | str = OrderSide.BUY,
        limit: Number | None = None,
    ) -> Decimal:
        """Units worth ``percent`` % of equity at the last price, rounded down to the lot and
        capped by the risk limits on size (see :meth:`size_for_risk`)."""
        inst = self.instrument(symbol)
        rate = self.portfolio.rate_to_account(inst.quote_currency)
        quantity = sizing.percent_of_equity(
            inst, self.portfolio.equity, self.last_price(inst.symbol), to_decimal(percent), rate
        )
        return self._within_limits(quantity, inst, side, limit)

    def size_for_risk(
        self, risk_percent: Number, stop_distance: Number, symbol: str | None = None,
        side: OrderSide | str = OrderSide.BUY, limit: Number | None = None,
    ) -> Decimal:
        """Units that lose ``risk_percent`` % of equity over ``stop_distance`` (the distance to
        the stop-loss, or an ATR multiple), rounded down to the lot step.

        The size is capped by the risk gate's limits on size for an order on ``side`` (a limit
        order at ``limit``, else a market order): order quantity and notional maxima, position,
        exposure and leverage limits, buying power. It is zero when no size fits them. Other
        limits (sessions, cooldowns, order counts, the trading state) do not shrink it; the gate
        denies the order with their reason when it is sent.
        """
        inst = self.instrument(symbol)
        rate = self.portfolio.rate_to_account(inst.quote_currency)
        quantity = sizing.risk_based(
            inst, self.portfolio.equity, to_decimal(risk_percent), to_decimal(stop_distance), rate
        )
        return self._within_limits(quantity, inst, side, limit)

    def _within_limits(self, quantity: Decimal, inst: Instrument, side: OrderSide | str,
                       limit: Number | None) -> Decimal:
        if quantity <= 0:
            return quantity
        order_side = side if isinstance(side, OrderSide) else OrderSide(side.upper())
        probe = Order(
            client_order_id=f"{self.id}-sizing", strategy_id=self.id, symbol=inst.symbol,
            side=order_side, order_type=OrderType.MARKET if limit is None else OrderType.LIMIT,
            quantity=quantity, ts_init=self.now_ns,
            price=None if limit is None else inst.make_price(limit),
        )
        return self.context.size_capacity(probe)

