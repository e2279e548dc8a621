"""The execution client over MetaTrader 5 (:class:`Mt5ExecutionClient`).

Each order is tagged (our client order id in its comment, its strategy's magic number), checked
with ``order_check`` and sent with ``order_send``. An unclear outcome (10012 timeout, 10031
connection, or ``None``) is resolved by looking the tag up in the working orders, the order
history, the deals and the positions before anything is resent. A requoted market order is
priced again and resent at most ``requotes`` times within ``deviation_points``. Order events
come from polling the tracked orders and their deals every ``poll_interval_s``.

A symbol the trade server halts (trading disabled, market closed: refused outright; long only,
short only, close only: what the halt still allows, such as closing, goes on) refuses further
orders locally for ``halt_s`` seconds, without asking the server; other symbols trade on.

A marketable limit order (a buy at or above the ask) cannot rest in MetaTrader: it goes out as
a market deal, which fills at the current price, at or better than the limit. MetaTrader cannot
change a pending order's volume: a quantity modify is refused. On hedging accounts an order
against an open position of the symbol closes that position by its ticket.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from tradeloop.brokers.base import cancel_tasks, pick_instruments
from tradeloop.brokers.mt5 import parse
from tradeloop.brokers.mt5.client import Mt5Client
from tradeloop.brokers.mt5.config import utc_ns_to_server
from tradeloop.brokers.mt5.errors import (
    UNKNOWN_SYMBOL,
    Mt5FatalError,
    Mt5OutcomeUnknownError,
    Mt5RetryableError,
    retcode_error,
)
from tradeloop.brokers.mt5.halts import Halts
from tradeloop.brokers.mt5.retcodes import CHECK_OK, RetcodeClass, classify, describe
from tradeloop.brokers.mt5.tracking import Known, Tracker
from tradeloop.core.errors import ConfigError, VenueError
from tradeloop.execution.ports import EventHandler, VenueCapabilities
from tradeloop.model.enums import OrderSide, OrderType
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.model.reports import AccountReport, FillReport, OrderStatusReport, PositionReport

logger = logging.getLogger(__name__)
ACTION_DEAL, ACTION_PENDING, ACTION_SLTP, ACTION_MODIFY, ACTION_REMOVE = 1, 5, 6, 7, 8


class Mt5ExecutionClient:
    """A node's orders on one MetaTrader 5 account.

    Parameters
    ----------
    client : Mt5Client
        Shared with the market data client.
    capabilities : VenueCapabilities
    venue : str
    """

    def __init__(self, client: Mt5Client, capabilities: VenueCapabilities,
                 venue: str = "MT5") -> None:
        self.client = client
        self.config = client.config
        self.capabilities = capabilities
        self.venue = venue
        self.tracker = Tracker(time.time_ns)
        self.hedging = self.config.account_type == "hedging"
        self.currency = ""
        #: Symbols the trade server halted.
        self.halted = Halts(self.config.halt_s)
        self._rules: dict[str, parse.SymbolRules] = {}
        self._task: asyncio.Task[None] | None = None
        self._connected = False

    # -- connection ----------------------------------------------------------------------------

    def bind(self, handler: EventHandler) -> None:
        """Set where order events go."""
        self.tracker.bind(handler)

    async def connect(self) -> None:
        """Initialize the terminal, read the account, select the configured symbols."""
        if self._connected:
            return
        await self.client.open()
        try:
            info = await self.client.call("account_info")
            self.currency = str(info.currency)
            if self.config.account_type == "auto":
                self.hedging = int(info.margin_mode) == parse.MARGIN_HEDGING
            for symbol in self.config.symbols:
                try:
                    await self.rules(symbol)
                except Mt5FatalError as exc:
                    if exc.code != UNKNOWN_SYMBOL:
                        raise
                    raise ConfigError(f"broker.settings.symbols: {exc}") from None
        except BaseException:
            await self.client.close()
            raise
        self._connected = True
        self._task = asyncio.get_running_loop().create_task(self._poll_loop(), name="mt5-poll")

    async def disconnect(self) -> None:
        """Stop polling and release the terminal."""
        await cancel_tasks(self._task)
        self._task = None
        if self._connected:
            self._connected = False
            await self.client.close()

    async def rules(self, symbol: str) -> parse.SymbolRules:
        """A symbol's trading rules, selecting it into Market Watch first."""
        found = self._rules.get(symbol)
        if found is None:
            if not await self.client.select(symbol):
                raise Mt5FatalError(f"MetaTrader 5 does not list {symbol!r} (Market Watch "
                                    f"cannot select it)", UNKNOWN_SYMBOL)
            info = await self.client.call("symbol_info", symbol)
            found = self._rules[symbol] = parse.SymbolRules.of(info)
        return found

    # -- commands ------------------------------------------------------------------------------

    def _magic(self, strategy_id: str) -> int:
        return parse.magic_for(strategy_id, self.config.magic, self.config.magic_by_strategy)

    def _ours(self, magic: int) -> bool:
        return (self.config.magic <= magic < self.config.magic + 100_000
                or magic in self.config.magic_by_strategy.values())

    async def submit_order(self, order: Order) -> None:
        """Check and send a new order tagged with our id.

        Raises
        ------
        Mt5FatalError
            Refused (invalid, no money, market closed, the symbol halted...): the router
            rejects the order.
        Mt5RetryableError
            Busy, or still requoted after ``requotes`` tries.
        Mt5OutcomeUnknownError
            The answer was lost and the tag is nowhere to be found.
        """
        sent = self.tracker.orders.get(order.client_order_id)
        if sent is not None and sent.ticket:  # sent before: never twice
            await self._refresh(sent)
            return
        await self._refuse_if_halted(order)
        rules = await self.rules(order.symbol)
        known = self.tracker.add(Known(order.client_order_id, order.symbol, order.side,
                                       order.quantity, order.strategy_id,
                                       order.position_id or "", order.price,
                                       order.trigger_price))
        for attempt in range(self.config.requotes + 1):
            request = await self._request(order, rules)
            await self._check(request, order.symbol)
            try:
                result = await self.client.call("order_send", request, state_change=True)
            except Mt5OutcomeUnknownError:
                if await self._resolve(known):
                    return
                raise
            kind = classify(int(result.retcode))
            if kind is RetcodeClass.SUCCESS:
                self.tracker.link(known, int(result.order))
                await self._refresh(known)
                return
            if kind is RetcodeClass.UNKNOWN and await self._resolve(known):
                return
            if kind is RetcodeClass.REQUOTE and request["action"] == ACTION_DEAL \
                    and attempt < self.config.requotes:
                logger.info("requoted: pricing again", extra={"fields": {
                    "client_order_id": order.client_order_id, "retcode": int(result.retcode)}})
                continue
            if kind is RetcodeClass.REQUOTE and request["action"] == ACTION_DEAL:
                raise Mt5RetryableError(
                    f"order_send {order.client_order_id}: still {describe(int(result.retcode))}"
                    f" after {attempt + 1} tries within {self.config.deviation_points} points",
                    int(result.retcode))
            raise self._failure(result, order)
        raise AssertionError("unreachable")

    def _failure(self, result: Any, order: Order) -> VenueError:
        error = retcode_error(int(result.retcode), f"order_send {order.client_order_id}",
                              str(result.comment))
        assert error is not None
        if isinstance(error, Mt5FatalError) and error.halt_symbol:
            self.halted.halt(order.symbol, error.code)
        return error

    async def _refuse_if_halted(self, order: Order) -> None:
        """Refuse ``order`` locally while its symbol is halted, unless the halt allows it."""
        halt = self.halted.get(order.symbol)
        if halt is None or halt.allows(order.side) or (
                halt.allows_closing and await self._reduces(order)):
            return
        raise Mt5FatalError(f"order {order.client_order_id} refused: the trade server halted "
                            f"{order.symbol} ({describe(halt.code)}); not asked again for "
                            f"{self.halted.seconds_left(halt):.1f} s", halt.code,
                            halt_symbol=True)

    async def _reduces(self, order: Order) -> bool:
        """True when ``order`` only closes (part of) what is held in its symbol."""
        if self.hedging:
            return bool(await self._closing_position(order))
        held = Decimal(0)
        for p in await self.client.call("positions_get", symbol=order.symbol):
            volume = Decimal(str(p.volume))
            held += volume if int(p.type) == parse.POSITION_BUY else -volume
        signed = order.quantity if order.side is OrderSide.BUY else -order.quantity
        return held * signed < 0 and order.quantity <= abs(held)

    async def _check(self, request: dict[str, Any], symbol: str) -> None:
        checked = await self.client.call("order_check", request)
        code = int(checked.retcode)
        if code in (CHECK_OK, *(c for c in (10008, 10009))):
            return
        error = retcode_error(code, f"order_check {request.get('comment', '')}",
                              str(checked.comment))
        if error is None:
            return
        if isinstance(error, Mt5OutcomeUnknownError):  # nothing was sent
            raise Mt5RetryableError(str(error), code)
        if isinstance(error, Mt5FatalError) and error.halt_symbol:
            self.halted.halt(symbol, code)
        raise error

    async def _request(self, order: Order, rules: parse.SymbolRules) -> dict[str, Any]:
        try:
            sl, tp = parse.parse_tags(order.tags)
        except ValueError as exc:
            raise Mt5FatalError(f"order {order.client_order_id}: {exc}") from None
        request: dict[str, Any] = {
            "symbol": order.symbol, "volume": float(order.quantity),
            "magic": self._magic(order.strategy_id), "comment": parse.tag(order.client_order_id),
            "deviation": self.config.deviation_points,
            "sl": float(sl) if sl is not None else 0.0, "tp": float(tp) if tp is not None else 0.0,
        }
        marketable = False
        if order.order_type is OrderType.LIMIT and order.price is not None:
            tick = await self.client.call("symbol_info_tick", order.symbol)
            marketable = (order.side is OrderSide.BUY and order.price >= Decimal(str(tick.ask))) \
                or (order.side is OrderSide.SELL and order.price <= Decimal(str(tick.bid)))
        if order.order_type is OrderType.MARKET or marketable:
            tick = await self.client.call("symbol_info_tick", order.symbol)
            buy = order.side is OrderSide.BUY
            request.update(action=ACTION_DEAL, type=parse.BUY if buy else parse.SELL,
                           price=float(tick.ask if buy else tick.bid),
                           type_filling=rules.market_filling(order.time_in_force))
            position = await self._closing_position(order) if self.hedging else 0
            if position:
                request["position"] = position
            return request
        try:
            code = parse.order_type_code(order.side, order.order_type)
        except ValueError as exc:
            raise Mt5FatalError(str(exc)) from None
        price = order.trigger_price if order.order_type in (
            OrderType.STOP, OrderType.STOP_LIMIT) else order.price
        request.update(action=ACTION_PENDING, type=code, price=float(price or 0),
                       type_filling=parse.FILLING_RETURN,
                       type_time=parse.time_type(order.time_in_force))
        if order.order_type is OrderType.STOP_LIMIT:
            request["stoplimit"] = float(order.price or 0)
        if order.expire_ns is not None:
            request["expiration"] = int(
                utc_ns_to_server(order.expire_ns, self.config.zone).timestamp())
        return request

    async def _closing_position(self, order: Order) -> int:
        held = await self.client.call("positions_get", symbol=order.symbol)
        opposite = parse.POSITION_BUY if order.side is OrderSide.SELL else 1
        for p in sorted(held, key=lambda p: int(p.time_msc)):
            if int(p.type) == opposite and Decimal(str(p.volume)) >= order.quantity:
                return int(p.ticket)
        return 0

    async def cancel_order(self, order: Order) -> None:
        """Remove a pending order (TRADE_ACTION_REMOVE)."""
        known = await self._known(order)
        result = await self.client.call("order_send", {
            "action": ACTION_REMOVE, "order": known.ticket}, state_change=True)
        if classify(int(result.retcode)) is not RetcodeClass.SUCCESS:
            raise self._failure(result, order)
        await self._refresh(known)

    async def modify_order(self, order: Order, quantity: Decimal | None, price: Decimal | None,
                           trigger_price: Decimal | None) -> None:
        """Change a pending order's prices (TRADE_ACTION_MODIFY); its stop-loss and
        take-profit stay.

        Raises
        ------
        Mt5FatalError
            A new quantity (MetaTrader cannot change a pending order's volume).
        """
        if quantity is not None and quantity != order.quantity:
            raise Mt5FatalError("MetaTrader 5 cannot change a pending order's volume: cancel "
                                "it and send a new one")
        known = await self._known(order)
        live = await self.client.call("orders_get", ticket=known.ticket)
        if not live:
            raise Mt5FatalError(f"{order.client_order_id} is not pending any more")
        current = live[0]
        request: dict[str, Any] = {"action": ACTION_MODIFY, "order": known.ticket,
                                   "symbol": order.symbol, "sl": float(current.sl),
                                   "tp": float(current.tp),
                                   "price": float(current.price_open),
                                   "stoplimit": float(current.price_stoplimit),
                                   # MetaTrader takes these from the request: kept as they are
                                   "type_time": int(current.type_time),
                                   "expiration": int(current.time_expiration),
                                   "type_filling": int(current.type_filling)}
        if order.order_type is OrderType.STOP_LIMIT:
            if trigger_price is not None:
                request["price"] = float(trigger_price)
            if price is not None:
                request["stoplimit"] = float(price)
        elif order.order_type is OrderType.STOP:
            if trigger_price is not None:
                request["price"] = float(trigger_price)
        elif price is not None:
            request["price"] = float(price)
        result = await self.client.call("order_send", request, state_change=True)
        if classify(int(result.retcode)) is not RetcodeClass.SUCCESS:
            raise self._failure(result, order)
        await self._refresh(known)

    async def set_position_stops(self, position_ticket: int, symbol: str,
                                 stop_loss: Decimal | None, take_profit: Decimal | None) -> None:
        """Set a position's stop-loss and take-profit (TRADE_ACTION_SLTP; None removes)."""
        result = await self.client.call("order_send", {
            "action": ACTION_SLTP, "position": position_ticket, "symbol": symbol,
            "sl": float(stop_loss or 0), "tp": float(take_profit or 0)}, state_change=True)
        error = retcode_error(int(result.retcode), f"SLTP #{position_ticket}",
                              str(result.comment))
        if error is not None:
            raise error

    async def cancel_all_orders(self, symbol: str | None = None) -> None:
        """Remove every pending order of ours (of ``symbol`` when given)."""
        where: dict[str, Any] = {"symbol": symbol} if symbol else {}
        pending = await self.client.call("orders_get", **where)
        for row in pending:
            if not self._ours(int(row.magic)):
                continue
            known = self._adopt(row)
            result = await self.client.call("order_send", {
                "action": ACTION_REMOVE, "order": int(row.ticket)}, state_change=True)
            if classify(int(result.retcode)) is RetcodeClass.SUCCESS:
                await self._refresh(known)

    # -- state ---------------------------------------------------------------------------------

    def _span(self) -> tuple[Any, Any]:
        now = time.time_ns()
        zone = self.config.zone
        start = utc_ns_to_server(now - self.config.history_days * 86_400 * 10**9, zone)
        return start, utc_ns_to_server(now, zone) + timedelta(days=1)

    async def _find(self, client_order_id: str) -> Any | None:
        """The MetaTrader order tagged with this id: working first, then history."""
        wanted = parse.tag(client_order_id)
        for row in await self.client.call("orders_get"):
            if str(row.comment) == wanted:
                return row
        start, end = self._span()
        for row in await self.client.call("history_orders_get", start, end):
            if str(row.comment) == wanted:
                return row
        for deal in await self.client.call("history_deals_get", start, end):
            if str(deal.comment) == wanted and int(deal.order):
                found = await self.client.call("history_orders_get", ticket=int(deal.order))
                return found[0] if found else None
        return None

    async def _resolve(self, known: Known) -> bool:
        """After an unclear send: True when the tag was found (the order is then tracked)."""
        await self.client.ensure()
        try:
            row = await self._find(known.client_order_id)
            ticket = int(row.ticket) if row is not None else await self._position_ticket(
                known.client_order_id)
        except VenueError as exc:
            logger.warning("lookup after an unclear send failed", extra={"fields": {
                "client_order_id": known.client_order_id, "error": str(exc)}})
            return False
        if not ticket:
            return False
        logger.info("unclear send resolved: the order is at the server", extra={"fields": {
            "client_order_id": known.client_order_id, "ticket": ticket}})
        self.tracker.link(known, ticket)
        await self._refresh(known)
        return True

    async def _position_ticket(self, client_order_id: str) -> int:
        """The ticket of the order that opened a position tagged with this id (the position's
        identifier), for when the terminal's history lags behind its positions; 0 if none."""
        wanted = parse.tag(client_order_id)
        for position in await self.client.call("positions_get"):
            if str(position.comment) == wanted:
                return int(position.identifier)
        return 0

    def _adopt(self, row: Any, client_order_id: str = "") -> Known:
        cid = (client_order_id or self.tracker.by_ticket.get(int(row.ticket))
               or str(row.comment) or str(row.ticket))
        known = self.tracker.orders.get(cid)
        if known is None:
            report = self._report(row, cid)
            known = self.tracker.add(Known(cid, report.symbol, report.side, report.quantity,
                                           price=report.price,
                                           trigger_price=report.trigger_price,
                                           accepted=True))
        self.tracker.link(known, int(row.ticket))
        return known

    async def _known(self, order: Order) -> Known:
        known = self.tracker.orders.get(order.client_order_id)
        if known is not None and known.ticket:
            return known
        row = await self._find(order.client_order_id)
        if row is None:
            raise Mt5FatalError(f"{order.client_order_id} is unknown to MetaTrader 5")
        known = self._adopt(row, order.client_order_id)
        for deal in await self.client.call("history_deals_get", ticket=int(row.ticket)):
            self.tracker.seen(known, self._fill(deal, known.client_order_id))
        return known

    def _report(self, row: Any, cid: str, avg: Decimal | None = None) -> OrderStatusReport:
        rules = self._rules.get(str(row.symbol))
        digits, vdigits = (rules.digits, rules.volume_digits) if rules else (5, 2)
        return parse.order_report(row, cid, digits, vdigits, self.config.zone, avg)

    def _fill(self, deal: Any, cid: str) -> FillReport:
        rules = self._rules.get(str(deal.symbol))
        digits, vdigits = (rules.digits, rules.volume_digits) if rules else (5, 2)
        return parse.fill_report(deal, cid, digits, vdigits, self.currency, self.config.zone)

    async def _row(self, ticket: int) -> Any | None:
        live = await self.client.call("orders_get", ticket=ticket)
        if live:
            return live[0]
        done = await self.client.call("history_orders_get", ticket=ticket)
        return done[0] if done else None

    async def _refresh(self, known: Known) -> None:
        """Bring one order up to date: its deals, then its state."""
        if not known.ticket:
            return
        row = await self._row(known.ticket)
        if row is None:
            return
        await self.rules(str(row.symbol))
        deals = await self.client.call("history_deals_get", ticket=known.ticket)
        for deal in sorted(deals, key=lambda d: int(d.ticket)):
            self.tracker.on_fill(known, self._fill(deal, known.client_order_id))
        self.tracker.on_report(known, self._report(row, known.client_order_id))

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.poll_interval_s)
            for known in self.tracker.working():
                try:
                    await self._refresh(known)
                except asyncio.CancelledError:
                    raise
                except VenueError as exc:
                    logger.warning("order poll failed", extra={"fields": {"error": str(exc)}})
                    break
                except Exception:
                    logger.exception("order poll failed unexpectedly")
                    break

    async def order_status(self, client_order_id: str) -> OrderStatusReport | None:
        """MetaTrader's view of one order, found by its tag (None when there is none)."""
        known = self.tracker.orders.get(client_order_id)
        row = await self._row(known.ticket) if known and known.ticket else None
        if row is None:
            row = await self._find(client_order_id)
        if row is None:
            return None
        await self.rules(str(row.symbol))
        deals = await self.client.call("history_deals_get", ticket=int(row.ticket))
        fills = [self._fill(d, client_order_id) for d in deals]
        qty = sum((f.quantity for f in fills), Decimal(0))
        avg = (sum((f.quantity * f.price for f in fills), Decimal(0)) / qty) if qty else None
        report = self._report(row, client_order_id, avg)
        # the caller applies this report itself: no events for it from here
        known = known or self._adopt(row, client_order_id)
        self.tracker.link(known, int(row.ticket))
        known.accepted = known.accepted or report.status.value != "REJECTED"
        known.closed = known.closed or report.status.value in ("CANCELED", "EXPIRED",
                                                                "REJECTED")
        return report

    async def open_orders(self) -> list[OrderStatusReport]:
        """Every pending order of ours."""
        out = []
        for row in await self.client.call("orders_get"):
            if self._ours(int(row.magic)):
                await self.rules(str(row.symbol))
                cid = self.tracker.by_ticket.get(int(row.ticket)) or str(row.comment)
                out.append(self._report(row, cid))
        return out

    async def fills_since(self, ts_ns: int) -> list[FillReport]:
        """Deals of ours booked at or after ``ts_ns``, oldest first."""
        start = utc_ns_to_server(max(0, ts_ns - 10**9), self.config.zone)
        _, end = self._span()
        out = []
        for deal in await self.client.call("history_deals_get", start, end):
            if int(deal.type) not in (parse.DEAL_BUY, parse.DEAL_SELL) \
                    or not self._ours(int(deal.magic)):
                continue
            await self.rules(str(deal.symbol))
            cid = self.tracker.by_ticket.get(int(deal.order)) or str(deal.comment)
            fill = self._fill(deal, cid)
            if fill.ts >= ts_ns:
                known = self.tracker.orders.get(cid)
                if known is not None:
                    self.tracker.seen(known, fill)
                out.append(fill)
        return sorted(out, key=lambda f: (f.ts, f.trade_id))

    async def positions(self) -> list[PositionReport]:
        """Net positions per symbol (hedging accounts: the sum of the symbol's positions)."""
        rows = await self.client.call("positions_get")
        digits = {}
        for row in rows:
            rules = await self.rules(str(row.symbol))
            digits[rules.name] = (rules.digits, rules.volume_digits)
        return parse.net_positions(rows, digits, self.config.zone)

    async def account(self) -> AccountReport:
        """Balance, equity and margin in the account currency."""
        info = await self.client.call("account_info")
        return parse.account_report(info, time.time_ns())

    async def instruments(self, symbols: Sequence[str] | None = None) -> list[Instrument]:
        """The terminal's symbols as instruments (only ``symbols`` when given).

        Raises
        ------
        ConfigError
            A symbol the terminal does not list.
        """
        info = await self.client.call("account_info")
        leverage = int(info.leverage)
        rows = await self.client.call("symbols_get")
        available = [parse.instrument(r, self.venue, leverage) for r in rows]
        found = pick_instruments(available, symbols, "MetaTrader 5")
        for inst in found if symbols is not None else ():
            await self.rules(inst.symbol)
        return found


__all__ = ["Mt5ExecutionClient"]
