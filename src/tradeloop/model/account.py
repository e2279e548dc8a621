"""Accounts: a balance in the account currency, cash or margin."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import msgspec

from tradeloop.model.enums import AccountType

# enum members read on the hot path, bound once (docs/decisions/0011)
_CASH: Final = AccountType.CASH


@dataclass(slots=True, eq=False)
class Account:
    """A trading account.

    ``balance`` moves with realised PnL (converted to the account currency when the fill
    happens) and commissions. Equity is the balance plus the unrealised PnL of open positions,
    which the portfolio computes because it needs prices and FX rates.

    Attributes
    ----------
    account_id : str
    currency : str
    account_type : AccountType
    balance : Decimal
    leverage : Decimal
        Maximum notional over equity; 1 for cash accounts.
    """

    account_id: str
    currency: str
    account_type: AccountType
    balance: Decimal
    leverage: Decimal = Decimal(1)
    starting_balance: Decimal = Decimal(0)
    commissions: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if self.leverage <= 0:
            raise ValueError(f"leverage must be positive, got {self.leverage}")
        if self.account_type is _CASH and self.leverage != 1:
            raise ValueError("a cash account cannot use leverage; use a margin account")
        if not self.starting_balance:
            self.starting_balance = self.balance

    def apply(self, realized_pnl: Decimal, commission: Decimal) -> None:
        """Book realised PnL and a commission, both already in the account currency."""
        if realized_pnl or commission:  # else the balance stays the same object
            self.balance += realized_pnl - commission
            self.commissions += commission


class Valuation(msgspec.Struct, frozen=True):
    """An account with its open positions valued at the latest prices, in the account
    currency. A position in a symbol without a price yet is valued at its average price.

    Attributes
    ----------
    balance : Decimal
    equity : Decimal
        Balance plus unrealised PnL.
    unrealized_pnl : Decimal
    gross_exposure : Decimal
        Sum of the absolute market values of the open positions.
    buying_power : Decimal
        Notional that can still be opened: cash for a cash account, levered equity less gross
        exposure for a margin account (never below zero).
    holdings : dict of str to (Decimal, Decimal)
        For each symbol with an open position: the net quantity across positions and the value
        of one unit (price x multiplier x FX rate).
    """

    balance: Decimal
    equity: Decimal
    unrealized_pnl: Decimal
    gross_exposure: Decimal
    buying_power: Decimal
    holdings: dict[str, tuple[Decimal, Decimal]]
