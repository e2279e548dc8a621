"""ccxt's exception classes for the local Binance's error answers (the mapping the adapter
translates from), and the failures tests can inject."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt
import httpx
import pytest

from support.binance import API_KEY, BinanceServer, signed_query
from support.binance import run_with_exchange as run

SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"


def test_rate_limit_is_429_with_retry_after(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        binance.fail_next("rate_limit", retry_after=7)
        with pytest.raises(ccxt.DDoSProtection, match="-1003"):
            await ex.fetch_balance()
        return ex.last_response_headers, await ex.fetch_balance()

    headers, balance = run(binance, "spot", scenario)
    assert headers["Retry-After"] == "7" and balance["USDT"]["free"] == 10000.0
    assert [(r.status, r.code) for r in binance.requests("/api/v3/account")] == [
        (429, -1003), (200, None)]


def test_unavailable_fails_before_booking(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        binance.fail_next("unavailable", path="/api/v3/order")
        with pytest.raises(ccxt.ExchangeNotAvailable, match="Service Unavailable"):
            await ex.create_order(SPOT, "market", "buy", 0.001, params={"clientOrderId": "na"})
        with pytest.raises(ccxt.OrderNotFound):
            await ex.fetch_order(None, SPOT, {"clientOrderId": "na"})

    run(binance, "spot", scenario)
    assert binance.balance("BTC") == (Decimal(1), 0)


@pytest.mark.parametrize("drop", [False, True])
@pytest.mark.parametrize(("market_type", "symbol"), [("spot", SPOT), ("futures", PERP)])
def test_unknown_outcome_books_the_order_and_hides_the_answer(
        binance: BinanceServer, drop: bool, market_type: str, symbol: str) -> None:
    async def scenario(ex: Any) -> Any:
        binance.fail_next("unknown_after_booking", drop=drop)
        with pytest.raises(ccxt.ExchangeNotAvailable):
            await ex.create_order(symbol, "market", "buy", 0.01, params={"clientOrderId": "uk"})
        return await ex.fetch_order(None, symbol, {"clientOrderId": "uk"})

    found = run(binance, market_type, scenario)
    assert (found["status"], found["filled"]) == ("closed", 0.01)
    path = "/api/v3/order" if market_type == "spot" else "/fapi/v1/order"
    assert [r.status for r in binance.requests(path, "POST")] == [0 if drop else 503]


@pytest.mark.parametrize(("market_type", "symbol", "code"), [
    ("spot", SPOT, -2010), ("futures", PERP, -2019)])
def test_insufficient_funds(binance: BinanceServer, market_type: str, symbol: str,
                            code: int) -> None:
    async def scenario(ex: Any) -> Any:
        binance.fail_next("insufficient_funds")
        with pytest.raises(ccxt.InsufficientFunds):
            await ex.create_order(symbol, "market", "buy", 0.01)
        with pytest.raises(ccxt.InsufficientFunds):
            await ex.create_order(symbol, "limit", "buy", 100, 60000)

    run(binance, market_type, scenario)
    assert {r.code for r in binance.requests(method="POST")} == {code}


SPOT_ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
PERP_ORDER = {**SPOT_ORDER, "price": "60000", "quantity": "0.01"}


@pytest.mark.parametrize(("market_type", "request_params", "expected", "code"), [
    ("spot", {**SPOT_ORDER, "quantity": "0.000015", "price": "60000"}, ccxt.InvalidOrder, -1013),
    ("spot", {**SPOT_ORDER, "quantity": "0.01", "price": "60000.001"}, ccxt.InvalidOrder, -1013),
    ("spot", {**SPOT_ORDER, "quantity": "0.00001", "price": "60000"}, ccxt.BadRequest, -1013),
    ("spot", {**SPOT_ORDER, "quantity": "0.01"}, ccxt.BadRequest, -1102),
    ("spot", {**SPOT_ORDER, "quantity": "1e-2", "price": "60000"}, ccxt.BadRequest, -1100),
    ("spot", {**SPOT_ORDER, "symbol": "NOPEUSDT", "quantity": "1", "price": "1"},
     ccxt.BadSymbol, -1121),
    ("futures", {**PERP_ORDER, "quantity": "0.0015"}, ccxt.BadRequest, -1111),
    ("futures", {**PERP_ORDER, "price": "60000.05"}, ccxt.BadRequest, -4014),
    ("futures", {**PERP_ORDER, "quantity": "0.001"}, ccxt.InvalidOrder, -4164),
    ("futures", {**PERP_ORDER, "type": "STOP_MARKET", "stopPrice": "60000"}, ccxt.InvalidOrder,
     -4120),
])
def test_order_validation_errors(binance: BinanceServer, market_type: str,
                                 request_params: dict[str, str], expected: type[Exception],
                                 code: int) -> None:
    async def scenario(ex: Any) -> Any:
        place = ex.privatePostOrder if market_type == "spot" else ex.fapiPrivatePostOrder
        with pytest.raises(expected):
            await place(request_params)

    run(binance, market_type, scenario)
    assert binance.requests(method="POST")[-1].code == code


@pytest.mark.parametrize(("market_type", "symbol", "order_type", "price", "params", "expected"), [
    ("spot", SPOT, "limit", 66000, {"triggerPrice": 66000}, ccxt.OrderImmediatelyFillable),
    ("futures", PERP, "market", None, {"stopLossPrice": 66000}, ccxt.OrderImmediatelyFillable),
    ("futures", PERP, "market", None, {"reduceOnly": True}, ccxt.InvalidOrder),
])
def test_order_rejections_by_the_engine(binance: BinanceServer, market_type: str, symbol: str,
                                        order_type: str, price: float | None,
                                        params: dict[str, Any],
                                        expected: type[Exception]) -> None:
    async def scenario(ex: Any) -> Any:
        with pytest.raises(expected):
            await ex.create_order(symbol, order_type, "sell", 0.01, price, params)

    run(binance, market_type, scenario)


def test_futures_duplicate_client_order_id(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        await ex.create_order(PERP, "limit", "buy", 0.01, 60000, {"clientOrderId": "fd-1"})
        with pytest.raises(ccxt.InvalidOrder, match="-4116"):
            await ex.create_order(PERP, "limit", "buy", 0.01, 60000, {"clientOrderId": "fd-1"})

    run(binance, "futures", scenario)


@pytest.mark.parametrize(("market_type", "symbol"), [("spot", SPOT), ("futures", PERP)])
def test_unknown_orders(binance: BinanceServer, market_type: str, symbol: str) -> None:
    async def scenario(ex: Any) -> Any:
        with pytest.raises(ccxt.OrderNotFound, match="-2011"):
            await ex.cancel_order("12345", symbol)
        with pytest.raises(ccxt.OrderNotFound, match="-2013"):
            await ex.fetch_order("12345", symbol)

    run(binance, market_type, scenario)


@pytest.mark.parametrize(("credentials", "code"), [
    ({"secret": "not-the-secret"}, -1022),
    ({"api_key": "short"}, -2014),
    ({"api_key": "K" * 64}, -2015),
])
def test_credentials_are_checked(binance: BinanceServer, credentials: dict[str, str],
                                 code: int) -> None:
    async def scenario(ex: Any) -> Any:
        with pytest.raises(ccxt.AuthenticationError, match=str(code)):
            await ex.create_order(SPOT, "market", "buy", 0.01)

    run(binance, "spot", scenario, **credentials)
    assert binance.requests("/api/v3/order")[-1].code == code
    assert binance.balance("BTC") == (Decimal(1), 0)


def test_revoked_key_after_success_is_ddos_protection_in_ccxt(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        await ex.fetch_balance()
        binance.keys.clear()
        with pytest.raises(ccxt.DDoSProtection, match="-2015"):
            await ex.fetch_balance()

    run(binance, "spot", scenario)


def test_tampered_request_is_rejected_with_a_bad_signature(binance: BinanceServer) -> None:
    query = signed_query({**SPOT_ORDER, "quantity": "0.01", "price": "60000",
                          "timestamp": binance.now_ms()})
    tampered = query.replace("quantity=0.01", "quantity=0.02")
    with httpx.Client(base_url=binance.base_url) as client:
        good = client.post("/api/v3/order", content=query, headers={
            "X-MBX-APIKEY": API_KEY, "Content-Type": "application/x-www-form-urlencoded"})
        bad = client.post(f"/api/v3/order?{tampered}", headers={"X-MBX-APIKEY": API_KEY})
    assert good.status_code == 200 and good.json()["status"] == "NEW"
    assert bad.status_code == 400
    assert bad.json() == {"code": -1022, "msg": "Signature for this request is not valid."}


def test_timestamp_outside_the_recv_window(binance: BinanceServer) -> None:
    async def scenario(ex: Any) -> Any:
        ex.options["timeDifference"] = 6000  # the client's clock is 6 s behind
        with pytest.raises(ccxt.InvalidNonce, match="outside of the recvWindow"):
            await ex.fetch_balance()
        ex.options["timeDifference"] = 0
        binance.set_clock_offset(-2000)  # the client is now 2 s ahead of the exchange
        with pytest.raises(ccxt.InvalidNonce, match="1000ms ahead"):
            await ex.fetch_balance()
        binance.set_clock_offset(0)
        return await ex.fetch_balance()

    assert run(binance, "spot", scenario)["USDT"]["free"] == 10000.0


def test_outage_and_restart_on_the_same_port(binance: BinanceServer) -> None:
    port = binance.port

    async def scenario(ex: Any) -> Any:
        binance.stop()
        with pytest.raises(ccxt.ExchangeNotAvailable):
            await ex.fetch_balance()
        binance.start()
        return await ex.fetch_balance()

    assert run(binance, "spot", scenario)["BTC"]["free"] == 1.0
    assert binance.port == port
