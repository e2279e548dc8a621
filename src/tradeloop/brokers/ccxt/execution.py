"""The execution client over ccxt (:class:`CcxtExecutionClient`).

Orders carry our client order id as the exchange's (Binance ``newClientOrderId``, mapped by
:mod:`.ids` when it does not fit), so a resend is refused as a duplicate and a lost answer is
resolved by looking the id up. Order events come from the REST answers themselves, from
ccxt.pro's ``watch_orders`` and ``watch_my_trades`` when ``use_websockets`` is on and the
exchange has them, and from a sweep of the working orders over REST (every
``poll_interval_s`` without websockets; a slower safety net with them). Every source goes
through one :class:`~.tracking.OrderTracker`, so a duplicated or reordered update never books
a fill twice (trade ids).

Spot holdings are balances, not positions: :meth:`CcxtExecutionClient.positions` reports on
spot the net of the account's own trades in its symbols (see
:attr:`~.config.CcxtConfig.spot_positions_since`), which is what a node's portfolio books from
its fills; perpetual positions are the exchange's (``fetch_positions``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from tradeloop.brokers.base import cancel_tasks, pick_instruments
from tradeloop.brokers.ccxt import parse
from tradeloop.brokers.ccxt.client import CcxtClient, calling
from tradeloop.brokers.ccxt.errors import CcxtFatalError
from tradeloop.brokers.ccxt.ids import ClientIdMap
from tradeloop.brokers.ccxt.tracking import OrderTracker
from tradeloop.core.errors import FatalVenueError, VenueError
from tradeloop.execution.ports import EventHandler, VenueCapabilities
from tradeloop.model.enums import OrderType, TimeInForce
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.model.reports import AccountReport, FillReport, OrderStatusReport, PositionReport

logger = logging.getLogger(__name__)

PAGE = 1000
_MS_PER_DAY = 86_400_000
_WINDOW_MS = {"spot": _MS_PER_DAY, "swap": 7 * _MS_PER_DAY}  # Binance's widest trade query
_MAX_WINDOWS = 400
_FILL_GRACE_S = 0.3  # a websocket order update may come just before its trade
_IMMEDIATE = frozenset({TimeInForce.IOC, TimeInForce.FOK})
_KEEP_IDS = 50_000
_CONDITIONAL = frozenset({OrderType.STOP, OrderType.STOP_LIMIT, OrderType.MARKET_IF_TOUCHED,
                          OrderType.TRAILING_STOP})


class CcxtExecutionClient:
    """A node's orders on one exchange through ccxt.

    Parameters
    ----------
    client : CcxtClient
        Shared with the market data client.
    ids : ClientIdMap
    capabilities : VenueCapabilities
    """

    def __init__(self, client: CcxtClient, ids: ClientIdMap,
                 capabilities: VenueCapabilities) -> None:
        self.client = client
        self.config = client.config
        self.ids = ids
        self.venue = self.config.venue_name
        self.capabilities = capabilities
        self.tracker = OrderTracker(time.time_ns)
        self._symbols: list[str] = list(dict.fromkeys(self.config.symbols))
        self._client_ids: dict[str, str] = {}  # exchange order id -> our client order id
        self._tasks: list[asyncio.Task[None]] = []
        self._catching_up: set[str] = set()
        self._connected = False
        #: REST sweeps of the working orders run so far.
        self.sweeps = 0
        #: Websocket order updates and trades received.
        self.stream_updates = 0

    # -- connection ----------------------------------------------------------------------------

    def bind(self, handler: EventHandler) -> None:
        """Set where order events go."""
        self.tracker.bind(handler)

    @property
    def streaming(self) -> bool:
        """True when order events come from websockets."""
        return self.client.streams

    async def connect(self) -> None:
        """Load the markets, check the credentials, start the order events.

        Raises
        ------
        CcxtRetryableError
            The exchange cannot be reached.
        CcxtAuthenticationError
            It refused the keys.
        """
        if self._connected:
            return
        await self.client.open()
        try:
            if self.config.has_keys:
                await self.client.call("fetch_balance", lambda ex: ex.fetch_balance())
            if self.config.leverage and self.client.market_type == "swap":
                for symbol in self._symbols:
                    await self.client.call(f"set_leverage {symbol}", calling(
                        "set_leverage", self.config.leverage, symbol))
        except BaseException:
            await self.client.close()
            raise
        self._connected = True
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._sweep_loop(), name="ccxt-order-sweep")]
        if self.streaming and self.config.has_keys:
            self._tasks += [loop.create_task(self._watch_orders(), name="ccxt-watch-orders"),
                            loop.create_task(self._watch_trades(), name="ccxt-watch-trades")]

    async def disconnect(self) -> None:
        """Stop the order events and release the exchange."""
        tasks, self._tasks = self._tasks, []
        await cancel_tasks(*tasks)
        if self._connected:
            self._connected = False
            await self.client.close()

    # -- commands ------------------------------------------------------------------------------

    async def submit_order(self, order: Order) -> None:
        """Send a new order with our client order id as the exchange's.

        An IOC or FOK order the exchange refuses to book because it cannot fill as asked
        (Binance USD-M -5021) ends EXPIRED, as its time in force says.

        Raises
        ------
        CcxtFatalError
            Refused (insufficient funds, invalid order...): the router rejects the order.
        CcxtRetryableError, CcxtOutcomeUnknownError
        """
        self.client.market(order.symbol)
        self._remember_symbol(order.symbol)
        venue_id = self.ids.to_venue(order.client_order_id)
        args = parse.order_args(order, venue_id, self.client.market_type)
        self.tracker.add(order)
        try:
            raw = await self.client.call(
                f"submit {order.client_order_id}",
                lambda ex: ex.create_order(args.symbol, args.type, args.side, args.amount,
                                           args.price, dict(args.params)),
                state_change=True, order=True)
        except CcxtFatalError as exc:
            if exc.code == "NOT_FILLABLE" and order.time_in_force in _IMMEDIATE:
                self.tracker.expire(order.client_order_id, exc.reason)  # Binance USD-M -5021
                return
            raise
        await self._absorb(raw, order.client_order_id)

    async def cancel_order(self, order: Order) -> None:
        """Ask the exchange to cancel a working order (its answer is applied at once).

        A perpetual's stop or market-if-touched order waits in Binance's Algo Service until it
        triggers: it is cancelled there first, and as the order it placed once triggered.

        Raises
        ------
        CcxtFatalError
            ORDER_NOT_FOUND when it is not open any more.
        """
        venue_id = self.ids.to_venue(order.client_order_id)
        attempts: list[dict[str, Any]] = [{"origClientOrderId": venue_id}]
        if self._conditional(order):
            attempts.insert(0, {"origClientOrderId": venue_id, "trigger": True})
        for k, params in enumerate(attempts):
            try:
                raw = await self.client.call(
                    f"cancel {order.client_order_id}",
                    calling("cancel_order", None, order.symbol, params),
                    state_change=True, order=True)
            except CcxtFatalError as exc:
                if exc.code == "ORDER_NOT_FOUND" and k + 1 < len(attempts):
                    continue
                raise
            if isinstance(raw, dict) and raw.get("status"):
                await self._absorb(raw, order.client_order_id)
            else:  # the Algo Service answers without the order: look it up
                await self._refresh(order.client_order_id, order.symbol)
            return

    async def modify_order(self, order: Order, quantity: Decimal | None, price: Decimal | None,
                           trigger_price: Decimal | None) -> None:
        """Change a working limit order's quantity and price in place (perpetuals only).

        Raises
        ------
        CcxtFatalError
            NOT_SUPPORTED on spot (Binance spot has no amend: cancel and send a new order) or
            for a trigger price; the exchange's refusal otherwise.
        """
        if not self.capabilities.modify:
            raise CcxtFatalError("NOT_SUPPORTED", f"{self.config.exchange} "
                                 f"{self.client.market_type} orders cannot be modified")
        if trigger_price is not None:
            raise CcxtFatalError("NOT_SUPPORTED", "a trigger price cannot be modified")
        venue_order_id = await self._venue_order_id(order)
        venue_id = self.ids.to_venue(order.client_order_id)
        amount = float(quantity if quantity is not None else order.quantity)
        new_price = price if price is not None else order.price
        raw = await self.client.call(
            f"modify {order.client_order_id}",
            lambda ex: ex.edit_order(venue_order_id, order.symbol, "limit",
                                     "buy" if order.side.value == "BUY" else "sell", amount,
                                     float(new_price) if new_price is not None else None,
                                     {"origClientOrderId": venue_id}),
            state_change=True, order=True)
        await self._absorb(raw, order.client_order_id)

    async def cancel_all_orders(self, symbol: str | None = None) -> None:
        """Cancel every open order (of ``symbol`` when given); the cancellations arrive as
        events."""
        symbols = [symbol] if symbol else await self._open_symbols()
        variants: list[dict[str, Any]] = [{}]
        if self.client.market_type == "swap":
            variants.append({"trigger": True})  # stops waiting in the Algo Service
        for name in symbols:
            for params in variants:
                try:
                    await self.client.call(f"cancel_all {name}",
                                           calling("cancel_all_orders", name, params),
                                           state_change=True, order=True)
                except CcxtFatalError as exc:
                    if exc.code != "ORDER_NOT_FOUND":  # Binance spot: nothing was open
                        raise
        await self._sweep(only=set(symbols))

    # -- queries -------------------------------------------------------------------------------

    async def order_status(self, client_order_id: str) -> OrderStatusReport | None:
        """The exchange's view of one order, or None when it never saw the id.

        The order is tracked from then on, as the caller applies the report.
        """
        known = self.tracker.get(client_order_id)
        symbols = [known.symbol] if known is not None else list(self._symbols)
        for symbol in symbols:
            raw = await self._lookup(client_order_id, symbol)
            if raw is None:
                continue
            report = parse.order_report(raw, client_order_id)
            self._client_ids[report.venue_order_id] = client_order_id
            self._taken(report)
            return report
        return None

    async def open_orders(self) -> list[OrderStatusReport]:
        """Every open order of the account (in its symbols, or all when none are known)."""
        out: list[OrderStatusReport] = []
        for raw in await self._fetch_open(None):
            report = parse.order_report(raw, self.ids.to_ours(raw.get("clientOrderId")))
            self._client_ids[report.venue_order_id] = report.client_order_id
            self._taken(report)
            out.append(report)
        return out

    async def fills_since(self, ts_ns: int) -> list[FillReport]:
        """The account's trades at or after ``ts_ns`` in its symbols, oldest first."""
        since_ms = max(0, ts_ns // parse.NS_PER_MS)
        out: list[FillReport] = []
        for symbol in self._symbols:
            for raw in await self._account_trades(symbol, since_ms):
                cid = await self._client_id_of(str(raw.get("order") or ""), symbol)
                fill = self._fill(raw, cid)
                if fill.ts >= ts_ns:
                    self.tracker.seen(fill)
                    out.append(fill)
        return sorted(out, key=lambda f: (f.ts, f.trade_id))

    async def positions(self) -> list[PositionReport]:
        """Net positions: the exchange's on perpetuals, the net of the account's trades on
        spot (see the module's notes)."""
        if self.client.market_type == "spot":
            since = self.config.spot_positions_since
            since_ms = int(since.timestamp() * 1000) if since is not None else 0
            found = []
            for symbol in self._symbols:
                net = parse.net_of_trades(symbol, await self._account_trades(symbol, since_ms))
                if net is not None:
                    found.append(net)
            return found
        symbols = list(self._symbols) or None
        raw = await self.client.call("fetch_positions", lambda ex: ex.fetch_positions(symbols))
        return [p for p in (parse.position_report(r) for r in raw) if p is not None]

    async def account(self) -> AccountReport:
        """The balance of the account currency (wallet and margin balance on perpetuals)."""
        raw = await self.client.call("fetch_balance", lambda ex: ex.fetch_balance())
        contract = self.client.market_type != "spot"
        account_id = str((raw.get("info") or {}).get("uid") or
                         f"{self.config.exchange}-{self.client.market_type}")
        return parse.account_report(raw, self.config.account_currency, account_id, contract)

    async def instruments(self, symbols: Sequence[str] | None = None) -> list[Instrument]:
        """The exchange's instruments of this market type (only ``symbols`` when given).

        Raises
        ------
        ConfigError
            A symbol the exchange does not list.
        """
        exchange = self.client.exchange
        wanted = self.client.market_type
        available = []
        for market in (exchange.markets or {}).values():
            kind = "spot" if market.get("spot") else ("swap" if market.get("swap") else "")
            if kind != wanted or (symbols is None and not market.get("active", True)):
                continue
            available.append(parse.instrument_from_market(
                market, self.venue, int(getattr(exchange, "precisionMode", 4)),
                self.config.leverage))
        found = pick_instruments(available, symbols, f"{self.config.exchange} ({wanted})")
        for instrument in found if symbols is not None else ():
            self._remember_symbol(instrument.symbol)
        return found

    # -- events --------------------------------------------------------------------------------

    async def _absorb(self, raw: dict[str, Any], client_order_id: str) -> None:
        """Apply an order the exchange answered with (trades in it first)."""
        if not isinstance(raw, dict) or not raw.get("id"):
            return
        report = parse.order_report(raw, client_order_id)
        self._client_ids[report.venue_order_id] = client_order_id
        for trade in raw.get("trades") or ():
            if trade.get("id") is not None:
                filled = dict(trade, order=raw.get("id"), side=raw.get("side"),
                              symbol=raw.get("symbol"),
                              timestamp=trade.get("timestamp") or raw.get("timestamp"))
                self.tracker.on_fill(self._fill(filled, client_order_id))
        await self._apply(report)

    async def _apply(self, report: OrderStatusReport, *, fetch_fills: bool = True) -> None:
        if fetch_fills and self.tracker.missing_fills(report):
            await self._order_trades(report)
        self.tracker.on_report(report)

    async def _order_trades(self, report: OrderStatusReport) -> None:
        try:
            trades = await self.client.call(
                f"fetch_order_trades {report.client_order_id}",
                lambda ex: ex.fetch_my_trades(report.symbol, None, PAGE,
                                              {"orderId": report.venue_order_id}))
        except VenueError as exc:
            logger.warning("could not fetch an order's trades", extra={"fields": {
                "client_order_id": report.client_order_id, "error": str(exc)}})
            return
        for raw in sorted(trades, key=lambda t: (t.get("timestamp") or 0, str(t.get("id")))):
            self.tracker.on_fill(self._fill(raw, report.client_order_id))

    def _taken(self, report: OrderStatusReport) -> None:
        # the caller (the router's lookup, reconciliation) applies this report itself
        known = self.tracker.adopt(report)
        known.accepted = known.accepted or report.status.value != "REJECTED"
        known.closed = known.closed or report.status.value in ("CANCELED", "EXPIRED",
                                                                "REJECTED")

    async def _sweep_loop(self) -> None:
        interval = self.config.poll_interval_s
        if self.streaming and self.config.has_keys:
            interval = max(interval, self.config.sweep_interval_s)
        pause = min(interval, 1.0)  # soon after connecting: what a stream still opening missed
        while True:
            await asyncio.sleep(pause)
            pause = interval
            self.tracker.forget_done()
            if len(self._client_ids) > _KEEP_IDS:
                for key in list(self._client_ids)[:_KEEP_IDS // 2]:
                    del self._client_ids[key]
            if not self.tracker.working():
                continue
            try:
                await self._sweep()
            except asyncio.CancelledError:
                raise
            except VenueError as exc:
                logger.warning("order sweep failed", extra={"fields": {"error": str(exc)}})
            except Exception:
                logger.exception("order sweep failed unexpectedly")

    async def _sweep(self, only: set[str] | None = None) -> None:
        """Bring every working order up to date over REST."""
        self.sweeps += 1
        working = [k for k in self.tracker.working() if only is None or k.symbol in only]
        symbols = sorted({k.symbol for k in working})
        open_by_id: dict[str, dict[str, Any]] = {}
        for symbol in symbols:
            for listed in await self._fetch_open(symbol):
                open_by_id[self.ids.to_ours(listed.get("clientOrderId"))] = listed
        for known in working:
            raw = open_by_id.get(known.client_order_id)
            if raw is None:
                raw = await self._lookup(known.client_order_id, known.symbol)
            if raw is not None:  # None: not booked (yet), the router decides
                await self._apply(parse.order_report(raw, known.client_order_id))

    async def _watch_orders(self) -> None:
        await self._watch("watch_orders", lambda ex: ex.watch_orders(), self._on_stream_order)

    async def _watch_trades(self) -> None:
        await self._watch("watch_my_trades", lambda ex: ex.watch_my_trades(),
                          self._on_stream_trade)

    async def _watch(self, what: str, watch: Any, handle: Any) -> None:
        delay = self.config.reconnect_initial_s
        lost = False
        while True:
            try:
                items = await self.client.call(what, watch)
                if lost:
                    lost = False
                    logger.info("order stream back", extra={"fields": {"stream": what}})
                    await self._sweep()
                delay = self.config.reconnect_initial_s
                for item in items:
                    self.stream_updates += 1
                    await handle(item)
            except asyncio.CancelledError:
                raise
            except FatalVenueError as exc:
                logger.error("order stream refused", extra={"fields": {
                    "stream": what, "error": str(exc)}})
                await asyncio.sleep(self.config.reconnect_max_s)
            except Exception as exc:
                lost = True
                logger.warning("order stream lost", extra={"fields": {
                    "stream": what, "error": f"{type(exc).__name__}: {exc}"}})
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.config.reconnect_max_s)

    async def _on_stream_order(self, raw: dict[str, Any]) -> None:
        cid = self.ids.to_ours(raw.get("clientOrderId"))
        if not cid or self.tracker.get(cid) is None:
            return
        report = parse.order_report(raw, cid)
        self._client_ids[report.venue_order_id] = cid
        await self._apply(report, fetch_fills=False)
        if self.tracker.missing_fills(report) and cid not in self._catching_up:
            self._catching_up.add(cid)
            asyncio.get_running_loop().create_task(self._late_fills(report))

    async def _late_fills(self, report: OrderStatusReport) -> None:
        try:
            await asyncio.sleep(_FILL_GRACE_S)
            if self.tracker.missing_fills(report):
                await self._order_trades(report)
        finally:
            self._catching_up.discard(report.client_order_id)

    async def _on_stream_trade(self, raw: dict[str, Any]) -> None:
        venue_order_id = str(raw.get("order") or "")
        cid = self.tracker.client_id_of(venue_order_id) or self._client_ids.get(venue_order_id)
        if cid is None:
            return
        self.tracker.on_fill(self._fill(raw, cid))

    # -- helpers -------------------------------------------------------------------------------

    def _fill(self, raw: dict[str, Any], client_order_id: str) -> FillReport:
        market = (self.client.exchange.markets or {}).get(raw.get("symbol")) or {}
        base = str(market.get("base") or "") if market.get("spot") else ""
        return parse.fill_report(raw, client_order_id, base, str(market.get("quote") or ""))

    def _remember_symbol(self, symbol: str) -> None:
        if symbol not in self._symbols:
            self._symbols.append(symbol)

    async def _open_symbols(self) -> list[str]:
        return sorted({str(r.get("symbol")) for r in await self._fetch_open(None)})

    async def _fetch_open(self, symbol: str | None) -> list[dict[str, Any]]:
        if symbol is None and self._symbols:
            out: list[dict[str, Any]] = []
            for name in self._symbols:
                out += await self._fetch_open(name)
            return out
        raw = await self.client.call(f"fetch_open_orders {symbol or 'all'}",
                                     calling("fetch_open_orders", symbol))
        out = list(raw)
        if self.client.market_type == "swap":  # waiting stops live in the Algo Service
            out += await self.client.call(
                f"fetch_open_orders {symbol or 'all'} (conditional)",
                calling("fetch_open_orders", symbol, None, None, {"trigger": True}))
        return out

    async def _lookup(self, client_order_id: str, symbol: str) -> dict[str, Any] | None:
        """The exchange's order with this client id (None when it has none): the order
        book's first, then on perpetuals the Algo Service's (a stop not triggered yet)."""
        venue_id = self.ids.to_venue(client_order_id)
        attempts: list[dict[str, Any]] = [{"clientOrderId": venue_id}]
        if self.client.market_type == "swap":
            attempts.append({"clientOrderId": venue_id, "trigger": True})
        for params in attempts:
            try:
                found = await self.client.call(f"fetch_order {client_order_id}",
                                               calling("fetch_order", None, symbol, params))
            except CcxtFatalError as exc:
                if exc.code in ("ORDER_NOT_FOUND", "BAD_SYMBOL"):
                    continue
                raise
            return dict(found)
        return None

    async def _refresh(self, client_order_id: str, symbol: str) -> None:
        raw = await self._lookup(client_order_id, symbol)
        if raw is not None:
            await self._apply(parse.order_report(raw, client_order_id))

    def _conditional(self, order: Order) -> bool:
        return self.client.market_type == "swap" and order.order_type in _CONDITIONAL

    async def _venue_order_id(self, order: Order) -> str:
        known = self.tracker.get(order.client_order_id)
        if known is not None and known.venue_order_id:
            return known.venue_order_id
        if order.venue_order_id:
            return order.venue_order_id
        report = await self.order_status(order.client_order_id)
        if report is None:
            raise CcxtFatalError("ORDER_NOT_FOUND", f"{order.client_order_id} is unknown to "
                                 f"{self.config.exchange}")
        return report.venue_order_id

    async def _client_id_of(self, venue_order_id: str, symbol: str) -> str:
        found = self.tracker.client_id_of(venue_order_id) or self._client_ids.get(
            venue_order_id)
        if found is not None:
            return found
        raw = await self.client.call(f"fetch_order #{venue_order_id}",
                                     lambda ex: ex.fetch_order(venue_order_id, symbol))
        cid = self.ids.to_ours(raw.get("clientOrderId")) or venue_order_id
        self._client_ids[venue_order_id] = cid
        return cid

    async def _account_trades(self, symbol: str, since_ms: int) -> list[dict[str, Any]]:
        """Every trade of the account in ``symbol`` from ``since_ms`` on (0: all), paged by
        trade id as Binance allows."""
        window = _WINDOW_MS.get(self.client.market_type, _MS_PER_DAY)
        now_ms = int(time.time() * 1000)
        page: list[dict[str, Any]] = []
        if since_ms <= 0:
            page = await self._trades_page(symbol, None, {"fromId": 0})
        else:
            start = since_ms
            for _ in range(_MAX_WINDOWS):
                page = await self._trades_page(symbol, start, {
                    "until": min(start + window - 1, now_ms + 60_000)})
                if page or start + window > now_ms:
                    break
                start += window
        trades = list(page)
        while len(page) >= PAGE:
            last_id = int(page[-1]["id"])
            page = await self._trades_page(symbol, None, {"fromId": last_id + 1})
            trades += page
        return trades

    async def _trades_page(self, symbol: str, since: int | None, params: dict[str, Any]
                           ) -> list[dict[str, Any]]:
        raw = await self.client.call(f"fetch_my_trades {symbol}",
                                     lambda ex: ex.fetch_my_trades(symbol, since, PAGE,
                                                                   dict(params)))
        return sorted(raw, key=lambda t: int(t["id"]) if str(t.get("id", "")).isdigit()
                      else 0)


__all__ = ["CcxtExecutionClient"]
