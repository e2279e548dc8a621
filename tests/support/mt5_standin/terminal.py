"""The stand-in terminal and trade server: symbols, a market set by tests, pending orders that
match against it, positions (netting or hedging), order and deal history, and the faults tests
arm. Times are the server's wall clock in seconds since 1970, as MetaTrader gives them."""

from __future__ import annotations

import itertools
import math
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from . import records as r


@dataclass
class Spec:
    """A symbol as the server defines it."""

    name: str
    digits: int
    contract_size: float
    volume_min: float = 0.01
    volume_max: float = 100.0
    volume_step: float = 0.01
    filling_mode: int = r.SYMBOL_FILLING_FOK | r.SYMBOL_FILLING_IOC
    trade_mode: int = r.SYMBOL_TRADE_MODE_FULL
    exemode: int = r.SYMBOL_TRADE_EXECUTION_MARKET
    base: str = ""
    profit: str = "USD"
    margin: str = ""
    bid: float = 0.0
    ask: float = 0.0
    path: str = ""  # the symbol's folder ("Indices\\US500"); default Forex or Metals

    @property
    def point(self) -> float:
        return 10.0 ** -self.digits

    @property
    def folder(self) -> str:
        if self.path:
            return self.path
        metal = self.name.startswith(("XAU", "XAG", "XPT", "XPD"))
        return f"{'Metals' if metal else 'Forex'}\\{self.name}"


def default_symbols() -> list[Spec]:
    """EURUSD, USDJPY, XAUUSD and GBPUSD with common broker settings."""
    return [
        Spec("EURUSD", 5, 100_000, base="EUR", profit="USD", margin="EUR",
             bid=1.08500, ask=1.08510),
        Spec("USDJPY", 3, 100_000, base="USD", profit="JPY", margin="USD",
             bid=151.200, ask=151.212),
        Spec("XAUUSD", 2, 100, volume_max=50, base="XAU", profit="USD", margin="XAU",
             filling_mode=r.SYMBOL_FILLING_IOC, bid=2350.10, ask=2350.40),
        Spec("GBPUSD", 5, 100_000, base="GBP", profit="USD", margin="GBP",
             filling_mode=r.SYMBOL_FILLING_FOK, bid=1.26500, ask=1.26512),
    ]


@dataclass
class Order:
    ticket: int
    symbol: str
    type: int
    volume_initial: float
    volume_current: float
    price_open: float
    price_stoplimit: float
    sl: float
    tp: float
    type_time: int
    type_filling: int
    time_expiration: int
    magic: int
    comment: str
    time_setup_msc: int
    state: int = r.ORDER_STATE_PLACED
    time_done_msc: int = 0
    position_id: int = 0


@dataclass
class Position:
    ticket: int
    symbol: str
    type: int
    volume: float
    price_open: float
    magic: int
    comment: str
    time_msc: int
    sl: float = 0.0
    tp: float = 0.0


@dataclass
class Faults:
    next_retcode: list[int] = field(default_factory=list)  # answered instead of executing
    book_then: list[int | None] = field(default_factory=list)  # executed, then this answer
    moves: list[tuple[str, float, float]] = field(default_factory=list)  # market at next send


