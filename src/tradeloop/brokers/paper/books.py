"""The account side of the paper venue: net positions per symbol, fills and the balance.

Positions net across every client of the account (one per symbol). The balance moves with
realised PnL and commissions, in the account currency: the venue refuses instruments quoted in
another currency, so no FX conversion is needed yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from tradeloop.brokers.paper.state import MetaRecord, PositionRecord, StoredFill
from tradeloop.model import events as ev
from tradeloop.model.cache import Cache
from tradeloop.model.enums import AccountType, OrderStatus
from tradeloop.model.orders import Order
from tradeloop.model.position import Position
from tradeloop.model.reports import AccountReport, FillReport, OrderStatusReport, PositionReport

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """What became of a submitted order.

    Attributes
    ----------
    report : OrderStatusReport
        The order as the venue holds it (status REJECTED when it was refused).
    duplicate : bool
        True when the venue already had this client order id: nothing new was created and
        ``report`` is the existing order.
    code : str
        The reason code of a rejection, "" otherwise.
    """

    report: OrderStatusReport
    duplicate: bool = False
    code: str = ""

    @property
    def rejected(self) -> bool:
        """True when the order was refused."""
        return self.report.status is OrderStatus.REJECTED


class AccountBooks:
    """Positions, fills and balance of one paper account.

    Parameters
    ----------
    cache : Cache
        The venue's cache: positions are registered there (the matching engine reads them for
        reduce-only orders) and its last prices mark the positions.
    meta : MetaRecord
        The account record whose balance and counters the books move.
    """

    def __init__(self, cache: Cache, meta: MetaRecord) -> None:
        self._cache = cache
        self.meta = meta
        self.positions: dict[str, Position] = {}
        self.fills: list[StoredFill] = []

    def restore(self, positions: list[PositionRecord], fills: list[StoredFill]) -> None:
        """Load what the state file holds."""
        for p in positions:
            position = Position(p.symbol, p.symbol, "", p.currency, p.multiplier, p.quantity,
                                p.avg_px, p.realized_pnl, p.commissions, p.ts_opened,
                                p.ts_closed, p.entry_side)
            self.positions[p.symbol] = position
            self._cache.add_position(position)
        self.fills = list(fills)

    def book_fill(self, fill: ev.OrderFilled, owner: str) -> tuple[int, StoredFill]:
        """Apply a fill to the position and balance; return it numbered for the state file."""
        symbol = fill.symbol
        position = self.positions.get(symbol)
        if position is None:
            inst = self._cache.instrument(symbol)
            position = Position(symbol, symbol, "", inst.quote_currency, inst.multiplier)
            self.positions[symbol] = position
            self._cache.add_position(position)
        realized = position.apply_fill(fill.side, fill.last_qty, fill.last_px, fill.commission,
                                       fill.ts)
        self._cache.refresh_position(position)
        self.meta.balance += realized - fill.commission
        self.meta.commissions += fill.commission
        report = FillReport(
            client_order_id=fill.client_order_id, venue_order_id=fill.venue_order_id,
            trade_id=fill.trade_id, symbol=symbol, side=fill.side, quantity=fill.last_qty,
            price=fill.last_px, commission=fill.commission,
            commission_currency=fill.commission_currency, liquidity=fill.liquidity, ts=fill.ts,
        )
        stored = StoredFill(report, owner)
        self.fills.append(stored)
        self.meta.fill_no += 1
        return self.meta.fill_no, stored

    def position_record(self, symbol: str, ts: int) -> PositionRecord:
        """The state file's row of one position."""
        p = self.positions[symbol]
        return PositionRecord(
            symbol=symbol, currency=p.currency, multiplier=p.multiplier, quantity=p.quantity,
            avg_px=p.avg_px, realized_pnl=p.realized_pnl, commissions=p.commissions,
            ts_opened=p.ts_opened, ts_closed=p.ts_closed, entry_side=p.entry_side, ts_last=ts,
        )

    def fills_since(self, ts_ns: int, owner: str | None = None) -> list[FillReport]:
        """Fills at or after ``ts_ns``, oldest first, of one owner or all."""
        return [f.fill for f in self.fills
                if f.fill.ts >= ts_ns and (owner is None or f.owner == owner)]

    def position_reports(self, ts: int) -> list[PositionReport]:
        """One report per symbol that is not flat."""
        return [PositionReport(symbol=s, quantity=p.quantity, avg_px=p.avg_px, ts=ts)
                for s, p in sorted(self.positions.items()) if not p.is_flat]

    def account_report(self, ts: int) -> AccountReport:
        """Balance, equity at the last prices, and margin used (margin accounts)."""
        meta = self.meta
        equity, margin = meta.balance, ZERO
        for symbol, pos in self.positions.items():
            if pos.is_flat:
                continue
            mark = _mark(self._cache.last_prices, symbol, pos.avg_px)
            equity += pos.unrealized_pnl(mark)
            if meta.account_type is AccountType.MARGIN:
                inst = self._cache.instruments.get(symbol)
                rate = inst.margin_rate if inst is not None else Decimal(1)
                margin += abs(pos.market_value(mark)) * rate
        return AccountReport(account_id=meta.account_id, currency=meta.currency,
                             balance=meta.balance, equity=equity, margin_used=margin, ts=ts)


def order_report(order: Order, ts_accepted: int = 0) -> OrderStatusReport:
    """The venue's report of one of its orders."""
    o = order
    return OrderStatusReport(
        client_order_id=o.client_order_id, venue_order_id=o.venue_order_id or "",
        symbol=o.symbol, side=o.side, order_type=o.order_type, quantity=o.quantity,
        filled_qty=o.filled_qty, avg_px=o.avg_px, status=o.status, price=o.price,
        trigger_price=o.trigger_price, time_in_force=o.time_in_force, reason=o.reason,
        ts_accepted=ts_accepted, ts_last=o.ts_last,
    )


def _mark(last_prices: Mapping[str, float], symbol: str, default: Decimal) -> Decimal:
    last = last_prices.get(symbol)
    return default if last is None else Decimal(repr(last))
