"""The kernel: one wiring of bus, cache, risk, execution and portfolio for every mode.

Backtest, paper and live differ only in the clock, the data source and the execution client
they hand the kernel. User strategy code runs behind :class:`StrategyRunner`, the one safe
wrapper: an exception stops that strategy cleanly, is logged with its name, the time and the
error, and never takes the run down.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from tradeloop.core.bus import MessageBus, StrategyPublisher
from tradeloop.core.clock import AlertHandler, Clock
from tradeloop.core.identifiers import ClientOrderIdGenerator
from tradeloop.core.logging import get_logger
from tradeloop.core.time import ns_to_iso
from tradeloop.data.timeframes import BucketAlignment, Timeframe
from tradeloop.execution.engine import ExecutionEngine
from tradeloop.execution.ports import ExecutionClient
from tradeloop.indicators.base import Indicator
from tradeloop.model import commands as cmd
from tradeloop.model import events as ev
from tradeloop.model.account import Account
from tradeloop.model.cache import Cache
from tradeloop.model.enums import OmsType, OrderSide, OrderType
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.portfolio.fx import FxRates
from tradeloop.portfolio.portfolio import Portfolio
from tradeloop.risk.engine import EXECUTE as RISK_EXECUTE
from tradeloop.risk.engine import RiskEngine
from tradeloop.strategy.base import Strategy
from tradeloop.strategy.wake import WakeCondition

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class StrategyFailure:
    """A strategy stopped by an exception in its own code."""

    strategy_id: str
    hook: str
    ts: int
    error: str
    """``ts`` is the bar's own time for ``on_bar``, else the clock time."""

    def __str__(self) -> str:
        where = "bar" if self.hook == "on_bar" else "time"
        return (
            f"strategy {self.strategy_id} stopped: {self.error} in {self.hook} "
            f"at {where} {ns_to_iso(self.ts)}"
        )


class _StrategyClock:
    """The kernel's clock as one strategy sees it: alert handlers run behind the safety wrapper
    (and not at all once the strategy has stopped), and alert names are the strategy's own."""

    #: Return the current time in UTC nanoseconds (the kernel clock's own method: every
    #: order reads it, and a method of this class that called it would be one call more).
    now_ns: Callable[[], int]

    def __init__(self, runner: StrategyRunner) -> None:
        self._runner = runner
        self._clock = runner.kernel.clock
        self._prefix = f"{runner.strategy.id}/"
        self.now_ns = self._clock.now_ns

    def set_alert(self, name: str, at_ns: int, handler: AlertHandler) -> None:
        """Call ``handler(name, at_ns)`` once the clock reaches ``at_ns``."""
        runner = self._runner

        def guarded(_: str, at: int) -> None:
            if runner.failure is None:
                try:
                    handler(name, at)
                except Exception as exc:
                    runner.fail(f"alert {name!r}", exc)

        self._clock.set_alert(self._prefix + name, at_ns, guarded)

    def cancel_alert(self, name: str) -> None:
        """Forget a pending alert; unknown names are ignored."""
        self._clock.cancel_alert(self._prefix + name)


@dataclass(frozen=True)
class BarSubscription:
    """A strategy's wish for bars of one symbol at another timeframe.

    Attributes
    ----------
    symbol : str
    timeframe : Timeframe
    alignment : BucketAlignment or None
        Where the buckets start when the bars are built from finer ones (UTC midnight if None).
    deliver : bool
        Hand the bars to ``on_bar``; False when only an indicator needs them.
    """

    symbol: str
    timeframe: Timeframe
    alignment: BucketAlignment | None = None
    deliver: bool = True

    def same_bars(self, other: BarSubscription) -> bool:
        """True when both ask for the same symbol and timeframe."""
        return self.symbol == other.symbol and self.timeframe == other.timeframe


