"""Real ccxt (``binance`` for spot, ``binanceusdm`` for USD-M) against the local Binance.

Every call goes over HTTP to 127.0.0.1; nothing reaches the internet.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import ccxt
import pytest

from support.binance import BinanceServer
from support.binance import run_with_exchange as run

SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"


def wait_for_next_ms(server: BinanceServer, after_ms: int) -> None:
    while server.now_ms() <= after_ms:
        pass


# -- markets, balances, market data ------------------------------------------------------------


def test_spot_markets_carry_filters_without_calling_sapi(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        return ex.markets

    markets = run(binance, "spot", scenario)
    assert set(markets) == {"BTC/USDT", "ETH/USDT", "SOL/USDT"}
    btc = markets[SPOT]
    assert btc["spot"] and btc["active"]
    assert btc["precision"]["amount"] == 0.00001 and btc["precision"]["price"] == 0.01
    assert btc["limits"]["amount"] == {"min": 0.00001, "max": 9000.0}
    assert btc["limits"]["cost"]["min"] == 5.0
    assert btc["limits"]["market"]["max"] == 100.0
    assert [r.path for r in binance.requests()] == ["/api/v3/exchangeInfo"]


def test_futures_markets_are_linear_perpetuals(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        return ex.markets

    markets = run(binance, "futures", scenario)
    btc = markets[PERP]
    assert btc["swap"] and btc["linear"] and btc["settle"] == "USDT"
    assert btc["precision"]["amount"] == 0.001 and btc["precision"]["price"] == 0.1
    assert btc["limits"]["cost"]["min"] == 100.0
    assert btc["limits"]["amount"] == {"min": 0.001, "max": 1000.0}
    assert [r.path for r in binance.requests()] == ["/fapi/v1/exchangeInfo"]


def test_spot_balance_shows_funds_locked_by_an_open_order(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        await ex.create_order(SPOT, "limit", "buy", 0.01, 60000, {"clientOrderId": "lock-1"})
        return await ex.fetch_balance()

    balance = run(binance, "spot", scenario)
    assert balance["USDT"] == {"free": 9400.0, "used": 600.0, "total": 10000.0}
    assert balance["BTC"]["total"] == 1.0


def test_spot_ticker_and_order_book_come_from_the_quote(binance: BinanceServer) -> None:
    binance.set_price("BTCUSDT", "64000.00", "64000.50")

    async def scenario(ex: Any) -> Any:
        return await ex.fetch_ticker(SPOT), await ex.fetch_order_book(SPOT, 5)

    ticker, book = run(binance, "spot", scenario)
    assert (ticker["bid"], ticker["ask"], ticker["last"]) == (64000.0, 64000.5, 64000.25)
    assert ticker["low"] <= 64000.25 <= ticker["high"]
    assert book["bids"][0][0] == 64000.0 and book["asks"][0][0] == 64000.5
    assert len(book["bids"]) == len(book["asks"]) == 5


def test_ohlcv_range_is_aligned_deterministic_and_ends_at_the_current_price(
        binance: BinanceServer) -> None:
    hour = 3_600_000
    since = (binance.now_ms() // hour - 10) * hour

    async def scenario(ex: Any) -> Any:
        first = await ex.fetch_ohlcv(SPOT, "1h", since, params={"until": since + 4 * hour})
        again = await ex.fetch_ohlcv(SPOT, "1h", since, params={"until": since + 4 * hour})
        binance.set_price("BTCUSDT", "66000.00", "66000.10")
        latest = await ex.fetch_ohlcv(SPOT, "1m", limit=3)
        return first, again, latest

    first, again, latest = run(binance, "spot", scenario)
    assert [c[0] for c in first] == [since + i * hour for i in range(5)]
    assert first == again
    for _, o, h, low, c, volume in first:
        assert low <= min(o, c) <= max(o, c) <= h and volume > 0
    assert all(a[4] == b[1] for a, b in itertools.pairwise(first))
    assert len(latest) == 3 and latest[-1][4] == 66000.05 and latest[-1][2] >= 66000.05


def test_ohlcv_depends_on_the_seed() -> None:
    rows = []
    for seed in (1, 2):
        with BinanceServer(seed=seed) as server:
            async def scenario(ex: Any) -> Any:
                return await ex.fetch_ohlcv(SPOT, "1d", limit=5)

            rows.append(run(server, "spot", scenario))
    assert rows[0][-1][4] == rows[1][-1][4] == 65000.05  # both end at the opening price
    assert rows[0][0][1] != rows[1][0][1]


def test_futures_ticker_ohlcv_and_book_ticker(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        return (await ex.fetch_ticker(PERP), await ex.fetch_ohlcv(PERP, "5m", limit=4),
                await ex.fetch_bids_asks([PERP]))

    ticker, candles, bids_asks = run(binance, "futures", scenario)
    assert ticker["last"] == 65000.0  # mid 65000.05 shown at USD-M's 0.1 precision
    assert ticker["bid"] is None  # USD-M's 24hr ticker has no book prices, as on Binance
    assert len(candles) == 4 and candles[1][0] - candles[0][0] == 300_000
    assert (bids_asks[PERP]["bid"], bids_asks[PERP]["ask"]) == (65000.0, 65000.1)


# -- spot orders ---------------------------------------------------------------------------------


def test_spot_market_buy_fills_at_the_ask_with_commission_in_base(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        return await ex.create_order(SPOT, "market", "buy", 0.01, params={"clientOrderId": "m-1"})

    order = run(binance, "spot", scenario)
    assert (order["status"], order["filled"], order["average"]) == ("closed", 0.01, 65000.1)
    assert order["clientOrderId"] == "m-1" and len(order["trades"]) == 1
    assert binance.balance("BTC") == (Decimal("1.00999"), 0)
    assert binance.balance("USDT") == (Decimal("9349.999"), 0)


def test_spot_market_sell_pays_commission_in_quote(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        return await ex.create_order(SPOT, "market", "sell", 0.1)

    order = run(binance, "spot", scenario)
    assert order["average"] == 65000.0
    assert binance.balance("USDT")[0] == Decimal("16493.5")
    assert binance.balance("BTC")[0] == Decimal("0.9")


def test_spot_limit_rests_fills_partly_then_fully_as_maker(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        placed = await ex.create_order(SPOT, "limit", "buy", 0.02, 64000,
                                       {"clientOrderId": "lim-1"})
        binance.fill("lim-1", "0.005")
        partial = await ex.fetch_order(None, SPOT, {"clientOrderId": "lim-1"})
        binance.set_price("BTCUSDT", "63900.00", "63900.10")
        done = await ex.fetch_order(placed["id"], SPOT)
        return placed, partial, done, await ex.fetch_my_trades(SPOT)

    placed, partial, done, trades = run(binance, "spot", scenario)
    assert placed["status"] == "open"
    assert (partial["status"], partial["filled"], partial["info"]["status"]) == (
        "open", 0.005, "PARTIALLY_FILLED")
    assert (done["status"], done["filled"], done["average"]) == ("closed", 0.02, 64000.0)
    assert [(t["amount"], t["price"], t["takerOrMaker"]) for t in trades] == [
        (0.005, 64000.0, "maker"), (0.015, 64000.0, "maker")]


def test_spot_marketable_limit_fills_at_the_better_price(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        return await ex.create_order(SPOT, "limit", "buy", 0.01, 66000)

    order = run(binance, "spot", scenario)
    assert (order["status"], order["average"]) == ("closed", 65000.1)


@pytest.mark.parametrize("tif", ["IOC", "FOK"])
def test_spot_unmarketable_ioc_and_fok_expire(binance: BinanceServer, tif: str) -> None:
    async def scenario(ex: Any) -> Any:
        return await ex.create_order(SPOT, "limit", "buy", 0.01, 60000, {"timeInForce": tif})

    order = run(binance, "spot", scenario)
    assert (order["status"], order["filled"], order["timeInForce"]) == ("expired", 0.0, tif)


def test_spot_stop_loss_limit_triggers_when_the_price_falls(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        placed = await ex.create_order(SPOT, "limit", "sell", 0.01, 63000,
                                       {"triggerPrice": 64000, "clientOrderId": "sl-1"})
        binance.set_price("BTCUSDT", "64500.00", "64500.10")
        waiting = await ex.fetch_order(placed["id"], SPOT)
        binance.set_price("BTCUSDT", "63990.00", "63990.10")
        return placed, waiting, await ex.fetch_order(placed["id"], SPOT)

    placed, waiting, done = run(binance, "spot", scenario)
    assert placed["info"]["type"] == "STOP_LOSS_LIMIT" and placed["triggerPrice"] == 64000.0
    assert waiting["status"] == "open" and waiting["info"]["isWorking"] is False
    assert (done["status"], done["average"]) == ("closed", 63990.0)


def test_spot_take_profit_limit_triggers_when_the_price_rises(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        placed = await ex.create_order(SPOT, "limit", "sell", 0.01, 67000,
                                       {"takeProfitPrice": 67000})
        binance.set_price("BTCUSDT", "67000.00", "67000.10")
        return placed, await ex.fetch_order(placed["id"], SPOT)

    placed, done = run(binance, "spot", scenario)
    assert placed["info"]["type"] == "TAKE_PROFIT_LIMIT" and placed["status"] == "open"
    assert (done["status"], done["average"]) == ("closed", 67000.0)


def test_spot_limit_maker_rests_or_is_refused(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        resting = await ex.create_order(SPOT, "limit", "buy", 0.01, 64000, {"postOnly": True})
        with pytest.raises(ccxt.OrderImmediatelyFillable, match="immediately match and take"):
            await ex.create_order(SPOT, "limit", "buy", 0.01, 66000, {"postOnly": True})
        return resting

    resting = run(binance, "spot", scenario)
    assert resting["info"]["type"] == "LIMIT_MAKER" and resting["postOnly"] is True
    assert resting["status"] == "open"


@pytest.mark.parametrize(("resp_type", "has_status", "has_fills"),
                         [("ACK", False, False), ("RESULT", True, False), ("FULL", True, True)])
def test_spot_new_order_response_types(binance: BinanceServer, resp_type: str,
                                       has_status: bool, has_fills: bool) -> None:
    async def scenario(ex: Any) -> Any:
        return await ex.create_order(SPOT, "market", "buy", 0.001,
                                     params={"newOrderRespType": resp_type})

    info = run(binance, "spot", scenario)["info"]
    assert ("status" in info, "fills" in info) == (has_status, has_fills)
    assert info["orderId"] > 0


def test_spot_cancel_one_then_all_releases_the_funds(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        first = await ex.create_order(SPOT, "limit", "buy", 0.01, 60000, {"clientOrderId": "c-1"})
        await ex.create_order(SPOT, "limit", "buy", 0.01, 61000, {"clientOrderId": "c-2"})
        await ex.create_order(SPOT, "limit", "sell", 0.01, 70000, {"clientOrderId": "c-3"})
        cancelled = await ex.cancel_order(first["id"], SPOT)
        by_client_id = await ex.cancel_order(None, SPOT, {"clientOrderId": "c-2"})
        rest = await ex.cancel_all_orders(SPOT)
        with pytest.raises(ccxt.OrderNotFound):  # Binance answers -2011 when nothing is open
            await ex.cancel_all_orders(SPOT)
        return cancelled, by_client_id, rest, await ex.fetch_open_orders(SPOT)

    cancelled, by_client_id, rest, still_open = run(binance, "spot", scenario)
    assert cancelled["status"] == by_client_id["status"] == "canceled"
    assert by_client_id["info"]["origClientOrderId"] == "c-2"
    assert [o["info"]["origClientOrderId"] for o in rest] == ["c-3"]
    assert still_open == []
    assert binance.balance("USDT") == (Decimal(10000), 0)
    assert binance.balance("BTC") == (Decimal(1), 0)


def test_spot_client_order_id_is_unique_among_open_orders_only(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        first = await ex.create_order(SPOT, "limit", "buy", 0.01, 60000, {"clientOrderId": "u-1"})
        with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
            await ex.create_order(SPOT, "limit", "buy", 0.01, 60000, {"clientOrderId": "u-1"})
        await ex.cancel_order(first["id"], SPOT)
        again = await ex.create_order(SPOT, "limit", "buy", 0.01, 60000,
                                      {"clientOrderId": "u-1"})
        return first, again, await ex.fetch_order(None, SPOT, {"clientOrderId": "u-1"})

    first, again, looked_up = run(binance, "spot", scenario)
    assert again["id"] != first["id"] and looked_up["id"] == again["id"]
    posts = [r for r in binance.requests("/api/v3/order", "POST")
             if r.params.get("newClientOrderId") == "u-1"]
    assert [r.status for r in posts] == [200, 400, 200]


def test_spot_fetch_my_trades_since(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        await ex.create_order(SPOT, "market", "buy", 0.001)
        # the trade may be stamped a millisecond after its order: bound by the trade's time
        first_trade = (await ex.fetch_my_trades(SPOT))[-1]["timestamp"]
        wait_for_next_ms(binance, first_trade)
        second = await ex.create_order(SPOT, "market", "sell", 0.002)
        recent = await ex.fetch_my_trades(SPOT, since=first_trade + 1)
        return second, recent, await ex.fetch_my_trades(SPOT)

    second, recent, everything = run(binance, "spot", scenario)
    assert [t["order"] for t in recent] == [second["id"]]
    assert [t["side"] for t in everything] == ["buy", "sell"]
    assert everything[1]["fee"] == {"currency": "USDT", "cost": 0.13}


def test_spot_and_futures_listen_keys(binance: BinanceServer) -> None:
    async def spot(ex: Any) -> Any:
        key = (await ex.publicPostUserDataStream())["listenKey"]
        return key, await ex.publicPutUserDataStream({"listenKey": key})

    async def futures(ex: Any) -> Any:
        return await ex.fapiPrivatePostListenKey()

    key, kept = run(binance, "spot", spot)
    assert len(key) == 60 and kept == {}
    assert len(run(binance, "futures", futures)["listenKey"]) == 64


# -- futures orders ------------------------------------------------------------------------------


def test_futures_position_margin_and_realised_pnl(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        await ex.create_order(PERP, "market", "buy", 0.02, params={"clientOrderId": "open-1"})
        positions = await ex.fetch_positions()
        balance = await ex.fetch_balance()
        binance.set_price("BTCUSDT", "66000.00", "66000.10")
        await ex.create_order(PERP, "market", "sell", 0.02, params={"reduceOnly": True})
        return positions, balance, await ex.fetch_positions(), await ex.fetch_my_trades(PERP)

    positions, balance, after, trades = run(binance, "futures", scenario)
    (position,) = positions
    assert (position["symbol"], position["side"], position["contracts"]) == (PERP, "long", 0.02)
    assert position["entryPrice"] == 65000.1 and position["marginMode"] == "cross"
    assert balance["USDT"]["used"] == pytest.approx(0.02 * 65000.05 / 20)
    assert after == []
    assert [t["info"]["realizedPnl"] for t in trades] == ["0.00000000", "19.99800000"]
    opening_fee, closing_fee = (Decimal(t["info"]["commission"]) for t in trades)
    wallet = binance.balance("USDT", market="futures")[0]
    assert wallet == Decimal(10000) + Decimal("19.998") - opening_fee - closing_fee


def test_futures_leverage_sets_the_margin_of_a_position(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        answer = await ex.set_leverage(5, PERP)
        await ex.create_order(PERP, "market", "buy", 0.01)
        return answer, await ex.fetch_positions([PERP])

    answer, (position,) = run(binance, "futures", scenario)
    assert answer["leverage"] == 5
    assert position["initialMargin"] == pytest.approx(0.01 * 65000.05 / 5)


def test_futures_limit_is_edited_in_place_then_fills(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        placed = await ex.create_order(PERP, "limit", "buy", 0.01, 60000,
                                       {"clientOrderId": "edit-1"})
        edited = await ex.edit_order(placed["id"], PERP, "limit", "buy", 0.02, 61000)
        filled = await ex.edit_order(placed["id"], PERP, "limit", "buy", 0.02, 65500)
        return placed, edited, filled, await ex.fetch_order(None, PERP,
                                                            {"clientOrderId": "edit-1"})

    placed, edited, filled, looked_up = run(binance, "futures", scenario)
    assert edited["id"] == placed["id"] and edited["clientOrderId"] == "edit-1"
    assert (edited["amount"], edited["price"], edited["status"]) == (0.02, 61000.0, "open")
    assert (filled["status"], filled["average"]) == ("closed", 65000.1)
    assert looked_up["status"] == "closed"


@pytest.mark.parametrize(("params", "expected"), [
    ({"postOnly": True}, ccxt.OrderNotFillable),
    ({"timeInForce": "FOK"}, ccxt.OrderNotFillable),
])
def test_futures_post_only_and_fok_rejections(binance: BinanceServer, params: dict[str, Any],
                                              expected: type[Exception]) -> None:
    price = 66000 if params.get("postOnly") else 60000

    async def scenario(ex: Any) -> Any:
        with pytest.raises(expected):
            await ex.create_order(PERP, "limit", "buy", 0.01, price, params)
        return await ex.fetch_open_orders(PERP)

    assert run(binance, "futures", scenario) == []


def test_futures_unmarketable_ioc_expires(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        return await ex.create_order(PERP, "limit", "buy", 0.01, 60000, {"timeInForce": "IOC"})

    assert run(binance, "futures", scenario)["status"] == "expired"


@pytest.mark.parametrize(("order_type", "price", "params", "algo_type", "move_to"), [
    ("market", None, {"stopLossPrice": 64000}, "STOP_MARKET", "63900.00"),
    ("limit", 63800, {"triggerPrice": 64000}, "STOP", "63900.00"),
    ("market", None, {"takeProfitPrice": 66000}, "TAKE_PROFIT_MARKET", "66100.00"),
    ("limit", 66050, {"takeProfitPrice": 66000}, "TAKE_PROFIT", "66100.00"),
])
def test_futures_conditional_orders_trigger_into_the_engine(
        binance: BinanceServer, order_type: str, price: float | None, params: dict[str, Any],
        algo_type: str, move_to: str) -> None:
    async def scenario(ex: Any) -> Any:
        await ex.create_order(PERP, "market", "buy", 0.01)
        placed = await ex.create_order(PERP, order_type, "sell", 0.01, price,
                                       {**params, "reduceOnly": True, "clientOrderId": "cond-1"})
        waiting = await ex.fetch_open_orders(PERP, params={"trigger": True})
        plain = await ex.fetch_open_orders(PERP)
        binance.set_price("BTCUSDT", move_to, str(Decimal(move_to) + Decimal("0.1")))
        done = await ex.fetch_order(None, PERP, {"trigger": True, "clientOrderId": "cond-1"})
        return placed, waiting, plain, done, await ex.fetch_positions()

    placed, waiting, plain, done, positions = run(binance, "futures", scenario)
    assert placed["info"]["orderType"] == algo_type and placed["status"] == "open"
    assert [o["clientOrderId"] for o in waiting] == ["cond-1"] and plain == []
    assert done["info"]["algoStatus"] == "FINISHED" and done["status"] == "closed"
    assert binance.order(int(done["info"]["actualOrderId"])).status == "FILLED"
    assert positions == []


def test_futures_trailing_stop_follows_the_high_then_triggers(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        await ex.create_order(PERP, "market", "buy", 0.01)
        placed = await ex.create_order(PERP, "market", "sell", 0.01, None,
                                       {"trailingPercent": 1, "reduceOnly": True})
        binance.set_price("BTCUSDT", "66000.00", "66000.10")
        binance.set_price("BTCUSDT", "65400.00", "65400.10")  # 0.9 % off the high
        waiting = await ex.fetch_order(placed["id"], PERP, {"trigger": True})
        binance.set_price("BTCUSDT", "65300.00", "65300.10")  # 1.06 % off the high
        return placed, waiting, await ex.fetch_order(placed["id"], PERP, {"trigger": True})

    placed, waiting, done = run(binance, "futures", scenario)
    assert placed["info"]["orderType"] == "TRAILING_STOP_MARKET"
    assert placed["info"]["callbackRate"] == "1"
    assert waiting["status"] == "open" and done["status"] == "closed"
    assert binance.position("BTCUSDT").amount == 0


def test_futures_cancel_regular_and_conditional_orders(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        first = await ex.create_order(PERP, "limit", "buy", 0.01, 60000)
        await ex.create_order(PERP, "limit", "buy", 0.01, 60500, {"clientOrderId": "fc-2"})
        await ex.create_order(PERP, "limit", "buy", 0.01, 61000)
        stop = await ex.create_order(PERP, "market", "buy", 0.01, None, {"triggerPrice": 70000})
        await ex.create_order(PERP, "market", "buy", 0.01, None, {"triggerPrice": 71000})
        one = await ex.cancel_order(first["id"], PERP)
        by_client_id = await ex.cancel_order(None, PERP, {"clientOrderId": "fc-2"})
        algo = await ex.cancel_order(stop["id"], PERP, {"trigger": True})
        await ex.cancel_all_orders(PERP)
        await ex.cancel_all_orders(PERP, {"trigger": True})
        return (one, by_client_id, algo, await ex.fetch_open_orders(PERP),
                await ex.fetch_open_orders(PERP, params={"trigger": True}))

    one, by_client_id, algo, plain, conditional = run(binance, "futures", scenario)
    assert one["status"] == by_client_id["status"] == "canceled"
    assert algo["info"]["msg"] == "success"
    assert plain == conditional == []
    assert binance.requests("/fapi/v1/allOpenOrders")[-1].status == 200
