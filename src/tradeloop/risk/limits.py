"""Pre-trade limits on size, price, positions and exposure.

Order quantity and notional bounds, a price band against fat fingers, a maximum position per
symbol, account exposure (gross, net, leverage) and a maximum number of open positions. Each
rule is one small class (see :class:`~tradeloop.risk.base.Rule`).

Every limit here stops only orders that open or add to a position: an order that only reduces
one always passes, so a trader can always get out. Money figures are in the account currency
and compared to the cent.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal, InvalidOperation

from tradeloop.core.errors import ConfigError
from tradeloop.model.instrument import to_decimal
from tradeloop.model.orders import Order
from tradeloop.risk.base import (
    ACCOUNT,
    ZERO,
    Count,
    Denial,
    DenialCode,
    Number,
    RiskContext,
    Rule,
    Scope,
    fmt,
)

_CENT = Decimal("0.01")
_SHOWN = Decimal("0.0001")
_HUNDRED = Decimal(100)
_NO_PRICE = "no price to value the order"


class OrderQuantityLimit(Rule):
    """Deny new entries whose quantity is outside ``[minimum, maximum]``.

    Parameters
    ----------
    scope : Scope
        The orders the limit applies to.
    minimum, maximum : Decimal, optional
        Bounds on the order quantity in units (at least one is required; both inclusive).

    Raises
    ------
    ConfigError
        Without a bound, for a bound that is not positive, or a minimum above the maximum.
    """

    code = DenialCode.QUANTITY

    def __init__(self, scope: Scope = ACCOUNT, *, minimum: Number | None = None,
                 maximum: Number | None = None) -> None:
        super().__init__(scope)
        self.minimum, self.maximum = _bounds(type(self).__name__, minimum, maximum)

    def check(self, order: Order, ctx: RiskContext) -> Denial | None:
        """The denial of ``order``, or None."""
        quantity = order.quantity
        if not ctx.is_opening(order):
            return None
        if self.maximum is not None and quantity > self.maximum:
            return Denial(self.code, f"{order.symbol} order quantity {_grouped(quantity)} is "
                          f"above the maximum of {_grouped(self.maximum)} ({self.scope})",
                          fmt(self.maximum), fmt(quantity))
        if self.minimum is not None and quantity < self.minimum:
            return Denial(self.code, f"{order.symbol} order quantity {_grouped(quantity)} is "
                          f"below the minimum of {_grouped(self.minimum)} ({self.scope})",
                          fmt(self.minimum), fmt(quantity))
        return None


class OrderNotionalLimit(Rule):
    """Deny new entries whose value in the account currency is outside ``[minimum, maximum]``.

    The value is quantity x price x multiplier x FX rate, at the order's limit or trigger
    price (the last price for market orders). An order with no price to value it is denied.

    Parameters
    ----------
    scope : Scope
        The orders the limit applies to.
    minimum, maximum : Decimal, optional
        Bounds on the order's value in the account currency (at least one is required; both
        inclusive).

    Raises
    ------
    ConfigError
        Without a bound, for a bound that is not positive, or a minimum above the maximum.
    """

    code = DenialCode.NOTIONAL

    def __init__(self, scope: Scope = ACCOUNT, *, minimum: Number | None = None,
                 maximum: Number | None = None) -> None:
        super().__init__(scope)
        self.minimum, self.maximum = _bounds(type(self).__name__, minimum, maximum)

    def check(self, order: Order, ctx: RiskContext) -> Denial | None:
        """The denial of ``order``, or None."""
        if not ctx.is_opening(order):
            return None
        unknown = _unknown_symbol(order, ctx)
        if unknown is not None:
            return unknown
        raw = ctx.notional(order)
        if raw is None:
            return Denial(self.code, f"{_NO_PRICE}: {order.symbol} has no last price yet "
                          f"({self.scope})", fmt(self.maximum or self.minimum or ZERO))
        value = _money(raw)
        if self.maximum is not None and value > self.maximum:
            return Denial(self.code, f"{order.symbol} order is worth {value:,.2f}, above the "
                          f"maximum of {self.maximum:,.2f} ({self.scope})",
                          fmt(self.maximum), fmt(value))
        if self.minimum is not None and value < self.minimum:
            return Denial(self.code, f"{order.symbol} order is worth {value:,.2f}, below the "
                          f"minimum of {self.minimum:,.2f} ({self.scope})",
                          fmt(self.minimum), fmt(value))
        return None


class PriceBand(Rule):
    """Deny new entries whose limit or trigger price is too far from the last price: a
    fat-finger guard.

    Each of the order's price and trigger price must lie within ``max_deviation_pct`` percent
    of the last price (inclusive). Without a last price the order cannot be checked and is
    denied. Market orders have no price to check and pass.

    Parameters
    ----------
    scope : Scope
        The orders the band applies to.
    max_deviation_pct : Decimal
        Largest distance from the last price, in percent of it.

    Raises
    ------
    ConfigError
        When ``max_deviation_pct`` is not positive.
    """

    code = DenialCode.PRICE_BAND

    def __init__(self, scope: Scope = ACCOUNT, *, max_deviation_pct: Number) -> None:
        super().__init__(scope)
        self.max_deviation_pct = _positive(type(self).__name__, "max_deviation_pct",
                                           max_deviation_pct)

    def check(self, order: Order, ctx: RiskContext) -> Denial | None:
        """The denial of ``order``, or None."""
        if order.price is None and order.trigger_price is None:
            return None
        if not ctx.is_opening(order):
            return None
        last = ctx.last_price(order.symbol)
        if last is None or last <= 0:
            return Denial(self.code, f"{order.symbol} has no last price to check the order's "
                          f"price against ({self.scope})", fmt(self.max_deviation_pct))
        band = self.max_deviation_pct * last
        for name, price in (("limit price", order.price), ("trigger price", order.trigger_price)):
            if price is not None and abs(price - last) * _HUNDRED > band:
                deviation = _shown(abs(price - last) * _HUNDRED / last)
                return Denial(self.code, f"{order.symbol} {name} {fmt(price)} is "
                              f"{fmt(deviation)}% from the last price {fmt(last)}, outside the "
                              f"band of {fmt(self.max_deviation_pct)}% ({self.scope})",
                              fmt(self.max_deviation_pct), fmt(deviation))
        return None


class MaxPosition(Rule):
    """Deny orders that would take the position in their symbol above a limit.

    The figure is the absolute net position after the order fills plus the quantity still to
    fill of working orders in the same symbol and direction (reduce-only ones excluded). Under
    a strategy scope the net position and the working orders are that strategy's. Orders that
    reduce the position always pass.

    Parameters
    ----------
    scope : Scope
        The orders the limit applies to.
    quantity : Decimal, optional
        Largest position in units.
    notional : Decimal, optional
        Largest position value in the account currency, valued at the order's price.

    Raises
    ------
    ConfigError
        Without a limit, or for a limit that is not positive.
    """

    code = DenialCode.POSITION

    def __init__(self, scope: Scope = ACCOUNT, *, quantity: Number | None = None,
                 notional: Number | None = None) -> None:
        super().__init__(scope)
        name = type(self).__name__
        if quantity is None and notional is None:
            raise ConfigError(f"{name} needs a quantity or a notional limit")
        self.quantity = None if quantity is None else _positive(name, "quantity", quantity)
        self.notional = None if notional is None else _positive(name, "notional", notional)

    def check(self, order: Order, ctx: RiskContext) -> Denial | None:
        """The denial of ``order``, or None."""
        if order.reduce_only:
            return None
        strategy = self.scope.strategy
        net = ctx.net_quantity(order.symbol, strategy)
        after = abs(net + order.signed_quantity)
        if after <= abs(net):
            return None
        projected = after + ctx.working_entries(order).leaves(order.symbol, order.side, strategy)
        if self.quantity is not None and projected > self.quantity:
            return Denial(self.code, f"{order.symbol} position would be {_grouped(projected)}, "
                          f"above the limit of {_grouped(self.quantity)} ({self.scope})",
                          fmt(self.quantity), fmt(projected))
        if self.notional is None:
            return None
        unknown = _unknown_symbol(order, ctx)
        if unknown is not None:
            return unknown
        raw = ctx.notional(order, projected)
        if raw is None:
            return Denial(self.code, f"{_NO_PRICE}: {order.symbol} has no last price yet "
                          f"({self.scope})", fmt(self.notional))
        value = _money(raw)
        if value > self.notional:
            return Denial(self.code, f"{order.symbol} position would be worth {value:,.2f}, "
                          f"above the limit of {self.notional:,.2f} ({self.scope})",
                          fmt(self.notional), fmt(value))
        return None


class ExposureLimit(Rule):
    """Deny new entries that would take the account's exposure above a limit.

    After the order, positions in scope are valued at their last price (their average price
    before any) in the account currency; the order's symbol counts with its new net position at
    the order's price. Gross exposure is the sum of the absolute values per symbol, net
    exposure the absolute value of their sum, leverage gross exposure over the account's
    equity. Only an order that raises the figure is denied: one that lowers it passes even
    above the limit. While equity is zero or negative, a leverage limit denies every new entry.

    Parameters
    ----------
    scope : Scope
        The orders and positions the limit applies to (a strategy scope counts that
        strategy's positions, a symbol or venue scope the positions in it).
    max_gross, max_net : Decimal, optional
        Largest gross and net exposure, in the account currency.
    max_leverage : Decimal, optional
        Largest gross exposure over equity.

    Raises
    ------
    ConfigError
        Without a limit, or for a limit that is not positive.
    """

    code = DenialCode.GROSS_EXPOSURE

    def __init__(self, scope: Scope = ACCOUNT, *, max_gross: Number | None = None,
                 max_net: Number | None = None, max_leverage: Number | None = None) -> None:
        super().__init__(scope)
        name = type(self).__name__
        if max_gross is None and max_net is None and max_leverage is None:
            raise ConfigError(f"{name} needs max_gross, max_net or max_leverage")
        self.max_gross = None if max_gross is None else _positive(name, "max_gross", max_gross)
        self.max_net = None if max_net is None else _positive(name, "max_net", max_net)
        self.max_leverage = (None if max_leverage is None
                             else _positive(name, "max_leverage", max_leverage))
        self._first_code = (DenialCode.GROSS_EXPOSURE if max_gross is not None
                            else DenialCode.NET_EXPOSURE if max_net is not None
                            else DenialCode.LEVERAGE)
        self._first_limit = self.max_gross or self.max_net or self.max_leverage or ZERO

    def check(self, order: Order, ctx: RiskContext) -> Denial | None:
        """The denial of ``order``, or None."""
        if order.reduce_only:
            return None
        scope = self.scope
        symbol = order.symbol
        net = ctx.net_quantity(symbol, scope.strategy)
        if abs(net + order.signed_quantity) <= abs(net):
            return None
        unknown = _unknown_symbol(order, ctx)
        if unknown is not None:
            return unknown
        price = ctx.order_price(order)
        if price is None:
            return Denial(self._first_code, f"{_NO_PRICE}: {symbol} has no last price yet "
                          f"({scope})", fmt(self._first_limit))
        gross = signed = ZERO
        for quantity, unit_value in _holdings_in_scope(scope, symbol, ctx):
            value = quantity * unit_value
            gross += abs(value)
            signed += value
        instrument = ctx.cache.instruments[symbol]
        unit = price * instrument.multiplier * ctx.account.rate_to_account(
            instrument.quote_currency)
        before = net * unit
        after = (net + order.signed_quantity) * unit
        gross_before, gross_after = _money(gross + abs(before)), _money(gross + abs(after))
        if self.max_gross is not None and gross_after > self.max_gross \
                and gross_after > gross_before:
            return Denial(DenialCode.GROSS_EXPOSURE, f"gross exposure would be "
                          f"{gross_after:,.2f}, above the limit of {self.max_gross:,.2f} "
                          f"({symbol} order, {scope})", fmt(self.max_gross), fmt(gross_after))
        if self.max_net is not None:
            net_before, net_after = _money(abs(signed + before)), _money(abs(signed + after))
            if net_after > self.max_net and net_after > net_before:
                return Denial(DenialCode.NET_EXPOSURE, f"net exposure would be "
                              f"{net_after:,.2f}, above the limit of {self.max_net:,.2f} "
                              f"({symbol} order, {scope})", fmt(self.max_net), fmt(net_after))
        if self.max_leverage is not None and gross_after > gross_before:
            return self._leverage(ctx.account.equity, gross_after, symbol)
        return None

    def _leverage(self, equity: Decimal, gross: Decimal, symbol: str) -> Denial | None:
        limit = self.max_leverage or ZERO
        if equity <= 0:
            return Denial(DenialCode.LEVERAGE, f"equity is {equity:,.2f}: no new entries "
                          f"until it is positive again ({symbol} order, {self.scope})",
                          fmt(limit), fmt(_money(equity)))
        if gross > limit * equity:
            leverage = _shown(gross / equity)
            return Denial(DenialCode.LEVERAGE, f"leverage would be {fmt(leverage)}x "
                          f"(gross exposure {gross:,.2f} on equity {equity:,.2f}), above the "
                          f"limit of {fmt(limit)}x ({symbol} order, {self.scope})",
                          fmt(limit), fmt(leverage))
        return None


class MaxOpenPositions(Rule):
    """Deny an order that would open a position in a new symbol when ``maximum`` symbols
    already hold one.

    Symbols count when their net position is not zero, account-wide or for the scope's
    strategy; working entry orders in other flat symbols count too, so a burst of entries
    cannot overshoot. Orders in a symbol that already counts always pass.

    Parameters
    ----------
    scope : Scope
        The orders and positions the limit applies to.
    maximum : int
        Largest number of symbols with a position.

    Raises
    ------
    ConfigError
        When ``maximum`` is not a positive whole number.
    """

    code = DenialCode.OPEN_POSITIONS

    def __init__(self, scope: Scope = ACCOUNT, *, maximum: Count) -> None:
        super().__init__(scope)
        if isinstance(maximum, bool) or not isinstance(maximum, int) or maximum <= 0:
            raise ConfigError(f"{type(self).__name__}: maximum must be a positive whole "
                              f"number, got {maximum!r}")
        self.maximum = maximum

    def check(self, order: Order, ctx: RiskContext) -> Denial | None:
        """The denial of ``order``, or None."""
        if order.reduce_only:
            return None
        scope = self.scope
        symbol = order.symbol
        nets = _nets_in_scope(scope, ctx)
        if nets.get(symbol, ZERO) != 0:
            return None
        counted = {s for s, quantity in nets.items() if quantity != 0}
        working = ctx.working_entries(order)
        if scope.is_account:
            entries = working.symbol_counts()
            if symbol in entries:
                return None  # an entry in this symbol already counts
            counted.update(entries)
        else:
            for other in working.orders:
                if other.symbol not in counted and scope.matches(
                        other, ctx.venue_of(other) if scope.venue is not None else ""):
                    if other.symbol == symbol:
                        return None  # an entry in this symbol already counts
                    counted.add(other.symbol)
        if len(counted) >= self.maximum:
            return Denial(self.code, f"opening {symbol} would make {len(counted) + 1} open "
                          f"positions (working entries included), above the limit of "
                          f"{self.maximum} ({scope})", str(self.maximum), str(len(counted) + 1))
        return None


def _nets_in_scope(scope: Scope, ctx: RiskContext) -> dict[str, Decimal]:
    """Net quantity per symbol over the open positions in ``scope``."""
    if scope.is_account:
        return {symbol: net for symbol, (net, _) in ctx.account.valuation().holdings.items()}
    nets: dict[str, Decimal] = {}
    for position in ctx.cache.open_positions():
        if _position_in_scope(scope, position.strategy_id, position.symbol, ctx):
            nets[position.symbol] = nets.get(position.symbol, ZERO) + position.quantity
    return nets


def _holdings_in_scope(scope: Scope, symbol: str,
                       ctx: RiskContext) -> list[tuple[Decimal, Decimal]]:
    """Net quantity and value of one unit, per symbol held in ``scope`` but ``symbol``."""
    holdings = ctx.account.valuation().holdings
    if scope.is_account:
        return [held for other, held in holdings.items() if other != symbol]
    return [(net, holdings[other][1]) for other, net in _nets_in_scope(scope, ctx).items()
            if other != symbol]


def _position_in_scope(scope: Scope, strategy_id: str, symbol: str, ctx: RiskContext) -> bool:
    if scope.strategy is not None and strategy_id != scope.strategy:
        return False
    if scope.symbol is not None and symbol != scope.symbol:
        return False
    if scope.venue is None:
        return True
    instrument = ctx.instrument(symbol)
    return instrument is not None and instrument.venue == scope.venue


def _unknown_symbol(order: Order, ctx: RiskContext) -> Denial | None:
    if order.symbol in ctx.cache.instruments:
        return None
    return Denial(DenialCode.UNKNOWN_SYMBOL, f"unknown symbol {order.symbol}")


def _positive(rule: str, name: str, value: Number) -> Decimal:
    if isinstance(value, bool):
        raise ConfigError(f"{rule}: {name} must be a positive number, got {value!r}")
    try:
        number = to_decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ConfigError(f"{rule}: {name} must be a positive number, got {value!r}") from None
    if not number.is_finite() or number <= 0:
        raise ConfigError(f"{rule}: {name} must be positive, got {value}")
    return number


def _bounds(rule: str, minimum: Number | None,
            maximum: Number | None) -> tuple[Decimal | None, Decimal | None]:
    if minimum is None and maximum is None:
        raise ConfigError(f"{rule} needs a minimum or a maximum")
    low = None if minimum is None else _positive(rule, "minimum", minimum)
    high = None if maximum is None else _positive(rule, "maximum", maximum)
    if low is not None and high is not None and low > high:
        raise ConfigError(f"{rule}: minimum {minimum} is above maximum {maximum}")
    return low, high


def _money(value: Decimal) -> Decimal:
    return value.quantize(_CENT, ROUND_HALF_EVEN)


def _shown(value: Decimal) -> Decimal:
    # rounded up, so a figure over its limit never shows as equal to it
    return value.quantize(_SHOWN, ROUND_CEILING)


def _grouped(value: Decimal) -> str:
    return f"{Decimal(fmt(value)):,f}"
