"""ccxt.pro against the local Binance's websocket streams (market data and user data)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import ccxt
import pytest

from support.binance import BinanceServer
from support.binance import run_with_exchange as run

SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"
GUARD_S = 10  # only a guard against hanging: nothing here depends on timing


async def until(condition: Callable[[], bool]) -> None:
    """Yield to the event loop until ``condition()`` holds (the guard fails the test)."""
    deadline = time.monotonic() + GUARD_S
    while not condition():
        assert time.monotonic() < deadline, "the websocket event never arrived"
        await asyncio.sleep(0.01)


async def after(trigger: Callable[[], Any], watch: Awaitable[Any]) -> Any:
    """Start ``watch``, let it wait, call ``trigger`` and return what the watch receives."""
    task = asyncio.ensure_future(watch)
    for _ in range(5):
        await asyncio.sleep(0)
    trigger()
    return await asyncio.wait_for(task, GUARD_S)


def subscribed(server: BinanceServer, stream: str) -> Callable[[], bool]:
    return lambda: any(stream in streams for _, _, streams in server.websockets())


def user_stream(server: BinanceServer, market: str) -> Callable[[], bool]:
    return lambda: any(m == market and user for m, user, _ in server.websockets())


def test_ws_tickers_follow_the_quote(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        first = await asyncio.wait_for(ex.watch_ticker(SPOT, {"name": "ticker"}), GUARD_S)
        moved = await after(lambda: binance.set_price("BTCUSDT", "64000.00", "64000.10"),
                            ex.watch_ticker(SPOT, {"name": "ticker"}))
        mini = await asyncio.wait_for(ex.watch_ticker("ETH/USDT"), GUARD_S)
        return first, moved, mini

    first, moved, mini = run(binance, "spot", scenario, pro=True)
    assert (first["bid"], first["ask"], first["last"]) == (65000.0, 65000.1, 65000.05)
    assert (moved["bid"], moved["ask"], moved["last"]) == (64000.0, 64000.1, 64000.05)
    assert mini["last"] == 3500.005 and mini["bid"] is None  # miniTicker: ccxt.pro's default


def test_ws_klines_and_public_trades(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        candles = [list(c) for c in await asyncio.wait_for(ex.watch_ohlcv(SPOT, "1m"),
                                                             GUARD_S)]  # ccxt reuses its cache
        trades = asyncio.ensure_future(ex.watch_trades(SPOT))
        await until(subscribed(binance, "btcusdt@trade"))
        await ex.create_order(SPOT, "market", "sell", 0.01)
        return candles, await asyncio.wait_for(trades, GUARD_S)

    candles, trades = run(binance, "spot", scenario, pro=True)
    assert candles[-1][4] == 65000.05 and candles[-1][0] % 60_000 == 0
    assert [(t["price"], t["amount"], t["side"]) for t in trades] == [(65000.0, 0.01, "sell")]


def test_ws_spot_orders_through_the_websocket_api(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        orders = asyncio.ensure_future(ex.watch_orders(SPOT))
        await until(user_stream(binance, "spot"))
        await ex.create_order(SPOT, "limit", "buy", 0.01, 64000, {"clientOrderId": "ws-1"})
        placed = await asyncio.wait_for(orders, GUARD_S)
        filled = await after(lambda: binance.fill("ws-1", "0.004"), ex.watch_my_trades(SPOT))
        return placed, filled

    placed, filled = run(binance, "spot", scenario, pro=True)
    assert [(o["clientOrderId"], o["status"]) for o in placed] == [("ws-1", "open")]
    assert [(t["price"], t["amount"], t["takerOrMaker"]) for t in filled] == [
        (64000.0, 0.004, "maker")]
    assert [r.path for r in binance.requests() if "Stream" in r.path] == []


def test_ws_spot_user_stream_rejects_a_bad_signature(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        # ccxt.pro 4.5.90 maps the -1022 answer to AuthenticationError, then trips over its
        # own clean-up (it deletes the subscription twice): the caller sees a KeyError whose
        # context is the AuthenticationError.
        with pytest.raises(KeyError) as raised:
            await asyncio.wait_for(ex.watch_orders(SPOT), GUARD_S)
        return raised.value.__context__

    cause = run(binance, "spot", scenario, pro=True, secret="not-the-secret")
    assert isinstance(cause, ccxt.AuthenticationError) and "-1022" in str(cause)


def test_ws_futures_orders_and_algo_updates(binance: BinanceServer) -> None:
    def status(ex: Any, client_id: str) -> str | None:
        # ccxt.pro's order cache holds the latest update of every order (a conditional order
        # and the order it triggers share the client id; the latest update wins)
        found = [o["status"] for o in ex.orders or [] if o["clientOrderId"] == client_id]
        return found[-1] if found else None

    async def scenario(ex: Any) -> Any:
        ticker = await asyncio.wait_for(ex.watch_ticker(PERP, {"name": "ticker"}), GUARD_S)
        listening = asyncio.ensure_future(ex.watch_orders(PERP))
        await until(user_stream(binance, "futures"))
        await ex.create_order(PERP, "market", "buy", 0.01, params={"clientOrderId": "fw-1"})
        await until(lambda: status(ex, "fw-1") == "closed")
        await ex.create_order(PERP, "market", "sell", 0.01, None, {
            "stopLossPrice": 64000, "reduceOnly": True, "clientOrderId": "fw-sl"})
        await until(lambda: status(ex, "fw-sl") == "open")
        binance.set_price("BTCUSDT", "63900.00", "63900.10")
        await until(lambda: status(ex, "fw-sl") == "closed")
        listening.cancel()
        return ticker

    assert run(binance, "futures", scenario, pro=True)["last"] == 65000.0
    assert binance.position("BTCUSDT").amount == 0


def test_ws_futures_positions_and_book_tickers(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        snapshot = len(await ex.watch_positions())  # a REST snapshot (and a live cache)
        positions = asyncio.ensure_future(ex.watch_positions())
        await until(user_stream(binance, "futures"))
        await ex.create_order(PERP, "market", "buy", 0.01)
        return (snapshot, await asyncio.wait_for(positions, GUARD_S),
                await asyncio.wait_for(ex.watch_bids_asks([PERP]), GUARD_S))

    snapshot, positions, bids_asks = run(binance, "futures", scenario, pro=True)
    assert snapshot == 0
    assert [(p["symbol"], p["contracts"], p["entryPrice"], p["side"]) for p in positions] == [
        (PERP, 0.01, 65000.1, "long")]
    assert (bids_asks[PERP]["bid"], bids_asks[PERP]["ask"]) == (65000.0, 65000.1)


def test_ws_spot_balance(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        balance = asyncio.ensure_future(ex.watch_balance())
        await until(user_stream(binance, "spot"))
        await ex.create_order(SPOT, "market", "buy", 0.01)
        return await asyncio.wait_for(balance, GUARD_S)

    balance = run(binance, "spot", scenario, pro=True)
    assert balance["BTC"]["free"] == 1.00999 and balance["USDT"]["free"] == 9349.999
