"""The self-contained HTML report: one file, the library inlined, the chart data round-trips,
text is escaped, the write is atomic, and the static blocks (monthly returns, heat maps, tables,
the PnL histogram) hold what they claim."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pytest

from tradeloop.analytics import report as report_module
from tradeloop.analytics.levels import PriceLevel, trade_levels
from tradeloop.analytics.report import (
    LIGHTWEIGHT_CHARTS_VERSION,
    ReportSection,
    heatmap_section,
    table_section,
    write_report,
)
from tradeloop.analytics.report_charts import (
    buckets,
    level_lanes,
    script_json,
    series_payload,
)
from tradeloop.analytics.report_sections import monthly_returns, pnl_histogram_svg
from tradeloop.analytics.results import BacktestResult
from tradeloop.core.errors import ConfigError
from tradeloop.core.time import NANOS_PER_DAY, NANOS_PER_MINUTE, NANOS_PER_SECOND
from tradeloop.model.data import BarSeries, QuoteSeries
from tradeloop.services.backtest import BacktestOutcome, BacktestRequest, run_backtest

ASSETS = Path(report_module.__file__).parent / "assets"
LIBRARY = ASSETS / f"lightweight-charts-{LIGHTWEIGHT_CHARTS_VERSION}.standalone.production.js"
EVIL = "</script><b>bold</b><!--"


def _run(tmp: Path, strategy: str, **kwargs: object) -> BacktestOutcome:
    with pytest.MonkeyPatch.context() as patch:  # module fixtures run outside the home fixture
        patch.setenv("TRADELOOP_HOME", str(tmp / "home"))
        return run_backtest(BacktestRequest(strategy, out_dir=tmp / "out", **kwargs))


@pytest.fixture(scope="module")
def sma(tmp_path_factory: pytest.TempPathFactory) -> BacktestOutcome:
    return _run(tmp_path_factory.mktemp("sma"), "sma_cross")


@pytest.fixture(scope="module")
def bracket(tmp_path_factory: pytest.TempPathFactory) -> BacktestOutcome:
    return _run(tmp_path_factory.mktemp("bracket"), "ma_rsi_atr")


@pytest.fixture(scope="module")
def sma_page(sma: BacktestOutcome, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("page") / "report.html"
    write_report(sma.result, path, title="sma_cross on GOOG", info={"strategy": "sma_cross"})
    return path.read_text(encoding="utf-8")


class _Page(HTMLParser):
    """Tags with their attributes, script bodies, and the monthly returns cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[tuple[dict[str, str], str]] = []
        self._script: dict[str, str] | None = None
        self._chunks: list[str] = []
        self.text: list[str] = []
        self.cells: list[tuple[str, dict[str, str]]] = []
        self._row_head = ""
        self._in_row_head = False
        self._table_id: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attributes))
        if tag == "script":
            self._script, self._chunks = attributes, []
        if tag == "table":
            self._table_id.append(attributes.get("id", ""))
        if tag == "th" and attributes.get("scope") == "row":
            self._in_row_head, self._row_head = True, ""
        if tag == "td" and self._table_id and self._table_id[-1] == "monthly-returns":
            self.cells.append((self._row_head, attributes))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._chunks)))
            self._script = None
        if tag == "table" and self._table_id:
            self._table_id.pop()
        if tag == "th":
            self._in_row_head = False

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._chunks.append(data)
        else:
            self.text.append(data)
        if self._in_row_head:
            self._row_head += data


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def _data(page: str) -> dict:
    blocks = [body for attrs, body in _parse(page).scripts
              if attrs.get("type") == "application/json" and attrs.get("id") == "tradeloop-data"]
    assert len(blocks) == 1
    return json.loads(blocks[0])


# ------------------------------------------------------------------------------------------
# One self-contained file
# ------------------------------------------------------------------------------------------


