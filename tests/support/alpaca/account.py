"""The account of the local Alpaca: cash, positions, account activities (fills) and the day
trades FINRA's pattern day trader rule counts.

Cash moves with every fill (buys pay, sells receive; no commission, as on Alpaca). A day trade
is a fill that reduces a stock position opened (or added to) the same New York day; crypto is
not counted. ``daytrade_count`` is the count Alpaca reports for the last five business days:
the stand-in keeps one number that tests set and day trades add to.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from .market import NEW_YORK, AssetSpec, Market

ZERO = Decimal(0)
PDT_EQUITY = Decimal(25_000)
PDT_TRADES = 3


def iso_ns(ts: int) -> str:
    """``2024-03-04T14:30:00.123456789Z``: RFC 3339 with nanoseconds, as Alpaca writes it."""
    seconds, nanos = divmod(ts, 10**9)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def ny_day(ts: int) -> date:
    """The New York date of ``ts`` (UTC ns)."""
    return datetime.fromtimestamp(ts / 1e9, UTC).astimezone(NEW_YORK).date()


def plain(value: Decimal | None) -> str | None:
    """A decimal as Alpaca's JSON strings carry it (no exponent, no trailing zeros)."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


@dataclass
class Position:
    """A net position: ``qty`` signed (short < 0)."""

    asset: AssetSpec
    qty: Decimal = ZERO
    avg: Decimal = ZERO
    opened_day: date | None = None


@dataclass
class Activity:
    """One fill as ``/v2/account/activities/FILL`` lists it."""

    ts: int
    execution_id: str
    order_id: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    cum_qty: Decimal
    leaves_qty: Decimal
    order_status: str

    @property
    def id(self) -> str:
        """``<yyyymmddHHMMSSmmm>::<execution id>``, Alpaca's activity id."""
        moment = datetime.fromtimestamp(self.ts / 1e9, UTC)
        return moment.strftime("%Y%m%d%H%M%S") + f"{moment.microsecond // 1000:03d}" \
            + f"::{self.execution_id}"

    def as_json(self) -> dict[str, Any]:
        """The activity as Alpaca answers it."""
        return {"id": self.id, "activity_type": "FILL", "transaction_time": iso_ns(self.ts),
                "type": "fill" if self.leaves_qty == 0 else "partial_fill",
                "price": plain(self.price), "qty": plain(self.qty), "side": self.side,
                "symbol": self.symbol, "leaves_qty": plain(self.leaves_qty),
                "order_id": self.order_id, "cum_qty": plain(self.cum_qty),
                "order_status": self.order_status}


