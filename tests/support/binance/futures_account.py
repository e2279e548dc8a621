"""The USD-M futures account: USDT wallet, one-way (net) positions, leverage and margin.

Cross margin only. Mark price is the symbol's mid. An order that adds exposure reserves
``remaining quantity x price / leverage`` of initial margin; the account refuses it (-2019)
when that exceeds the available balance, which is wallet balance plus unrealised PnL less
position and open-order initial margin. Fills pay 0.02 % (maker) or 0.05 % (taker) in USDT and
realise PnL against the average entry price when they reduce a position.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .errors import BinanceError, margin_insufficient
from .market import Market
from .matching import ZERO, Order, Trade

MAKER_RATE = Decimal("0.0002")
TAKER_RATE = Decimal("0.0005")
MAINT_MARGIN_RATE = Decimal("0.004")
DEFAULT_LEVERAGE = 20
MARGIN_ASSET = "USDT"
DEFAULT_FUTURES_BALANCES = {"USDT": Decimal(10000), "USDC": Decimal(0), "BNB": Decimal(0)}
_EIGHT = Decimal("0.00000001")


@dataclass
class Position:
    """A net position: signed amount and average entry price."""

    amount: Decimal = ZERO
    entry: Decimal = ZERO
    update_time: int = 0


def reduce_only_rejected() -> BinanceError:
    """-2022: a reduce-only order that would not reduce the position."""
    return BinanceError(400, -2022, "ReduceOnly Order is rejected.")


class FuturesAccount:
    """Wallet, positions and leverage; the futures :class:`~.matching.Ledger`.

    Parameters
    ----------
    market : Market
    balances : dict of str to Decimal
        Opening wallet balance per asset (margin comes from USDT).
    """

    def __init__(self, market: Market, balances: dict[str, Decimal]) -> None:
        self.market = market
        self.wallet = dict(balances)
        start = market.clock()
        self.asset_time = dict.fromkeys(balances, start)
        self.positions = {name: Position() for name in market.specs}
        self.leverage = dict.fromkeys(market.specs, DEFAULT_LEVERAGE)
        self.order_margin: dict[str, Decimal] = dict.fromkeys(market.specs, ZERO)

    def set_balance(self, asset: str, amount: Decimal) -> None:
        """Set the wallet balance of ``asset``."""
        self.wallet[asset] = amount
        self.asset_time[asset] = self.market.clock()

    # -- figures ----------------------------------------------------------------------------

    def mark(self, symbol: str) -> Decimal:
        """The mark price (the mid)."""
        return self.market.quote(symbol).mid

    def unrealized(self, symbol: str) -> Decimal:
        """Unrealised PnL of the position in ``symbol``."""
        position = self.positions[symbol]
        return (self.mark(symbol) - position.entry) * position.amount

    def notional(self, symbol: str) -> Decimal:
        """Signed notional of the position at mark."""
        return self.positions[symbol].amount * self.mark(symbol)

    def position_margin(self, symbol: str) -> Decimal:
        """Initial margin of the position."""
        return abs(self.notional(symbol)) / self.leverage[symbol]

    def maint_margin(self, symbol: str) -> Decimal:
        """Maintenance margin of the position."""
        return abs(self.notional(symbol)) * MAINT_MARGIN_RATE

    def totals(self) -> dict[str, Decimal]:
        """Account-wide figures in USDT."""
        wallet = self.wallet.get(MARGIN_ASSET, ZERO)
        upnl = sum((self.unrealized(s) for s in self.positions), ZERO)
        pos_im = sum((self.position_margin(s) for s in self.positions), ZERO)
        order_im = sum(self.order_margin.values(), ZERO)
        maint = sum((self.maint_margin(s) for s in self.positions), ZERO)
        available = wallet + upnl - pos_im - order_im
        return {"wallet": wallet, "upnl": upnl, "position_im": pos_im, "order_im": order_im,
                "maint": maint, "margin_balance": wallet + upnl, "available": available}

    def liquidation_price(self, symbol: str) -> Decimal:
        """A rough liquidation price (isolated-style estimate), zero when flat."""
        position = self.positions[symbol]
        if not position.amount:
            return ZERO
        inverse_leverage = Decimal(1) / self.leverage[symbol]
        if position.amount > 0:
            return position.entry * (1 - inverse_leverage + MAINT_MARGIN_RATE)
        return position.entry * (1 + inverse_leverage - MAINT_MARGIN_RATE)

    # -- ledger -----------------------------------------------------------------------------

    def _reduces(self, order: Order) -> bool:
        amount = self.positions[order.symbol].amount
        return (amount > 0 and order.side == "SELL") or (amount < 0 and order.side == "BUY")

    def admit(self, order: Order, price: Decimal) -> None:
        """Check reduce-only, reserve initial margin for orders that add exposure."""
        if order.reduce_only:
            if not self._reduces(order):
                raise reduce_only_rejected()
            return
        need = order.remaining * price / self.leverage[order.symbol]
        if need > self.totals()["available"]:
            raise margin_insufficient()
        order.reserved = need
        self.order_margin[order.symbol] += need

    def fillable(self, order: Order, price: Decimal, qty: Decimal) -> Decimal:
        """``qty``, capped at the position size for a reduce-only order."""
        if order.reduce_only:
            if not self._reduces(order):
                return ZERO
            return min(qty, abs(self.positions[order.symbol].amount))
        return qty

    def settle(self, order: Order, price: Decimal, qty: Decimal, maker: bool) -> Trade:
        """Charge commission, move the position, realise PnL, free the used margin."""
        if order.reserved:
            used = order.reserved * qty / order.remaining
            order.reserved -= used
            self.order_margin[order.symbol] -= used
        quote_qty = price * qty
        commission = (quote_qty * (MAKER_RATE if maker else TAKER_RATE)).quantize(
            _EIGHT, ROUND_HALF_UP)
        signed = qty if order.side == "BUY" else -qty
        position = self.positions[order.symbol]
        realized = ZERO
        if position.amount and (position.amount > 0) != (signed > 0):
            closing = min(abs(signed), abs(position.amount))
            direction = 1 if position.amount > 0 else -1
            realized = (price - position.entry) * closing * direction
            remainder = position.amount + signed
            if remainder == 0:
                position.entry = ZERO
            elif (remainder > 0) != (position.amount > 0):
                position.entry = price
            position.amount = remainder
        else:
            total = abs(position.amount) + qty
            position.entry = (abs(position.amount) * position.entry + qty * price) / total
            position.amount += signed
        now = self.market.clock()
        position.update_time = now
        self.wallet[MARGIN_ASSET] = self.wallet.get(MARGIN_ASSET, ZERO) + realized - commission
        self.asset_time[MARGIN_ASSET] = now
        return Trade(0, order.order_id, order.symbol, order.side, price, qty, quote_qty,
                     commission, MARGIN_ASSET, now, maker, realized)

    def release(self, order: Order) -> None:
        """Free the open-order margin ``order`` still holds."""
        if order.reserved:
            self.order_margin[order.symbol] -= order.reserved
            order.reserved = ZERO
