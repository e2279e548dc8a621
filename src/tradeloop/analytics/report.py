"""The self-contained HTML report of a backtest.

:func:`write_report` writes one HTML file that opens offline (also from ``file://``): the run's
facts, headline metrics, equity and drawdown, a candlestick chart per symbol with entry and exit
markers and stop/target segments, monthly returns, the trade PnL distribution, every trade, the
denied orders and any extra sections. The charts use TradingView's lightweight-charts, vendored
in ``assets/`` and inlined into the page with the report's own CSS and script; the chart data
is one JSON block (``<script type="application/json" id="tradeloop-data">``). Nothing is
fetched from the network.

Once the charts are built the page sets ``window.tradeloopReport``: what each chart really
holds (candles, markers, level segments per symbol; equity points), read back from the chart
objects, for browser tests.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from decimal import Decimal
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeloop.analytics.drawdown import drawdown_curve
from tradeloop.analytics.levels import trade_levels
from tradeloop.analytics.report_charts import (
    equity_payload,
    price_decimals,
    script_json,
    series_payload,
)
from tradeloop.analytics.report_sections import (
    ReportSection,
    data_table,
    esc,
    format_cell,
    heatmap_section,
    monthly_returns,
    monthly_returns_html,
    pnl_histogram_svg,
    table_section,
)
from tradeloop.analytics.results import BacktestResult
from tradeloop.core.errors import ConfigError
from tradeloop.core.time import ns_to_iso, timeframe_label
from tradeloop.model.data import BarSeries, MarketSeries, QuoteSeries
from tradeloop.model.enums import OrderSide

__all__ = [
    "LIGHTWEIGHT_CHARTS_VERSION",
    "ReportSection",
    "heatmap_section",
    "table_section",
    "write_page",
    "write_report",
]

log = logging.getLogger(__name__)

LIGHTWEIGHT_CHARTS_VERSION = "5.2.1"
"""The version of the vendored TradingView lightweight-charts library."""

_LIBRARY = f"lightweight-charts-{LIGHTWEIGHT_CHARTS_VERSION}.standalone.production.js"
_NO_INFO: Mapping[str, str] = MappingProxyType({})

# (label, metrics key, format), as the command line shows them
METRIC_ROWS: tuple[tuple[str, str, str], ...] = (
    ("Start equity", "start_equity", "money"),
    ("Final equity", "final_equity", "money"),
    ("Total return", "total_return", "pct"),
    ("CAGR", "cagr", "pct"),
    ("Annual volatility", "annual_volatility", "pct"),
    ("Sharpe", "sharpe", "ratio"),
    ("Sortino", "sortino", "ratio"),
    ("Calmar", "calmar", "ratio"),
    ("Max drawdown", "max_drawdown", "pct"),
    ("Max drawdown duration", "max_drawdown_duration_days", "days"),
    ("Trades", "num_trades", "int"),
    ("Win rate", "win_rate", "pct"),
    ("Profit factor", "profit_factor", "ratio"),
    ("Expectancy", "expectancy", "money"),
    ("Average win", "average_win", "money"),
    ("Average loss", "average_loss", "money"),
    ("Exposure time", "exposure_time", "pct"),
    ("Commissions", "commissions", "money"),
)
_HEADLINE = ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "win_rate",
             "profit_factor", "num_trades", "exposure_time", "final_equity")


def write_report(result: BacktestResult, path: Path, *, title: str,
                 info: Mapping[str, str] = _NO_INFO,
                 sections: Sequence[ReportSection] = ()) -> Path:
    """Write the HTML report of a backtest to one self-contained file.

    The file is written to a temporary name in the same directory and renamed into place, so
    nothing is half-written. Missing parent directories are created.

    Parameters
    ----------
    result : BacktestResult
        The backtest to show.
    path : Path
        The HTML file to write (replaced if it exists).
    title : str
        The page title.
    info : mapping of str to str, optional
        Facts about the run shown as a table at the top (run id, code version, data files as
        given, command line...). The strategies' parameters, the data ranges and the account
        settings are taken from ``result`` and shown anyway.
    sections : sequence of ReportSection, optional
        Extra blocks appended after the built-in ones (e.g. optimisation results).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ConfigError
        If the file cannot be written (its directory cannot be created, no permission, the
        path is a directory...); the message names the path.
    """
    page = render_report(result, title=title, info=info, sections=sections)
    _write_atomic(Path(path), page)
    log.info("report written", extra={"fields": {"path": str(path), "bytes": len(page)}})
    return Path(path)


def render_report(result: BacktestResult, *, title: str,
                  info: Mapping[str, str] = _NO_INFO,
                  sections: Sequence[ReportSection] = ()) -> str:
    """The report of :func:`write_report` as one HTML string."""
    run = result.run
    levels = trade_levels(result.trades, run.orders, int(run.timeline[-1]))
    equity = equity_payload(run.timeline, run.equity, result.drawdown)
    symbols = [series_payload(series, run.instruments.get(series.symbol), result.trades, levels)
               for series in run.series]
    payload = {"equity": equity, "symbols": symbols, "currency": run.config.currency}
    blocks = [
        _facts(result, info),
        _block("metrics", "Headline metrics", _metrics_html(result)),
        _block("equity", "Equity and drawdown", _equity_html(equity)),
        _block("prices", "Prices and trades", _prices_html(symbols)),
        _block("monthly", "Monthly returns",
               monthly_returns_html(monthly_returns(run.timeline, run.equity))),
        _block("distribution", "Trade PnL distribution", _distribution_html(result)),
        _block("trades", f"Trades ({len(result.trades):,})", _trades_html(result)),
    ]
    denials = result.denials
    if denials:
        blocks.append(_block("denials", f"Orders denied by the risk gate ({len(denials):,})",
                             _denials_html(result)))
    if run.failures:
        blocks.append(_block("failures", "Strategy failures", data_table(
            ("failure",), [(str(failure),) for failure in run.failures])))
    for k, section in enumerate(sections, start=1):
        blocks.append(_block(f"section-{k}", section.title, section.html))
    return _page(title, _subtitle(result), blocks, payload)


def write_page(path: Path, *, title: str, subtitle: str = "",
               info: Mapping[str, str] = _NO_INFO,
               equity: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
               equity_title: str = "Equity and drawdown",
               sections: Sequence[ReportSection] = ()) -> Path:
    """Write a self-contained HTML page like the backtest report, from parts: a facts table,
    an equity and drawdown chart drawn from arrays, and any sections (for results that are
    not one backtest, such as a walk-forward's stitched out-of-sample curve).

    Written to a temporary name in the same directory and renamed into place.

    Parameters
    ----------
    path : Path
        The HTML file to write (replaced if it exists).
    title : str
    subtitle : str, optional
    info : mapping of str to str, optional
        Shown as the "Run" table at the top.
    equity : (array_like of int64, array_like of float), optional
        Times (UTC nanoseconds, ascending) and equity of the chart; no chart when omitted.
    equity_title : str
        The chart's heading.
    sections : sequence of ReportSection, optional
        Blocks after the chart.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ConfigError
        If the file cannot be written; the message names the path.
    """
    blocks = []
    if info:
        blocks.append(_block("run", "Run", _kv_table(list(info.items()), "run-info")))
    payload: dict[str, Any] = {"equity": None, "symbols": [], "currency": ""}
    if equity is not None:
        ts_ns = np.asarray(equity[0], dtype=np.int64)
        values = np.asarray(equity[1], dtype=np.float64)
        if ts_ns.shape != values.shape:
            raise ValueError(f"equity: {ts_ns.size} times for {values.size} values")
        payload["equity"] = equity_payload(ts_ns, values, drawdown_curve(values))
        blocks.append(_block("equity", equity_title, _equity_html(payload["equity"])))
    for k, section in enumerate(sections, start=1):
        blocks.append(_block(f"section-{k}", section.title, section.html))
    page = _page(title, subtitle, blocks, payload)
    _write_atomic(Path(path), page)
    log.info("page written", extra={"fields": {"path": str(path), "bytes": len(page)}})
    return Path(path)


def _page(title: str, subtitle: str, blocks: Sequence[tuple[str, str, str]],
          payload: Mapping[str, Any]) -> str:
    nav = "".join(f'<a href="#{anchor}">{esc(label)}</a>' for anchor, label in _nav(blocks))
    parts = {
        "TITLE": esc(title),
        "SUBTITLE": esc(subtitle),
        "NAV": nav,
        "BODY": "\n".join(html for _, _, html in blocks),
        "CSS": _asset("report.css"),
        "LIBRARY": _inline_script(_asset(_LIBRARY), _LIBRARY),
        "DATA": script_json(payload),
        "SCRIPT": _inline_script(_asset("report.js"), "report.js"),
        "VERSION": LIGHTWEIGHT_CHARTS_VERSION,
    }
    return re.sub(r"\{\{([A-Z]+)\}\}", lambda m: parts[m.group(1)], _asset("report.html"))


def _asset(name: str) -> str:
    return (resources.files("tradeloop.analytics") / "assets" / name).read_text(encoding="utf-8")


def _inline_script(text: str, name: str) -> str:
    lowered = text.lower()
    if "</script" in lowered or "<!--" in lowered:
        raise ValueError(f"{name} cannot be inlined: it contains '</script' or '<!--'")
    return text


def _write_atomic(path: Path, content: str) -> None:
    tmp_name = ""
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "it is a directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
            delete=False,
        ) as handle:
            tmp_name = handle.name
            handle.write(content)
        os.replace(tmp_name, path)
    except OSError as exc:
        if tmp_name:
            Path(tmp_name).unlink(missing_ok=True)
        raise ConfigError(f"cannot write the report to {path}: {exc.strerror or exc}") from None


def _block(anchor: str, title: str, body: str) -> tuple[str, str, str]:
    html = (f'<section id="{anchor}"><h2>{esc(title)}</h2>\n{body}\n</section>')
    return anchor, title, html


def _nav(blocks: Sequence[tuple[str, str, str]]) -> list[tuple[str, str]]:
    return [(anchor, re.sub(r" \([\d,]+\)$", "", title)) for anchor, title, _ in blocks]


def _subtitle(result: BacktestResult) -> str:
    run = result.run
    first, last = int(run.timeline[0]), int(run.timeline[-1])
    return (f"{', '.join(run.symbols)} · {ns_to_iso(first)[:10]} to {ns_to_iso(last)[:10]} "
            f"· {run.bars:,} bars · {len(result.trades):,} trades")


# ------------------------------------------------------------------------------------------
# Facts: info, strategies, data, account
# ------------------------------------------------------------------------------------------


def _kv_table(rows: Sequence[tuple[object, object]], css_id: str) -> str:
    body = "".join(f'<tr><th scope="row">{esc(k)}</th><td>{esc(format_cell(v))}</td></tr>'
                   for k, v in rows)
    return f'<table class="kv" id="{css_id}"><tbody>{body}</tbody></table>'


def _facts(result: BacktestResult, info: Mapping[str, str]) -> tuple[str, str, str]:
    run = result.run
    parts = []
    if info:
        parts.append('<div class="fact"><h3>Run</h3>'
                     + _kv_table(list(info.items()), "run-info") + "</div>")
    params = [(f"{strategy}.{name}" if len(run.strategies) > 1 else name, value)
              for strategy, values in run.strategies.items() for name, value in values.items()]
    strategies = ", ".join(run.strategies) or "-"
    parts.append(f'<div class="fact"><h3>Strategy: {esc(strategies)}</h3>'
                 + (_kv_table(params, "parameters") if params else
                    '<p class="note">No parameters.</p>') + "</div>")
    config = run.config
    venue = config.venue
    account = [
        ("Starting cash", f"{run.start_equity:,.2f} {config.currency}"),
        ("Account", f"{config.account_type.value.lower()}, leverage {config.leverage}"),
        ("Position netting", config.oms.value.lower()),
        ("Commission", _describe(venue.commission)),
        ("Slippage", _describe(venue.slippage)),
        ("Stop/target in one bar", venue.conflict.replace("_", " ")),
        ("Volume limit", "none" if venue.volume_limit is None else f"{venue.volume_limit:g}"),
    ]
    parts.append('<div class="fact"><h3>Account and venue</h3>'
                 + _kv_table(account, "account") + "</div>")
    data_rows = [(s.symbol, _series_kind(s), ns_to_iso(int(s.ts[0])) if len(s) else "-",
                  ns_to_iso(int(s.ts[-1])) if len(s) else "-", len(s), s.source or "-")
                 for s in run.series]
    data = ('<h3>Data</h3>' + data_table(("symbol", "data", "first", "last", "rows", "source"),
                                          data_rows))
    body = f'<div class="facts">{"".join(parts)}</div>{data}'
    return _block("run", "Run", body)


def _series_kind(series: MarketSeries) -> str:
    if isinstance(series, BarSeries):
        label = timeframe_label(series.timeframe_ns)
        return f"{label} bars" if label else "bars"
    return "quotes" if isinstance(series, QuoteSeries) else "trade ticks"


def _describe(model: object) -> str:
    if not dataclasses.is_dataclass(model) or isinstance(model, type):
        return str(model)
    name = re.sub(r"(?<!^)(?=[A-Z])", " ", type(model).__name__).lower()
    fields = [(f.name, getattr(model, f.name)) for f in dataclasses.fields(model)]
    shown = ", ".join(f"{key} {value}" for key, value in fields
                      if not (isinstance(value, Decimal) and value == 0))
    return f"{name} ({shown})" if shown else name


# ------------------------------------------------------------------------------------------
# Metrics
# ------------------------------------------------------------------------------------------


def format_metric(value: Any, kind: str) -> str:
    """A metric as the command line shows it (``kind``: pct, ratio, int, days or money)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if kind == "pct":
        return f"{100 * value:,.2f} %"
    if kind == "ratio":
        return f"{value:,.3f}"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "days":
        return f"{value:,.0f} days"
    if isinstance(value, Decimal):
        exponent = value.normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent < -2:
            return format(value.normalize(), ",f")
    return f"{value:,.2f}"


def _metric_rows(result: BacktestResult) -> list[tuple[str, str, str, Any]]:
    rows: list[tuple[str, str, str, Any]] = []
    for label, key, kind in METRIC_ROWS:
        value = result.final_equity if key == "final_equity" else result.metrics.get(key)
        rows.append((key, label, kind, value))
    known = {key for _, key, _ in METRIC_ROWS}
    for key, value in result.metrics.items():
        if key not in known and isinstance(value, int | float | Decimal):
            kind = "int" if key.startswith("num_") else "ratio"
            rows.append((key, key.replace("_", " ").capitalize(), kind, value))
    return rows


def _metrics_html(result: BacktestResult) -> str:
    rows = _metric_rows(result)
    by_key = {key: (label, kind, value) for key, label, kind, value in rows}
    cards = []
    for key in _HEADLINE:
        if key not in by_key:
            continue
        label, kind, value = by_key[key]
        sign = ""
        if kind == "pct" and isinstance(value, float) and math.isfinite(value) and value != 0:
            sign = " up" if value > 0 else " down"
        cards.append(f'<div class="card{sign}" data-key="{esc(key)}"><div class="label">'
                     f'{esc(label)}</div><div class="value">{esc(format_metric(value, kind))}'
                     "</div></div>")
    table = "".join(f'<tr data-key="{esc(key)}"><th scope="row">{esc(label)}</th>'
                    f'<td class="num">{esc(format_metric(value, kind))}</td></tr>'
                    for key, label, kind, value in rows)
    return (f'<div class="cards">{"".join(cards)}</div>'
            f'<details><summary>All metrics</summary><table class="kv" id="metrics-table">'
            f"<tbody>{table}</tbody></table></details>")


# ------------------------------------------------------------------------------------------
# Charts, distribution, trades, denials
# ------------------------------------------------------------------------------------------


def _equity_html(equity: Mapping[str, Any]) -> str:
    note = ""
    if equity["merged"]:
        note = (f'<p class="note">{equity["rows"]:,} points merged into {len(equity["time"]):,} '
                "for the chart (last equity and lowest drawdown of each).</p>")
    return ('<div class="chart tall" id="equity-chart" data-role="equity"></div>'
            '<p class="legend"><span class="swatch equity"></span>Equity '
            '<span class="swatch drawdown"></span>Drawdown from the running peak (%)</p>' + note)


def _prices_html(symbols: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for k, item in enumerate(symbols):
        what = "candles" if item["kind"] == "candles" else item.get("label", "price")
        note = ""
        if item["merged"]:
            note = (f'<p class="note">{item["rows"]:,} rows merged into {item["points"]:,} '
                    f"{esc(what)} for the chart.</p>")
        parts.append(
            f'<h3>{esc(item["symbol"])}</h3>'
            f'<div class="chart tall" id="price-chart-{k}" data-symbol="{esc(item["symbol"])}">'
            "</div>"
            '<p class="legend"><span class="arrow up">▲</span>buy '
            '<span class="arrow down">▼</span>sell (labelled when few enough are in view: #n '
            "at the entry, the PnL at the exit) "
            '<span class="swatch stop"></span>stop '
            '<span class="swatch target"></span>target. Hover a bar for its trades; drag and '
            "scroll to zoom.</p>" + note
        )
    return "".join(parts) or '<p class="note">No market data.</p>'


def _distribution_html(result: BacktestResult) -> str:
    pnls = np.array([t.pnl for t in result.closed_trades], dtype=np.float64)
    currency = result.run.config.currency
    svg = pnl_histogram_svg(pnls, currency=currency)
    if pnls.size == 0:
        return svg
    wins, losses = int((pnls > 0).sum()), int((pnls < 0).sum())
    summary = (f"{pnls.size:,} closed trades: {wins:,} won, {losses:,} lost; median "
               f"{float(np.median(pnls)):+,.2f}, best {float(pnls.max()):+,.2f}, worst "
               f"{float(pnls.min()):+,.2f} {currency}.")
    return f'<div class="histogram-wrap">{svg}</div><p class="legend">{esc(summary)}</p>'


def _trades_html(result: BacktestResult) -> str:
    if not result.trades:
        return '<p class="note">No trades.</p>'
    decimals = {s: price_decimals(i) for s, i in result.run.instruments.items()}
    head = ("#", "symbol", "strategy", "side", "quantity", "entry time", "entry price",
            "exit time", "exit price", "PnL", "return %", "commission")
    rows = []
    for number, t in enumerate(result.trades, start=1):
        places = decimals.get(t.symbol, 2)
        pnl_class = "up" if t.pnl > 0 else "down" if t.pnl < 0 else ""
        cells = (
            f'<td class="num">{number}</td><td>{esc(t.symbol)}</td><td>{esc(t.strategy_id)}</td>'
            f"<td>{'long' if t.side is OrderSide.BUY else 'short'}</td>"
            f'<td class="num">{esc(format_cell(t.quantity))}</td>'
            f"<td>{ns_to_iso(t.entry_ts)}</td>"
            f'<td class="num">{float(t.entry_price):,.{places}f}</td>'
            f"<td>{ns_to_iso(t.exit_ts) if t.exit_ts is not None else 'open'}</td>"
            f'<td class="num">'
            f"{'' if t.exit_price is None else f'{float(t.exit_price):,.{places}f}'}</td>"
            f'<td class="num {pnl_class}">{t.pnl:+,.2f}</td>'
            f'<td class="num {pnl_class}">{t.return_pct:+.2f}</td>'
            f'<td class="num">{t.commission:,.2f}</td>'
        )
        rows.append(f'<tr class="{"open" if t.is_open else ""}">{cells}</tr>')
    header = "".join(f"<th>{h}</th>" for h in head)
    note = ""
    if any(t.is_open for t in result.trades):
        note = '<p class="note">Open trades carry their unrealised PnL at the last close.</p>'
    return (f'<div class="table-wrap scroll"><table class="data" id="trades-table"><thead><tr>'
            f'{header}</tr></thead><tbody>\n{chr(10).join(rows)}\n</tbody></table></div>{note}')


def _denials_html(result: BacktestResult) -> str:
    rows = [(ns_to_iso(d.ts), d.strategy_id, d.symbol, d.side, format(d.quantity, "f"),
             d.code, d.reason, d.limit, d.value) for d in result.denials]
    return data_table(("time", "strategy", "symbol", "side", "quantity", "code", "reason",
                       "limit", "value"), rows, scroll=True)
