"""The ccxt adapter against the local Binance, for what the conformance suite does not cover:
precision and limits into instruments, the download command end to end (and resumed), order
events from websockets and from polling, rate limits, and secrets kept out of logs and errors.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from support.binance import API_KEY, API_SECRET, BinanceServer
from tradeloop.brokers.base import BrokerAdapter
from tradeloop.brokers.ccxt import CcxtAuthenticationError, create_adapter
from tradeloop.core.errors import ConfigError, UserError
from tradeloop.data.store import DataStore
from tradeloop.model import events as ev
from tradeloop.model.data import Bar, QuoteTick, TradeTick
from tradeloop.model.enums import OrderSide, OrderType
from tradeloop.model.orders import Order

KEY_ENV, SECRET_ENV = "TL_TEST_BINANCE_KEY", "TL_TEST_BINANCE_SECRET"
GUARD_S = 15.0  # only a guard against hanging: nothing here depends on timing


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, API_KEY)
    monkeypatch.setenv(SECRET_ENV, API_SECRET)


def _settings(server: BinanceServer, market: str, **extra: Any) -> dict[str, Any]:
    types = ["spot"] if market == "spot" else ["linear"]
    settings: dict[str, Any] = {
        "urls": server.base_url, "api_key_env": KEY_ENV, "secret_env": SECRET_ENV,
        "options": {"fetchMarkets": {"types": types}, "fetchCurrencies": False,
                    "fetchMargins": False, "adjustForTimeDifference": False},
        "enable_rate_limit": False, "timeout_s": 5.0, "poll_interval_s": 0.1,
        "sweep_interval_s": 0.5, "reconnect_initial_s": 0.05,
        "symbols": ["BTC/USDT" if market == "spot" else "BTC/USDT:USDT"],
    }
    settings.update(extra)
    return settings


def _adapter(server: BinanceServer, market: str, home: Path, **extra: Any) -> BrokerAdapter:
    variant = "binance" if market == "spot" else "binanceusdm"
    return create_adapter(_settings(server, market, **extra), variant=variant, home=home)


def _run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(scenario(), 60))


async def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + GUARD_S
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def _order(cid: str, symbol: str, order_type: OrderType, quantity: str,
           price: str | None = None, side: OrderSide = OrderSide.BUY) -> Order:
    return Order(client_order_id=cid, strategy_id="T", symbol=symbol, side=side,
                 order_type=order_type, quantity=Decimal(quantity), ts_init=0,
                 price=Decimal(price) if price is not None else None)


# -- instruments --------------------------------------------------------------------------------


def test_instruments_carry_the_exchange_precision_and_limits(binance: BinanceServer,
                                                             tmp_path: Path) -> None:
    async def scenario() -> Any:
        spot = _adapter(binance, "spot", tmp_path)
        perp = _adapter(binance, "futures", tmp_path, leverage=10)
        try:
            found = await spot.instruments.instruments(["BTC/USDT", "ETH/USDT"])
            await perp.execution.connect()
            perps = await perp.instruments.instruments(["BTC/USDT:USDT"])
            with pytest.raises(ConfigError, match="did you mean 'BTC/USDT'"):
                await spot.instruments.instruments(["BTC/USDC"])
            return found, perps
        finally:
            await spot.close()
            await perp.close()

    (btc, eth), (perp,) = _run(scenario)
    assert (btc.venue, btc.tick_size, btc.lot_step, btc.min_quantity) == (
        "BINANCE", Decimal("0.01"), Decimal("0.00001"), Decimal("0.00001"))
    assert eth.base_currency == "ETH" and eth.quote_currency == "USDT"
    assert (perp.venue, perp.tick_size, perp.lot_step, perp.min_quantity) == (
        "BINANCEUSDM", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"))
    assert perp.multiplier == 1 and perp.margin_rate == Decimal("0.1")
    assert [r.params.get("leverage") for r in binance.requests("/fapi/v1/leverage")] == ["10"]


# -- order events: websockets and polling -------------------------------------------------------


def _lifecycle(server: BinanceServer, market: str, home: Path, use_websockets: bool
               ) -> tuple[list[ev.OrderEvent], BrokerAdapter, list[Any]]:
    symbol = "BTC/USDT" if market == "spot" else "BTC/USDT:USDT"
    limit = "60000.00" if market == "spot" else "60000.0"
    adapter = _adapter(server, market, home, use_websockets=use_websockets)
    events: list[ev.OrderEvent] = []
    sockets: list[Any] = []

    async def scenario() -> None:
        adapter.execution.bind(events.append)
        await adapter.execution.connect()
        try:
            if use_websockets:  # the user stream opens in the background: wait for it here
                await _until(lambda: any(user for _, user, _ in server.websockets()),
                             "the user stream")
            resting = _order("LC-1", symbol, OrderType.LIMIT, "0.003", limit)
            await adapter.execution.submit_order(resting)
            await _until(lambda: any(isinstance(e, ev.OrderAccepted) for e in events), "ack")
            server.fill("LC-1", "0.001", market=market)
            server.fill("LC-1", "0.002", market=market)
            await _until(lambda: sum(isinstance(e, ev.OrderFilled) for e in events) == 2,
                         "two fills")
            sockets.extend(server.websockets())
            taker = _order("LC-2", symbol, OrderType.LIMIT, "0.002", limit)
            await adapter.execution.submit_order(taker)
            await adapter.execution.cancel_order(taker)
            await _until(lambda: any(isinstance(e, ev.OrderCanceled) for e in events),
                         "the cancel")
        finally:
            await adapter.close()

    _run(scenario)
    return events, adapter, sockets


@pytest.mark.parametrize("market", ["spot", "futures"])
def test_order_events_alike_from_websockets_and_from_polling(binance: BinanceServer,
                                                             tmp_path: Path,
                                                             market: str) -> None:
    streamed, ws_adapter, ws_sockets = _lifecycle(binance, market, tmp_path, True)
    binance.reset()
    polled, poll_adapter, poll_sockets = _lifecycle(binance, market, tmp_path, False)

    def shape(events: list[ev.OrderEvent]) -> list[tuple[str, str, str]]:
        return [(e.kind, e.client_order_id, str(getattr(e, "last_qty", ""))) for e in events]

    assert shape(streamed) == shape(polled) == [
        ("OrderAccepted", "LC-1", ""), ("OrderFilled", "LC-1", "0.001"),
        ("OrderFilled", "LC-1", "0.002"), ("OrderAccepted", "LC-2", ""),
        ("OrderCanceled", "LC-2", "")]
    assert len({e.trade_id for e in streamed if isinstance(e, ev.OrderFilled)}) == 2
    assert ws_adapter.capabilities.streaming and not poll_adapter.capabilities.streaming
    assert ws_adapter.execution.stream_updates > 0  # type: ignore[attr-defined]
    assert any(user for _, user, _ in ws_sockets)
    assert poll_sockets == [] and poll_adapter.execution.sweeps > 0  # type: ignore[attr-defined]


def test_a_duplicated_stream_update_books_no_second_fill(binance: BinanceServer,
                                                         tmp_path: Path) -> None:
    adapter = _adapter(binance, "spot", tmp_path)
    events: list[ev.OrderEvent] = []

    async def scenario() -> None:
        execution: Any = adapter.execution
        execution.bind(events.append)
        await execution.connect()
        try:
            await execution.submit_order(_order("DUP-1", "BTC/USDT", OrderType.MARKET, "0.001"))
            await _until(lambda: any(isinstance(e, ev.OrderFilled) for e in events), "fill")
            trades = await execution.client.exchange.fetch_my_trades("BTC/USDT")
            for trade in trades * 2:  # the same trade again, as a stream might repeat it
                await execution._on_stream_trade(trade)
            await execution._sweep()
        finally:
            await adapter.close()

    _run(scenario)
    assert [e.kind for e in events] == ["OrderAccepted", "OrderFilled"]


@pytest.mark.parametrize("use_websockets", [True, False])
def test_a_perpetual_stop_waits_in_the_algo_service_and_cancels_there(
        binance: BinanceServer, tmp_path: Path, use_websockets: bool) -> None:
    adapter = _adapter(binance, "futures", tmp_path, use_websockets=use_websockets)
    events: list[ev.OrderEvent] = []

    async def scenario() -> Any:
        execution = adapter.execution
        execution.bind(events.append)
        await execution.connect()
        try:
            stop = Order(client_order_id="ALGO-1", strategy_id="T", symbol="BTC/USDT:USDT",
                         side=OrderSide.BUY, order_type=OrderType.STOP,
                         quantity=Decimal("0.002"), ts_init=0,
                         trigger_price=Decimal("67000.0"))
            await execution.submit_order(stop)
            listed = [r.client_order_id for r in await execution.open_orders()]
            status = await execution.order_status("ALGO-1")
            await execution.cancel_order(stop)
            await _until(lambda: any(isinstance(e, ev.OrderCanceled) for e in events),
                         "the cancel")
            return listed, status, await execution.order_status("ALGO-1")
        finally:
            await adapter.close()

    listed, status, after = _run(scenario)
    assert listed == ["ALGO-1"]
    assert status is not None and status.order_type is OrderType.STOP and status.is_open
    assert status.trigger_price == Decimal("67000.0")
    assert after is not None and after.status.value == "CANCELED"
    assert [e.kind for e in events] == ["OrderAccepted", "OrderCanceled"]
    assert binance.algo_order("ALGO-1").client_algo_id == "ALGO-1"


@pytest.mark.parametrize("use_websockets", [True, False])
def test_market_data_quotes_streamed_or_polled_and_trades_streamed(binance: BinanceServer,
                                                                   tmp_path: Path,
                                                                   use_websockets: bool) -> None:
    # the local Binance serves no public trades over REST (/api/v3/trades): trades are
    # checked on the websocket stream only
    adapter = _adapter(binance, "spot", tmp_path, use_websockets=use_websockets)
    market = adapter.market_data
    assert market is not None

    async def scenario() -> list[Any]:
        await market.connect()
        await adapter.execution.connect()
        items: list[Any] = []
        try:
            await market.subscribe_quotes("BTC/USDT")
            if use_websockets:
                await market.subscribe_trades("BTC/USDT")
                await _until(lambda: any("btcusdt@trade" in streams
                                         for _, _, streams in binance.websockets()),
                             "the trade stream")
            binance.set_price("BTCUSDT", "64000.00", "64000.50")
            await adapter.execution.submit_order(
                _order("MD-1", "BTC/USDT", OrderType.MARKET, "0.001"))
            stream = market.stream()

            async def collect() -> None:
                while not ((any(isinstance(i, TradeTick) for i in items) or not use_websockets)
                           and any(isinstance(i, QuoteTick) and i.bid == 64000.0
                                   for i in items)):
                    items.append(await anext(stream))

            await asyncio.wait_for(collect(), GUARD_S)
        finally:
            await adapter.close()
        return items

    items = _run(scenario)
    quotes = [i for i in items if isinstance(i, QuoteTick)]
    trades = [i for i in items if isinstance(i, TradeTick)]
    assert quotes[0].symbol == "BTC/USDT" and quotes[0].ask > quotes[0].bid
    assert (quotes[-1].bid, quotes[-1].ask) == (64000.0, 64000.5)
    assert all(a.ts <= b.ts for a, b in itertools.pairwise(quotes))
    if use_websockets:
        assert [(t.price, t.size) for t in trades] == [(64000.5, 0.001)] and trades[0].trade_id


@pytest.mark.parametrize("use_websockets", [True, False])
def test_bars_streamed_or_polled_pass_on_only_the_minute_that_ended(binance: BinanceServer,
                                                                   tmp_path: Path,
                                                                   use_websockets: bool) -> None:
    adapter = _adapter(binance, "spot", tmp_path, use_websockets=use_websockets)
    market = adapter.market_data
    assert market is not None

    async def scenario() -> Bar:
        await market.connect()
        try:
            await market.subscribe_bars("BTC/USDT", "1m")
            if use_websockets:
                await _until(lambda: any("btcusdt@kline_1m" in streams
                                         for _, _, streams in binance.websockets()),
                             "the kline stream")
            binance.set_price("BTCUSDT", "64000.00", "64000.50")  # this minute's candle moves
            binance.set_clock_offset(60_000)  # the exchange's next minute begins
            binance.set_price("BTCUSDT", "64100.00", "64100.50")
            return await asyncio.wait_for(anext(market.stream()), GUARD_S)
        finally:
            await adapter.close()

    bar = _run(scenario)
    opened_ms = bar.ts // 1_000_000
    assert bar.symbol == "BTC/USDT" and bar.timeframe == "1m"
    assert opened_ms % 60_000 == 0 and opened_ms + 60_000 <= binance.now_ms()  # it had ended
    url = (f"{binance.base_url}/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime={opened_ms}"
           "&limit=1")
    with urllib.request.urlopen(url, timeout=5) as answer:  # the exchange's own record of it
        (row,) = json.load(answer)
    assert int(row[0]) == opened_ms
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == tuple(
        float(v) for v in row[1:6])


# -- rate limits --------------------------------------------------------------------------------


def test_a_429_is_retried_only_after_retry_after(binance: BinanceServer, tmp_path: Path) -> None:
    adapter = _adapter(binance, "spot", tmp_path)

    async def scenario() -> None:
        await adapter.execution.connect()
        try:
            binance.fail_next("rate_limit", path="/api/v3/order", retry_after=1)
            order = _order("RL-1", "BTC/USDT", OrderType.LIMIT, "0.001", "60000.00")
            with pytest.raises(Exception, match="RATE_LIMITED"):
                await adapter.execution.submit_order(order)
            await adapter.execution.submit_order(order)  # as the router retries at once
        finally:
            await adapter.close()

    _run(scenario)
    posts = binance.requests("/api/v3/order", "POST")
    assert [r.status for r in posts] == [429, 200]
    assert posts[1].time - posts[0].time >= 1000, "the retry did not wait for Retry-After"


# -- secrets ------------------------------------------------------------------------------------


def test_secrets_stay_out_of_logs_errors_and_reprs(binance: BinanceServer, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    wrong_secret = "wrong-secret-0123456789abcdef"
    monkeypatch.setenv(SECRET_ENV, wrong_secret)
    caplog.set_level(logging.DEBUG)
    adapter = _adapter(binance, "spot", tmp_path)

    async def scenario() -> BaseException:
        try:
            await adapter.execution.connect()
        except UserError as exc:
            return exc
        finally:
            await adapter.close()
        raise AssertionError("wrong credentials were accepted")

    error = _run(scenario)
    assert isinstance(error, CcxtAuthenticationError)
    assert "-1022" in str(error) and "\n" not in str(error)
    config = adapter.execution.config  # type: ignore[attr-defined]
    shown = [str(error), repr(error), repr(config), str(config)]
    shown += [r.getMessage() for r in caplog.records]
    shown += [r.exc_text or "" for r in caplog.records]
    assert any("ccxt" in r.name for r in caplog.records), "ccxt logged nothing to check"
    for text in shown:
        assert wrong_secret not in text and API_KEY not in text, text
        assert not re.search(r"signature=(?!\*\*\*)", text), text


def test_settings_refuse_literal_keys_and_unset_variables(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="secrets must not be written"):
        create_adapter({"secret": "abc"}, variant="binance", home=tmp_path)
    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE is not set"):
        create_adapter({"api_key_env": "NOT_SET_ANYWHERE"}, variant="binance", home=tmp_path)
    with pytest.raises(ConfigError, match=r"broker\.settings\.poll_intervall"):
        create_adapter({"poll_intervall": 1}, variant="binance", home=tmp_path)
    with pytest.raises(ConfigError, match="did you mean ccxt:binance"):
        create_adapter({}, variant="binanse", home=tmp_path)


# -- the download command -----------------------------------------------------------------------


@pytest.fixture
def cli_home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    yield home


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TRADELOOP_HOME=str(home), COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "tradeloop", *args], capture_output=True,
                          text=True, check=False, env=env, timeout=120)


def test_download_command_stores_bars_and_a_rerun_fetches_only_what_is_missing(
        binance: BinanceServer, cli_home: Path) -> None:
    settings = cli_home / "binance.toml"
    settings.write_text(
        "[broker]\nname = \"ccxt:binance\"\n[broker.settings]\n"
        f"urls = \"{binance.base_url}\"\nuse_websockets = false\n"
        "[broker.settings.options]\nfetchCurrencies = false\nfetchMargins = false\n"
        "[broker.settings.options.fetchMarkets]\ntypes = [\"spot\"]\n")
    common = ("data", "download", "--venue", "ccxt:binance", "--symbol", "BTC/USDT",
              "--timeframe", "1m", "--settings", str(settings))
    first = _cli(cli_home, *common, "--from", "2026-01-01T00:00", "--to", "2026-01-02T00:00")
    assert first.returncode == 0, first.stderr
    assert "1,440 bars downloaded" in first.stdout and "1,440 added" in first.stdout
    klines = len(binance.requests("/api/v3/klines"))
    assert klines == 2  # 1000 bars a request

    again = _cli(cli_home, *common, "--from", "2026-01-01T00:00", "--to", "2026-01-02T00:00")
    assert again.returncode == 0, again.stderr
    assert "nothing to download" in again.stdout
    assert len(binance.requests("/api/v3/klines")) == klines

    longer = _cli(cli_home, *common, "--from", "2026-01-01T00:00", "--to", "2026-01-02T01:00")
    assert longer.returncode == 0, longer.stderr
    assert "60 bars downloaded" in longer.stdout and "60 added" in longer.stdout
    assert len(binance.requests("/api/v3/klines")) == klines + 1
    stored = DataStore(cli_home / "store").read_bars("BTC/USDT", "1m", venue="BINANCE")
    assert len(stored) == 1500 and stored.ts[0] == 1_767_225_600 * 10**9

    unknown = _cli(cli_home, "data", "download", "--venue", "ccxt:binance", "--symbol",
                   "BTC/USDX", "--from", "2026-01-01", "--settings", str(settings))
    assert unknown.returncode != 0
    lines = [line for line in unknown.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "does not list 'BTC/USDX'" in lines[0], unknown.stderr
    no_venue = _cli(cli_home, "data", "download", "--venue", "ccxt:nosuchexchange",
                    "--symbol", "BTC/USDT", "--from", "2026-01-01")
    assert no_venue.returncode != 0 and "no exchange 'nosuchexchange'" in no_venue.stderr
    assert "Traceback" not in no_venue.stderr + unknown.stderr