def test_writes_one_html_file_and_returns_its_path(sma: BacktestOutcome, tmp_path: Path):
    target = tmp_path / "nested" / "report.html"
    assert write_report(sma.result, target, title="t") == target
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_the_library_is_inlined_unmodified(sma_page: str):
    library = LIBRARY.read_text(encoding="utf-8")
    assert f"TradingView Lightweight Charts™ v{LIGHTWEIGHT_CHARTS_VERSION}" in library
    scripts = [body for attrs, body in _parse(sma_page).scripts if "type" not in attrs]
    assert any(body.strip() == library.strip() for body in scripts)
    assert (ASSETS / "lightweight-charts-LICENSE.txt").read_text().startswith(
        "                                 Apache License")
    assert "5.2.1" in (ASSETS / "NOTICE.md").read_text()


def test_nothing_is_fetched_from_the_network(sma_page: str):
    page = _parse(sma_page)
    for tag, attrs in page.tags:
        for name in ("src", "href", "action", "poster", "data", "srcset"):
            value = attrs.get(name, "").strip().lower()
            assert not value.startswith(("http:", "https:", "//")), (tag, name, value)
        assert tag not in ("link", "iframe", "img", "object", "embed"), tag
    own_code = [body for attrs, body in page.scripts if "type" not in attrs
                and "TradingView Lightweight Charts" not in body[:300]]
    assert own_code, "the report's own script is inlined"
    for body in own_code:
        assert "fetch(" not in body and "XMLHttpRequest" not in body and "import(" not in body
        assert not re.search(r"https?://", body)
    style = "".join(re.findall(r"<style>(.*?)</style>", sma_page, re.S))
    assert "url(" not in style and "@import" not in style
    markup = sma_page.partition('<script type="application/json"')[0]
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", markup, re.I)


# ------------------------------------------------------------------------------------------
# The chart data round-trips
# ------------------------------------------------------------------------------------------


