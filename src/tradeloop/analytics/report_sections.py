"""Static blocks of the HTML report: tables, heat maps, monthly returns and the PnL histogram.

Everything here is plain, escaped HTML (and inline SVG) with inline colours: no script is needed
to show it, and any text that came from a user (a strategy name, a parameter, a file path) is
escaped before it reaches the page.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

__all__ = [
    "MonthlyReturns",
    "ReportSection",
    "heatmap_section",
    "monthly_returns",
    "monthly_returns_html",
    "pnl_histogram_svg",
    "table_section",
]

MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_GREEN = (22, 163, 74)
_RED = (220, 38, 38)
_MAX_ALPHA = 0.8


@dataclass(frozen=True)
class ReportSection:
    """One block of the report: a heading and its HTML body.

    Attributes
    ----------
    title : str
        Plain text; escaped when the page is written.
    html : str
        Trusted HTML: build it with :func:`table_section` or :func:`heatmap_section`, or escape
        every user-supplied text yourself (``html.escape``).
    """

    title: str
    html: str


def esc(value: object) -> str:
    """``value`` as text, escaped for HTML content and attribute values."""
    return html.escape("" if value is None else str(value), quote=True)


def format_cell(value: object) -> str:
    """A table cell's text: numbers compact, NaN as ``-``, None as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return "-"
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        return f"{number:.6g}"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal | np.integer | np.floating) and not isinstance(
        value, bool
    )


def _note(note: str) -> str:
    return f'<p class="note">{esc(note)}</p>' if note else ""


def table_section(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]], *,
                  note: str = "") -> ReportSection:
    """A report section holding one table.

    Parameters
    ----------
    title : str
        The section heading.
    columns : sequence of str
        Column headers.
    rows : sequence of sequences
        One sequence per row, as long as ``columns``. Numbers are right-aligned and floats
        shown with 6 significant digits (NaN as ``-``); pass strings to format them yourself.
    note : str, optional
        A line of text under the table.

    Returns
    -------
    ReportSection
        With every header and cell escaped.

    Raises
    ------
    ValueError
        If a row does not have one value per column.
    """
    for k, row in enumerate(rows):
        if len(row) != len(columns):
            raise ValueError(f"table {title!r}: row {k} has {len(row)} values for "
                             f"{len(columns)} columns")
    return ReportSection(title, data_table(columns, rows, scroll=len(rows) > 25) + _note(note))


def data_table(columns: Sequence[str], rows: Sequence[Sequence[object]], *,
               scroll: bool = False) -> str:
    """An escaped HTML table; ``scroll`` caps its height (long lists scroll inside)."""
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "\n".join(
        "<tr>" + "".join(
            f'<td class="num">{esc(format_cell(v))}</td>' if _is_number(v)
            else f"<td>{esc(format_cell(v))}</td>" for v in row
        ) + "</tr>" for row in rows
    )
    wrap = "table-wrap scroll" if scroll else "table-wrap"
    return (f'<div class="{wrap}"><table class="data"><thead><tr>{head}</tr></thead>'
            f"<tbody>\n{body}\n</tbody></table></div>")


def _shade(value: float, scale: float) -> str:
    # Background and text colour of a heat map cell: green above 0, red below, stronger further
    # from 0 (``scale`` maps to full strength).
    if not math.isfinite(value):
        return "background:#f1f3f5;color:#6b7280"
    if scale <= 0 or value == 0:
        return "background:#ffffff;color:#1f2933"
    alpha = min(abs(value) / scale, 1.0) * _MAX_ALPHA
    red, green, blue = _GREEN if value > 0 else _RED
    text = "#ffffff" if alpha > 0.5 else "#1f2933"
    return f"background:rgba({red},{green},{blue},{alpha:.3f});color:{text}"


def _colour_scale(values: npt.NDArray[np.float64]) -> tuple[float, float]:
    # (centre, scale): diverging around 0 when values have both signs, else from the lowest
    # (pale) to the highest (strong green).
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 0.0
    low, high = float(finite.min()), float(finite.max())
    if low < 0 < high:
        return 0.0, max(-low, high)
    return (low, high - low) if high > low else (0.0, 0.0)


