"""A stand-in for the ``MetaTrader5`` Python module, written from its public documentation:
the same functions, constants and return types (named tuples with the documented fields, numpy
record arrays for rates and ticks), ``None`` plus ``last_error()`` on failure.

The module works on one process-wide :data:`TERMINAL`, as the real one does; tests steer it
(``TERMINAL.set_price``, ``fill``, ``arm``, ``arm_none``, ``move_on_send``,
``drop_connection``) and read what reached it (``submits``, ``threads``, ``calls``,
``init_calls``, the ``checked`` and ``sent`` trade requests). The adapter imports it by name
(``module = "support.mt5_standin"`` in ``[broker.settings]``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from . import records as r
from .records import *  # noqa: F403  (the module's constants, as the real one exposes them)
from .terminal import Order, Spec, Terminal

TERMINAL = Terminal()
__version__ = "5.0.45"


def _call(needs_init: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            t = TERMINAL
            with t.lock:
                t.threads.add(threading.get_ident())
                t.calls.append(fn.__name__)
                if not t.ipc_up and fn.__name__ != "initialize":
                    t.fail(r.RES_E_INTERNAL_FAIL_CONNECT, "IPC initialize failed, "
                           "MetaTrader 5 x64 not found")
                    return None
                if needs_init and not t.initialized:
                    t.fail(r.RES_E_INTERNAL_FAIL_INIT, "IPC initialize failed")
                    return None
                t.ok()
                return fn(*args, **kwargs)
        return run
    return wrap


def last_error() -> tuple[int, str]:
    """The error of the previous call: ``(code, message)``."""
    return TERMINAL.error


@_call(needs_init=False)
def initialize(*args: Any, **kwargs: Any) -> bool:
    """``initialize(path, login=, password=, server=, timeout=, portable=)``: each call's
    arguments, exactly as given, are kept in ``TERMINAL.init_calls``."""
    t = TERMINAL
    t.init_calls.append((args, dict(kwargs)))
    return _initialize(*args, **kwargs)


def _initialize(path: str = "", *, login: int | None = None, password: str = "",
                server: str = "", timeout: int = 60_000, portable: bool = False) -> bool:
    t = TERMINAL
    if login is not None and (login != t.login or (t.password and password != t.password)
                              or server != t.server):
        t.fail(r.RES_E_AUTH_FAILED, "Authorization failed")
        return False
    t.ipc_up = True
    t.initialized = True
    return True


@_call()
def login(login: int, password: str = "", server: str = "", timeout: int = 60_000) -> bool:
    t = TERMINAL
    if login != t.login or server != t.server or (t.password and password != t.password):
        t.fail(r.RES_E_AUTH_FAILED, "Authorization failed")
        return False
    return True


@_call(needs_init=False)
def shutdown() -> bool:
    TERMINAL.initialized = False
    return True


@_call()
def version() -> tuple[int, int, str]:
    return (500, 4000, "1 Jan 2024")


@_call()
def terminal_info() -> Any:
    return r.TerminalInfo(False, False, True, False, True, False, False, False, False, False,
                          4000, 100_000, 0, 30_000, 0.0, 0.0, "Stand-in Ltd",
                          "MetaTrader 5 stand-in", "English", "C:\\MT5", "C:\\MT5",
                          "C:\\Common")


@_call()
def account_info() -> Any:
    t = TERMINAL
    margin = t.margin_used()
    equity = t.balance + t.floating()
    mode = r.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING if t.hedging else \
        r.ACCOUNT_MARGIN_MODE_RETAIL_NETTING
    return r.AccountInfo(t.login, r.ACCOUNT_TRADE_MODE_DEMO, t.leverage, 200, 0, True, True,
                         mode, 2, False, round(t.balance, 2), 0.0,
                         round(equity - t.balance, 2), round(equity, 2), round(margin, 2),
                         round(equity - margin, 2),
                         round(equity / margin * 100, 2) if margin else 0.0, 50.0, 30.0, 0.0,
                         0.0, 0.0, 0.0, 0.0, "Stand-in Trader", t.server, "USD",
                         "Stand-in Ltd")


@_call()
def symbols_total() -> int:
    return len(TERMINAL.symbols)


@_call()
def symbols_get(group: str = "") -> tuple[Any, ...]:
    return tuple(TERMINAL.symbol_record(s) for s in TERMINAL.symbols.values())


@_call()
def symbol_info(symbol: str) -> Any:
    spec = TERMINAL.symbols.get(symbol)
    if spec is None:
        TERMINAL.fail(r.RES_E_NOT_FOUND, "Terminal: Not found")
        return None
    return TERMINAL.symbol_record(spec)


@_call()
def symbol_info_tick(symbol: str) -> Any:
    spec = TERMINAL.symbols.get(symbol)
    if spec is None:
        TERMINAL.fail(r.RES_E_NOT_FOUND, "Terminal: Not found")
        return None
    if symbol not in TERMINAL.selected:
        TERMINAL.fail(r.RES_E_NOT_FOUND, "Terminal: symbol not selected")
        return None
    msc = TERMINAL._last_msc(symbol) or TERMINAL.now_msc()
    return r.Tick(msc // 1000, spec.bid, spec.ask, 0.0, 0, msc, 6, 0.0)


@_call()
def symbol_select(symbol: str, enable: bool = True) -> bool:
    if symbol not in TERMINAL.symbols:
        TERMINAL.fail(r.RES_E_NOT_FOUND, "Terminal: Not found")
        return False
    if enable:
        TERMINAL.selected.add(symbol)
    else:
        TERMINAL.selected.discard(symbol)
    return True


def _known(symbol: str) -> Spec | None:
    spec = TERMINAL.symbols.get(symbol)
    if spec is None:
        TERMINAL.fail(r.RES_E_INVALID_PARAMS, "Terminal: Invalid params")
    return spec


@_call()
def copy_rates_range(symbol: str, timeframe: int, date_from: datetime | int,
                     date_to: datetime | int) -> Any:
    spec = _known(symbol)
    seconds = r.TIMEFRAME_SECONDS.get(timeframe)
    if spec is None or seconds is None:
        TERMINAL.fail(r.RES_E_INVALID_PARAMS, "Terminal: Invalid params")
        return None
    t = TERMINAL
    return t.rates(symbol, seconds, t.server_seconds(date_from), t.server_seconds(date_to))


@_call()
def copy_rates_from(symbol: str, timeframe: int, date_from: datetime | int, count: int) -> Any:
    seconds = r.TIMEFRAME_SECONDS.get(timeframe)
    if _known(symbol) is None or seconds is None:
        return None
    end = TERMINAL.server_seconds(date_from)
    out = TERMINAL.rates(symbol, seconds, end - seconds * count * 2, end)
    return out[-count:]


@_call()
def copy_ticks_from(symbol: str, date_from: datetime | int, count: int, flags: int) -> Any:
    if _known(symbol) is None:
        return None
    start_ms = int(TERMINAL.server_seconds(date_from) * 1000)
    return TERMINAL.tick_array(symbol, start_ms, count)


@_call()
def copy_ticks_range(symbol: str, date_from: datetime | int, date_to: datetime | int,
                     flags: int) -> Any:
    if _known(symbol) is None:
        return None
    start_ms = int(TERMINAL.server_seconds(date_from) * 1000)
    end_ms = int(TERMINAL.server_seconds(date_to) * 1000)
    out = TERMINAL.tick_array(symbol, start_ms, 10**9)
    return out[out["time_msc"] <= end_ms]


def _select(rows: list[Any], symbol: str | None, group: str | None, ticket: int | None
            ) -> tuple[Any, ...]:
    out = []
    for row in rows:
        if symbol is not None and row.symbol != symbol:
            continue
        if ticket is not None and row.ticket != ticket:
            continue
        if group and not _in_group(row.symbol, group):
            continue
        out.append(row)
    return tuple(out)


def _in_group(symbol: str, group: str) -> bool:
    import fnmatch

    include = [g for g in group.split(",") if g and not g.startswith("!")]
    exclude = [g[1:] for g in group.split(",") if g.startswith("!")]
    return (any(fnmatch.fnmatch(symbol, g) for g in include) and
            not any(fnmatch.fnmatch(symbol, g) for g in exclude))


@_call()
def orders_total() -> int:
    return len(TERMINAL.orders)


@_call()
def orders_get(symbol: str | None = None, group: str | None = None,
               ticket: int | None = None) -> tuple[Any, ...]:
    rows = [TERMINAL.order_record(o) for o in TERMINAL.orders.values()]
    return _select(rows, symbol, group, ticket)


@_call()
def positions_total() -> int:
    return len(TERMINAL.positions)


@_call()
def positions_get(symbol: str | None = None, group: str | None = None,
                  ticket: int | None = None) -> tuple[Any, ...]:
    rows = [TERMINAL.position_record(p) for p in TERMINAL.positions.values()]
    return _select(rows, symbol, group, ticket)


def _range(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[float, float] | None:
    if len(args) >= 2:
        return TERMINAL.server_seconds(args[0]), TERMINAL.server_seconds(args[1])
    if "date_from" in kwargs:
        return (TERMINAL.server_seconds(kwargs["date_from"]),
                TERMINAL.server_seconds(kwargs["date_to"]))
    return None


@_call()
def history_orders_total(date_from: datetime | int, date_to: datetime | int) -> int:
    return len(history_orders_get(date_from, date_to) or ())


@_call()
def history_orders_get(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
    rows = [TERMINAL.order_record(o) for o in TERMINAL.history.values()]
    if "ticket" in kwargs:
        return tuple(o for o in rows if o.ticket == kwargs["ticket"])
    if "position" in kwargs:
        return tuple(o for o in rows if o.position_id == kwargs["position"])
    span = _range(args, kwargs)
    if span is None:
        TERMINAL.fail(r.RES_E_INVALID_PARAMS, "Terminal: Invalid params")
        return None  # type: ignore[return-value]
    rows = [o for o in rows if span[0] <= o.time_setup <= span[1]]
    return _select(rows, None, kwargs.get("group"), None)


@_call()
def history_deals_total(date_from: datetime | int, date_to: datetime | int) -> int:
    return len(history_deals_get(date_from, date_to) or ())


@_call()
def history_deals_get(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
    rows = [TERMINAL.deal_record(d) for d in TERMINAL.deals]
    if "ticket" in kwargs:
        return tuple(d for d in rows if d.order == kwargs["ticket"])
    if "position" in kwargs:
        return tuple(d for d in rows if d.position_id == kwargs["position"])
    span = _range(args, kwargs)
    if span is None:
        TERMINAL.fail(r.RES_E_INVALID_PARAMS, "Terminal: Invalid params")
        return None  # type: ignore[return-value]
    rows = [d for d in rows if span[0] <= d.time <= span[1]]
    return tuple(d for d in rows if not kwargs.get("group") or
                 (d.symbol and _in_group(d.symbol, kwargs["group"])))


from .trading import order_calc_margin, order_check, order_send  # noqa: E402

# -- steering through the bridge: the terminal lives in the bridge's process there -------------

def standin_reset() -> bool:
    """``TERMINAL.reset()``."""
    TERMINAL.reset()
    return True


def standin_set_price(symbol: str, bid: float, ask: float) -> bool:
    """``TERMINAL.set_price``: the market of ``symbol`` (pending orders match)."""
    TERMINAL.set_price(symbol, float(bid), float(ask))
    return True


def standin_fill(ticket_or_comment: int | str, volume: float) -> bool:
    """``TERMINAL.fill``: fill part of a pending order."""
    TERMINAL.fill(ticket_or_comment, float(volume))
    return True


def standin_arm(retcode: int, book: bool = False) -> bool:
    """``TERMINAL.arm``: the next ``order_send`` answers ``retcode``."""
    TERMINAL.arm(int(retcode), book=book)
    return True


def standin_drop_connection() -> bool:
    """``TERMINAL.drop_connection``: every call fails until ``initialize``."""
    TERMINAL.drop_connection()
    return True


def standin_submits(comment: str) -> int:
    """How many orders tagged ``comment`` the server booked."""
    return TERMINAL.submits.get(comment, 0)


def standin_deals() -> list[dict[str, Any]]:
    """Every deal booked (the deposit first), as plain dicts."""
    with TERMINAL.lock:
        return [dict(d) for d in TERMINAL.deals]


def standin_threads() -> int:
    """How many threads have called the module's functions."""
    with TERMINAL.lock:
        return len(TERMINAL.threads)


__all__ = ["TERMINAL", "Order", "Spec", "Terminal", "account_info", "copy_rates_from",
           "copy_rates_range", "copy_ticks_from", "copy_ticks_range", "history_deals_get",
           "history_deals_total", "history_orders_get", "history_orders_total", "initialize",
           "last_error", "login", "order_calc_margin", "order_check", "order_send",
           "orders_get", "orders_total", "positions_get", "positions_total", "shutdown",
           "standin_arm", "standin_deals", "standin_drop_connection", "standin_fill",
           "standin_reset", "standin_set_price", "standin_submits", "standin_threads",
           "symbol_info", "symbol_info_tick", "symbol_select", "symbols_get",
           "symbols_total", "terminal_info", "version"]