@dataclass
class Account:
    """Cash, positions and fills of the one account the stand-in serves.

    Parameters
    ----------
    cash : Decimal
        The opening cash.
    multiplier : Decimal
        Buying power per unit of equity (1: a cash account; 2 or 4: margin).
    """

    cash: Decimal = Decimal(100_000)
    multiplier: Decimal = Decimal(2)
    number: str = "PA1TLSTANDIN"
    id: str = field(default_factory=lambda: str(uuid.UUID(int=0x7A1ACA)))
    last_equity: Decimal | None = None
    daytrade_count: int = 0
    pattern_day_trader: bool = False
    positions: dict[str, Position] = field(default_factory=dict)
    activities: list[Activity] = field(default_factory=list)
    created: int = field(default_factory=time.time_ns)

    def __post_init__(self) -> None:
        if self.last_equity is None:
            self.last_equity = self.cash

    def position(self, symbol: str) -> Decimal:
        """The signed quantity held."""
        found = self.positions.get(symbol)
        return found.qty if found is not None else ZERO

    def book(self, activity: Activity, asset: AssetSpec) -> None:
        """Apply a fill to cash, the position and the day trade count."""
        signed = activity.qty if activity.side == "buy" else -activity.qty
        self.cash -= signed * activity.price
        pos = self.positions.setdefault(asset.symbol, Position(asset))
        before = pos.qty
        today = ny_day(activity.ts)
        reducing = before != 0 and (before > 0) != (signed > 0)
        if reducing and not asset.crypto and pos.opened_day == today:
            self.daytrade_count += 1
            self.pattern_day_trader = self.pattern_day_trader or self.daytrade_count > PDT_TRADES
            pos.opened_day = None
        after = before + signed
        if after == 0:
            pos.avg = ZERO
        elif before == 0 or (before > 0) != (after > 0):
            pos.avg = activity.price
            pos.opened_day = today
        elif not reducing:
            pos.avg = (pos.avg * abs(before) + activity.price * activity.qty) / abs(after)
            pos.opened_day = today
        pos.qty = after
        if after == 0:
            del self.positions[asset.symbol]
        self.activities.append(activity)

    def would_day_trade(self, asset: AssetSpec, side: str) -> bool:
        """True when an order of ``side`` would close part of a stock position opened today."""
        pos = self.positions.get(asset.symbol)
        if asset.crypto or pos is None or pos.qty == 0:
            return False
        reduces = (pos.qty > 0) == (side == "sell")
        return reduces and pos.opened_day == ny_day(time.time_ns())

    def pdt_protected(self, asset: AssetSpec, side: str) -> bool:
        """True when Alpaca's PDT protection refuses the order: equity at the last close under
        25,000 USD, three day trades in five business days, and the order would make a
        fourth."""
        equity = self.last_equity if self.last_equity is not None else self.cash
        return (equity < PDT_EQUITY and self.daytrade_count >= PDT_TRADES
                and self.would_day_trade(asset, side))

    def values(self, market: Market) -> dict[str, Decimal]:
        """Market values of the positions and the equity."""
        long_value = short_value = ZERO
        for pos in self.positions.values():
            value = pos.qty * market.mid(pos.asset.symbol)
            if value >= 0:
                long_value += value
            else:
                short_value += value
        return {"long": long_value, "short": short_value,
                "equity": self.cash + long_value + short_value}

    def as_json(self, market: Market, reserved: Decimal) -> dict[str, Any]:
        """``GET /v2/account``; ``reserved`` is what open buy orders hold of buying power."""
        v = self.values(market)
        margin = (v["long"] - v["short"]) / self.multiplier
        buying = max(ZERO, (v["equity"] - margin) * self.multiplier - reserved)
        cash_bp = max(ZERO, self.cash - reserved)
        return {
            "id": self.id, "account_number": self.number, "status": "ACTIVE",
            "crypto_status": "ACTIVE", "currency": "USD",
            "buying_power": plain(buying.quantize(Decimal("0.01"))),
            "regt_buying_power": plain(buying.quantize(Decimal("0.01"))),
            "daytrading_buying_power": plain((buying * 2).quantize(Decimal("0.01")))
            if self.pattern_day_trader else "0",
            "effective_buying_power": plain(buying.quantize(Decimal("0.01"))),
            "non_marginable_buying_power": plain(cash_bp.quantize(Decimal("0.01"))),
            "options_buying_power": plain(cash_bp.quantize(Decimal("0.01"))),
            "bod_dtbp": "0", "cash": plain(self.cash), "accrued_fees": "0",
            "pending_transfer_in": "0", "pending_transfer_out": "0",
            "portfolio_value": plain(v["equity"]),
            "pattern_day_trader": self.pattern_day_trader, "trading_blocked": False,
            "transfers_blocked": False, "account_blocked": False,
            "created_at": iso_ns(self.created), "trade_suspended_by_user": False,
            "multiplier": plain(self.multiplier), "shorting_enabled": self.multiplier > 1,
            "equity": plain(v["equity"]), "last_equity": plain(self.last_equity),
            "long_market_value": plain(v["long"]), "short_market_value": plain(v["short"]),
            "position_market_value": plain(v["long"] - v["short"]),
            "initial_margin": plain(margin), "maintenance_margin": plain(margin * Decimal(
                "0.6")), "last_maintenance_margin": "0", "sma": "0",
            "daytrade_count": self.daytrade_count, "crypto_tier": 1,
        }

    def position_json(self, pos: Position, market: Market) -> dict[str, Any]:
        """One position as ``/v2/positions`` lists it (crypto symbols without the slash)."""
        price = market.mid(pos.asset.symbol)
        value = pos.qty * price
        cost = pos.qty * pos.avg
        pnl = value - cost
        return {
            "asset_id": pos.asset.id, "symbol": pos.asset.symbol.replace("/", ""),
            "exchange": pos.asset.exchange, "asset_class": pos.asset.asset_class,
            "asset_marginable": pos.asset.marginable and not pos.asset.crypto,
            "qty": plain(pos.qty), "qty_available": plain(pos.qty),
            "avg_entry_price": plain(pos.avg), "side": "long" if pos.qty > 0 else "short",
            "market_value": plain(value), "cost_basis": plain(cost),
            "unrealized_pl": plain(pnl), "unrealized_intraday_pl": plain(pnl),
            "unrealized_plpc": plain((pnl / abs(cost)).quantize(Decimal("0.000001")))
            if cost else "0",
            "unrealized_intraday_plpc": "0", "current_price": plain(price),
            "lastday_price": plain(price), "change_today": "0",
        }


__all__ = ["PDT_EQUITY", "PDT_TRADES", "Account", "Activity", "Position", "iso_ns", "ny_day",
           "plain"]
