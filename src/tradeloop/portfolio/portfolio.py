"""The portfolio: positions and the account, kept up to date from fills."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Final

import msgspec

from tradeloop.core.bus import StrategyPublisher
from tradeloop.model import events as ev
from tradeloop.model.account import Account, Valuation
from tradeloop.model.cache import Cache
from tradeloop.model.enums import AccountType, OmsType
from tradeloop.model.position import Position, netting_position_id
from tradeloop.portfolio.fx import FxRates

# enum members and event classes read on the hot path, bound once (docs/decisions/0011)
_CASH: Final = AccountType.CASH
_HEDGING: Final = OmsType.HEDGING
_POSITION_OPENED: Final = ev.PositionOpened
_POSITION_CHANGED: Final = ev.PositionChanged
_POSITION_CLOSED: Final = ev.PositionClosed

ZERO = Decimal(0)
_ONE = Decimal(1)


class BookEntry(msgspec.Struct, frozen=True, gc=False):
    """One fill and the state of its position and the account balance right after it.

    A backtest keeps these to rebuild the equity curve without marking every bar, and reads
    its fills from them in the order they were booked. They hold values only, so the cycle
    collector does not track them (``gc=False``).
    """

    ts: int
    symbol: str
    position_id: str
    quantity: float
    avg_px: float
    balance: float
    rate: float = 1.0  # account currency per quote currency, as booked at this fill
    fill: ev.OrderFilled | None = None


def position_id_for(fill: ev.OrderFilled, oms: OmsType) -> str:
    """The id of the position a fill belongs to: the fill's own, else one per symbol and
    strategy (netting) or one per opening order (hedging)."""
    if fill.position_id:
        return fill.position_id
    if oms is _HEDGING:
        return fill.client_order_id
    return netting_position_id(fill.symbol, fill.strategy_id)


class Portfolio:
    """Books fills into positions and the account and values them.

    Parameters
    ----------
    cache : Cache
        Holds instruments, positions, accounts and latest prices.
    account : Account
        The account fills are booked to.
    oms : OmsType
        Netting (one position per symbol and strategy) or hedging (one per opening order).
    fx : FxRates, optional
        Converts quote-currency PnL to the account currency.
    publish : callable, optional
        Receives every position event.
    """

    def __init__(
        self,
        cache: Cache,
        account: Account,
        oms: OmsType = OmsType.NETTING,
        fx: FxRates | None = None,
        publish: Callable[[ev.PositionEvent], None] | None = None,
    ) -> None:
        self.cache = cache
        self.account = account
        self.oms = oms
        self.fx = fx or FxRates(cache)
        self._publish = publish
        self.book: list[BookEntry] = []
        self._netting_ids: dict[str, dict[str, str]] = {}  # symbol -> strategy id -> position id
        # the last balance booked and it as a float: a fill that realises nothing and costs
        # nothing leaves the balance (the same object) as it was
        self._booked_balance = (account.balance, float(account.balance))
        cache.accounts[account.account_id] = account

    def position_id_for(self, fill: ev.OrderFilled) -> str:
        """The id of the position a fill belongs to."""
        if fill.position_id or self.oms is _HEDGING:
            return position_id_for(fill, self.oms)
        # netting: one id per symbol and strategy, spelled once (its hash is then known too)
        ids = self._netting_ids.get(fill.symbol)
        if ids is None:
            ids = self._netting_ids[fill.symbol] = {}
        found = ids.get(fill.strategy_id)
        if found is None:
            found = ids[fill.strategy_id] = netting_position_id(fill.symbol, fill.strategy_id)
        return found

    def on_fill(self, fill: ev.OrderFilled) -> Position:
        """Book one execution: update its position and the account, publish the change."""
        symbol, ts = fill.symbol, fill.ts
        cache = self.cache
        instrument = cache.instrument(symbol)
        quote = instrument.quote_currency
        # rates first: a missing rate must raise before the position is touched
        commission = fill.commission
        commission_rate = self._fill_rate(fill.commission_currency or quote, fill)
        if commission_rate is not _ONE:
            commission *= commission_rate
        rate = self._fill_rate(quote, fill)
        position_id = self.position_id_for(fill)
        position = cache.positions.get(position_id)
        if position is None:
            position = Position(position_id, symbol, fill.strategy_id, quote,
                                instrument.multiplier)
            cache.add_position(position)
        was_flat = position.is_flat
        realized = position.apply_fill(fill.side, fill.last_qty, fill.last_px, ZERO, ts)
        if commission:
            position.commissions += commission
        cache.refresh_position(position)
        account = self.account
        account.apply(realized if rate is _ONE else realized * rate, commission)
        balance, balance_float = self._booked_balance
        if account.balance is not balance:
            balance = account.balance
            balance_float = float(balance)
            self._booked_balance = (balance, balance_float)
        quantity = position.quantity
        self.book.append(
            BookEntry(
                ts, symbol, position_id, float(quantity) if quantity else 0.0,
                float(position.avg_px), balance_float,
                1.0 if rate is _ONE else float(rate), fill,
            )
        )
        publish = self._publish
        if publish is not None and (not isinstance(publish, StrategyPublisher)
                                    or publish.wanted(fill.strategy_id)):
            cls: type[ev.PositionEvent]
            if was_flat:
                cls = _POSITION_OPENED
            elif not quantity:
                cls = _POSITION_CLOSED
            else:
                cls = _POSITION_CHANGED
            publish(
                cls(
                    ts=ts, position_id=position_id, symbol=symbol,
                    strategy_id=fill.strategy_id, quantity=quantity,
                    avg_px=position.avg_px, realized_pnl=position.realized_pnl,
                    currency=position.currency,
                )
            )
        return position

    def _fill_rate(self, currency: str, fill: ev.OrderFilled) -> Decimal:
        """Account currency per unit of ``currency`` to book ``fill``: the rate known at the
        fill, never a later one. A fill in the very pair that converts (USDJPY for JPY to USD)
        converts at its own price, the freshest rate there is."""
        if currency == self.account.currency:
            return _ONE
        source = self.fx.source(currency, self.account.currency)
        if source is not None and source[0] == fill.symbol:
            return Decimal(1) / fill.last_px if source[1] else fill.last_px
        return self.fx.rate(currency, self.account.currency)

    def rate_to_account(self, currency: str) -> Decimal:
        """Account currency per unit of ``currency``, at the latest rates."""
        return self.fx.rate(currency, self.account.currency)

    def mark(self, symbol: str) -> Decimal | None:
        """The latest price of ``symbol`` as a Decimal, or None before any."""
        return self.cache.mark(symbol)

    def valuation(self) -> Valuation:
        """The account and its open positions at the latest prices, in one pass."""
        account = self.account
        balance = account.balance
        positions = self.cache.open_positions()
        if positions:
            unrealized, gross, cost, holdings = self._value_positions(positions)
            equity = balance + unrealized
        else:  # flat: the balance is all there is
            unrealized = gross = cost = ZERO
            holdings = {}
            equity = balance
        if account.account_type is _CASH:
            buying_power = max(balance - cost, ZERO)
        else:
            buying_power = max(equity * account.leverage - gross, ZERO)
        return Valuation(balance, equity, unrealized, gross, buying_power, holdings)

    def _value_positions(self, positions: list[Position]) -> tuple[
            Decimal, Decimal, Decimal, dict[str, tuple[Decimal, Decimal]]]:
        # unrealised PnL, gross exposure, cost basis and holdings of open positions
        account_ccy = self.account.currency
        rates: dict[str, Decimal] = {}
        units: dict[str, Decimal] = {}
        nets: dict[str, Decimal] = {}
        unrealized = gross = cost = ZERO
        for position in positions:
            currency, symbol, quantity = position.currency, position.symbol, position.quantity
            rate = rates.get(currency)
            if rate is None:
                rate = rates[currency] = self.fx.rate(currency, account_ccy)
            multiplier = position.multiplier
            unit = units.get(symbol)
            if unit is None:
                mark = self.cache.mark(symbol)
                unit = units[symbol] = (position.avg_px if mark is None else mark) \
                    * multiplier * rate
                nets[symbol] = quantity
            else:
                nets[symbol] += quantity
            value = quantity * unit
            basis = quantity * position.avg_px * multiplier * rate
            unrealized += value - basis
            cost += basis
            gross += abs(value)
        return unrealized, gross, cost, {
            symbol: (net, units[symbol]) for symbol, net in nets.items()}

    def unrealized_pnl(self, symbol: str | None = None) -> Decimal:
        """Unrealised PnL of open positions in the account currency."""
        if symbol is None:
            return self.valuation().unrealized_pnl
        total = ZERO
        for position in self.cache.open_positions(symbol):
            mark = self.mark(position.symbol)
            if mark is None:
                continue
            rate = self.fx.rate(position.currency, self.account.currency)
            total += position.unrealized_pnl(mark) * rate
        return total

    def realized_pnl(self, symbol: str | None = None) -> Decimal:
        """Realised PnL before commissions, in the account currency at today's rates."""
        return sum(
            (
                p.realized_pnl * self.fx.rate(p.currency, self.account.currency)
                for p in self.cache.positions_for(symbol)
            ),
            ZERO,
        )

    @property
    def balance(self) -> Decimal:
        """Account balance: starting cash plus realised PnL less commissions."""
        return self.account.balance

    @property
    def equity(self) -> Decimal:
        """Balance plus unrealised PnL."""
        return self.valuation().equity

    def gross_exposure(self) -> Decimal:
        """Sum of the absolute market values of open positions, in the account currency (a
        position without a price yet at its average price)."""
        return self.valuation().gross_exposure

    @property
    def cash(self) -> Decimal:
        """Cash left after paying for open positions (balance less their cost)."""
        cost = ZERO
        for position in self.cache.open_positions():
            rate = self.fx.rate(position.currency, self.account.currency)
            cost += position.avg_px * position.quantity * position.multiplier * rate
        return self.account.balance - cost

    @property
    def cash_account(self) -> bool:
        """True for a cash account, which cannot borrow or sell short."""
        return self.account.account_type is _CASH

    def buying_power(self) -> Decimal:
        """Notional that can still be opened: cash for a cash account, levered equity less
        exposure for a margin account."""
        return self.valuation().buying_power

    def net_quantity(self, symbol: str, strategy_id: str | None = None) -> Decimal:
        """Signed quantity held in ``symbol`` across positions."""
        return self.cache.net_quantity(symbol, strategy_id)

    def snapshot(self, ts: int) -> ev.AccountState:
        """The account as an event."""
        value = self.valuation()
        return ev.AccountState(
            ts=ts, account_id=self.account.account_id, currency=self.account.currency,
            balance=value.balance, equity=value.equity,
            margin_used=value.gross_exposure / self.account.leverage,
        )
