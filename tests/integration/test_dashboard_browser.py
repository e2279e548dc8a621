"""The dashboard of a running paper node in headless Chromium, with every request that does not
go to the node on 127.0.0.1 blocked: log in with a token, see a position appear after a fill
without reloading (and its fill marker on the candles), press Kill, confirm in the page's
dialog and see the state turn HALTED; a wrong token shows the login error; the WebSocket
delivers the equity within seconds; a read-only token cannot pause. Screenshots at phone
(390 px) and desktop width go to the test's tmp_path.

Uses Debian's chromium (see ``browser.py``); skips without it unless
``TRADELOOP_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_node import RunningNode, start_node
from browser import launched_chromium
from playwright.sync_api import expect

WAIT_MS = 15_000
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched_chromium() as chromium:
        yield chromium


@pytest.fixture
def node(tmp_path: Path) -> Iterator[RunningNode]:
    running = start_node(tmp_path / "home")
    try:
        yield running
    finally:
        running.stop()


class Dashboard:
    """The dashboard in a fresh page, with what it asked elsewhere and complained about."""

    def __init__(self, browser: Any, node: RunningNode) -> None:
        self.origin = node.url
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.context = browser.new_context(viewport=DESKTOP)
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        self.page.route("**/*", self._route)
        self.page.goto(f"{node.url}/dashboard/")
        self.page.wait_for_function(
            "() => window.tradeloopDashboard && window.tradeloopDashboard.ready")

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith((f"{self.origin}/", "data:")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def log_in(self, token: str) -> None:
        self.page.fill("#token", token)
        self.page.click("#login-submit")

    def probe(self) -> dict[str, Any]:
        return dict(self.page.evaluate("window.tradeloopDashboard"))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def dashboard(browser: Any, node: RunningNode) -> Iterator[Dashboard]:
    opened = Dashboard(browser, node)
    try:
        yield opened
    finally:
        opened.close()  # before the node stops, so the page sees no dropped stream


def test_a_fill_shows_up_live_and_kill_halts_the_node(dashboard: Dashboard, node: RunningNode,
                                                      tmp_path: Path) -> None:
    page = dashboard.page
    dashboard.log_in(node.tokens["trade"])
    expect(page.locator("#app")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#login")).to_be_hidden()
    expect(page.locator("#ws-status")).to_have_text("live", timeout=WAIT_MS)
    expect(page.locator("#state-value")).to_have_text("ACTIVE", timeout=WAIT_MS)
    expect(page.locator("#positions-empty")).to_be_visible(timeout=WAIT_MS)
    assert page.locator("#positions-table tbody tr").count() == 0
    page.wait_for_function("() => window.tradeloopDashboard.candles > 0", timeout=WAIT_MS)
    assert page.evaluate("window.sessionStorage.getItem('tradeloop.token')") == node.tokens["trade"]
    assert node.tokens["trade"] not in page.url
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    with node.client("trade") as api:
        placed = api.post("/api/v1/orders", json={"symbol": "EURUSD", "side": "buy",
                                                  "quantity": "1000"})
    assert placed.status_code == 202, placed.text
    row = page.locator('#positions-table tbody tr[data-symbol="EURUSD"]')
    expect(row.locator('[data-testid="position-qty"]')).to_have_text("1000", timeout=WAIT_MS)
    expect(page.locator("#positions-empty")).to_be_hidden()
    page.wait_for_function("() => window.tradeloopDashboard.markers >= 1", timeout=WAIT_MS)
    assert page.evaluate("window.__sameDocument") is True
    assert page.locator("#candle-chart canvas").count() > 0
    assert page.locator("#equity-chart canvas").count() > 0
    page.screenshot(path=str(tmp_path / "dashboard-desktop.png"), full_page=True)

    page.click("#btn-kill")
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#confirm-title")).to_contain_text("kill switch")
    expect(page.locator("#kill-flatten")).to_be_visible()
    page.fill("#confirm-reason", "browser test")
    page.click("#confirm-ok")
    expect(dialog).to_be_hidden(timeout=WAIT_MS)
    expect(page.locator("#state-value")).to_have_text("HALTED", timeout=WAIT_MS)
    expect(page.locator("#card-state")).to_have_attribute("data-state", "HALTED")
    expect(page.locator("#state-reason")).to_contain_text("browser test", timeout=WAIT_MS)
    assert page.evaluate("window.__sameDocument") is True

    with node.client("read") as api:
        status = api.get("/api/v1/status").json()
    assert status["trading_state"] == "HALTED"
    assert status["kill_engaged"] is True
    assert status["kill_reason"] == "browser test"
    assert status["positions"] == 1  # killed without flattening

    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)  # let the charts follow the new width
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(tmp_path / "dashboard-phone.png"), full_page=True)
    assert (tmp_path / "dashboard-phone.png").stat().st_size > 10_000
    assert dashboard.blocked == []
    assert dashboard.errors == []


def test_a_wrong_token_shows_the_login_error_and_the_stream_brings_the_equity(
        dashboard: Dashboard, node: RunningNode) -> None:
    page = dashboard.page
    expect(page.locator("#login")).to_be_visible()
    dashboard.log_in("tl_not-a-real-token")
    error = page.locator("#login-error")
    expect(error).to_be_visible(timeout=WAIT_MS)
    expect(error).to_contain_text("not accepted")
    expect(page.locator("#app")).to_be_hidden()
    assert page.evaluate("window.sessionStorage.getItem('tradeloop.token')") is None

    started = time.monotonic()
    dashboard.log_in(node.tokens["read"])
    expect(page.locator("#app")).to_be_visible(timeout=WAIT_MS)
    expect(error).to_be_hidden()
    page.wait_for_function("() => window.tradeloopDashboard.received.equity > 0",
                           timeout=WAIT_MS)
    assert time.monotonic() - started < WAIT_MS / 1000
    probe = dashboard.probe()
    assert probe["wsOpen"] is True
    assert probe["equityPoints"] >= 1
    expect(page.locator("#equity-value")).to_contain_text("USD")
    expect(page.locator("#balance-value")).to_have_text("100,000.00 USD")

    # a read token may look but not steer: the dialog says so and the tab stays signed in
    page.click("#btn-pause")
    page.click("#confirm-ok")
    expect(page.locator("#confirm-error")).to_contain_text("Not allowed", timeout=WAIT_MS)
    page.click("#confirm-cancel")
    expect(page.locator("#app")).to_be_visible()
    with node.client("read") as api:
        assert api.get("/api/v1/status").json()["trading_state"] == "ACTIVE"

    page.click("#logout")
    expect(page.locator("#login")).to_be_visible()
    assert page.evaluate("window.sessionStorage.getItem('tradeloop.token')") is None
    assert dashboard.blocked == []
    # the browser reports each refused request itself; nothing else may complain
    unexpected = [e for e in dashboard.errors if "status of 401" not in e]
    assert unexpected == []
    assert len(dashboard.errors) <= 2

