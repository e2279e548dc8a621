"""The cTrader adapter against the local Open API proxy, beyond the conformance suite: TLS
verification, credentials, heartbeats and dead links, reconnection with authorisation and
catch-up, token expiry and invalidation (with and without a refresh token), stop-loss and
take-profit, hedging and netting accounts, equity, paging, secrets."""

from __future__ import annotations

import asyncio
import logging
import stat
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from support.ctrader import (
    ACCESS_TOKEN,
    ACCOUNT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    CtraderServer,
    adapter_settings,
    credentials_env,
)
from tradeloop.brokers.base import BrokerAdapter
from tradeloop.brokers.ctrader import (
    CtraderAuthError,
    CtraderFatalError,
    CtraderRetryableError,
    capabilities,
    create_adapter,
)
from tradeloop.brokers.ctrader import execution as ctrader_execution
from tradeloop.brokers.ctrader.messages import PT
from tradeloop.brokers.testing.harness import Desk, Target, TargetSpec
from tradeloop.model import events as ev
from tradeloop.model.data import QuoteTick
from tradeloop.model.enums import AssetClass, OrderSide, OrderStatus, OrderType, TimeInForce
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order

EURUSD = Instrument("EURUSD", "CTRADER", AssetClass.FX, "EUR", "USD", Decimal("0.00001"),
                    Decimal(1000), Decimal(1000))
SECRETS = (CLIENT_SECRET, ACCESS_TOKEN, REFRESH_TOKEN)


def _adapter(proxy: CtraderServer, home: Path, **extra: Any) -> BrokerAdapter:
    return create_adapter(adapter_settings(proxy, **extra), variant="", home=home)


def _order(cid: str, side: OrderSide = OrderSide.BUY, kind: OrderType = OrderType.MARKET,
           qty: int = 1000, **extra: Any) -> Order:
    return Order(cid, "T", "EURUSD", side, kind, Decimal(qty), time.time_ns(), **extra)


async def _until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def _desk(proxy: CtraderServer, home: Path, **extra: Any) -> Desk:
    target = Target(TargetSpec("ctrader/test", capabilities(), frozenset()), counterparty=None,
                    connect=lambda: _adapter(proxy, home, **extra), instrument=EURUSD,
                    quantity=Decimal(1000), bid=Decimal("1.085"), ask=Decimal("1.08502"),
                    settle_s=10.0)  # type: ignore[arg-type]
    return Desk(target, target.connect())


