"""What every risk rule is made of: the denial it returns, the scope it applies to, the context
it reads, and the trading state it can ask for.

A rule is one small class. :meth:`Rule.check` looks at one order and returns a
:class:`Denial` (a reason code, a sentence, and the limit and value that decided it) or None.
Rules that keep state (order rates, trades per day, cooldowns, losses) also observe what
happens after the gate through the ``on_*`` hooks; the engine calls a hook only on the rules
that override it. A rule never raises on purpose: if one does, the engine denies the order
with ``RISK_ERROR`` (the gate fails closed).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar, Final, Protocol

from mypy_extensions import mypyc_attr

from tradeloop.core.clock import Clock
from tradeloop.model import events as ev
from tradeloop.model.account import Valuation
from tradeloop.model.cache import Cache
from tradeloop.model.enums import OrderSide
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.model.reports import AccountReport

ZERO: Final = Decimal(0)
#: An amount as configured: a Decimal, or anything that converts to one exactly.
Number = Decimal | int | float | str
#: A whole-number setting as given. Wider than ``int`` on purpose: the rule refuses anything
#: but a whole number with a ConfigError that names the setting (the compiled build would stop
#: a float at the call with a bare TypeError, and turn True into 1).
Count = int | float


class DenialCode(StrEnum):
    """Why an order was denied (and, for state changes, what caused them)."""

    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    PRECISION = "PRECISION"
    QUANTITY = "QUANTITY"
    NOTIONAL = "NOTIONAL"
    PRICE_BAND = "PRICE_BAND"
    POSITION = "POSITION"
    GROSS_EXPOSURE = "GROSS_EXPOSURE"
    NET_EXPOSURE = "NET_EXPOSURE"
    LEVERAGE = "LEVERAGE"
    OPEN_POSITIONS = "OPEN_POSITIONS"
    BUYING_POWER = "BUYING_POWER"
    REDUCE_ONLY = "REDUCE_ONLY"
    ORDER_RATE = "ORDER_RATE"
    TRADES_PER_DAY = "TRADES_PER_DAY"
    DAILY_LOSS = "DAILY_LOSS"
    DRAWDOWN = "DRAWDOWN"
    COOLDOWN = "COOLDOWN"
    LOSS_STREAK = "LOSS_STREAK"
    SESSION = "SESSION"
    NEWS_BLACKOUT = "NEWS_BLACKOUT"
    PATTERN_DAY_TRADER = "PATTERN_DAY_TRADER"
    TRADING_STATE = "TRADING_STATE"
    KILL_SWITCH = "KILL_SWITCH"
    RISK_ERROR = "RISK_ERROR"


class TradingState(StrEnum):
    """What the gate lets through: everything, only orders that reduce positions, or nothing
    but cancels. Ordered by severity."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"

    @property
    def severity(self) -> int:
        """0 for ACTIVE, 1 for REDUCING, 2 for HALTED."""
        return _SEVERITY[self]


_SEVERITY = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


@dataclass(frozen=True, slots=True)
class Denial:
    """A rule's refusal of one order.

    Attributes
    ----------
    code : DenialCode
    reason : str
        One sentence a trader understands, naming the figures.
    limit : str
        The configured limit, as text ("" when the rule has none).
    value : str
        The figure that broke it, as text.
    """

    code: DenialCode
    reason: str
    limit: str = ""
    value: str = ""


@dataclass(frozen=True, slots=True)
class StateRequest:
    """A circuit breaker's request to hold the trading state at ``state`` (or, with ACTIVE,
    to release its hold), and whether positions should be closed."""

    state: TradingState
    code: DenialCode
    reason: str
    flatten: bool = False
    latched: bool = False


@dataclass(frozen=True, slots=True)
class Scope:
    """Which orders a rule applies to: all (the account), one strategy, one symbol, one venue,
    or a combination (every field given must match)."""

    strategy: str | None = None
    symbol: str | None = None
    venue: str | None = None

    def matches(self, order: Order, venue: str = "") -> bool:
        """Whether ``order`` (sent to ``venue``) falls under this scope."""
        return ((self.strategy is None or order.strategy_id == self.strategy)
                and (self.symbol is None or order.symbol == self.symbol)
                and (self.venue is None or venue == self.venue))

    @property
    def is_account(self) -> bool:
        """True for the account-wide scope."""
        return self.strategy is None and self.symbol is None and self.venue is None

    def __str__(self) -> str:
        parts = [f"{name} {value}" for name, value in
                 (("strategy", self.strategy), ("symbol", self.symbol), ("venue", self.venue))
                 if value is not None]
        return ", ".join(parts) or "account"


ACCOUNT = Scope()