@dataclass(eq=False)
class StrategyRunner:
    """Runs one strategy inside a kernel and is the strategy's view of it."""

    strategy: Strategy
    kernel: Kernel
    symbols: tuple[str, ...]
    #: (indicator, symbol, timeframe): a timeframe of None means the symbol's own bars
    indicators: list[tuple[Indicator, str, Timeframe | None]] = field(default_factory=list)
    #: bars of other timeframes the strategy asked for: (symbol, timeframe, alignment)
    bar_subscriptions: list[BarSubscription] = field(default_factory=list)
    #: the wake conditions of each symbol's bars (see ``Strategy.wake_when``)
    wakes: dict[str, list[WakeCondition]] = field(default_factory=dict)
    failure: StrategyFailure | None = None
    wired: bool = False  # set by the data loop once it has taken the strategy's indicators
    _clock: _StrategyClock | None = field(default=None, init=False, repr=False)

    @property
    def clock(self) -> Clock:
        """The kernel's clock, with the strategy's alerts behind the safety wrapper."""
        if self._clock is None:
            self._clock = _StrategyClock(self)
        return self._clock

    @property
    def cache(self) -> Cache:
        """The kernel's cache."""
        return self.kernel.cache

    @property
    def portfolio(self) -> Portfolio:
        """The kernel's portfolio."""
        return self.kernel.portfolio

    @property
    def active(self) -> bool:
        """False once the strategy has failed."""
        return self.failure is None

    def send(self, command: cmd.Command) -> None:
        """Send a command through the risk gate."""
        if self.failure is not None:
            raise RuntimeError(f"strategy {self.strategy.id} has stopped")
        self.kernel.bus.send(RISK_EXECUTE, command)

    def size_capacity(self, order: Order) -> Decimal:
        """The largest quantity, at most ``order``'s, that the risk gate's size limits let
        through for an order like ``order`` (see :meth:`RiskEngine.size_capacity`)."""
        return self.kernel.risk.size_capacity(order)

    def register_indicator(
        self, indicator: Indicator, symbol: str, timeframe: Timeframe | None = None,
        alignment: BucketAlignment | None = None,
    ) -> None:
        """Keep ``indicator`` updated with the bars of ``symbol`` (of ``timeframe``, default the
        symbol's own bars).

        Raises
        ------
        ValueError
            For a symbol without data, or once the data loop has started (declare indicators
            in ``on_start``).
        """
        self._check_setup(
            f"declare indicators in on_start; {indicator.name} was declared", symbol)
        if timeframe is not None:
            self._add_subscription(BarSubscription(symbol, timeframe, alignment, deliver=False))
        self.indicators.append((indicator, symbol, timeframe))

    def subscribe_bars(
        self, symbol: str, timeframe: Timeframe, alignment: BucketAlignment | None = None
    ) -> None:
        """Deliver ``symbol``'s bars of ``timeframe`` to ``on_bar`` as each one closes.

        Raises
        ------
        ValueError
            For a symbol without data, or once the data loop has started.
        """
        self._check_setup(
            f"subscribe to bars in on_start; the {timeframe} bars of {symbol} were asked for",
            symbol)
        self._add_subscription(BarSubscription(symbol, timeframe, alignment, deliver=True))

    def register_wake(self, condition: WakeCondition) -> None:
        """Let ``on_bar`` run for the bars of the condition's symbol only where one of the
        strategy's conditions holds.

        Raises
        ------
        ValueError
            When the condition reads an indicator the strategy has not declared, one on
            another timeframe, indicators of two symbols, or once the data loop has started.
        """
        strategy_id = self.strategy.id
        symbols = set()
        for indicator in condition.indicators:
            found = [(s, tf) for ind, s, tf in self.indicators if ind is indicator]
            if not found:
                raise ValueError(
                    f"{strategy_id}: {condition!r} reads {indicator.name}, which is not one of "
                    f"the strategy's indicators; declare it with self.indicator(...) first")
            symbol, timeframe = found[0]
            if timeframe is not None:
                raise ValueError(
                    f"{strategy_id}: {condition!r} reads {indicator.name} on {timeframe} bars; "
                    "a wake condition follows indicators of a symbol's own bars")
            symbols.add(symbol)
        if len(symbols) != 1:
            raise ValueError(
                f"{strategy_id}: {condition!r} reads indicators of {', '.join(sorted(symbols))}; "
                "a wake condition follows the bars of one symbol")
        symbol = symbols.pop()
        self._check_setup(f"declare wake conditions in on_start; {condition!r} was declared",
                          symbol)
        self.wakes.setdefault(symbol, []).append(condition)

    def bar_handler(self, symbol: str) -> Callable[[Any], None]:
        """What a bar of ``symbol``'s own timeframe is handed to: ``on_bar``, behind the
        strategy's wake conditions for ``symbol`` when it declared any."""
        on_bar = self.strategy.on_bar
        conditions = tuple(self.wakes.get(symbol, ()))
        if not conditions:
            return on_bar
        if len(conditions) == 1:
            holds = conditions[0].holds

            def woken_by_one(bar: Any) -> None:
                if holds():
                    on_bar(bar)

            return woken_by_one

        def woken(bar: Any) -> None:
            for condition in conditions:
                if condition.holds():
                    on_bar(bar)
                    return

        return woken

    def _check_setup(self, what: str, symbol: str) -> None:
        if self.wired:
            raise ValueError(
                f"{self.strategy.id}: {what} after the data started and would never update"
            )
        if symbol not in self.symbols:
            raise ValueError(
                f"{self.strategy.id}: no data for {symbol!r} (has {', '.join(self.symbols)})"
            )

    def _add_subscription(self, wanted: BarSubscription) -> None:
        for k, known in enumerate(self.bar_subscriptions):
            if known.same_bars(wanted):
                if wanted.alignment != known.alignment and wanted.alignment is not None:
                    raise ValueError(
                        f"{self.strategy.id}: the {wanted.timeframe} bars of {wanted.symbol} "
                        "were asked for twice with different alignments"
                    )
                if wanted.deliver and not known.deliver:
                    self.bar_subscriptions[k] = replace(known, deliver=True)
                return
        self.bar_subscriptions.append(wanted)

    def call(self, hook: str, *args: Any) -> None:
        """Call a strategy hook behind the safety wrapper."""
        if self.failure is not None:
            return
        try:
            getattr(self.strategy, hook)(*args)
        except Exception as exc:
            self.fail(hook, exc)

    def fail(self, hook: str, exc: BaseException, ts: int | None = None) -> None:
        """Stop the strategy after ``exc`` escaped its ``hook`` (at the bar or time ``ts``);
        cancel its working orders."""
        if self.failure is not None:
            return
        self.failure = StrategyFailure(
            self.strategy.id, hook, self.kernel.clock.now_ns() if ts is None else ts,
            f"{type(exc).__name__}: {exc}",
        )
        log.error(str(self.failure), exc_info=exc, extra={"fields": {
            "strategy": self.strategy.id, "hook": hook, "ts": ns_to_iso(self.failure.ts)}})
        self.kernel.on_strategy_failed(self)
        for order in self.cache.open_orders(strategy_id=self.strategy.id):
            self.kernel.bus.send(RISK_EXECUTE, cmd.CancelOrder(
                order.client_order_id, self.kernel.clock.now_ns()))

    def on_order_event(self, event: ev.OrderEvent) -> None:
        """Deliver an order event to ``on_order`` and, for fills, ``on_fill`` (each only when
        the strategy overrides it)."""
        if self.wants_orders:
            self.call("on_order", event)
        if self.wants_fills and isinstance(event, ev.OrderFilled):
            self.call("on_fill", event)

    def __post_init__(self) -> None:
        cls = type(self.strategy)
        #: Whether the strategy overrides ``on_order`` / ``on_fill`` (decided once).
        self.wants_orders = cls.on_order is not Strategy.on_order
        self.wants_fills = cls.on_fill is not Strategy.on_fill