def heatmap_section(title: str, x_name: str, x_values: Sequence[object], y_name: str,
                    y_values: Sequence[object], values: npt.ArrayLike, *, value_name: str,
                    fmt: str = "{:.2f}", note: str = "") -> ReportSection:
    """A report section holding a heat map table of one value over two parameters.

    Cells are shaded inline: around 0 (red below, green above) when the values have both
    signs, else from pale (lowest) to strong green (highest). Missing cells (NaN) are grey.

    Parameters
    ----------
    title : str
        The section heading.
    x_name : str
        What the columns vary.
    x_values : sequence
        One label per column.
    y_name : str
        What the rows vary.
    y_values : sequence
        One label per row.
    values : array_like of float, shape (len(y_values), len(x_values))
        The value of each cell; NaN where there is none.
    value_name : str
        What the values are (shown in each cell's hover text and the legend).
    fmt : str, optional
        ``str.format`` pattern of a cell's value.
    note : str, optional
        A line of text under the table.

    Returns
    -------
    ReportSection

    Raises
    ------
    ValueError
        If ``values`` does not have the shape of the labels.
    """
    grid = np.asarray(values, dtype=np.float64)
    if grid.shape != (len(y_values), len(x_values)):
        raise ValueError(f"heat map {title!r}: values have shape {grid.shape}, expected "
                         f"({len(y_values)}, {len(x_values)}) (rows = {y_name}, columns = "
                         f"{x_name})")
    centre, scale = _colour_scale(grid)
    head = "".join(f"<th>{esc(format_cell(x))}</th>" for x in x_values)
    rows = []
    for i, y in enumerate(y_values):
        cells = []
        for j, x in enumerate(x_values):
            value = float(grid[i, j])
            text = fmt.format(value) if math.isfinite(value) else "-"
            hover = f"{x_name} = {format_cell(x)}, {y_name} = {format_cell(y)}: {value_name} {text}"
            style = _shade(value - centre if math.isfinite(value) else value, scale)
            cells.append(f'<td class="num" style="{style}" title="{esc(hover)}">{esc(text)}</td>')
        rows.append(f'<tr><th scope="row">{esc(format_cell(y))}</th>{"".join(cells)}</tr>')
    table = (f'<div class="table-wrap"><table class="heatmap"><thead><tr>'
             f'<th class="corner">{esc(y_name)} \\ {esc(x_name)}</th>{head}</tr></thead>'
             f'<tbody>{"".join(rows)}</tbody></table></div>'
             f'<p class="legend">Cells: {esc(value_name)}.</p>')
    return ReportSection(title, table + _note(note))


@dataclass(frozen=True)
class MonthlyReturns:
    """Returns per calendar month (UTC) and per year of an equity curve.

    Attributes
    ----------
    years : list of int
    months : ndarray, shape (len(years), 12)
        Fraction gained in each month (end of month over end of the previous month, the first
        month over the starting equity); NaN for months without bars.
    year_totals : ndarray, shape (len(years),)
        Fraction gained in each year, the same way.
    """

    years: list[int]
    months: npt.NDArray[np.float64]
    year_totals: npt.NDArray[np.float64]


