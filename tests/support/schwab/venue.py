"""The matching model behind the local Schwab: listings with a bid and an ask, one margin
account with cash and positions, and order trees that work against the quotes.

Simplifications (see the README): liquidity is unlimited at the touch; a marketable order fills
at once in full at the ask (buy) or bid (sell), a resting limit fills at its own price once the
quote crosses it (or in part through :meth:`Venue.fill`); stops trigger on the touch (a buy when
the ask reaches the stop, a sell when the bid does) and then fill at the touch; trailing stops
follow their ``stopPriceLinkBasis`` (BID, ASK, or the mid for the others). DAY orders never
expire (there is no session clock) and sessions are not enforced. Equities trade free of
commission, options pay 0.65 a contract.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .errors import SchwabError, bad_request, insufficient_funds, not_found
from .orders import Execution, StandinOrder, parse_order

ZERO = Decimal(0)
OPTION_FEE = Decimal("0.65")


@dataclass
class Listing:
    """A symbol the venue trades."""

    symbol: str
    asset_type: str
    bid: Decimal
    ask: Decimal
    description: str = ""
    multiplier: Decimal = Decimal(1)
    underlying: str = ""
    put_call: str = ""
    strike: Decimal | None = None
    expiry: tuple[int, int, int] | None = None
    quote_ms: int = 0

    @property
    def mid(self) -> Decimal:
        """Halfway between bid and ask."""
        return (self.bid + self.ask) / 2


def default_listings() -> list[Listing]:
    """The opening market: four stocks and two AAPL options."""
    d = Decimal
    return [
        Listing("AAPL", "EQUITY", d("189.50"), d("189.52"), "Apple Inc"),
        Listing("MSFT", "EQUITY", d("415.10"), d("415.14"), "Microsoft Corp"),
        Listing("GOOG", "EQUITY", d("170.00"), d("170.02"), "Alphabet Inc C"),
        Listing("SPY", "EQUITY", d("520.00"), d("520.01"), "SPDR S&P 500 ETF"),
        Listing("AAPL  261218C00200000", "OPTION", d("7.40"), d("7.50"),
                "AAPL 12/18/2026 200.00 C", d(100), "AAPL", "CALL", d(200), (2026, 12, 18)),
        Listing("AAPL  261218P00180000", "OPTION", d("6.10"), d("6.20"),
                "AAPL 12/18/2026 180.00 P", d(100), "AAPL", "PUT", d(180), (2026, 12, 18)),
    ]


@dataclass
class Holding:
    """A net position: ``quantity`` > 0 long, < 0 short."""

    quantity: Decimal = ZERO
    average: Decimal = ZERO


class Venue:
    """Listings, one account and its orders.

    Parameters
    ----------
    clock : callable
        Milliseconds since the epoch.
    account_number : str
    cash : Decimal
    """

    def __init__(self, clock: Callable[[], int], account_number: str, cash: Decimal) -> None:
        self.clock = clock
        self.account_number = account_number
        self.cash = cash
        self.listings = {x.symbol: x for x in default_listings()}
        self.orders: dict[int, StandinOrder] = {}
        self.roots: list[StandinOrder] = []
        self.holdings: dict[str, Holding] = {}
        self.price_listeners: list[Callable[[str], None]] = []
        self.next_flags: set[str] = set()  # duplicate_reports, out_of_order, reject
        self._ids = itertools.count(1_000_000_001)
        self._activities = itertools.count(90_000_001)

    # -- reference data -------------------------------------------------------------------

    def known_symbol(self, symbol: str) -> str | None:
        """The asset type of ``symbol``, None when it is not listed."""
        listing = self.listings.get(symbol)
        return listing.asset_type if listing is not None else None

    def listing(self, symbol: str) -> Listing:
        """The listing of ``symbol`` (KeyError when unknown)."""
        return self.listings[symbol]

    # -- orders ---------------------------------------------------------------------------

    def place(self, body: Any, tag: str = "") -> StandinOrder:
        """Book a new order tree and start working it.

        Raises
        ------
        SchwabError
            400 for an order Schwab refuses (validation, buying power, closing more than held).
        """
        order = parse_order(body, lambda: next(self._ids), self.clock(), self.account_number,
                            self.known_symbol)
        self._check_account(order)
        self._book(order, tag)
        return order

    def replace(self, order_id: int, body: Any) -> StandinOrder:
        """Replace a working SINGLE order with a new one (the old one ends REPLACED).

        Raises
        ------
        SchwabError
            404 for an unknown order, 400 when it cannot be replaced.
        """
        old = self.order(order_id)
        if not old.is_open or old.strategy != "SINGLE" or old.parent is not None:
            raise bad_request(f"order {order_id} cannot be replaced")
        new = parse_order(body, lambda: next(self._ids), self.clock(), self.account_number,
                          self.known_symbol)
        if new.strategy != "SINGLE" or new.symbol != old.symbol \
                or new.instruction != old.instruction:
            raise bad_request("a replacement must be a SINGLE order for the same security "
                              "and instruction")
        if new.quantity <= old.filled:
            raise bad_request("the replacement's quantity must exceed what has filled")
        old.status, old.close_ms = "REPLACED", self.clock()
        self._book(new, old.tag)
        return new

    def cancel(self, order_id: int) -> None:
        """Cancel an order (with every open order under it).

        Raises
        ------
        SchwabError
            404 for an unknown order, 400 for one that is not open.
        """
        order = self.order(order_id)
        if not order.is_open:
            raise bad_request(f"order {order_id} is not cancelable: it is {order.status}")
        self._close_tree(order, "CANCELED")
        self._settle_parent(order)

    def order(self, order_id: int) -> StandinOrder:
        """An order (any node of a tree) by id."""
        found = self.orders.get(order_id)
        if found is None:
            raise not_found(f"Order {order_id}")
        return found

    def fill(self, order_id: int, quantity: Decimal) -> None:
        """Execute ``quantity`` of a working order at its limit price (the touch for others)."""
        order = self.order(order_id)
        if order.status != "WORKING" or order.strategy == "OCO":
            raise ValueError(f"order {order_id} is {order.status}, not a working order")
        listing = self.listings[order.symbol]
        price = order.price if order.price is not None else (
            listing.ask if order.is_buy else listing.bid)
        self._execute(order, min(quantity, order.remaining), price)

    def set_price(self, symbol: str, bid: Decimal, ask: Decimal, at_ms: int | None = None
                  ) -> None:
        """Move the quote of ``symbol`` (quoted at ``at_ms``, default now); working orders
        react, quote streams tick."""
        listing = self.listings[symbol]
        listing.bid, listing.ask = bid, ask
        listing.quote_ms = at_ms if at_ms is not None else self.clock()
        for order in [o for o in self.orders.values()
                      if o.symbol == symbol and o.status == "WORKING"]:
            if order.status == "WORKING":  # an earlier fill may have cancelled a sibling
                self._match(order, entry=False)
        for listener in self.price_listeners:
            listener(symbol)

    # -- booking and matching -------------------------------------------------------------

    def _check_account(self, order: StandinOrder) -> None:
        for node in order.walk():
            if node.strategy == "OCO" or node.parent is not None:
                continue  # legs that close what a parent opens are checked when they work
            listing = self.listings[node.symbol]
            held = self.holdings.get(node.symbol, Holding()).quantity
            if node.instruction in ("SELL", "SELL_TO_CLOSE") and node.quantity > held:
                opening = "SELL_SHORT" if node.asset_type == "EQUITY" else "SELL_TO_OPEN"
                raise bad_request(f"{node.instruction} of {node.quantity} {node.symbol} exceeds "
                                  f"the {max(held, ZERO)} held; use {opening}")
            if node.instruction in ("BUY_TO_COVER", "BUY_TO_CLOSE") and node.quantity > -held:
                raise bad_request(f"{node.instruction} of {node.quantity} {node.symbol} exceeds "
                                  f"the {max(-held, ZERO)} held short")
            if node.is_buy:
                reference = node.price or node.stop_price or listing.ask
                if node.quantity * reference * listing.multiplier > self.buying_power():
                    raise insufficient_funds()

    def _book(self, order: StandinOrder, tag: str) -> None:
        reject = "reject" in self.next_flags
        for node in order.walk():
            self.orders[node.order_id] = node
            node.tag = tag
            node.duplicate_reports = "duplicate_reports" in self.next_flags
            node.out_of_order = "out_of_order" in self.next_flags
        self.next_flags.clear()
        self.roots.append(order)
        if reject:
            for node in order.walk():
                node.status, node.close_ms = "REJECTED", self.clock()
                node.status_description = "Order rejected: the security is not tradable now."
            return
        self._activate(order)

    def _activate(self, order: StandinOrder) -> None:
        order.status = "WORKING"
        if order.strategy == "OCO":
            for child in order.children:
                self._activate(child)
            return
        for child in order.children:  # TRIGGER: children wait for this order to fill
            for node in child.walk():
                node.status = "AWAITING_PARENT_ORDER"
        self._match(order, entry=True)

    def _match(self, order: StandinOrder, entry: bool) -> None:
        listing = self.listings[order.symbol]
        touch = listing.ask if order.is_buy else listing.bid
        kind = order.order_type
        if kind in ("STOP", "STOP_LIMIT") and not order.triggered:
            assert order.stop_price is not None
            order.triggered = touch >= order.stop_price if order.is_buy \
                else touch <= order.stop_price
            if not order.triggered:
                return
            entry = True  # a triggered stop takes the touch
        if kind == "TRAILING_STOP" and not self._trail(order, listing):
            return
        if kind in ("LIMIT", "STOP_LIMIT"):
            assert order.price is not None
            marketable = touch <= order.price if order.is_buy else touch >= order.price
            if marketable:
                self._execute(order, order.remaining, touch if entry else order.price)
        else:
            self._execute(order, order.remaining, touch)
        if entry and order.is_open and order.duration in ("IMMEDIATE_OR_CANCEL", "FILL_OR_KILL"):
            self._close_tree(order, "CANCELED")
            self._settle_parent(order)

    def _trail(self, order: StandinOrder, listing: Listing) -> bool:
        basis = {"BID": listing.bid, "ASK": listing.ask}.get(order.link_basis, listing.mid)
        if order.extreme is None:
            order.extreme = basis
        order.extreme = max(order.extreme, basis) if not order.is_buy \
            else min(order.extreme, basis)
        assert order.offset is not None
        distance = order.offset if order.link_type != "PERCENT" \
            else order.extreme * order.offset / 100
        stop = order.extreme + distance if order.is_buy else order.extreme - distance
        order.stop_price = stop.quantize(Decimal("0.01"))
        return basis >= stop if order.is_buy else basis <= stop

    def _execute(self, order: StandinOrder, quantity: Decimal, price: Decimal) -> None:
        if quantity <= 0:
            return
        now = self.clock()
        executions = [quantity]
        if order.out_of_order and quantity > 1:  # reported in two parts, newest first
            executions = [quantity - quantity // 2, quantity // 2]
        for part in executions:
            remaining = order.remaining - part
            order.executions.append(Execution(next(self._activities), part, price, now,
                                              remaining))
            self._book_position(order, part, price)
        if order.remaining == 0:
            order.status, order.close_ms = "FILLED", now
            if order.strategy == "TRIGGER":
                for child in order.children:
                    self._activate(child)
        parent = order.parent
        if parent is not None and parent.strategy == "OCO":
            for sibling in parent.children:
                if sibling is not order and sibling.is_open:
                    self._close_tree(sibling, "CANCELED")
            self._settle_parent(order)

    def _book_position(self, order: StandinOrder, quantity: Decimal, price: Decimal) -> None:
        listing = self.listings[order.symbol]
        signed = quantity if order.is_buy else -quantity
        holding = self.holdings.setdefault(order.symbol, Holding())
        before = holding.quantity
        after = before + signed
        if before == 0 or (before > 0) == (signed > 0):
            holding.average = (abs(before) * holding.average + quantity * price) / abs(after)
        elif after != 0 and (after > 0) != (before > 0):
            holding.average = price
        holding.quantity = after
        if after == 0:
            del self.holdings[order.symbol]
        self.cash -= signed * price * listing.multiplier
        if order.asset_type == "OPTION":
            self.cash -= OPTION_FEE * quantity

    def _close_tree(self, order: StandinOrder, status: str) -> None:
        now = self.clock()
        for node in order.walk():
            if node.is_open:
                node.status, node.close_ms = status, now

    def _settle_parent(self, order: StandinOrder) -> None:
        parent = order.parent
        if parent is None or parent.strategy != "OCO" or any(c.is_open for c in parent.children):
            return
        if parent.is_open:
            done = any(c.status == "FILLED" for c in parent.children)
            parent.status, parent.close_ms = ("FILLED" if done else "CANCELED"), self.clock()

    # -- account --------------------------------------------------------------------------

    def market_value(self) -> tuple[Decimal, Decimal]:
        """(long, short) market value at the mid."""
        long = short = ZERO
        for symbol, holding in self.holdings.items():
            listing = self.listings[symbol]
            value = holding.quantity * listing.mid * listing.multiplier
            if value > 0:
                long += value
            else:
                short += value
        return long, short

    def liquidation_value(self) -> Decimal:
        """Cash plus positions at the mid."""
        long, short = self.market_value()
        return self.cash + long + short

    def buying_power(self) -> Decimal:
        """Twice the liquidation value (a margin account), less what is already long."""
        long, _ = self.market_value()
        return max(ZERO, 2 * self.liquidation_value() - long)

    def account_json(self, positions: bool) -> dict[str, Any]:
        """``GET /trader/v1/accounts/{hash}``'s answer."""
        long, short = self.market_value()
        liquidation = self.liquidation_value()
        balances = {
            "accruedInterest": 0, "cashBalance": float(self.cash),
            "liquidationValue": float(liquidation), "longMarketValue": float(long),
            "shortMarketValue": float(short), "equity": float(liquidation),
            "buyingPower": float(self.buying_power()),
            "availableFunds": float(max(ZERO, self.cash)),
            "maintenanceRequirement": float((long - short) * Decimal("0.25")),
            "marginBalance": 0, "shortBalance": 0, "moneyMarketFund": 0, "savings": 0,
        }
        account: dict[str, Any] = {
            "type": "MARGIN", "accountNumber": self.account_number, "roundTrips": 0,
            "isDayTrader": False, "isClosingOnlyRestricted": False, "pfcbFlag": False,
            "initialBalances": dict(balances), "currentBalances": balances,
            "projectedBalances": {"availableFunds": balances["availableFunds"],
                                  "buyingPower": balances["buyingPower"],
                                  "isInCall": False},
        }
        if positions:
            account["positions"] = [self._position_json(s, h)
                                    for s, h in sorted(self.holdings.items())]
        return {"securitiesAccount": account,
                "aggregatedBalance": {"currentLiquidationValue": float(liquidation),
                                      "liquidationValue": float(liquidation)}}

    def _position_json(self, symbol: str, holding: Holding) -> dict[str, Any]:
        listing = self.listings[symbol]
        long = max(holding.quantity, ZERO)
        short = max(-holding.quantity, ZERO)
        instrument: dict[str, Any] = {"assetType": listing.asset_type, "symbol": symbol,
                                      "cusip": f"{zlib.crc32(symbol.encode()) % 10**9:09d}",
                                      "netChange": 0}
        if listing.asset_type == "OPTION":
            instrument.update({"putCall": listing.put_call,
                               "underlyingSymbol": listing.underlying,
                               "type": "VANILLA", "description": listing.description})
        return {"shortQuantity": float(short), "longQuantity": float(long),
                "averagePrice": float(holding.average),
                "averageLongPrice": float(holding.average) if long else 0,
                "averageShortPrice": float(holding.average) if short else 0,
                "settledLongQuantity": float(long), "settledShortQuantity": float(short),
                "currentDayProfitLoss": 0, "currentDayProfitLossPercentage": 0,
                "instrument": instrument,
                "marketValue": float(holding.quantity * listing.mid * listing.multiplier),
                "maintenanceRequirement": 0, "previousSessionLongQuantity": 0}


__all__ = ["Holding", "Listing", "SchwabError", "Venue", "default_listings"]
