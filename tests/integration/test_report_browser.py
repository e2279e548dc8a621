"""The HTML report opens in headless Chromium with no network: the candlestick chart holds every
bar and the markers of every trade, the equity chart exists, stop/target segments of a bracket
strategy are drawn, nothing but the file itself is requested, and the console stays clean.

Uses Debian's chromium through Playwright's ``executable_path``: ``$TRADELOOP_TEST_CHROMIUM``,
else ``chromium`` on the PATH. Without it the tests skip, unless ``TRADELOOP_REQUIRE_BROWSER=1``
(CI), where they fail.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import launched_chromium

from tradeloop.analytics.levels import trade_levels
from tradeloop.analytics.report import write_report
from tradeloop.services.backtest import BacktestOutcome, BacktestRequest, run_backtest


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched_chromium() as chromium:
        yield chromium


class OpenedReport:
    """A report opened in a fresh page, with what the page asked for and complained about."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        self.page.route("**/*", self._route)
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_function(
            "window.tradeloopReport !== undefined && window.tradeloopReport.ready === true",
            timeout=30_000,
        )
        self.state: dict[str, Any] = self.page.evaluate("window.tradeloopReport")

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def close(self) -> None:
        self.context.close()


def _backtest(tmp: Path, strategy: str) -> BacktestOutcome:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRADELOOP_HOME", str(tmp / "home"))
        return run_backtest(BacktestRequest(strategy, out_dir=tmp / "out"))


@pytest.fixture
def sma_report(browser: Any, tmp_path: Path) -> Iterator[tuple[BacktestOutcome, OpenedReport]]:
    outcome = _backtest(tmp_path, "sma_cross")
    path = write_report(outcome.result, tmp_path / "sma_cross.html", title="sma_cross on GOOG",
                        info={"strategy": "sma_cross", "data": "GOOG (bundled)"})
    opened = OpenedReport(browser, path)
    yield outcome, opened
    opened.close()


def test_sma_cross_report_shows_candles_and_trade_markers_offline(
        sma_report: tuple[BacktestOutcome, OpenedReport], tmp_path: Path):
    outcome, opened = sma_report
    result = outcome.result
    state = opened.state
    assert opened.blocked == []
    assert opened.errors == []
    assert state["library"] == "5.2.1"
    assert state["charts"] == 2  # equity and drawdown, GOOG
    goog = state["symbols"]["GOOG"]
    assert goog["kind"] == "candles"
    assert goog["candles"] == result.run.bars == len(result.run.series[0])
    closed = sum(1 for t in result.trades if not t.is_open)
    assert goog["markers"] == len(result.trades) + closed
    assert goog["volumeBars"] == result.run.bars
    assert state["equity"]["points"] == len(result.timeline)
    assert state["equity"]["drawdownPoints"] == len(result.timeline)

    page = opened.page
    candle_box = page.locator("#price-chart-0 canvas").first.bounding_box()
    assert candle_box is not None and candle_box["width"] > 100 and candle_box["height"] > 100
    assert page.locator("#equity-chart canvas").count() > 0
    assert page.locator("#trades-table tbody tr").count() == len(result.trades)
    assert "sma_cross on GOOG" in page.title()

    page.screenshot(path=str(tmp_path / "sma_cross-report.png"), full_page=True)
    page.locator("#prices").scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "sma_cross-prices.png"))
    assert (tmp_path / "sma_cross-report.png").stat().st_size > 10_000


def test_hovering_a_trade_bar_shows_its_price_and_pnl(
        sma_report: tuple[BacktestOutcome, OpenedReport]):
    outcome, opened = sma_report
    page = opened.page
    chart = page.locator("#price-chart-0")
    chart.scroll_into_view_if_needed()
    box = chart.bounding_box()
    assert box is not None
    # The chart fits every bar into the plot (the price axis takes the right ~70 px), about two
    # bars per pixel: aim near the first trade's entry and sweep until the tooltip names a trade.
    trades = outcome.result.trades
    bars = outcome.result.run.series[0].ts
    index = int((bars < trades[0].entry_ts).sum())
    aim = box["x"] + (index + 0.5) * (box["width"] - 70) / len(bars)
    shown = ""
    for offset in sorted(range(-60, 61), key=abs):
        page.mouse.move(aim + offset, box["y"] + box["height"] * 0.4)
        text = page.locator("#price-chart-0 .tooltip").inner_text()
        if " @ " in text:
            shown = text
            break
    assert shown.startswith("GOOG"), shown
    assert "O " in shown and "C " in shown
    line = next(line for line in shown.splitlines() if " @ " in line)
    match = re.search(r"^#(\d+) (buy|sell) \S+ @ ([\d,.]+) \((open|close) ", line)
    assert match is not None, shown
    trade = trades[int(match.group(1)) - 1]
    if match.group(4) == "open":
        assert match.group(3) == f"{float(trade.entry_price):,.2f}"
    else:
        assert trade.exit_price is not None
        assert match.group(3) == f"{float(trade.exit_price):,.2f}"
        assert f"PnL {trade.pnl:+,.2f}" in line
    assert opened.errors == []


def test_bracket_strategy_report_draws_stop_and_target_segments(browser: Any, tmp_path: Path):
    outcome = _backtest(tmp_path, "ma_rsi_atr")
    result = outcome.result
    path = write_report(result, tmp_path / "ma_rsi_atr.html", title="ma_rsi_atr on GOOG")
    opened = OpenedReport(browser, path)
    try:
        levels = trade_levels(result.trades, result.run.orders, int(result.timeline[-1]))
        goog = opened.state["symbols"]["GOOG"]
        assert levels
        assert goog["levelSegments"] == len(levels)
        assert goog["levelSeries"] >= 2  # stops and targets
        assert goog["markers"] == 2 * len(result.closed_trades) + sum(
            1 for t in result.trades if t.is_open)
        assert opened.blocked == [] and opened.errors == []
        opened.page.locator("#prices").scroll_into_view_if_needed()
        opened.page.screenshot(path=str(tmp_path / "ma_rsi_atr-prices.png"))
    finally:
        opened.close()


def test_optimisation_and_walkforward_reports_open_clean(browser: Any, tmp_path: Path):
    from tradeloop.services.optimize import OptimizeRequest, run_optimization
    from tradeloop.services.walkforward import WalkForwardRequest, run_walkforward

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRADELOOP_HOME", str(tmp_path / "home"))
        optimised = run_optimization(OptimizeRequest(
            BacktestRequest("sma_cross"), ("fast=5:15:5", "slow=20:40:10"),
            out_dir=tmp_path / "opt"))
        walked = run_walkforward(WalkForwardRequest(
            BacktestRequest("sma_cross", data=("EURUSD",)), ("fast=5:10:5", "slow=30:60:30"),
            windows=4, out_dir=tmp_path / "wf"))
    opened = OpenedReport(browser, tmp_path / "opt" / "report.html")
    try:
        assert opened.blocked == [] and opened.errors == []
        assert opened.state["symbols"]["GOOG"]["candles"] == optimised.best_result.run.bars
        page = opened.page
        assert page.get_by_text("Optimisation results").count() >= 1
        assert page.locator("table").filter(has_text="slow").count() >= 1
    finally:
        opened.close()
    opened = OpenedReport(browser, tmp_path / "wf" / "report.html")
    try:
        assert opened.blocked == [] and opened.errors == []
        assert opened.state["equity"]["points"] == len(walked.equity)
        assert opened.page.locator("#equity-chart canvas").count() > 0
        opened.page.screenshot(path=str(tmp_path / "walkforward.png"), full_page=True)
    finally:
        opened.close()