class Kernel:
    """Bus, cache, risk gate, execution engine and portfolio wired together.

    Parameters
    ----------
    clock : Clock
        A ``TestClock`` for backtests, a ``LiveClock`` otherwise.
    account : Account
    oms : OmsType
    fx_rates : mapping, optional
        Fixed FX rates (``{"JPY/USD": 0.0067}``) for currencies no instrument converts.
    """

    def __init__(
        self,
        clock: Clock,
        account: Account,
        oms: OmsType = OmsType.NETTING,
        fx_rates: Mapping[str, float | Decimal] | None = None,
    ) -> None:
        self.clock = clock
        self.bus = MessageBus()
        self.cache = Cache()
        self.portfolio = Portfolio(
            self.cache, account, oms, FxRates(self.cache, fx_rates),
            StrategyPublisher(self.bus, "events.position."),
        )
        self.execution = ExecutionEngine(self.bus, self.cache, clock, self.portfolio.on_fill)
        self.risk = RiskEngine(self.bus, self.cache, clock, self.portfolio)
        self.runners: list[StrategyRunner] = []
        self.failure_listeners: list[Callable[[StrategyRunner], None]] = []
        self._flatten_ids: dict[str, ClientOrderIdGenerator] = {}
        self.risk.on_flatten = self.flatten

    def add_instrument(self, instrument: Instrument) -> None:
        """Make an instrument tradable."""
        self.cache.add_instrument(instrument)

    def add_execution_client(self, client: ExecutionClient, default: bool = False) -> None:
        """Route orders for ``client.venue`` to ``client``."""
        self.execution.register_client(client, default)

    def add_strategy(self, strategy: Strategy, symbols: tuple[str, ...]) -> StrategyRunner:
        """Attach a strategy that receives data for ``symbols``.

        Raises
        ------
        ValueError
            If a strategy with the same id is already attached.
        """
        if any(r.strategy.id == strategy.id for r in self.runners):
            raise ValueError(f"two strategies share the id {strategy.id!r}: give one another id")
        for symbol in symbols:
            self.cache.instrument(symbol)
        runner = StrategyRunner(strategy, self, symbols)
        strategy.attach(runner)
        if runner.wants_orders or runner.wants_fills:
            self.bus.subscribe(f"events.order.{strategy.id}", runner.on_order_event)
        self.runners.append(runner)
        return runner

    def on_strategy_failed(self, runner: StrategyRunner) -> None:
        """Tell listeners (the data loop) that a strategy stopped."""
        self.bus.unsubscribe(f"events.order.{runner.strategy.id}", runner.on_order_event)
        for listener in self.failure_listeners:
            listener(runner)

    def start(self) -> None:
        """Call every strategy's ``on_start``."""
        for runner in self.runners:
            runner.call("on_start")

    def stop(self) -> None:
        """Call every active strategy's ``on_stop``."""
        for runner in self.runners:
            runner.call("on_stop")

    def cancel_all(self, reason: str, symbol: str | None = None) -> list[str]:
        """Cancel every open order (of one symbol when given) through the risk gate, as a
        strategy would.

        Returns
        -------
        list of str
            The client order ids a cancel was sent for.
        """
        orders = self.cache.open_orders(symbol)
        now = self.clock.now_ns()
        if orders:
            log.warning("cancelling open orders", extra={"fields": {
                "reason": reason, "orders": len(orders), "symbol": symbol or "all"}})
        for order in orders:
            self.bus.send(RISK_EXECUTE, cmd.CancelOrder(order.client_order_id, now))
        return [o.client_order_id for o in orders]

    def flatten(self, reason: str, symbol: str | None = None) -> list[Order]:
        """Close every open position (of one symbol when given) with a reduce-only market
        order tagged ``flatten``, in the position's strategy.

        The orders go through the risk gate, which records them and lets them pass whatever
        the trading state. A position that already has a flatten order working gets no
        second one. Client order ids are deterministic (strategy, time, sequence).

        Returns
        -------
        list of Order
            The orders sent.
        """
        now = self.clock.now_ns()
        working = {(o.symbol, o.strategy_id, o.position_id)
                   for o in self.cache.open_orders(symbol) if "flatten" in o.tags}
        sent: list[Order] = []
        for position in sorted(self.cache.open_positions(symbol),
                               key=lambda p: (p.symbol, p.strategy_id, p.position_id)):
            if (position.symbol, position.strategy_id, position.position_id) in working:
                continue
            ids = self._flatten_ids.get(position.strategy_id)
            if ids is None:
                ids = self._flatten_ids[position.strategy_id] = ClientOrderIdGenerator(
                    f"{position.strategy_id}/flatten")
            client_id = ids.next_id(now)
            while client_id in self.cache.orders:  # sent before a restart at this same time
                client_id = ids.next_id(now)
            order = Order(
                client_order_id=client_id, strategy_id=position.strategy_id,
                symbol=position.symbol,
                side=OrderSide.SELL if position.quantity > 0 else OrderSide.BUY,
                order_type=OrderType.MARKET, quantity=abs(position.quantity), ts_init=now,
                reduce_only=True, position_id=position.position_id, tags=("flatten",),
            )
            self.cache.add_order(order)
            sent.append(order)
        if sent:
            log.warning("flattening positions", extra={"fields": {
                "reason": reason, "orders": len(sent), "symbol": symbol or "all"}})
        for order in sent:
            self.bus.send(RISK_EXECUTE, cmd.SubmitOrder(order, now))
        return sent

    @property
    def failures(self) -> list[StrategyFailure]:
        """Strategies stopped by their own exceptions."""
        return [r.failure for r in self.runners if r.failure is not None]