def monthly_returns(ts_ns: npt.ArrayLike, equity: npt.ArrayLike) -> MonthlyReturns:
    """Monthly and yearly returns of an equity curve.

    Parameters
    ----------
    ts_ns : array_like of int64
        Bar times, UTC nanoseconds, non-decreasing.
    equity : array_like of float
        Equity at each bar.

    Returns
    -------
    MonthlyReturns
        Empty when there are no bars. A return whose base is not positive is NaN.
    """
    ts = np.asarray(ts_ns, dtype=np.int64)
    values = np.asarray(equity, dtype=np.float64)
    if ts.size == 0:
        return MonthlyReturns([], np.empty((0, 12)), np.empty(0))
    month_index = ts.astype("datetime64[ns]").astype("datetime64[M]").astype(np.int64)
    month_last = np.flatnonzero(np.r_[month_index[1:] != month_index[:-1], True])
    month_keys = month_index[month_last]
    month_ends = values[month_last]
    month_rets = _chained_returns(float(values[0]), month_ends)
    first_year = int(month_keys[0] // 12) + 1970
    years = list(range(first_year, int(month_keys[-1] // 12) + 1970 + 1))
    grid = np.full((len(years), 12), np.nan)
    grid[(month_keys // 12 + 1970 - first_year), month_keys % 12] = month_rets
    year_keys = month_keys // 12
    year_last = np.flatnonzero(np.r_[year_keys[1:] != year_keys[:-1], True])
    totals = np.full(len(years), np.nan)
    totals[year_keys[year_last] + 1970 - first_year] = _chained_returns(
        float(values[0]), month_ends[year_last]
    )
    return MonthlyReturns(years, grid, totals)


def _chained_returns(start: float, ends: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    bases = np.r_[start, ends[:-1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(bases > 0, ends / bases - 1.0, np.nan)
    out[~np.isfinite(out)] = np.nan
    return np.asarray(out, dtype=np.float64)


def monthly_returns_html(table: MonthlyReturns) -> str:
    """The monthly returns as a heat map table (years x months, plus the year's total).

    Each value cell carries its exact fraction in ``data-value`` (empty when missing).
    """
    if not table.years:
        return '<p class="note">No bars: no monthly returns.</p>'
    month_scale = _finite_max_abs(table.months)
    year_scale = _finite_max_abs(table.year_totals)
    head = "".join(f"<th>{m}</th>" for m in MONTH_NAMES) + "<th>Year</th>"
    rows = []
    for i, year in enumerate(table.years):
        cells = [_return_cell(float(v), month_scale, f"{MONTH_NAMES[j]} {year}")
                 for j, v in enumerate(table.months[i])]
        cells.append(_return_cell(float(table.year_totals[i]), year_scale, str(year), "total"))
        rows.append(f'<tr><th scope="row">{year}</th>{"".join(cells)}</tr>')
    return (f'<div class="table-wrap"><table class="heatmap monthly" id="monthly-returns">'
            f'<thead><tr><th class="corner">%</th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>'
            '<p class="legend">Return of each calendar month (UTC) in percent: month-end equity '
            "over the previous month-end (the first month over the starting equity).</p>")


def _finite_max_abs(values: npt.NDArray[np.float64]) -> float:
    finite = np.abs(values[np.isfinite(values)])
    return float(finite.max()) if finite.size else 0.0


def _return_cell(value: float, scale: float, label: str, css_class: str = "") -> str:
    classes = f"num {css_class}".strip()
    if not math.isfinite(value):
        return f'<td class="{classes}" data-value="" style="{_shade(math.nan, scale)}">-</td>'
    text = f"{100 * value:.2f}"
    if text == "-0.00":
        text = "0.00"
    return (f'<td class="{classes}" data-value="{value!r}" style="{_shade(value, scale)}" '
            f'title="{label}: {text} %">{text}</td>')


def _histogram_edges(pnls: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    # Equal-width bins, one edge on 0 so that each bin is all losses or all gains.
    low, high = float(pnls.min()), float(pnls.max())
    if high == low:
        half = abs(low) / 2 or 0.5
        return np.array([low - half, high + half])
    bins = int(min(40, max(6, math.ceil(2 * pnls.size ** (1 / 3)))))
    width = (high - low) / bins
    first = math.floor(low / width)
    last = max(math.ceil(high / width), first + 1)
    if last * width <= high:
        last += 1
    return np.arange(first, last + 1, dtype=np.float64) * width


def pnl_histogram_svg(pnls: npt.ArrayLike, *, currency: str = "") -> str:
    """An inline SVG histogram of trade PnLs: losses red, gains green.

    Parameters
    ----------
    pnls : array_like of float
        Net PnL of each closed trade; non-finite values are ignored.
    currency : str, optional
        Shown on the x axis.

    Returns
    -------
    str
        The ``<svg>`` element, or a note when there is no trade.
    """
    values = np.asarray(pnls, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return '<p class="note">No closed trades.</p>'
    edges = _histogram_edges(values)
    counts, _ = np.histogram(values, bins=edges)
    width, height, left, right, top, bottom = 900, 260, 48, 16, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = int(counts.max())

    def x_of(value: float) -> float:
        return left + (value - float(edges[0])) / float(edges[-1] - edges[0]) * plot_w

    parts = [f'<svg class="histogram" id="pnl-histogram" viewBox="0 0 {width} {height}" '
             'role="img" aria-label="Trade PnL distribution">']
    for k in range(4):
        y = top + plot_h * k / 4
        label = round(peak * (4 - k) / 4, 1)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                     f'class="grid"/><text x="{left - 6}" y="{y + 4:.1f}" '
                     f'class="axis" text-anchor="end">{label:g}</text>')
    for lo, hi, count in zip(edges[:-1], edges[1:], counts, strict=True):
        if count == 0:
            continue
        x0, x1 = x_of(lo), x_of(hi)
        bar_h = plot_h * count / peak
        colour = "#dc2626" if hi <= 0 else "#16a34a"
        tip = f"{lo:,.2f} to {hi:,.2f}: {count} trade{'s' if count != 1 else ''}"
        parts.append(f'<rect class="bin" x="{x0 + 0.5:.1f}" y="{top + plot_h - bar_h:.1f}" '
                     f'width="{max(x1 - x0 - 1, 1):.1f}" height="{bar_h:.1f}" fill="{colour}" '
                     f'data-count="{count}"><title>{esc(tip)}</title></rect>')
    base = top + plot_h
    parts.append(f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" '
                 'class="axis-line"/>')
    step = max(1, math.ceil((edges.size - 1) / 8))
    ticks = {float(edge) for edge in edges[::step]} | {float(edges[-1])}
    if edges[0] < 0 < edges[-1]:
        ticks.add(0.0)
    for tick in sorted(ticks):
        anchor = "start" if tick == edges[0] else "end" if tick == edges[-1] else "middle"
        parts.append(f'<text x="{x_of(tick):.1f}" y="{base + 16}" class="axis" '
                     f'text-anchor="{anchor}">{tick:,.2f}</text>')
    unit = f" ({esc(currency)})" if currency else ""
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" class="axis" '
                 f'text-anchor="middle">PnL per trade{unit}; bars: number of trades</text>')
    parts.append("</svg>")
    return "".join(parts)