class AccountView(Protocol):
    """The account figures rules read (the portfolio provides them), in the account currency."""

    @property
    def cash_account(self) -> bool:
        """True for a cash account, which cannot borrow or sell short."""
        ...

    @property
    def equity(self) -> Decimal:
        """Balance plus unrealised PnL."""
        ...

    def buying_power(self) -> Decimal:
        """Notional that can still be opened."""
        ...

    def valuation(self) -> Valuation:
        """Equity, exposure, buying power and holdings at the latest prices, in one pass."""
        ...

    def gross_exposure(self) -> Decimal:
        """Sum of the absolute market values of open positions."""
        ...

    def rate_to_account(self, currency: str) -> Decimal:
        """Account currency per unit of ``currency``."""
        ...

    def net_quantity(self, symbol: str, strategy_id: str | None = None) -> Decimal:
        """Signed quantity held in ``symbol``."""
        ...


class _MemoAccount:
    """The account's figures, valued at most once per gate decision (the portfolio does not
    change while rules look at one order); :meth:`reset` starts the next one."""

    __slots__ = ("_account", "_rates", "_valuation")

    def __init__(self, account: AccountView) -> None:
        self._account = account
        self._valuation: Valuation | None = None
        self._rates: dict[str, Decimal] = {}

    def reset(self) -> None:
        self._valuation = None
        self._rates.clear()

    @property
    def cash_account(self) -> bool:
        return self._account.cash_account

    def valuation(self) -> Valuation:
        valuation = self._valuation
        if valuation is None:
            valuation = self._valuation = self._account.valuation()
        return valuation

    @property
    def equity(self) -> Decimal:
        return self.valuation().equity

    def buying_power(self) -> Decimal:
        return self.valuation().buying_power

    def gross_exposure(self) -> Decimal:
        return self.valuation().gross_exposure

    def rate_to_account(self, currency: str) -> Decimal:
        rate = self._rates.get(currency)
        if rate is None:
            rate = self._rates[currency] = self._account.rate_to_account(currency)
        return rate

    def net_quantity(self, symbol: str, strategy_id: str | None = None) -> Decimal:
        return self._account.net_quantity(symbol, strategy_id)


class _EntryBook:
    """Every working entry order (open, not reduce-only) and the sums rules take over them,
    worked out once for as long as the cache's orders stay as they are."""

    __slots__ = ("_leaves", "_members", "_priced", "_symbols", "_unpriced", "orders")

    def __init__(self, orders: list[Order]) -> None:
        self.orders = orders
        self._members = {o.client_order_id: o for o in orders}
        self._leaves: dict[tuple[str, OrderSide, str | None], Decimal] | None = None
        self._priced: dict[str, Decimal] | None = None
        self._unpriced: list[Order] = []
        self._symbols: dict[str, int] | None = None

    def has(self, order: Order) -> bool:
        return self._members.get(order.client_order_id) is order

    def leaves(self) -> dict[tuple[str, OrderSide, str | None], Decimal]:
        leaves = self._leaves
        if leaves is None:
            leaves = self._leaves = {}
            for o in self.orders:
                quantity = o.quantity - o.filled_qty
                for key in ((o.symbol, o.side, None), (o.symbol, o.side, o.strategy_id)):
                    leaves[key] = leaves.get(key, ZERO) + quantity
        return leaves

    def priced(self, cache: Cache) -> tuple[dict[str, Decimal], list[Order]]:
        # per quote currency, the value of the entries with a limit or trigger price; the
        # others (market orders) are valued at the last price when asked
        priced = self._priced
        if priced is None:
            priced = {}
            instruments = cache.instruments
            for o in self.orders:
                instrument = instruments.get(o.symbol)
                if instrument is None:
                    continue  # cannot be valued: not counted
                price = o.price or o.trigger_price
                if not price:
                    self._unpriced.append(o)
                    continue
                currency = instrument.quote_currency
                priced[currency] = priced.get(currency, ZERO) + (
                    (o.quantity - o.filled_qty) * price * instrument.multiplier)
            self._priced = priced
        return priced, self._unpriced

    def symbols(self) -> dict[str, int]:
        symbols = self._symbols
        if symbols is None:
            symbols = self._symbols = {}
            for o in self.orders:
                symbols[o.symbol] = symbols.get(o.symbol, 0) + 1
        return symbols


