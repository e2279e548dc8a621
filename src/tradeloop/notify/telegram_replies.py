"""What the Telegram commands answer: the node's views (status, account, positions, orders, risk,
profit and loss) as short Telegram HTML with the key numbers, tables as monospace lines."""

from __future__ import annotations

import html
from collections.abc import Sequence
from decimal import Decimal

import numpy as np

from tradeloop.core.time import ns_to_iso
from tradeloop.data.timeframes import parse_timeframe
from tradeloop.model.data import BarSeries
from tradeloop.services.control import PnlView
from tradeloop.services.market_bars import MarketBars
from tradeloop.services.node_views import (
    AccountView,
    OrderView,
    PositionView,
    RiskView,
    StatusView,
)

COMMANDS: tuple[tuple[str, str], ...] = (
    ("status", "the node, its state and the account"),
    ("positions", "open positions"),
    ("orders", "working orders"),
    ("pnl", "profit and loss: /pnl day|week|month"),
    ("daily", "the daily summary with the equity chart"),
    ("chart", "candles: /chart SYMBOL [TIMEFRAME]"),
    ("risk", "trading state, holds and the latest risk decisions"),
    ("pause", "stop new entries (exits still go through)"),
    ("resume", "lift a pause and re-arm the kill switch (asks to confirm)"),
    ("kill", "engage the kill switch (asks to confirm)"),
    ("flatten", "close positions: /flatten [SYMBOL] (asks to confirm)"),
    ("help", "this list"),
)
"""The commands and what they do, for /help and the bot's command menu."""

MAX_ROWS = 25
"""Table rows shown at most (positions, orders); the rest are counted."""


def esc(value: object) -> str:
    """``value`` as text, escaped for Telegram HTML."""
    return html.escape(str(value), quote=False)


def number(value: Decimal | float | None, places: int | None = None) -> str:
    """A number as text: ``places`` decimals with thousands separators, or exactly as held
    (no exponent) when ``places`` is None; ``-`` when unknown."""
    if value is None:
        return "-"
    if places is not None:
        return f"{value:,.{places}f}"
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text if "." in text or len(text) < 5 else f"{int(text):,}"
    return f"{value:g}"


def signed(value: Decimal, places: int = 2) -> str:
    """A change with its sign (``+12.50``, ``-3.00``)."""
    return f"{value:+,.{places}f}"


def help_html() -> str:
    """The /help answer."""
    lines = ["<b>Commands</b>"]
    lines.extend(f"/{name} \u2014 {esc(text)}" for name, text in COMMANDS)
    return "\n".join(lines)


def status_html(status: StatusView, account: AccountView) -> str:
    """The /status answer: the node, its trading state and kill switch, and the account."""
    where = "running here" if status.running else "not running in this process"
    lines = [f"<b>{esc(status.name)}</b> \u00b7 {esc(status.mode)} \u00b7 {where}",
             f"State: <b>{esc(status.trading_state)}</b>"
             + (f" ({esc(status.state_reason)})" if status.state_reason else "")]
    if status.paused:
        lines.append("Paused: new entries are refused")
    if status.kill_engaged:
        since = f" since {ns_to_iso(status.kill_since_ns)}" if status.kill_since_ns else ""
        lines.append(f"Kill switch: <b>ENGAGED</b> by {esc(status.kill_by or '?')}{since}"
                     + (f": {esc(status.kill_reason)}" if status.kill_reason else ""))
    else:
        lines.append("Kill switch: off")
    lines.append(f"Open orders: {status.open_orders} \u00b7 Positions: {status.positions}")
    lines.append("")
    lines.append(account_html(account))
    return "\n".join(lines)


def account_html(account: AccountView) -> str:
    """Balance, equity, the day's PnL and the drawdown."""
    cur = esc(account.currency)
    lines = [f"<b>Account</b> ({cur})",
             f"Balance: {number(account.balance, 2)}",
             f"Equity: {number(account.equity, 2)}",
             f"Daily PnL: {signed(account.daily_pnl)}",
             f"Drawdown: {account.drawdown:.2%}"]
    if account.ts is not None:
        lines.append(f"<i>as of {ns_to_iso(account.ts)}</i>")
    return "\n".join(lines)


