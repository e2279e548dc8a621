"""GET /api/v1/bars: OHLCV bars of the market data a running node has seen, built from its
quotes with tradeloop.data's bar builder (mid price, tick volume, buckets from UTC midnight) or
resampled from the bars it was fed; read scope; bad timeframes and symbols are 422; a node that
does not run in the process has no market data to show (409)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from support.nodes import synthetic_node_config
from tradeloop.api.app import create_app
from tradeloop.core.time import NANOS_PER_MINUTE, NANOS_PER_SECOND
from tradeloop.data.bars import TimeBars, build_bars
from tradeloop.model.data import Bar, QuoteSeries, QuoteTick
from tradeloop.persistence import AuditStore, open_database
from tradeloop.services.control import NodeControl
from tradeloop.services.node import build_node
from tradeloop.services.tokens import create_token

T0 = 1_767_225_600 * NANOS_PER_SECOND  # 2026-01-01 00:00 UTC
S = NANOS_PER_SECOND
M = NANOS_PER_MINUTE


@dataclass
class NodeApp:
    client: TestClient
    node: Any
    token: str

    def get(self, **params: Any) -> Any:
        return self.client.get("/api/v1/bars", params=params,
                               headers={"Authorization": f"Bearer {self.token}"})

    def quote(self, ts: int, mid: float, symbol: str = "EURUSD") -> None:
        self.node.market_recorder.add(QuoteTick(symbol, ts, mid - 0.00005, mid + 0.00005))


def _config(tmp_path: Path) -> Any:
    return synthetic_node_config(tmp_path, name="bars-node", symbols=("EURUSD", "GBPUSD"))


@pytest.fixture
def app(tmp_path: Path, tradeloop_home: Path) -> Iterator[NodeApp]:
    config = _config(tmp_path)
    database = open_database(None, tradeloop_home)
    store = AuditStore(database)
    node, _, run_id, _ = build_node(config, tradeloop_home, store)  # built, never run
    token = create_token("reader", ["read"], expires_in=None, by="test").token
    control = NodeControl(config, store, node, run_id, tradeloop_home)
    try:
        with TestClient(create_app(control), client=("203.0.113.7", 40000)) as client:
            yield NodeApp(client, node, token)
    finally:
        node.venue_feed.close()
        database.close()


def _ohlcv(bar: dict[str, Any]) -> tuple[Any, ...]:
    return (bar["ts"], bar["open"], bar["high"], bar["low"], bar["close"], bar["volume"])


def test_bars_need_a_token(app: NodeApp) -> None:
    answer = app.client.get("/api/v1/bars")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("timeframe", ["banana", "0m", "1month", ""])
def test_a_bad_timeframe_is_422_with_the_accepted_spellings(app: NodeApp, timeframe: str) -> None:
    app.quote(T0, 1.1)
    answer = app.get(symbol="EURUSD", timeframe=timeframe)
    assert answer.status_code == 422
    assert "timeframe" in answer.json()["detail"]


def test_an_unknown_symbol_or_a_bad_limit_is_422(app: NodeApp) -> None:
    answer = app.get(symbol="XAUUSD")
    assert answer.status_code == 422
    assert "XAUUSD" in answer.json()["detail"] and "EURUSD" in answer.json()["detail"]
    assert app.get(limit=0).status_code == 422


def test_quotes_make_minute_bars_with_mid_prices_and_tick_volume(app: NodeApp) -> None:
    for ts, mid in ((T0 + 5 * S, 1.1000), (T0 + 20 * S, 1.1012), (T0 + 40 * S, 1.0995),
                    (T0 + 59 * S, 1.1003), (T0 + M + 1 * S, 1.1004), (T0 + M + 30 * S, 1.1001),
                    (T0 + 3 * M + 2 * S, 1.1020)):
        app.quote(ts, mid)
    answer = app.get(symbol="EURUSD", timeframe="1m", limit=10)
    assert answer.status_code == 200
    body = answer.json()
    assert body["symbol"] == "EURUSD" and body["timeframe"] == "1m"
    assert body["symbols"] == ["EURUSD", "GBPUSD"]
    got = [_ohlcv(b) for b in body["bars"]]
    expected = [(T0, 1.1000, 1.1012, 1.0995, 1.1003, 4.0),
                (T0 + M, 1.1004, 1.1004, 1.1001, 1.1001, 2.0),
                (T0 + 3 * M, 1.1020, 1.1020, 1.1020, 1.1020, 1.0)]  # the forming bar, no gap bar
    assert [g[0] for g in got] == [e[0] for e in expected]
    np.testing.assert_allclose(np.array(got, dtype=float)[:, 1:],
                               np.array(expected, dtype=float)[:, 1:], rtol=0, atol=1e-12)
    five = app.get(symbol="EURUSD", timeframe="M5").json()
    assert [_ohlcv(b)[0] for b in five["bars"]] == [T0]
    assert five["timeframe"] == "5m"
    assert five["bars"][0]["volume"] == 7.0
    assert five["bars"][0]["high"] == pytest.approx(1.1020)
    assert five["bars"][0]["low"] == pytest.approx(1.0995)


def test_limit_keeps_the_newest_bars(app: NodeApp) -> None:
    for minute in range(10):
        app.quote(T0 + minute * M + S, 1.1 + minute * 0.0001)
    bars = app.get(symbol="EURUSD", limit=3).json()["bars"]
    assert [b["ts"] for b in bars] == [T0 + 7 * M, T0 + 8 * M, T0 + 9 * M]
    assert len(app.get(symbol="EURUSD", limit=1).json()["bars"]) == 1
    assert len(app.get(symbol="EURUSD", limit=500).json()["bars"]) == 10


def test_bars_built_call_by_call_match_one_batch_build(app: NodeApp) -> None:
    rng = np.random.default_rng(3)
    ts = T0 + np.cumsum(rng.integers(1, 9 * S, size=600))
    mids = 1.1 + np.cumsum(rng.normal(0, 0.0001, size=600))
    seen: list[dict[str, Any]] = []
    for start in range(0, 600, 37):  # the dashboard polls while quotes arrive
        for t, m in zip(ts[start:start + 37], mids[start:start + 37], strict=True):
            app.quote(int(t), float(m))
        seen = app.get(symbol="EURUSD", timeframe="1m", limit=5000).json()["bars"]
    quotes = QuoteSeries("EURUSD", ts.astype(np.int64), mids - 0.00005, mids + 0.00005,
                         np.ones(600), np.ones(600))
    batch = build_bars(quotes, TimeBars("1m"), include_partial=True)
    assert [b["ts"] for b in seen] == batch.ts.tolist()
    got = np.array([_ohlcv(b)[1:] for b in seen])
    want = np.column_stack([batch.open, batch.high, batch.low, batch.close, batch.volume])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    # a shorter look back comes from the same bars
    tail = app.get(symbol="EURUSD", timeframe="1m", limit=4).json()["bars"]
    assert [b["ts"] for b in tail] == batch.ts[-4:].tolist()


def test_without_a_symbol_the_first_instrument_with_data_is_shown(app: NodeApp) -> None:
    body = app.get().json()
    assert body["symbol"] == "EURUSD" and body["bars"] == []
    app.quote(T0, 1.27, symbol="GBPUSD")
    body = app.get().json()
    assert body["symbol"] == "GBPUSD" and len(body["bars"]) == 1


def test_a_bar_fed_node_resamples_its_bars(app: NodeApp) -> None:
    for minute in range(12):
        price = 1.2 + minute * 0.001
        app.node.market_recorder.add(Bar("GBPUSD", T0 + minute * M, price, price + 0.0005,
                                         price - 0.0005, price + 0.0002, 10.0, "1m"))
    same = app.get(symbol="GBPUSD", timeframe="1m", limit=5).json()["bars"]
    assert [b["ts"] for b in same] == [T0 + m * M for m in range(7, 12)]
    five = app.get(symbol="GBPUSD", timeframe="5m").json()["bars"]
    assert [b["ts"] for b in five] == [T0, T0 + 5 * M, T0 + 10 * M]
    first = five[0]
    assert first["open"] == pytest.approx(1.2)
    assert first["high"] == pytest.approx(1.2045)
    assert first["low"] == pytest.approx(1.1995)
    assert first["close"] == pytest.approx(1.2042)
    assert first["volume"] == pytest.approx(50.0)
    assert five[-1]["volume"] == pytest.approx(20.0)  # the forming bar: two minutes so far
    finer = app.get(symbol="GBPUSD", timeframe="30s")
    assert finer.status_code == 422
    assert "1m" in finer.json()["detail"]


def test_a_node_running_elsewhere_has_no_bars_to_show(tmp_path: Path,
                                                      tradeloop_home: Path) -> None:
    config = _config(tmp_path)
    database = open_database(None, tradeloop_home)
    token = create_token("reader", ["read"], expires_in=None, by="test").token
    control = NodeControl(config, AuditStore(database), home=tradeloop_home)
    with TestClient(create_app(control)) as client:
        answer = client.get("/api/v1/bars", headers={"Authorization": f"Bearer {token}"})
    database.close()
    assert answer.status_code == 409
    assert "run in this process" in answer.json()["detail"]


def test_the_dashboard_and_its_chart_library_are_served_without_outside_requests(
        app: NodeApp) -> None:
    from tradeloop.analytics.report import LIGHTWEIGHT_CHARTS_VERSION

    library = app.client.get("/dashboard/vendor/lightweight-charts.js")
    assert library.status_code == 200
    assert library.headers["content-type"].startswith("text/javascript")
    assert f"Lightweight Charts™ v{LIGHTWEIGHT_CHARTS_VERSION}" in library.text[:300]
    assert app.client.get("/", follow_redirects=False).headers["location"] == "/dashboard/"
    page = app.client.get("/dashboard/")
    assert page.status_code == 200
    assert 'src="vendor/lightweight-charts.js"' in page.text
    assert "connect-src 'self'" in page.text  # the page's own policy: nothing from elsewhere
    for name in ("dashboard.js", "dashboard.css"):
        asset = app.client.get(f"/dashboard/{name}")
        assert asset.status_code == 200
        assert "http://" not in asset.text and "https://" not in asset.text