def _run(work: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(work())  # type: ignore[arg-type]


# -- connecting -----------------------------------------------------------------------------------


def test_the_proxy_certificate_is_verified(proxy: CtraderServer, tmp_path: Path) -> None:
    async def work() -> None:
        adapter = _adapter(proxy, tmp_path, ca_file="", connect_timeout_s=2.0)
        with pytest.raises(CtraderRetryableError, match="CERTIFICATE_VERIFY_FAILED"):
            await adapter.execution.connect()
    _run(work)
    assert proxy.requests() == []  # nothing was said on an unverified link


def test_refused_credentials_give_one_line_saying_what_to_check(proxy: CtraderServer,
                                                                tmp_path: Path) -> None:
    async def work() -> None:
        with credentials_env(TL_CTRADER_CLIENT_SECRET="not-the-secret"):
            adapter = _adapter(proxy, tmp_path)
            with pytest.raises(CtraderAuthError) as caught:
                await adapter.execution.connect()
        text = str(caught.value)
        assert "CH_CLIENT_AUTH_FAILURE" in text and "client id and secret" in text
        assert "\n" not in text and "not-the-secret" not in text
    _run(work)


def test_without_an_account_id_the_tokens_only_account_is_used(proxy: CtraderServer,
                                                              tmp_path: Path) -> None:
    async def work() -> None:
        adapter = _adapter(proxy, tmp_path, account_id=0)
        await adapter.execution.connect()
        try:
            assert (await adapter.execution.account()).account_id == str(ACCOUNT_ID)
        finally:
            await adapter.close()
        live = _adapter(proxy, tmp_path, account_id=0, environment="live")
        with pytest.raises(CtraderAuthError, match="grants 0 live account"):
            await live.execution.connect()
    _run(work)
    assert len(proxy.requests(PT.GET_ACCOUNTS_BY_ACCESS_TOKEN_REQ)) == 2


def test_heartbeats_go_out_every_heartbeat_s(proxy: CtraderServer, tmp_path: Path) -> None:
    async def work() -> None:
        adapter = _adapter(proxy, tmp_path, heartbeat_s=0.05, read_timeout_s=2.0)
        await adapter.execution.connect()
        try:
            await _until(lambda: proxy.heartbeats() >= 3, "three heartbeats")
        finally:
            await adapter.close()
    _run(work)


def test_a_silent_link_is_declared_dead_and_opened_again(proxy: CtraderServer,
                                                         tmp_path: Path) -> None:
    async def work() -> None:
        adapter = _adapter(proxy, tmp_path, heartbeat_s=0.1, read_timeout_s=0.8)
        execution = adapter.execution
        assert isinstance(execution, ctrader_execution.CtraderExecutionClient)
        await execution.connect()
        try:
            proxy.hang()  # open, but nothing comes back any more, not even heartbeats
            await _until(lambda: execution.client.reconnects == 1, "a reconnection")
            assert (await execution.account()).balance == 100_000
        finally:
            await adapter.close()
    _run(work)
    assert len(proxy.requests(PT.APPLICATION_AUTH_REQ)) == 2  # the first link and the new one


def test_after_a_drop_the_adapter_authorises_again_resubscribes_and_catches_up(
        proxy: CtraderServer, tmp_path: Path) -> None:
    async def work() -> None:
        desk = _desk(proxy, tmp_path, reconnect_initial_s=0.5, reconnect_max_s=1.0)
        await desk.open()
        market = desk.adapter.market_data
        assert market is not None
        await market.connect()
        await market.subscribe_quotes("EURUSD")
        stream = market.stream()
        assert isinstance(await anext(stream), QuoteTick)
        try:
            order = desk.submit(desk.order(OrderSide.BUY, OrderType.LIMIT,
                                           price=Decimal("1.08000")))
            await desk.until_status(order, OrderStatus.ACCEPTED)
            proxy.drop_connections()
            await _until(lambda: proxy.connections() == 0, "the drop")
            proxy.fill(order.client_order_id, Decimal(1000))  # while the node is away
            await desk.until_status(order, OrderStatus.FILLED)
            assert len(desk.fills(order)) == 1
            proxy.set_price("EURUSD", "1.08600", "1.08602")
            quote = await asyncio.wait_for(anext(stream), 5)
            while not (isinstance(quote, QuoteTick) and quote.bid == 1.086):
                quote = await asyncio.wait_for(anext(stream), 5)
        finally:
            await desk.close()
        execution = desk.adapter.execution
        assert isinstance(execution, ctrader_execution.CtraderExecutionClient)
        assert execution.resyncs == 1 and execution.client.reconnects == 1
    _run(work)
    assert len(proxy.requests(PT.APPLICATION_AUTH_REQ)) == 2
    assert len(proxy.requests(PT.ACCOUNT_AUTH_REQ)) == 2
    assert len(proxy.requests(PT.SUBSCRIBE_SPOTS_REQ)) == 2


def test_the_proxy_ending_the_connection_or_the_account_session_is_recovered(
        proxy: CtraderServer, tmp_path: Path) -> None:
    async def work() -> None:
        adapter = _adapter(proxy, tmp_path)
        execution = adapter.execution
        market = adapter.market_data
        assert isinstance(execution, ctrader_execution.CtraderExecutionClient)
        assert market is not None
        await execution.connect()
        await market.connect()
        await market.subscribe_quotes("EURUSD")
        stream = market.stream()
        try:
            proxy.drop_account_sessions()  # the connection stays; the account must log in
            await _until(lambda: len(proxy.requests(PT.ACCOUNT_AUTH_REQ)) == 2,
                         "the account authorised again")
            await _until(lambda: len(proxy.requests(PT.SUBSCRIBE_SPOTS_REQ)) == 2,
                         "the spots subscribed again")
            assert execution.client.reconnects == 0
            proxy.disconnect_client("server maintenance")
            await _until(lambda: execution.client.reconnects == 1, "a new connection")
            await _until(lambda: len(proxy.requests(PT.SUBSCRIBE_SPOTS_REQ)) == 3,
                         "the spots subscribed on it")
            proxy.set_price("EURUSD", "1.08700", "1.08702")
            quote = await asyncio.wait_for(anext(stream), 5)
            while not (isinstance(quote, QuoteTick) and quote.bid == 1.087):
                quote = await asyncio.wait_for(anext(stream), 5)
            await execution.submit_order(_order("AFTER"))
            await _until(lambda: len(proxy.account.deals) == 1, "the order's deal")
        finally:
            await adapter.close()
    _run(work)


# -- tokens ---------------------------------------------------------------------------------------


def test_an_invalidated_token_without_a_refresh_token_stops_orders_with_one_clear_message(
        proxy: CtraderServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def work() -> None:
        desk = await _desk(proxy, tmp_path).open()
        execution = desk.adapter.execution
        assert isinstance(execution, ctrader_execution.CtraderExecutionClient)
        try:
            proxy.invalidate_token("Access Token is expired or recalled")
            await _until(lambda: not execution.client.connected, "the invalidation")
            order = desk.submit(desk.order(OrderSide.BUY))
            await desk.until_status(order, OrderStatus.REJECTED)
            assert desk.router.sends == 1  # fatal: never retried
            assert order.reason == (
                f"cTrader invalidated the access token of account {ACCOUNT_ID} (Access Token "
                "is expired or recalled): get a new access token for the account (cTrader's "
                "OAuth flow), put it in the variable named by access_token_env and restart, or "
                "set refresh_token_env so the adapter renews it itself")
        finally:
            await desk.close()
    with caplog.at_level(logging.ERROR, logger="tradeloop.brokers.ctrader"):
        _run(work)
    errors = [r for r in caplog.records if r.name.startswith("tradeloop.brokers.ctrader")]
    assert len(errors) == 1 and "invalidated the access token" in errors[0].getMessage()
    assert proxy.requests(PT.NEW_ORDER_REQ) == []


def test_an_invalidated_token_is_renewed_and_the_order_in_flight_goes_through_once(
        proxy: CtraderServer, tmp_path: Path) -> None:
    async def work() -> None:
        desk = await _desk(proxy, tmp_path, refresh=True).open()
        execution = desk.adapter.execution
        assert isinstance(execution, ctrader_execution.CtraderExecutionClient)
        try:
            proxy.invalidate_token()
            order = desk.submit(desk.order(OrderSide.BUY))  # races the renewal
            await desk.until_status(order, OrderStatus.FILLED)
            await _until(lambda: execution.client.renewals == 1, "the renewal")
            assert len(desk.fills(order)) == 1
            assert proxy.submits(order.client_order_id) == 1
        finally:
            await desk.close()
        stored = list(tmp_path.glob("ctrader-tokens-*.json"))
        assert len(stored) == 1 and stat.S_IMODE(stored[0].stat().st_mode) == 0o600
        text = stored[0].read_text()
        assert ACCESS_TOKEN not in text and REFRESH_TOKEN not in text
        # a restart finds the renewed pair: the environment's tokens are spent
        again = _adapter(proxy, tmp_path, refresh_token_env="TL_CTRADER_REFRESH_TOKEN")
        await again.execution.connect()
        await again.close()
        # so does another node (another home) naming the same token file
        other = _adapter(proxy, tmp_path / "other-node", token_file=str(stored[0]))
        await other.execution.connect()
        await other.close()
    _run(work)
    assert proxy.renewals == 1


def test_an_expired_token_at_start_is_renewed_or_named(proxy: CtraderServer,
                                                       tmp_path: Path) -> None:
    proxy.expire_token()

    async def work() -> None:
        plain = _adapter(proxy, tmp_path)
        with pytest.raises(CtraderAuthError, match=r"OA_AUTH_TOKEN_EXPIRED .*get a new access"):
            await plain.execution.connect()
        renewing = _adapter(proxy, tmp_path / "renewing", refresh_token_env=
                            "TL_CTRADER_REFRESH_TOKEN")
        await renewing.execution.connect()
        await renewing.close()
    _run(work)
    assert proxy.renewals == 1


# -- orders ---------------------------------------------------------------------------------------


def test_stop_loss_and_take_profit_tags_protect_the_position(proxy: CtraderServer,
                                                             tmp_path: Path) -> None:
    async def work() -> None:
        adapter = _adapter(proxy, tmp_path)
        events: list[ev.OrderEvent] = []
        adapter.execution.bind(events.append)
        await adapter.execution.connect()
        try:
            with pytest.raises(CtraderFatalError, match="sl_distance"):
                await adapter.execution.submit_order(_order("ABS", tags=("sl=1.08",)))
            await adapter.execution.submit_order(_order(
                "LIM", kind=OrderType.LIMIT, price=Decimal("1.08600"),
                tags=("sl=1.08000", "tp=1.09000")))
            await adapter.execution.submit_order(_order(
                "MKT", tags=("sl_distance=0.00300", "tp_distance=0.00600")))
            await _until(lambda: sum(isinstance(e, ev.OrderFilled) for e in events) == 2,
                         "two fills")
            stops = sorted((p.stop_loss, p.take_profit)
                           for p in proxy.account.open_positions())
            assert stops == [(108_000, 109_000), (108_202, 109_102)]
            assert [p.quantity for p in await adapter.execution.positions()] == [2000]
            proxy.set_price("EURUSD", "1.08150", "1.08152")  # the market order's stop
            proxy.set_price("EURUSD", "1.07990", "1.07992")  # the limit order's stop
            assert proxy.account.open_positions() == []
            assert await adapter.execution.positions() == []
        finally:
            await adapter.close()
    _run(work)
    sent = proxy.requests(PT.NEW_ORDER_REQ)
    assert [r.body["clientOrderId"] for r in sent] == ["LIM", "MKT"]  # ABS never left


def test_on_a_hedging_account_a_sell_closes_the_long_instead_of_hedging_it(
        proxy: CtraderServer, tmp_path: Path) -> None:
    async def work(close_opposite: bool, tag: str) -> None:
        adapter = _adapter(proxy, tmp_path, close_opposite=close_opposite)
        events: list[ev.OrderEvent] = []
        adapter.execution.bind(events.append)
        await adapter.execution.connect()
        try:
            await adapter.execution.submit_order(_order(f"{tag}B", qty=2000))
            # as a strategy would: the sell goes out once the buy's fill is known
            await _until(lambda: any(isinstance(e, ev.OrderFilled) for e in events),
                         "the buy's fill")
            await adapter.execution.submit_order(_order(f"{tag}S", OrderSide.SELL, qty=2000))
            await _until(lambda: len(proxy.account.deals) == 2, "both deals")
            assert await adapter.execution.positions() == []
        finally:
            await adapter.close()

    asyncio.run(work(True, "close"))
    assert proxy.account.open_positions() == []
    assert proxy.requests(PT.NEW_ORDER_REQ)[-1].body["positionId"] > 0
    proxy.reset()
    asyncio.run(work(False, "hedge"))
    assert sorted(p.side for p in proxy.account.open_positions()) == [1, 2]  # long and short


def test_a_netting_account_keeps_one_position_per_symbol(tmp_path: Path) -> None:
    async def work(server: CtraderServer) -> None:
        adapter = _adapter(server, tmp_path)
        await adapter.execution.connect()
        try:
            await adapter.execution.submit_order(_order("N1", qty=3000))
            await adapter.execution.submit_order(_order("N2", OrderSide.SELL, qty=1000))
            await _until(lambda: len(server.account.deals) == 2, "both deals")
            reports = await adapter.execution.positions()
            assert [(r.symbol, r.quantity, r.avg_px) for r in reports] == [
                ("EURUSD", Decimal(2000), Decimal("1.08502"))]
        finally:
            await adapter.close()

    with credentials_env(), CtraderServer(hedged=False) as server:
        asyncio.run(work(server))
        assert len(server.account.open_positions()) == 1
        assert "positionId" not in server.requests(PT.NEW_ORDER_REQ)[-1].body


def test_equity_includes_unrealised_pnl_and_fills_page_through_deal_lists(
        proxy: CtraderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ctrader_execution, "_PAGE_ROWS", 2)

    async def work() -> None:
        adapter = _adapter(proxy, tmp_path)
        await adapter.execution.connect()
        try:
            for k in range(5):
                await adapter.execution.submit_order(_order(f"P{k}", qty=2000))
            await _until(lambda: len(proxy.account.deals) == 5, "five deals")
            before = await adapter.execution.account()
            proxy.set_price("EURUSD", "1.09502", "1.09504")
            after = await adapter.execution.account()
            assert after.balance == before.balance
            # 10000 units bought at 1.08502, marked at the bid: 1.08500, then 1.09502
            assert before.equity == before.balance - Decimal("0.20")
            assert after.equity == after.balance + Decimal(100)
            assert after.margin_used > 0
            fills = await adapter.execution.fills_since(0)
            assert [f.client_order_id for f in fills] == [f"P{k}" for k in range(5)]
            assert len({f.trade_id for f in fills}) == 5
        finally:
            await adapter.close()
    _run(work)
    pages = proxy.requests(PT.DEAL_LIST_REQ)
    assert len(pages) >= 3 and all(r.body["maxRows"] == 2 for r in pages)


def test_immediate_orders_expire_unfilled_and_gtd_orders_expire_on_time(
        proxy: CtraderServer, tmp_path: Path) -> None:
    async def work() -> None:
        desk = await _desk(proxy, tmp_path).open()
        try:
            ioc = desk.submit(desk.order(OrderSide.BUY, OrderType.LIMIT,
                                         price=Decimal("1.08000"), tif=TimeInForce.IOC))
            await desk.until_status(ioc, OrderStatus.EXPIRED)
            gtd = desk.submit(desk.order(OrderSide.BUY, OrderType.LIMIT,
                                         price=Decimal("1.08000"), tif=TimeInForce.GTD,
                                         expire_ns=time.time_ns() + 300_000_000))
            await desk.until_status(gtd, OrderStatus.EXPIRED)
            assert not await desk.venue_open(gtd)
            with pytest.raises(CtraderFatalError, match="cTrader has no order never-sent"):
                await desk.adapter.execution.cancel_order(_order("never-sent"))
        finally:
            await desk.close()
    _run(work)


def test_secrets_stay_out_of_logs_errors_and_reprs(proxy: CtraderServer, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    async def work() -> None:
        adapter = _adapter(proxy, tmp_path, refresh_token_env="TL_CTRADER_REFRESH_TOKEN")
        execution = adapter.execution
        assert isinstance(execution, ctrader_execution.CtraderExecutionClient)
        await execution.connect()
        try:
            proxy.invalidate_token()
            await _until(lambda: execution.client.renewals == 1, "the renewal")
            proxy.drop_connections()
            await _until(lambda: execution.client.reconnects == 1, "the reconnection")
            text = repr(adapter) + repr(execution.config) + repr(execution.client._tokens)
            for secret in SECRETS:
                assert secret not in text
        finally:
            await adapter.close()
    with caplog.at_level(logging.DEBUG):
        _run(work)
    logged = "\n".join(r.getMessage() + str(getattr(r, "fields", "")) for r in caplog.records)
    for secret in (*SECRETS, "local-access-token-renewed-1", "local-refresh-token-renewed-1"):
        assert secret not in logged
