"""The one paper account behind the gateway: cash per currency, positions with IB's average cost
(commission included, times the multiplier), realized P&L, and the account values and portfolio
rows TWS reports for them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .contracts import Listing
from .matching import Quote

EUR_USD_CON_ID = 12087792


@dataclass
class Holding:
    listing: Listing
    quantity: float = 0.0
    avg_cost: float = 0.0  # per unit, multiplier and commissions included
    realized: float = 0.0


class Account:
    """Cash, positions and P&L of the gateway's account."""

    def __init__(self, name: str, cash_usd: float = 1_000_000.0) -> None:
        self.name = name
        self.cash: dict[str, float] = {"USD": cash_usd}
        self.holdings: dict[int, Holding] = {}
        self.realized = 0.0

    def holding(self, listing: Listing) -> Holding:
        return self.holdings.setdefault(listing.con_id, Holding(listing))

    def set_position(self, listing: Listing, quantity: float, avg_cost: float) -> None:
        h = self.holding(listing)
        h.quantity, h.avg_cost = quantity, avg_cost * listing.multiplier_value

    def apply_fill(self, listing: Listing, buy: bool, quantity: float, price: float,
                   commission: float) -> float | None:
        """Book one execution; the realized P&L (net of commission) when it closed anything."""
        h = self.holding(listing)
        mult = listing.multiplier_value
        realized: float | None = None
        closing = 0.0
        if h.quantity and (h.quantity > 0) != buy:
            closing = min(quantity, abs(h.quantity))
            direction = 1.0 if h.quantity > 0 else -1.0
            gross = closing * (price * mult - h.avg_cost) * direction
            realized = gross - commission
            h.realized += realized
            self.realized += realized
            h.quantity = _reduce(h.quantity, closing)
            if h.quantity == 0:
                h.avg_cost = 0.0
        opening = quantity - closing
        if opening:
            cost = opening * price * mult + (0.0 if closing else commission)
            total = abs(h.quantity) + opening
            h.avg_cost = (abs(h.quantity) * h.avg_cost + cost) / total
            h.quantity = total if buy else -total
        self._cash_for(listing, quantity if buy else -quantity, price, commission, realized)
        return realized

    def _cash_for(self, listing: Listing, signed: float, price: float, commission: float,
                  realized: float | None) -> None:
        if listing.sec_type == "FUT":
            gross = (realized + commission) if realized is not None else 0.0
            self.cash["USD"] += gross - commission
        elif listing.sec_type == "CASH":
            self.cash["USD"] -= signed * price + commission
            self.cash[listing.symbol] = self.cash.get(listing.symbol, 0.0) + signed
        else:
            self.cash["USD"] -= signed * price * listing.multiplier_value + commission

    def market_price(self, h: Holding, quotes: Mapping[int, Quote]) -> float:
        q = quotes.get(h.listing.con_id)
        if q is None:
            return h.avg_cost / h.listing.multiplier_value if h.quantity else 0.0
        return q.last if q.last is not None else round(q.mid(), 10)

    def portfolio_row(self, h: Holding, quotes: Mapping[int, Quote]) -> tuple[float, ...]:
        """(position, market price, market value, average cost, unrealized, realized)."""
        price = self.market_price(h, quotes)
        value = h.quantity * price * h.listing.multiplier_value
        unrealized = value - h.quantity * h.avg_cost
        return (h.quantity, price, value, h.avg_cost, unrealized, h.realized)

    def values(self, quotes: Mapping[int, Quote]) -> list[tuple[str, str, str]]:
        """(tag, value, currency) rows as updateAccountValue carries them."""
        eur = quotes.get(EUR_USD_CON_ID)
        rates = {"USD": 1.0, "EUR": eur.mid() if eur else 1.085}
        cash_base = sum(v * rates.get(ccy, 1.0) for ccy, v in self.cash.items())
        gross = unrealized = init_margin = 0.0
        for h in self.holdings.values():
            if not h.quantity or h.listing.sec_type == "CASH":
                continue
            _, _, value, _, unreal, _ = self.portfolio_row(h, quotes)
            unrealized += unreal
            if h.listing.sec_type == "FUT":
                init_margin += 12_000.0 * abs(h.quantity)
            else:
                gross += abs(value)
                init_margin += 0.25 * abs(value)
        stock_value = sum(self.portfolio_row(h, quotes)[2] for h in self.holdings.values()
                          if h.quantity and h.listing.sec_type in ("STK", "OPT"))
        fut_unreal = sum(self.portfolio_row(h, quotes)[4] for h in self.holdings.values()
                         if h.quantity and h.listing.sec_type == "FUT")
        net = cash_base + stock_value + fut_unreal
        maint = 0.8 * init_margin
        rows: list[tuple[str, str, str]] = [
            ("AccountCode", self.name, ""), ("AccountType", "INDIVIDUAL", ""),
            ("Currency", "USD", "USD"), ("Currency", "BASE", "BASE")]
        for ccy, amount in sorted(self.cash.items()):
            rows.append(("CashBalance", f"{amount:.2f}", ccy))
        rows += [
            ("CashBalance", f"{cash_base:.2f}", "BASE"),
            ("TotalCashValue", f"{cash_base:.2f}", "USD"),
            ("NetLiquidation", f"{net:.2f}", "USD"),
            ("EquityWithLoanValue", f"{net:.2f}", "USD"),
            ("GrossPositionValue", f"{gross:.2f}", "USD"),
            ("UnrealizedPnL", f"{unrealized:.2f}", "USD"),
            ("RealizedPnL", f"{self.realized:.2f}", "USD"),
            ("InitMarginReq", f"{init_margin:.2f}", "USD"),
            ("MaintMarginReq", f"{maint:.2f}", "USD"),
            ("AvailableFunds", f"{net - init_margin:.2f}", "USD"),
            ("ExcessLiquidity", f"{net - maint:.2f}", "USD"),
            ("BuyingPower", f"{4.0 * (net - init_margin):.2f}", "USD"),
        ]
        return rows


def _reduce(quantity: float, closing: float) -> float:
    left = abs(quantity) - closing
    return left if quantity > 0 else -left
