"""What the execution client reads from Alpaca (:class:`AlpacaLookup`): orders by client order
id along their replacement chains, open orders, fills from the account activities, positions,
the account and assets.

Every order is reported under our client order id: the id itself, ``<id>.r<n>`` for its
replacements, or, for a leg Alpaca named, the id :class:`~.ids.LegBook` remembers. An
Alpaca order that is none of these is reported under its own client order id (an order placed
elsewhere, which reconciliation adopts as external).
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from tradeloop.brokers.alpaca import parse
from tradeloop.brokers.alpaca.client import AlpacaClient
from tradeloop.brokers.alpaca.errors import AlpacaFatalError
from tradeloop.brokers.alpaca.groups import Groups
from tradeloop.brokers.alpaca.ids import LegBook
from tradeloop.brokers.alpaca.tracking import ZERO, OrderTracker
from tradeloop.core.errors import ConfigError, VenueError
from tradeloop.model.instrument import Instrument
from tradeloop.model.reports import AccountReport, FillReport, OrderStatusReport, PositionReport

logger = logging.getLogger(__name__)

Raw = dict[str, Any]
PAGE = 100
OPEN_PAGE = 500
_MAX_CHAIN = 200
_MAX_PAGES = 10_000


def iso(ts_ns: int) -> str:
    """An RFC 3339 time with microseconds (what Alpaca's filters take)."""
    seconds, micros = divmod(ts_ns // 1000, 1_000_000)
    return (datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=micros)).isoformat()


class AlpacaLookup:
    """Reads of one Alpaca account, shared by the execution client.

    Parameters
    ----------
    client : AlpacaClient
    tracker : OrderTracker
    legs : LegBook
    venue : str
    """

    def __init__(self, client: AlpacaClient, tracker: OrderTracker, legs: LegBook,
                 venue: str) -> None:
        self.client = client
        self.config = client.config
        self.tracker = tracker
        self.legs = legs
        self.venue = venue
        self.groups = Groups()
        self._client_ids: dict[str, str] = {}  # Alpaca order id -> ours, learned by lookups
        self._assets: dict[str, Raw | None] = {}
        self._crypto: set[str] = {s for s in self.config.symbols if "/" in s}
        self.last_account: Raw = {}

    # -- ids ----------------------------------------------------------------------------------

    def ours(self, raw: Mapping[str, Any]) -> str:
        """Our client order id of an Alpaca order."""
        venue_id = str(raw.get("id") or "")
        known = (self.tracker.client_id_of(venue_id) or self.legs.ours(venue_id)
                 or self._client_ids.get(venue_id))
        if known:
            return known
        ours, n = parse.split_replacement(str(raw.get("client_order_id") or ""))
        if n:
            return ours
        return str(raw.get("client_order_id") or venue_id)

    def tracked(self, raw: Mapping[str, Any]) -> str | None:
        """Our id of an Alpaca order this adapter tracks (None for any other)."""
        venue_id = str(raw.get("id") or "")
        found = self.tracker.client_id_of(venue_id) or self.legs.ours(venue_id)
        if found and self.tracker.get(found) is not None:
            return found
        ours = parse.split_replacement(str(raw.get("client_order_id") or ""))[0]
        return ours if self.tracker.get(ours) is not None else None

    async def cid_of_venue(self, venue_order_id: str) -> str:
        """Our client order id of an Alpaca order id (read from Alpaca when unknown)."""
        known = (self.tracker.client_id_of(venue_order_id) or self.legs.ours(venue_order_id)
                 or self._client_ids.get(venue_order_id))
        if known:
            return known
        raw = await self.get_order(venue_order_id)
        cid = self.ours(raw) if raw is not None else venue_order_id
        self._client_ids[venue_order_id] = cid
        return cid

    # -- orders -------------------------------------------------------------------------------

    async def get_order(self, venue_order_id: str) -> Raw | None:
        """An order by Alpaca id (None when Alpaca has none)."""
        try:
            raw = await self.client.call(f"get_order {venue_order_id}", lambda: self.client
                                         .trading.get_order_by_id(venue_order_id))
        except AlpacaFatalError as exc:
            if exc.code == "NOT_FOUND":
                return None
            raise
        return dict(raw)

    async def find_by_client_id(self, venue_client_id: str) -> Raw | None:
        """An order by Alpaca client order id (None when Alpaca has none)."""
        try:
            raw = await self.client.call(f"get_order {venue_client_id}", lambda: self.client
                                         .trading.get_order_by_client_id(venue_client_id))
        except AlpacaFatalError as exc:
            if exc.code == "NOT_FOUND":
                return None
            raise
        return dict(raw)

    async def chain(self, client_order_id: str) -> list[Raw]:
        """Alpaca's orders of our order, the original first and the working one last (empty
        when Alpaca has never seen it)."""
        known = self.tracker.get(client_order_id)
        first: Raw | None = None
        if known is not None and known.chain:
            first = await self.get_order(known.chain[0])
        elif self.legs.venue_id(client_order_id):
            first = await self.get_order(str(self.legs.venue_id(client_order_id)))
        else:
            first = await self.find_by_client_id(client_order_id)
            group = self.groups.of_member(client_order_id)
            if first is None and group is not None and group.shape is not None and \
                    group.shape.main.client_order_id != client_order_id:
                main = await self.find_by_client_id(group.shape.main.client_order_id)
                if main is not None:
                    self.found_main(group.shape.main.client_order_id, main)
                    leg_id = self.legs.venue_id(client_order_id)
                    first = await self.get_order(leg_id) if leg_id else None
        if first is None:
            return []
        out = [first]
        while out[-1].get("status") == "replaced" and out[-1].get("replaced_by") \
                and len(out) < _MAX_CHAIN:
            following = await self.get_order(str(out[-1]["replaced_by"]))
            if following is None:
                break
            out.append(following)
        return out

    async def carried_before(self, raw: Raw) -> tuple[Decimal, Decimal, list[str]]:
        """What the orders an Alpaca order replaced filled (quantity, value) and their ids,
        oldest first."""
        qty = value = ZERO
        ids: list[str] = []
        current = raw
        while current.get("replaces") and len(ids) < _MAX_CHAIN:
            before = await self.get_order(str(current["replaces"]))
            if before is None:
                break
            snap = parse.snapshot(before)
            qty += snap.filled_qty
            value += (snap.avg_px or ZERO) * snap.filled_qty
            ids.insert(0, snap.venue_order_id)
            current = before
        return qty, value, ids

    def link_legs(self, main_cid: str, raw: Mapping[str, Any]) -> list[tuple[str, Raw]]:
        """Remember which leg of the Alpaca order ``raw`` (our ``main_cid``) is which of our
        orders; returns (our id, leg) of each leg recognised."""
        group = self.groups.of_main(main_cid)
        out = []
        for leg in raw.get("legs") or ():
            leg_id = str(leg.get("id") or "")
            ours = self.legs.ours(leg_id) or (group.member_for(leg) if group else None)
            if not leg_id or ours is None:
                continue
            self.legs.link(leg_id, ours)
            out.append((ours, dict(leg)))
        return out

    def found_main(self, main_cid: str, raw: Raw) -> None:
        """A lookup found the main order of a contingent group: remember its legs (the
        execution client also applies them)."""
        self.link_legs(main_cid, raw)

    def report_of(self, client_order_id: str, chain: Sequence[Raw]) -> OrderStatusReport:
        """The report of our order from its chain (the working order last)."""
        carried = value = ZERO
        for raw in chain[:-1]:
            snap = parse.snapshot(raw)
            carried += snap.filled_qty
            value += (snap.avg_px or ZERO) * snap.filled_qty
        return parse.snapshot(chain[-1]).report(client_order_id, carried, value)

    def taken(self, report: OrderStatusReport, chain: Sequence[Raw]) -> None:
        """Track an order whose report the caller applies itself (a lookup, reconciliation)."""
        last = chain[-1] if chain else {}
        carried = report.quantity - (parse.dec(last.get("qty")) or report.quantity)
        self.tracker.adopt(report, str(last.get("client_order_id") or ""),
                           [str(r.get("id")) for r in chain], max(ZERO, carried))
        for raw in chain:
            self._client_ids[str(raw.get("id"))] = report.client_order_id

    async def order_status(self, client_order_id: str) -> OrderStatusReport | None:
        """Alpaca's view of one of our orders, or None when it never saw the id. The order is
        tracked from then on, as the caller applies the report."""
        chain = await self.chain(client_order_id)
        if not chain:
            return None
        report = self.report_of(client_order_id, chain)
        self.taken(report, chain)
        if chain[-1].get("legs"):
            self.found_main(client_order_id, chain[-1])
        return report

    async def list_open(self) -> list[Raw]:
        """Every open Alpaca order of the account (legs listed on their own)."""
        out: list[Raw] = []
        until: str | None = None
        for _ in range(_MAX_PAGES):
            params: dict[str, Any] = {"status": "open", "limit": OPEN_PAGE, "nested": "false",
                                      "direction": "desc"}
            if until is not None:
                params["until"] = until
            page = await self.client.call("list_orders", partial(self.client.get, "/orders",
                                                                  dict(params)))
            fresh = [dict(r) for r in page if all(r.get("id") != o.get("id") for o in out)]
            out += fresh
            if len(page) < OPEN_PAGE or not fresh:
                break
            until = str(page[-1].get("created_at"))
        return out

    async def open_orders(self) -> list[OrderStatusReport]:
        """Every order that can still fill, under our ids."""
        out = []
        for raw in await self.list_open():
            if raw.get("status") == "replaced":
                continue
            cid = self.ours(raw)
            carried, value, before = await self.carried_before(raw) if raw.get("replaces") \
                else (ZERO, ZERO, [])
            report = parse.snapshot(raw).report(cid, carried, value)
            chain = [{"id": i} for i in before] + [raw]
            self.taken(report, chain)
            out.append(report)
        return out

    async def fills_since(self, ts_ns: int) -> list[FillReport]:
        """The account's fills at or after ``ts_ns``, oldest first, under our ids."""
        out = []
        for raw in await self.activities(ts_ns):
            cid = await self.cid_of_venue(str(raw.get("order_id") or ""))
            fill = parse.fill_from_activity(raw, cid, self._crypto)
            if fill.ts >= ts_ns:
                self.tracker.seen(fill)
                out.append(fill)
        return sorted(out, key=lambda f: (f.ts, f.trade_id))

    async def activities(self, ts_ns: int) -> list[Raw]:
        """``FILL`` activities after ``ts_ns`` (less a microsecond), oldest first."""
        params: dict[str, Any] = {"direction": "asc", "page_size": PAGE}
        if ts_ns > 0:
            params["after"] = iso(ts_ns - 1000)
        out: list[Raw] = []
        for _ in range(_MAX_PAGES):
            page = await self.client.call("account activities", partial(
                self.client.get, "/account/activities/FILL", dict(params)))
            out += [dict(r) for r in page]
            if len(page) < PAGE:
                break
            params["page_token"] = page[-1]["id"]
        return out

    # -- account ------------------------------------------------------------------------------

    async def positions(self) -> list[PositionReport]:
        """Net positions, one per symbol that is not flat (crypto with its slash)."""
        raw = await self.client.call("positions", self.client.trading.get_all_positions)
        out = []
        for item in raw:
            symbol = str(item.get("symbol"))
            if item.get("asset_class") == "crypto" and "/" not in symbol:
                symbol = await self._crypto_symbol(item)
            report = parse.position_report(item, symbol)
            if report is not None:
                out.append(report)
        return out

    async def account(self) -> AccountReport:
        """Cash, equity and initial margin of the account (USD)."""
        raw = await self.client.call("account", self.client.trading.get_account)
        self.last_account = dict(raw)
        return parse.account_report(self.last_account, time.time_ns())

    async def day_trading(self) -> parse.DayTradingStatus:
        """The pattern day trader flag and day trade count Alpaca reports now."""
        await self.account()
        return parse.day_trading_status(self.last_account, time.time_ns())

    async def asset(self, symbol: str) -> Raw | None:
        """Alpaca's asset of ``symbol`` (None when it lists none)."""
        if symbol in self._assets:
            return self._assets[symbol]
        try:
            raw: Raw | None = dict(await self.client.call(
                f"asset {symbol}", lambda: self.client.trading.get_asset(
                    symbol.replace("/", ""))))
        except AlpacaFatalError as exc:
            if exc.code != "NOT_FOUND":
                raise
            raw = None
        self._assets[symbol] = raw
        if raw is not None:
            self._assets[str(raw.get("id"))] = raw
            if raw.get("class") == "crypto":
                self._crypto.add(str(raw.get("symbol")))
        return raw

    async def instruments(self, symbols: Sequence[str] | None = None) -> list[Instrument]:
        """The instruments of ``symbols`` (the configured ones when None).

        Raises
        ------
        ConfigError
            A symbol Alpaca does not list or does not trade.
        """
        wanted = list(symbols) if symbols is not None else list(self.config.symbols)
        found = await asyncio.gather(*(self.asset(s) for s in wanted))
        out = []
        for symbol, raw in zip(wanted, found, strict=True):
            if raw is None:
                hint = difflib.get_close_matches(symbol, self.config.symbols, n=1, cutoff=0.6)
                also = f"; did you mean {hint[0]!r}?" if hint else ""
                raise ConfigError(f"Alpaca does not list {symbol!r}{also}")
            if not raw.get("tradable", True):
                raise ConfigError(f"{symbol} is listed at Alpaca but not tradable")
            out.append(parse.instrument(raw, self.venue, self.config.fractional_shares))
        return out

    async def _crypto_symbol(self, item: Mapping[str, Any]) -> str:
        symbol = str(item.get("symbol"))
        asset_id = str(item.get("asset_id") or "")
        raw = self._assets.get(asset_id)
        if raw is None and asset_id:
            try:
                raw = dict(await self.client.call(
                    f"asset {asset_id}", lambda: self.client.trading.get_asset(asset_id)))
                self._assets[asset_id] = raw
            except VenueError:
                raw = None
        if raw is not None and raw.get("symbol"):
            self._crypto.add(str(raw["symbol"]))
            return str(raw["symbol"])
        return parse.slashed(symbol, self._crypto)


__all__ = ["OPEN_PAGE", "PAGE", "AlpacaLookup", "Raw", "iso"]