class WorkingEntries:
    """The working orders that may still open or add to positions (open, not reduce-only),
    except the order being checked: what the rules add to a position, an exposure or a count.

    The sums over them are kept from one gate decision to the next while the cache's orders do
    not change (:attr:`Cache.order_changes`); the order being checked is taken out of them.

    Attributes
    ----------
    orders : list of Order
    """

    __slots__ = ("_book", "_own", "_without")

    def __init__(self, book: _EntryBook, order: Order | None = None) -> None:
        self._book = book
        self._own = order if order is not None and book.has(order) else None
        self._without: list[Order] | None = None

    @property
    def orders(self) -> list[Order]:
        """The working entry orders, the one being checked excluded."""
        own = self._own
        if own is None:
            return self._book.orders
        without = self._without
        if without is None:
            without = self._without = [o for o in self._book.orders if o is not own]
        return without

    def leaves(self, symbol: str, side: OrderSide, strategy_id: str | None = None) -> Decimal:
        """Quantity still to fill of the entries in ``symbol`` on ``side`` (of one strategy
        when given)."""
        total = self._book.leaves().get((symbol, side, strategy_id), ZERO)
        own = self._own
        if own is not None and own.symbol == symbol and own.side is side and (
                strategy_id is None or own.strategy_id == strategy_id):
            total -= own.quantity - own.filled_qty
        return total

    def value(self, ctx: RiskContext) -> Decimal:
        """What the entries are worth in the account currency, at their limit or trigger price
        (the last price for market orders); entries without a price yet count nothing."""
        priced, unpriced = self._book.priced(ctx.cache)
        own = self._own
        own_currency, own_value = "", ZERO
        if own is not None and (own_price := own.price or own.trigger_price):
            instrument = ctx.cache.instruments.get(own.symbol)
            if instrument is not None:
                own_currency = instrument.quote_currency
                own_value = (own.quantity - own.filled_qty) * own_price * instrument.multiplier
        total = ZERO
        rate_to_account = ctx.account.rate_to_account
        for currency, value in priced.items():
            in_currency = value - own_value if currency == own_currency else value
            if in_currency:  # only the order being checked: no rate needed
                total += in_currency * rate_to_account(currency)
        for o in unpriced:
            if o is not own:
                worth = ctx.notional(o, o.quantity - o.filled_qty)
                if worth is not None:
                    total += worth
        return total

    def symbol_counts(self) -> dict[str, int]:
        """How many entries work in each symbol."""
        counts = self._book.symbols()
        own = self._own
        if own is None:
            return counts
        counts = dict(counts)
        left = counts[own.symbol] - 1
        if left:
            counts[own.symbol] = left
        else:
            del counts[own.symbol]
        return counts


class RiskContext:
    """What a rule may read: the cache, the account, the clock, and helpers every rule needs.

    The costly figures (the account's valuation, net quantities, the opening part of the
    order, the working entries) are worked out once per decision: :meth:`reset` starts the
    next one, and the engine calls it before every check and hook.

    Parameters
    ----------
    cache : Cache
    account : AccountView
    clock : Clock
    """

    __slots__ = ("_book", "_book_key", "_entries", "_memo", "_nets", "_none_working",
                 "_opening", "_opening_of", "_working", "_working_of", "account", "cache",
                 "clock")

    def __init__(self, cache: Cache, account: AccountView, clock: Clock) -> None:
        self.cache = cache
        self._memo = _MemoAccount(account)
        self.account: AccountView = self._memo
        self.clock = clock
        self._nets: dict[tuple[str, str | None], Decimal] = {}
        self._opening_of: Order | None = None
        self._opening = ZERO
        self._working_of: Order | None = None
        self._entries: list[Order] = []
        self._book: _EntryBook | None = None
        self._book_key = (-1, -1)
        self._none_working = WorkingEntries(_EntryBook([]))
        self._working = self._none_working

    def reset(self) -> None:
        """Forget the figures of the last decision (the engine calls it before each one)."""
        self._memo.reset()
        self._nets.clear()
        self._opening_of = self._working_of = None

    def now_ns(self) -> int:
        """The current time, UTC nanoseconds."""
        return self.clock.now_ns()

    def instrument(self, symbol: str) -> Instrument | None:
        """The instrument traded as ``symbol``, or None when it is unknown."""
        return self.cache.instruments.get(symbol)

    def venue_of(self, order: Order) -> str:
        """The venue ``order`` goes to."""
        instrument = self.cache.instruments.get(order.symbol)
        return instrument.venue if instrument is not None else ""

    def last_price(self, symbol: str) -> Decimal | None:
        """The latest price of ``symbol``, or None before any."""
        return self.cache.mark(symbol)

    def net_quantity(self, symbol: str, strategy_id: str | None = None) -> Decimal:
        """Signed quantity held in ``symbol`` (by one strategy when given)."""
        key = (symbol, strategy_id)
        net = self._nets.get(key)
        if net is None:
            net = self._nets[key] = self.cache.net_quantity(symbol, strategy_id)
        return net

    def opening_quantity(self, order: Order) -> Decimal:
        """The part of ``order`` that opens or adds to the account's position in its symbol
        (zero for an order that only reduces or closes it)."""
        if order is self._opening_of:
            return self._opening
        if order.reduce_only:
            opening = ZERO
        else:
            net = self.net_quantity(order.symbol)
            signed = order.signed_quantity
            if net == ZERO or (net > ZERO) == (signed > ZERO):
                opening = abs(signed)
            else:
                opening = max(abs(signed) - abs(net), ZERO)
        self._opening_of, self._opening = order, opening
        return opening

    def working_entries(self, order: Order) -> WorkingEntries:
        """The working entry orders other than ``order``."""
        if order is not self._working_of:
            cache = self.cache
            key = (cache.order_changes, len(cache.instruments))
            if key != self._book_key:
                self._entries = [o for o in cache.open_orders() if not o.reduce_only]
                self._book = None  # made when an order other than these alone asks
                self._book_key = key
            entries = self._entries
            if not entries or (len(entries) == 1 and entries[0] is order):
                self._working = self._none_working  # the usual case: no other entry works
            else:
                book = self._book
                if book is None:
                    book = self._book = _EntryBook(entries)
                self._working = WorkingEntries(book, order)
            self._working_of = order
        return self._working

    def is_opening(self, order: Order) -> bool:
        """Whether ``order`` opens or adds to a position: a new entry."""
        return self.opening_quantity(order) > ZERO

    def order_price(self, order: Order) -> Decimal | None:
        """The price ``order`` would trade at: its limit, else its trigger, else the last
        price; None when there is none yet."""
        return order.price or order.trigger_price or self.last_price(order.symbol)

    def notional(self, order: Order, quantity: Decimal | None = None) -> Decimal | None:
        """Value of ``quantity`` (the order's quantity by default) at :meth:`order_price`, in
        the account currency; None without a price or for an unknown symbol."""
        instrument = self.cache.instruments.get(order.symbol)
        price = self.order_price(order)
        if instrument is None or price is None:
            return None
        qty = order.quantity if quantity is None else quantity
        rate = self.account.rate_to_account(instrument.quote_currency)
        return qty * price * instrument.multiplier * rate