class Terminal:
    """One terminal, logged in to one account on a stand-in trade server.

    Parameters
    ----------
    zone : tzinfo
        The server's clock (brokers: EET with EU summer time, UTC+2/UTC+3).
    hedging : bool
        A hedging account (else netting).
    """

    def __init__(self, zone: tzinfo | None = None, hedging: bool = False,
                 balance: float = 100_000.0, leverage: int = 100, login: int = 5_001_234,
                 password: str = "", server: str = "StandIn-Demo") -> None:
        self.lock = threading.RLock()
        self.zone = zone or ZoneInfo("Europe/Athens")
        self.login, self.password, self.server = login, password, server
        self.hedging = hedging
        self.leverage = leverage
        self.start_balance = balance
        self.reset()

    def reset(self) -> None:
        """No orders, no positions, no history but the deposit, default prices."""
        with self.lock:
            self.balance = self.start_balance
            self.symbols = {s.name: s for s in default_symbols()}
            self.selected: set[str] = set()
            self.orders: dict[int, Order] = {}
            self.history: dict[int, Order] = {}
            self.positions: dict[int, Position] = {}
            self.deals: list[dict[str, Any]] = []
            self.ticks: dict[str, list[tuple[int, float, float]]] = {}
            self.tickets = itertools.count(1_000_001)
            self.faults = Faults()
            self.initialized = False
            self.ipc_up = True
            self.error: tuple[int, str] = (r.RES_S_OK, "Success")
            self.submits: dict[str, int] = {}
            self.threads: set[int] = set()
            self.calls: list[str] = []
            self.init_calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
            self.checked: list[Any] = []  # order_check requests as received (TradeRequest)
            self.sent: list[Any] = []  # order_send requests as received (TradeRequest)
            self.rates_seed = 7
            self._deal(r.DEAL_TYPE_BALANCE, "", 0, 0.0, 0.0, 0, 0, "deposit", self.balance)

    # -- clock ------------------------------------------------------------------------------

    def now_msc(self) -> int:
        """The server's wall clock now, in milliseconds since 1970."""
        utc = datetime.now(UTC)
        offset = utc.astimezone(self.zone).utcoffset() or timedelta(0)
        return (time.time_ns() // 1_000_000) + int(offset.total_seconds() * 1000)

    def server_seconds(self, moment: datetime | int | float) -> float:
        """A ``date_from``/``date_to`` argument as server seconds: a datetime's fields are read
        as the server's wall clock (its tzinfo ignored), a number is taken as it is."""
        if isinstance(moment, datetime):
            return (moment.replace(tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)
                    ).total_seconds()
        return float(moment)

    # -- steering ---------------------------------------------------------------------------

    def set_price(self, symbol: str, bid: float, ask: float) -> None:
        """Make ``bid``/``ask`` the market: a tick is recorded and pending orders match."""
        with self.lock:
            spec = self.symbols[symbol]
            spec.bid, spec.ask = bid, ask
            msc = max(self.now_msc(), self._last_msc(symbol) + 1)
            self.ticks.setdefault(symbol, []).append((msc, bid, ask))
            self._match(symbol)

    def fill(self, ticket_or_comment: int | str, volume: float) -> None:
        """Fill ``volume`` of a pending order at its price now."""
        with self.lock:
            order = self._find_pending(ticket_or_comment)
            self._execute_pending(order, min(volume, order.volume_current), order.price_open)

    def arm(self, retcode: int, *, book: bool = False) -> None:
        """Make the next ``order_send`` answer ``retcode``: without executing it, or (with
        ``book``) after executing it (10012 timeout: the answer was lost)."""
        with self.lock:
            (self.faults.book_then if book else self.faults.next_retcode).append(retcode)

    def arm_none(self, *, book: bool = True) -> None:
        """Make the next ``order_send`` return None with a connection error (after executing
        it when ``book``)."""
        with self.lock:
            if book:
                self.faults.book_then.append(None)
            else:
                self.faults.next_retcode.append(-1)

    def move_on_send(self, symbol: str, bid: float, ask: float) -> None:
        """Make the market of ``symbol`` move to ``bid``/``ask`` just as the next
        ``order_send`` arrives (after the sender read its price): with instant or request
        execution, a move beyond the request's deviation is answered with a requote."""
        with self.lock:
            self.faults.moves.append((symbol, bid, ask))

    def drop_connection(self) -> None:
        """Cut the IPC link: every call fails until ``initialize`` is called again."""
        with self.lock:
            self.ipc_up = False

    def set_trade_mode(self, symbol: str, mode: int) -> None:
        """Change a symbol's trade mode (disabled, long only, close only...)."""
        with self.lock:
            self.symbols[symbol].trade_mode = mode

    # -- helpers used by the module functions -----------------------------------------------

    def fail(self, code: int, message: str) -> None:
        self.error = (code, message)

    def ok(self) -> None:
        self.error = (r.RES_S_OK, "Success")

    def _last_msc(self, symbol: str) -> int:
        ticks = self.ticks.get(symbol)
        return ticks[-1][0] if ticks else 0

    def _find_pending(self, key: int | str) -> Order:
        for order in self.orders.values():
            if key in (order.ticket, order.comment):
                return order
        raise KeyError(f"no pending order {key!r}")

    def _deal(self, dtype: int, symbol: str, order: int, volume: float, price: float,
              entry: int, magic: int, comment: str, profit: float = 0.0,
              position_id: int = 0) -> dict[str, Any]:
        msc = self.now_msc()
        deal = {"ticket": next(self.tickets) if hasattr(self, "tickets") else 1,
                "order": order, "time": msc // 1000, "time_msc": msc, "type": dtype,
                "entry": entry, "magic": magic, "position_id": position_id, "reason": 3,
                "volume": volume, "price": price, "commission": 0.0, "swap": 0.0,
                "profit": profit, "fee": 0.0, "symbol": symbol, "comment": comment,
                "external_id": ""}
        self.deals.append(deal)
        return deal

    # -- the trade server -------------------------------------------------------------------

    def margin_needed(self, spec: Spec, volume: float, price: float) -> float:
        notional = volume * spec.contract_size * price
        if spec.profit == "JPY":
            notional /= price  # USDJPY: the base is the account currency
        return notional / self.leverage

    def margin_used(self) -> float:
        return sum(self.margin_needed(self.symbols[p.symbol], p.volume, p.price_open)
                   for p in self.positions.values())

    def floating(self) -> float:
        total = 0.0
        for p in self.positions.values():
            spec = self.symbols[p.symbol]
            now = spec.bid if p.type == r.POSITION_TYPE_BUY else spec.ask
            total += self._profit(spec, p.type, p.volume, p.price_open, now)
        return total

    def _profit(self, spec: Spec, ptype: int, volume: float, opened: float, closed: float
                ) -> float:
        sign = 1.0 if ptype == r.POSITION_TYPE_BUY else -1.0
        raw = sign * (closed - opened) * volume * spec.contract_size
        return raw / closed if spec.profit == "JPY" else raw

    def execute_market(self, spec: Spec, is_buy: bool, volume: float, magic: int,
                       comment: str, order_ticket: int, position: int = 0
                       ) -> tuple[dict[str, Any], float]:
        price = spec.ask if is_buy else spec.bid
        deal = self._book(spec, is_buy, volume, price, magic, comment, order_ticket, position)
        return deal, price

    def _book(self, spec: Spec, is_buy: bool, volume: float, price: float, magic: int,
              comment: str, order_ticket: int, position: int = 0) -> dict[str, Any]:
        dtype = r.DEAL_TYPE_BUY if is_buy else r.DEAL_TYPE_SELL
        ptype = r.POSITION_TYPE_BUY if is_buy else r.POSITION_TYPE_SELL
        msc = self.now_msc()
        if self.hedging:
            if position:
                held = self.positions[position]
                profit = self._profit(spec, held.type, volume, held.price_open, price)
                held.volume = round(held.volume - volume, 8)
                if held.volume <= 1e-9:
                    del self.positions[position]
                self.balance += profit
                return self._deal(dtype, spec.name, order_ticket, volume, price,
                                  r.DEAL_ENTRY_OUT, magic, comment, profit, position)
            pid = order_ticket
            self.positions[pid] = Position(pid, spec.name, ptype, volume, price, magic,
                                           comment, msc)
            return self._deal(dtype, spec.name, order_ticket, volume, price, r.DEAL_ENTRY_IN,
                              magic, comment, 0.0, pid)
        held = next((p for p in self.positions.values() if p.symbol == spec.name), None)
        if held is None:
            self.positions[order_ticket] = Position(order_ticket, spec.name, ptype, volume,
                                                    price, magic, comment, msc)
            return self._deal(dtype, spec.name, order_ticket, volume, price, r.DEAL_ENTRY_IN,
                              magic, comment, 0.0, order_ticket)
        if held.type == ptype:
            total = held.volume + volume
            held.price_open = (held.price_open * held.volume + price * volume) / total
            held.volume = round(total, 8)
            return self._deal(dtype, spec.name, order_ticket, volume, price, r.DEAL_ENTRY_IN,
                              magic, comment, 0.0, held.ticket)
        closing = min(volume, held.volume)
        profit = self._profit(spec, held.type, closing, held.price_open, price)
        self.balance += profit
        rest = round(volume - held.volume, 8)
        held.volume = round(held.volume - closing, 8)
        entry = r.DEAL_ENTRY_OUT
        if held.volume <= 1e-9:
            del self.positions[held.ticket]
            if rest > 1e-9:
                entry = r.DEAL_ENTRY_INOUT
                self.positions[held.ticket] = Position(held.ticket, spec.name, ptype, rest,
                                                       price, magic, comment, msc)
        return self._deal(dtype, spec.name, order_ticket, volume, price, entry, magic, comment,
                          profit, held.ticket)

    def _execute_pending(self, order: Order, volume: float, price: float) -> None:
        spec = self.symbols[order.symbol]
        is_buy = order.type in (r.ORDER_TYPE_BUY_LIMIT, r.ORDER_TYPE_BUY_STOP,
                                r.ORDER_TYPE_BUY_STOP_LIMIT)
        deal = self._book(spec, is_buy, volume, price, order.magic, order.comment,
                          order.ticket)
        order.position_id = deal["position_id"]
        held = self.positions.get(deal["position_id"])
        if (order.sl or order.tp) and held is not None and held.type == (
                r.POSITION_TYPE_BUY if is_buy else r.POSITION_TYPE_SELL):
            held.sl, held.tp = order.sl, order.tp  # the order's stops pass to its position
        order.volume_current = round(order.volume_current - volume, 8)
        if order.volume_current <= 1e-9:
            order.volume_current = 0.0
            self._retire(order, r.ORDER_STATE_FILLED)
        else:
            order.state = r.ORDER_STATE_PARTIAL

    def _retire(self, order: Order, state: int) -> None:
        order.state = state
        order.time_done_msc = self.now_msc()
        self.orders.pop(order.ticket, None)
        self.history[order.ticket] = order

    def _match(self, symbol: str) -> None:
        spec = self.symbols[symbol]
        for order in [o for o in self.orders.values() if o.symbol == symbol]:
            t = order.type
            if t == r.ORDER_TYPE_BUY_STOP_LIMIT and spec.ask >= order.price_open:
                order.type, order.price_open = r.ORDER_TYPE_BUY_LIMIT, order.price_stoplimit
                order.price_stoplimit = 0.0
                t = order.type
            elif t == r.ORDER_TYPE_SELL_STOP_LIMIT and spec.bid <= order.price_open:
                order.type, order.price_open = r.ORDER_TYPE_SELL_LIMIT, order.price_stoplimit
                order.price_stoplimit = 0.0
                t = order.type
            if t == r.ORDER_TYPE_BUY_LIMIT and spec.ask <= order.price_open:
                self._execute_pending(order, order.volume_current, spec.ask)
            elif t == r.ORDER_TYPE_SELL_LIMIT and spec.bid >= order.price_open:
                self._execute_pending(order, order.volume_current, spec.bid)
            elif t == r.ORDER_TYPE_BUY_STOP and spec.ask >= order.price_open:
                self._execute_pending(order, order.volume_current, spec.ask)
            elif t == r.ORDER_TYPE_SELL_STOP and spec.bid <= order.price_open:
                self._execute_pending(order, order.volume_current, spec.bid)

    # -- records ----------------------------------------------------------------------------

    def order_record(self, o: Order) -> Any:
        spec = self.symbols[o.symbol]
        current = spec.ask if o.type % 2 == 0 else spec.bid
        return r.TradeOrder(o.ticket, o.time_setup_msc // 1000, o.time_setup_msc,
                            o.time_done_msc // 1000, o.time_done_msc, o.time_expiration,
                            o.type, o.type_time, o.type_filling, o.state, o.magic,
                            o.position_id, 0, 3, o.volume_initial, o.volume_current,
                            o.price_open, o.sl, o.tp, current, o.price_stoplimit, o.symbol,
                            o.comment, "")

    def position_record(self, p: Position) -> Any:
        spec = self.symbols[p.symbol]
        now = spec.bid if p.type == r.POSITION_TYPE_BUY else spec.ask
        return r.TradePosition(p.ticket, p.time_msc // 1000, p.time_msc, p.time_msc // 1000,
                               p.time_msc, p.type, p.magic, p.ticket, 3, p.volume,
                               p.price_open, p.sl, p.tp, now, 0.0,
                               self._profit(spec, p.type, p.volume, p.price_open, now),
                               p.symbol, p.comment, "")

    def symbol_record(self, spec: Spec) -> Any:
        values: dict[str, Any] = dict.fromkeys(r.SymbolInfo._fields, 0)
        values.update(
            custom=False, select=spec.name in self.selected,
            visible=spec.name in self.selected, digits=spec.digits,
            spread=round((spec.ask - spec.bid) / spec.point), spread_float=True,
            trade_mode=spec.trade_mode, trade_exemode=spec.exemode, expiration_mode=15,
            filling_mode=spec.filling_mode, order_mode=127, bid=spec.bid, ask=spec.ask,
            point=spec.point, trade_tick_size=spec.point, trade_tick_value=1.0,
            trade_contract_size=spec.contract_size, volume_min=spec.volume_min,
            volume_max=spec.volume_max, volume_step=spec.volume_step,
            currency_base=spec.base, currency_profit=spec.profit,
            currency_margin=spec.margin, description=spec.name, path=spec.folder,
            name=spec.name, basis="", category="", bank="", exchange="", formula="", isin="",
            page="", time=self.now_msc() // 1000)
        return r.SymbolInfo(**values)

    def deal_record(self, d: dict[str, Any]) -> Any:
        return r.TradeDeal(**d)

    def rates(self, symbol: str, seconds: int, start: float, end: float) -> np.ndarray:
        """Bars of a deterministic walk for ``[start, end]`` (server seconds), no weekends."""
        spec = self.symbols[symbol]
        first = math.ceil(start / seconds) * seconds
        times = [t for t in range(first, int(end) + 1, seconds)
                 if datetime.fromtimestamp(t, UTC).weekday() < 5]
        out = np.zeros(len(times), dtype=r.RATES_DTYPE)
        for k, t in enumerate(times):
            rng = np.random.default_rng(self.rates_seed * 1_000_003 + t // seconds)
            step = spec.point * 10
            open_ = spec.bid + step * float(rng.normal()) * 5
            close = open_ + step * float(rng.normal())
            high = max(open_, close) + step * abs(float(rng.normal()))
            low = min(open_, close) - step * abs(float(rng.normal()))
            out[k] = (t, round(open_, spec.digits), round(high, spec.digits),
                      round(low, spec.digits), round(close, spec.digits),
                      int(rng.integers(1, 500)), round((spec.ask - spec.bid) / spec.point), 0)
        return out

    def tick_array(self, symbol: str, from_msc: int, count: int) -> np.ndarray:
        rows = [t for t in self.ticks.get(symbol, []) if t[0] >= from_msc][:count]
        out = np.zeros(len(rows), dtype=r.TICKS_DTYPE)
        for k, (msc, bid, ask) in enumerate(rows):
            out[k] = (msc // 1000, bid, ask, 0.0, 0, msc, r.TICK_FLAG_BID | r.TICK_FLAG_ASK,
                      0.0)
        return out

    def new_order(self, **values: Any) -> Order:
        order = Order(ticket=next(self.tickets), time_setup_msc=self.now_msc(), **values)
        return order

    def copy_order(self, order: Order) -> Order:
        return replace(order)


__all__ = ["Faults", "Order", "Position", "Spec", "Terminal", "default_symbols"]