def table_html(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Rows as monospace lines with aligned columns (numbers right-aligned)."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = []
        for i, cell in enumerate(row):
            text = str(cell)
            numeric = text[:1] in "+-0123456789" and i > 0
            cells.append(text.rjust(widths[i]) if numeric else text.ljust(widths[i]))
        lines.append("  ".join(cells).rstrip())
    return "<pre>" + esc("\n".join(lines)) + "</pre>"


def positions_html(positions: Sequence[PositionView]) -> str:
    """The /positions answer."""
    if not positions:
        return "No open positions."
    rows = [(p.symbol, number(p.quantity), number(p.avg_price), number(p.last_price),
             signed(p.unrealized_pnl) if p.unrealized_pnl is not None else "-",
             signed(p.realized_pnl)) for p in positions[:MAX_ROWS]]
    out = (f"<b>Positions</b> ({len(positions)})\n"
           + table_html(("SYMBOL", "QTY", "AVG", "LAST", "UPNL", "RPNL"), rows))
    return out + _more(len(positions))


def orders_html(orders: Sequence[OrderView]) -> str:
    """The /orders answer: working orders, newest first."""
    if not orders:
        return "No working orders."
    rows = []
    for o in orders[:MAX_ROWS]:
        price = o.price if o.price is not None else o.trigger_price
        rows.append((o.symbol, o.side, o.type, number(o.quantity),
                     number(price) if price is not None else "mkt", o.status,
                     o.client_order_id[-10:]))
    out = (f"<b>Working orders</b> ({len(orders)})\n"
           + table_html(("SYMBOL", "SIDE", "TYPE", "QTY", "PRICE", "STATUS", "ID"), rows))
    return out + _more(len(orders))


def risk_html(risk: RiskView, events: int = 5) -> str:
    """The /risk answer: the state with its reason, the holds, the latest decisions."""
    lines = [f"Trading state: <b>{esc(risk.state)}</b>"]
    if risk.reason:
        lines.append(f"Reason: {esc(risk.reason)}")
    for hold in risk.holds:
        latched = " (latched)" if hold.get("latched") else ""
        lines.append(f"\u2022 {esc(hold.get('state', ''))}: {esc(hold.get('reason', ''))}"
                     f"{latched}")
    if risk.events:
        lines.append("")
        lines.append("<b>Latest risk decisions</b>")
        for event in risk.events[:events]:
            what = " ".join(x for x in (event.symbol, event.client_order_id[-10:]) if x)
            lines.append(f"{ns_to_iso(event.ts)[:19]} {esc(event.rule)} {esc(event.decision)}"
                         f" {esc(what)}: {esc(event.reason)}".rstrip(": "))
    return "\n".join(lines)


def pnl_html(pnl: PnlView) -> str:
    """The /pnl answer."""
    title = {"day": "today", "week": "this week", "month": "this month"}.get(pnl.period,
                                                                              pnl.period)
    return "\n".join([
        f"<b>PnL {esc(title)}</b> ({esc(pnl.currency)})",
        f"Since: {ns_to_iso(pnl.since_ns)[:10]} 00:00 UTC",
        f"Start equity: {number(pnl.start_equity, 2)}",
        f"Equity: {number(pnl.equity, 2)}",
        f"PnL: <b>{signed(pnl.pnl)}</b> ({pnl.pnl_fraction:+.2%})",
    ])


def outcome_html(text: str, by: str) -> str:
    """The line a confirmed action's message is edited to."""
    return f"{esc(text)}\n<i>by {esc(by)}</i>"


def bar_series(market: MarketBars) -> BarSeries:
    """The bars of ``market`` as a :class:`~tradeloop.model.data.BarSeries`, for a chart."""
    bars = market.bars
    ts = np.fromiter((b.ts for b in bars), dtype=np.int64, count=len(bars))

    def column(name: str) -> np.ndarray:
        return np.fromiter((getattr(b, name) for b in bars), dtype=np.float64, count=len(bars))

    step = parse_timeframe(market.timeframe).ns if market.timeframe else 0
    return BarSeries(market.symbol, ts, column("open"), column("high"), column("low"),
                     column("close"), column("volume"), step, f"{market.symbol} live bars")


def _more(count: int) -> str:
    return f"\n\u2026 and {count - MAX_ROWS} more" if count > MAX_ROWS else ""