def test_candles_hold_every_bar(sma: BacktestOutcome, sma_page: str):
    data = _data(sma_page)
    (bars,) = sma.result.run.series
    assert isinstance(bars, BarSeries)
    (chart,) = data["symbols"]
    assert chart["symbol"] == "GOOG" and chart["kind"] == "candles"
    assert len(chart["time"]) == len(bars) == sma.result.run.bars
    assert chart["time"] == (bars.ts // NANOS_PER_SECOND).tolist()
    for column in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(np.array(chart[column]), getattr(bars, column))
    assert chart["merged"] is False


def test_markers_are_the_entries_and_exits_of_every_trade(sma: BacktestOutcome, sma_page: str):
    trades = sma.result.trades
    markers = _data(sma_page)["symbols"][0]["markers"]
    exits = [t for t in trades if not t.is_open]
    assert len(markers) == len(trades) + len(exits)
    assert sum(m["role"] == "entry" for m in markers) == len(trades)
    assert sum(m["role"] == "exit" for m in markers) == len(exits)
    bar_times = set(_data(sma_page)["symbols"][0]["time"])
    assert all(m["time"] in bar_times for m in markers)
    assert [m["time"] for m in markers] == sorted(m["time"] for m in markers)
    entry_times = sorted(m["time"] for m in markers if m["role"] == "entry")
    assert entry_times == sorted(t.entry_ts // NANOS_PER_SECOND for t in trades)
    first = trades[0]
    entry = next(m for m in markers if m["tip"].startswith("#1 "))
    assert entry["side"] == "buy" and f"{float(first.entry_price):,.2f}" in entry["tip"]
    exit_marker = next(m for m in markers if m["role"] == "exit" and m["tip"].startswith("#1 "))
    assert f"{first.pnl:+,.2f}" in exit_marker["tip"] and exit_marker["side"] == "sell"


def test_equity_and_drawdown_points(sma: BacktestOutcome, sma_page: str):
    equity = _data(sma_page)["equity"]
    result = sma.result
    assert len(equity["time"]) == len(result.timeline)
    np.testing.assert_allclose(equity["equity"], result.equity, rtol=0, atol=1e-6)
    np.testing.assert_allclose(equity["drawdown"], 100 * result.drawdown, rtol=0, atol=1e-6)


def test_stop_and_target_segments_of_a_bracket_strategy(bracket: BacktestOutcome,
                                                        tmp_path: Path):
    result = bracket.result
    path = write_report(result, tmp_path / "r.html", title="brackets")
    chart = _data(path.read_text(encoding="utf-8"))["symbols"][0]
    levels = trade_levels(result.trades, result.run.orders, int(result.timeline[-1]))
    assert levels, "ma_rsi_atr places bracket stops and targets"
    assert chart["num_levels"] == len(levels)
    segments = []
    for lane in chart["levels"]:
        points = lane["points"]
        assert len(points) % 2 == 0
        times = [p[0] for p in points]
        assert times == sorted(times) and len(set(times)) == len(times)
        segments += [(lane["kind"], a[1], a[0], b[0]) for a, b in zip(points[::2], points[1::2],
                                                                     strict=True)]
    assert len(segments) == len(levels)
    assert sorted((k, p) for k, p, _, _ in segments) == sorted(
        (lv.kind, float(lv.price)) for lv in levels)
    bar_times = set(chart["time"])
    assert all(t0 in bar_times and t1 in bar_times and t0 < t1 for _, _, t0, t1 in segments)


def test_level_lanes_never_overlap_within_a_lane():
    ts = np.arange(10, dtype=np.int64) * NANOS_PER_DAY
    groups = buckets(ts)

    def level(kind: Literal["stop", "target"], start: int, end: int, price: str) -> PriceLevel:
        return PriceLevel(kind, Decimal(price), int(ts[start]), int(ts[end]), "c", "e")

    lanes = level_lanes([level("stop", 0, 3, "1"), level("stop", 2, 5, "2"),
                         level("stop", 4, 6, "3"), level("target", 9, 9, "4")], groups)
    stops = [lane["points"] for lane in lanes if lane["kind"] == "stop"]
    assert stops == [[[0, 1.0], [3 * 86400, 1.0], [4 * 86400, 3.0], [6 * 86400, 3.0]],
                     [[2 * 86400, 2.0], [5 * 86400, 2.0]]]
    (target,) = [lane["points"] for lane in lanes if lane["kind"] == "target"]
    assert target == [[8 * 86400, 4.0], [9 * 86400, 4.0]]  # one bar at the end spans two


# ------------------------------------------------------------------------------------------
# Escaping
# ------------------------------------------------------------------------------------------


def test_user_text_is_escaped_everywhere(sma: BacktestOutcome, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch):
    strategies = {"SmaCross": {**sma.result.run.strategies["SmaCross"], "label": EVIL}}
    monkeypatch.setattr(sma.result.run, "strategies", strategies)
    path = write_report(sma.result, tmp_path / "r.html", title=f"title {EVIL}",
                        info={f"key {EVIL}": f"value {EVIL}"},
                        sections=[ReportSection(f"section {EVIL}", "<p>trusted</p>")])
    page = path.read_text(encoding="utf-8")
    assert "<b>bold</b>" not in page
    assert page.count("</script>") == 3  # the data block, the library, the report script
    assert "&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;&lt;!--" in page
    parsed = _parse(page)
    text = "".join(parsed.text)
    for shown in (f"title {EVIL}", f"key {EVIL}", f"value {EVIL}", f"section {EVIL}", EVIL):
        assert shown in text
    assert not any(tag == "b" for tag, _ in parsed.tags)
    assert "<p>trusted</p>" in page


def test_json_in_script_cannot_close_the_element():
    text = script_json({"a": EVIL, "b": "x & y \u2028 z", "n": [1.5, None]})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": EVIL, "b": "x & y \u2028 z", "n": [1.5, None]}
    with pytest.raises(ValueError):
        script_json({"x": math.nan})


# ------------------------------------------------------------------------------------------
# Atomic write
# ------------------------------------------------------------------------------------------


def test_replaces_an_existing_report_without_leaving_temp_files(sma: BacktestOutcome,
                                                                 tmp_path: Path):
    target = tmp_path / "report.html"
    target.write_text("old", encoding="utf-8")
    write_report(sma.result, target, title="new")
    assert os.listdir(tmp_path) == ["report.html"]
    assert "<title>new</title>" in target.read_text(encoding="utf-8")


def test_an_unwritable_path_raises_config_error_naming_it(sma: BacktestOutcome, tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    target = blocker / "report.html"
    with pytest.raises(ConfigError, match=re.escape(str(target))):
        write_report(sma.result, target, title="t")
    with pytest.raises(ConfigError, match=re.escape(str(tmp_path))):
        write_report(sma.result, tmp_path, title="t")
    assert sorted(os.listdir(tmp_path)) == ["a-file"]


def test_a_failed_rename_keeps_the_old_file_and_removes_the_temp(
        sma: BacktestOutcome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = tmp_path / "report.html"
    target.write_text("old", encoding="utf-8")

    def refuse(src: object, dst: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(report_module.os, "replace", refuse)
    with pytest.raises(ConfigError, match="Permission denied"):
        write_report(sma.result, target, title="t")
    assert os.listdir(tmp_path) == ["report.html"]
    assert target.read_text(encoding="utf-8") == "old"


# ------------------------------------------------------------------------------------------
# Monthly returns
# ------------------------------------------------------------------------------------------


def _monthly_cells(page: str) -> Iterator[tuple[int, int, str]]:
    # (year, column 0-11 = month, 12 = year total, data-value) of the monthly returns table
    columns: dict[str, int] = {}
    for row_head, attrs in _parse(page).cells:
        year = int(row_head)
        column = columns.get(row_head, 0)
        columns[row_head] = column + 1
        yield year, column, attrs["data-value"]


@pytest.mark.parametrize("which", ["sma", "bracket"])
def test_monthly_returns_match_the_equity_curve(which: str, request: pytest.FixtureRequest,
                                                tmp_path: Path):
    result: BacktestResult = request.getfixturevalue(which).result
    page = write_report(result, tmp_path / "r.html", title="m").read_text(encoding="utf-8")
    equity = pd.Series(result.equity, index=pd.to_datetime(result.timeline, utc=True))
    month_end = equity.resample("ME").last().dropna()
    month_ret = month_end / month_end.shift(1).fillna(result.equity[0]) - 1
    year_end = equity.resample("YE").last().dropna()
    year_ret = year_end / year_end.shift(1).fillna(result.equity[0]) - 1
    seen = 0
    for year, column, value in _monthly_cells(page):
        if column == 12:
            expected = year_ret[year_ret.index.year == year]
        else:
            expected = month_ret[(month_ret.index.year == year)
                                 & (month_ret.index.month == column + 1)]
        if expected.empty:
            assert value == ""
        else:
            assert float(value) == pytest.approx(float(expected.iloc[0]), abs=1e-12)
            seen += 1
    assert seen == len(month_ret) + len(year_ret)


def test_monthly_returns_with_a_missing_month():
    day = NANOS_PER_DAY
    jan = int(pd.Timestamp("2021-01-05", tz="UTC").as_unit("ns").value)
    mar = int(pd.Timestamp("2021-03-10", tz="UTC").as_unit("ns").value)
    ts = np.array([jan, jan + day, mar, mar + day], dtype=np.int64)
    table = monthly_returns(ts, np.array([100.0, 110.0, 99.0, 121.0]))
    assert table.years == [2021]
    assert table.months[0, 0] == pytest.approx(0.10)
    assert math.isnan(table.months[0, 1])
    assert table.months[0, 2] == pytest.approx(0.10)
    assert table.year_totals[0] == pytest.approx(0.21)
    assert monthly_returns(np.empty(0, np.int64), np.empty(0)).years == []


# ------------------------------------------------------------------------------------------
# Sections, tables, heat map, histogram, metrics, trades, denials
# ------------------------------------------------------------------------------------------


def test_table_section_escapes_and_aligns_numbers():
    section = table_section(f"T {EVIL}", ["name", f"col {EVIL}", "value"],
                            [[f"<i>{EVIL}</i>", 3, 1.23456789], ["b", None, math.nan]],
                            note=EVIL)
    assert "<b>" not in section.html and "<i>" not in section.html and "<!--" not in section.html
    assert '<td class="num">3</td>' in section.html
    assert '<td class="num">1.23457</td>' in section.html
    assert '<td class="num">-</td>' in section.html
    assert section.title == f"T {EVIL}"  # escaped when the page is written
    with pytest.raises(ValueError, match="row 1"):
        table_section("t", ["a", "b"], [[1, 2], [3]])


def test_heatmap_section_escapes_shades_and_checks_the_shape():
    section = heatmap_section(
        "Sharpe", f"fast {EVIL}", [5, 10], "slow", [f"<b>{EVIL}", 30, 40],
        np.array([[1.5, -0.5], [math.nan, 0.25], [2.0, 0.0]]), value_name="Sharpe",
        fmt="{:.1f}", note="note",
    )
    html = section.html
    assert "<b>" not in html and "<!--" not in html and "&lt;b&gt;" in html
    assert html.count("<td") == 6
    assert "rgba(22,163,74," in html and "rgba(220,38,38," in html  # both signs: diverging
    assert ">1.5<" in html and ">-0.5<" in html and ">-<" in html
    assert 'title="fast &lt;/script&gt;' in html
    with pytest.raises(ValueError, match="shape"):
        heatmap_section("bad", "x", [1, 2], "y", [1], np.zeros((2, 2)), value_name="v")


def test_extra_sections_come_last_in_order(sma: BacktestOutcome, tmp_path: Path):
    sections = [table_section("Optimisation", ["a"], [[1]]),
                heatmap_section("Grid", "x", [1], "y", [1], [[0.5]], value_name="v")]
    page = write_report(sma.result, tmp_path / "r.html", title="t",
                        sections=sections).read_text(encoding="utf-8")
    ids = re.findall(r'<section id="([^"]+)"', page)
    assert ids[-2:] == ["section-1", "section-2"]
    assert ids.index("trades") < ids.index("section-1")
    assert '<a href="#section-2">Grid</a>' in page


def test_headline_metrics_are_formatted_like_the_cli(sma_page: str, sma: BacktestOutcome):
    metrics = sma.result.metrics
    assert f"{100 * metrics['total_return']:,.2f} %" in sma_page
    assert f"{metrics['sharpe']:,.3f}" in sma_page
    assert re.search(r'data-key="num_trades"><div class="label">Trades</div>'
                     rf'<div class="value">{metrics["num_trades"]}</div>', sma_page)
    assert 'data-key="max_drawdown"' in sma_page and 'data-key="profit_factor"' in sma_page


def test_the_trades_table_lists_every_trade(sma_page: str, sma: BacktestOutcome):
    table = re.search(r'<table class="data" id="trades-table">(.*?)</table>', sma_page, re.S)
    assert table is not None
    assert table.group(1).count("<tr") == len(sma.result.trades) + 1  # + the header
    assert 'class="table-wrap scroll"' in sma_page


def test_the_pnl_histogram_counts_every_closed_trade(sma_page: str, sma: BacktestOutcome):
    counts = [int(c) for c in re.findall(r'data-count="(\d+)"', sma_page)]
    assert sum(counts) == len(sma.result.closed_trades)
    svg = pnl_histogram_svg(np.array([-3.0, -1.0, 2.0, 2.5, 8.0]))
    bins = re.findall(r'fill="(#[0-9a-f]+)" data-count="(\d+)"', svg)
    assert sum(int(n) for _, n in bins) == 5
    assert {colour for colour, _ in bins} == {"#dc2626", "#16a34a"}
    assert "No closed trades" in pnl_histogram_svg(np.array([]))


def test_the_run_facts_show_parameters_and_data_ranges(sma_page: str):
    assert "<th scope=\"row\">fast</th><td>10</td>" in sma_page
    assert "2004-08-19T00:00:00Z" in sma_page and "2013-03-01T00:00:00Z" in sma_page
    assert "GOOG.csv" in sma_page and "1d bars" in sma_page


def test_denied_orders_are_listed(tmp_path: Path):
    # sma_cross sends a fixed size (the sizing helpers would shrink it to the limit)
    risk = tmp_path / "risk.toml"
    risk.write_text('[risk.account]\nmax_order_quantity = "50"\n', encoding="utf-8")
    outcome = _run(tmp_path, "sma_cross", risk=risk, params={"size": "100"})
    denials = outcome.result.denials
    assert denials
    page = write_report(outcome.result, tmp_path / "r.html",
                        title="t").read_text(encoding="utf-8")
    block = re.search(r'<section id="denials">(.*?)</section>', page, re.S)
    assert block is not None
    assert f"({len(denials):,})" in block.group(1)
    assert block.group(1).count("<tr") == len(denials) + 1
    assert "is above the maximum of 50" in block.group(1)


def test_no_denials_section_without_denials(sma_page: str):
    assert 'id="denials"' not in sma_page


# ------------------------------------------------------------------------------------------
# Large and sub-second series
# ------------------------------------------------------------------------------------------


def _bars(n: int, step_ns: int) -> BarSeries:
    ts = np.arange(n, dtype=np.int64) * step_ns + 1_600_000_000 * NANOS_PER_SECOND
    close = 100 + np.sin(np.arange(n) / 50)
    return BarSeries("XYZ", ts, close - 0.1, close + 0.5, close - 0.5, close, np.ones(n),
                     step_ns)


def test_a_long_series_is_merged_into_coarser_candles():
    bars = _bars(1_000, NANOS_PER_MINUTE)
    chart = series_payload(bars, None, [], [], max_points=100)
    assert chart["merged"] is True and chart["points"] == 100 and chart["rows"] == 1_000
    assert chart["high"][0] == pytest.approx(float(bars.high[:10].max()))
    assert chart["low"][0] == pytest.approx(float(bars.low[:10].min()))
    assert chart["open"][0] == bars.open[0] and chart["close"][0] == bars.close[9]
    assert chart["volume"][0] == 10
    assert chart["intraday"] is True


def test_sub_second_bars_become_one_candle_per_second():
    bars = _bars(25, NANOS_PER_SECOND // 10)
    chart = series_payload(bars, None, [], [])
    assert chart["time"] == sorted(set(chart["time"])) and len(chart["time"]) == 3
    assert chart["show_seconds"] is True


def test_quotes_are_drawn_as_a_mid_price_line():
    ts = np.arange(4, dtype=np.int64) * NANOS_PER_SECOND // 2 + 1_600_000_000 * NANOS_PER_SECOND
    quotes = QuoteSeries("EURUSD", ts, np.array([1.0, 1.1, 1.2, 1.3]),
                         np.array([1.2, 1.3, 1.4, 1.5]), np.ones(4), np.ones(4))
    chart = series_payload(quotes, None, [], [])
    assert chart["kind"] == "line" and chart["volume"] is None
    assert chart["time"] == [1_600_000_000, 1_600_000_001]
    assert chart["value"] == pytest.approx([1.2, 1.4])  # the last mid of each second
