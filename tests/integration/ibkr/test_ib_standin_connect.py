"""The IB stand-in under ib_async's real ``IB``: connecting (IB.connectAsync's full startup
sync), contract lookups, and the client-layer rules (not connected, unknown requests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ib_async import Contract, Forex, Future, LimitOrder, Option, Stock
from ib_async.client import Client

from support.ib_standin import ACCOUNT, GATEWAY, Gateway, StandinClient
from support.ib_standin.harness import connect, new_ib, run, settle


@pytest.fixture(autouse=True)
def gateway() -> Iterator[Gateway]:
    GATEWAY.reset()
    yield GATEWAY
    GATEWAY.reset()


def test_connect_runs_the_normal_startup_sync() -> None:
    async def scenario() -> None:
        ib = await connect(client_id=3)
        client = ib.client
        assert isinstance(client, StandinClient)
        assert client.serverVersion() == Client.MaxClientVersion
        assert ib.isConnected() and client.isReady()
        assert ib.managedAccounts() == [ACCOUNT]
        values = {(v.tag, v.currency): v.value for v in ib.accountValues()}
        assert values[("NetLiquidation", "USD")] == "1000000.00"
        assert values[("TotalCashValue", "USD")] == "1000000.00"
        assert ib.positions() == [] and ib.openTrades() == [] and ib.fills() == []
        names = [name for name, _ in GATEWAY.log]
        # the startup requests IB.connectAsync makes, completed orders included
        for request in ("client.reqPositions", "client.reqOpenOrders",
                        "client.reqCompletedOrders", "client.reqAccountUpdates",
                        "client.reqAccountUpdatesMulti", "client.reqExecutions"):
            assert request in names
        assert names.index("managedAccounts") < names.index("nextValidId")
        farm = [f["code"] for n, f in GATEWAY.log if n == "error"]
        assert farm == [2104, 2106, 2158]
        ib.disconnect()
        assert GATEWAY.connected_client_ids == ()

    run(scenario())


def test_next_valid_id_is_above_every_order_id_the_client_used() -> None:
    async def scenario() -> None:
        ib = await connect(client_id=4)
        [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        trade = ib.placeOrder(aapl, LimitOrder("BUY", 1, 100.0, orderId=500))
        await settle()
        assert trade.orderStatus.status == "Submitted"
        ib.disconnect()
        again = await connect(client_id=4)
        valid = [f["orderId"] for n, f in GATEWAY.log if n == "nextValidId"]
        assert valid[-1] == 501
        assert again.client.getReqId() >= 501
        other = await connect(client_id=5)
        assert [f["orderId"] for n, f in GATEWAY.log if n == "nextValidId"][-1] == 1
        again.disconnect()
        other.disconnect()

    run(scenario())


def test_a_second_connection_with_the_same_client_id_is_refused_with_326() -> None:
    async def scenario() -> None:
        first = await connect(client_id=9)
        second = new_ib()
        errors: list[int] = []
        second.errorEvent += lambda _req, code, _msg, _c: errors.append(code)
        with pytest.raises(ConnectionError, match="already in use"):
            await second.connectAsync("127.0.0.1", 4002, clientId=9, timeout=5)
        assert errors == [326]
        assert not second.isConnected() and first.isConnected()
        first.disconnect()

    run(scenario())


def test_qualify_stock_forex_future_and_option() -> None:
    async def scenario() -> None:
        ib = await connect()
        stock, fx = await ib.qualifyContractsAsync(Stock("MSFT", "SMART", "USD"),
                                                   Forex("EURUSD"))
        assert (stock.conId, stock.primaryExchange, stock.localSymbol) == (272093, "NASDAQ",
                                                                           "MSFT")
        assert (fx.secType, fx.symbol, fx.currency, fx.localSymbol, fx.exchange) == (
            "CASH", "EUR", "USD", "EUR.USD", "IDEALPRO")
        # three quarterly ES expiries: ambiguous by symbol, unique by local symbol
        details = await ib.reqContractDetailsAsync(Future("ES", exchange="CME"))
        assert len(details) == 3
        months = [d.contract.lastTradeDateOrContractMonth for d in details]
        assert months == sorted(months) and all(len(m) == 8 for m in months)
        assert all(d.contract.multiplier == "50" and d.minTick == 0.25 for d in details)
        assert all(d.contract.localSymbol[:2] == "ES" and len(d.contract.localSymbol) == 4
                   for d in details)
        [ambiguous] = await ib.qualifyContractsAsync(Future("ES", exchange="CME"))
        assert ambiguous is None
        front = details[0].contract
        [fut] = await ib.qualifyContractsAsync(Future(localSymbol=front.localSymbol,
                                                      exchange="CME"))
        assert fut.conId == front.conId
        [by_month] = await ib.qualifyContractsAsync(
            Future("ES", front.lastTradeDateOrContractMonth[:6], "CME"))
        assert by_month.conId == front.conId
        chain = await ib.reqContractDetailsAsync(Option("AAPL", exchange="SMART"))
        assert len(chain) == 10
        expiry = chain[0].contract.lastTradeDateOrContractMonth
        [call] = await ib.qualifyContractsAsync(Option("AAPL", expiry, 190, "C", "SMART"))
        assert call.multiplier == "100" and call.right == "C" and call.strike == 190.0
        [params] = await ib.reqSecDefOptParamsAsync("AAPL", "", "STK", 265598)
        assert params.expirations == [expiry] and 190.0 in params.strikes
        ib.disconnect()

    run(scenario())


def test_contract_details_carry_what_tws_reports() -> None:
    async def scenario() -> None:
        ib = await connect()
        [d] = await ib.reqContractDetailsAsync(Stock("AAPL", "SMART", "USD"))
        assert d.minTick == 0.01 and d.priceMagnifier == 1
        assert d.timeZoneId == "US/Eastern" and d.longName == "APPLE INC"
        sessions = d.liquidSessions()
        assert sessions and all(s.start.hour == 9 and s.start.minute == 30 for s in sessions)
        [fx] = await ib.reqContractDetailsAsync(Forex("EURUSD"))
        assert fx.minTick == 0.00005 and fx.minSize == 1
        ib.disconnect()

    run(scenario())


def test_unknown_contract_gives_error_200() -> None:
    async def scenario() -> None:
        ib = await connect()
        errors: list[tuple[int, int]] = []
        ib.errorEvent += lambda req, code, _msg, _c: errors.append((req, code))
        [unknown] = await ib.qualifyContractsAsync(Stock("NOPE", "SMART", "USD"))
        assert unknown is None
        assert [code for _, code in errors] == [200]
        assert await ib.reqContractDetailsAsync(Contract(conId=1)) == []
        ib.disconnect()

    run(scenario())


def test_requests_need_a_connection_and_unknown_requests_fail_loudly() -> None:
    async def scenario() -> None:
        ib = new_ib()
        with pytest.raises(ConnectionError, match="Not connected"):
            ib.client.reqPositions()
        ib = await connect()
        with pytest.raises(NotImplementedError, match="stand-in"):
            ib.client.reqNewsProviders()
        now = await ib.reqCurrentTimeAsync()
        assert now.tzinfo is not None
        ib.disconnect()
        with pytest.raises(ConnectionError):
            ib.client.reqOpenOrders()

    run(scenario())