@mypyc_attr(allow_interpreted_subclasses=True)  # traders write their own rules
class Rule:
    """A pre-trade rule. Subclasses set :attr:`code` and implement :meth:`check`; stateful
    ones override the hooks they need.

    Parameters
    ----------
    scope : Scope
        The orders the rule applies to (the whole account by default).
    """

    code: ClassVar[DenialCode]

    def __init__(self, scope: Scope = ACCOUNT) -> None:
        self.scope = scope

    @property
    def name(self) -> str:
        """The rule and its scope, for logs and errors: ``MaxPosition(symbol EURUSD)``."""
        return f"{type(self).__name__}({self.scope})"

    def applies(self, order: Order, ctx: RiskContext) -> bool:
        """Whether the rule looks at ``order`` at all (its scope)."""
        scope = self.scope
        return scope.matches(order, ctx.venue_of(order) if scope.venue is not None else "")

    def check(self, order: Order, ctx: RiskContext) -> Denial | None:
        """The denial of ``order``, or None to let it pass."""
        raise NotImplementedError

    def on_passed(self, order: Order, ctx: RiskContext) -> None:
        """``order`` (in scope) passed the whole gate and goes to execution."""

    def on_fill(self, fill: ev.OrderFilled, ctx: RiskContext) -> None:
        """An execution was booked (any order, in scope or not)."""

    def on_position(self, event: ev.PositionEvent, ctx: RiskContext) -> None:
        """A position opened, changed or closed."""

    def on_account_report(self, report: AccountReport, ctx: RiskContext) -> None:
        """The broker reported the account (at a live node's start, and when it is read
        again)."""

    def on_resume(self, ctx: RiskContext) -> None:
        """Someone re-armed trading (:meth:`RiskEngine.resume`): a breaker starts measuring
        again from here."""

    def on_mark(self, ctx: RiskContext) -> StateRequest | None:
        """Prices moved (a bar or tick was taken in): a circuit breaker returns the state it
        wants held, or releases its hold with an ACTIVE request; None changes nothing."""
        return None


def overrides(rule: Rule, hook: str) -> bool:
    """Whether ``rule`` implements ``hook`` itself (the engine calls only those)."""
    return getattr(type(rule), hook) is not getattr(Rule, hook)


def fmt(value: Decimal | int | float) -> str:
    """A figure as text for a denial: no exponent, no trailing zeros."""
    if isinstance(value, Decimal):
        text = f"{value.normalize():f}" if value == value.to_integral() else f"{value:f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
