"""The whole life of a Schwab login against the local Schwab: the login itself, tokens kept
encrypted, a 401 on an order POST (not placed; sent once more with a new token), renewal ahead
of expiry once for many requests, and a login that runs out: one clear message, no order lost
or sent twice, the quote stream ends."""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from support.schwab import ACCOUNT_HASH, ACCOUNT_NUMBER, SchwabServer, approve
from support.schwab.harness import ORDERS_PATH, adapter_settings, log_in
from tradeloop.brokers.schwab import build_adapter, load_config
from tradeloop.brokers.schwab.auth import TokenManager, interactive_login, token_store
from tradeloop.brokers.schwab.errors import SchwabLoginError
from tradeloop.brokers.testing.harness import Desk, Target
from tradeloop.core.errors import ConfigError
from tradeloop.model.data import QuoteTick
from tradeloop.model.enums import OrderSide, OrderStatus, OrderType

BUY = OrderSide.BUY
LOGIN_HELP = "run `tradeloop broker login schwab --settings <your node.toml>` to log in again"


def _all_tokens(server: SchwabServer) -> list[str]:
    return [*server.oauth.access, *server.oauth.grants]


def test_the_login_shows_where_to_go_and_saves_the_tokens_encrypted(
        schwab: SchwabServer, environment: None, tmp_path: Path) -> None:
    settings = adapter_settings(schwab)
    shown = log_in(settings, tmp_path)
    address = next(line for line in shown if "/oauth/authorize" in line)
    assert address.startswith(f"{schwab.base_url}/v1/oauth/authorize?client_id=")
    assert "redirect_uri=https%3A%2F%2F127.0.0.1%3A8182" in address
    assert shown[-1].startswith("Logged in to Schwab. The login lasts until ")
    path = load_config(settings).token_path(tmp_path)
    text = path.read_text(encoding="utf-8")
    tokens = _all_tokens(schwab)
    assert tokens and not any(token in text for token in tokens)
    assert schwab.oauth.grants_of("authorization_code") == 1


def test_a_wrong_or_used_address_is_refused_in_one_line(
        schwab: SchwabServer, environment: None, tmp_path: Path) -> None:
    settings = adapter_settings(schwab)
    with pytest.raises(ConfigError, match="that is not the address Schwab sent the browser to"):
        interactive_login(settings, tmp_path, lambda _q: "hello", lambda _t: None)
    with pytest.raises(ConfigError, match="Schwab did not approve the login: access_denied"):
        interactive_login(settings, tmp_path,
                          lambda _q: "https://127.0.0.1:8182/?error=access_denied",
                          lambda _t: None)
    shown: list[str] = []
    pasted: list[str] = []

    def ask(_question: str) -> str:
        if not pasted:
            pasted.append(approve(next(s for s in shown if "/oauth/authorize" in s)))
        return pasted[0]

    interactive_login(settings, tmp_path, ask, shown.append)
    with pytest.raises(ConfigError, match=r"Schwab refused the authorization code .*30 seconds"):
        interactive_login(settings, tmp_path, ask, shown.append)  # the same code again


def test_an_order_refused_with_401_was_not_placed_and_goes_once_with_a_new_token(
        schwab: SchwabServer, target: Target, caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> Desk:
        desk = await Desk(target, target.connect()).open()
        try:
            schwab.fail_next("expire_token")  # the POST finds its token expired
            order = desk.submit(desk.order(BUY, OrderType.LIMIT, price=Decimal("180.00")))
            await desk.until_status(order, OrderStatus.ACCEPTED)
        finally:
            await desk.close()
        return desk

    with caplog.at_level(logging.DEBUG):
        desk = asyncio.run(run())
    posts = schwab.requests(ORDERS_PATH, "POST")
    assert [(p.status, p.order_id is not None) for p in posts] == [(401, False), (201, True)]
    assert len(schwab.orders()) == 1  # the refused POST placed nothing
    assert desk.router.sends == 1  # the adapter sent it again itself, once
    assert schwab.oauth.grants_of("refresh_token") == 1
    logged = " ".join(f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in caplog.records)
    assert "/trader/v1/accounts/" in logged  # httpx logged the requests, masked
    assert not any(secret in logged for secret in [*_all_tokens(schwab), ACCOUNT_HASH,
                                                   ACCOUNT_NUMBER])


def test_the_access_token_is_renewed_ahead_of_expiry_once_for_many_requests(
        schwab: SchwabServer, settings: dict[str, Any], tmp_path: Path) -> None:
    config = load_config(settings)
    later = TokenManager(config, token_store(config, tmp_path),
                         clock=lambda: time.time() + 1800 - 100)  # 100 s left of 1800
    adapter = build_adapter(config, tmp_path, later)

    async def run() -> None:
        await adapter.execution.connect()
        try:
            await asyncio.gather(*(adapter.execution.account() for _ in range(10)))
        finally:
            await adapter.close()

    asyncio.run(run())
    assert later.refreshes == 1 and schwab.oauth.grants_of("refresh_token") == 1
    assert all(r.status == 200 for r in schwab.requests("/trader"))


def test_a_login_that_ran_out_rejects_orders_with_one_message_and_places_nothing(
        schwab: SchwabServer, target: Target) -> None:
    async def run() -> tuple[Desk, list[str]]:
        desk = await Desk(target, target.connect()).open()
        try:
            schwab.oauth.revoke_refresh_tokens()
            schwab.oauth.expire_access_tokens()
            first = desk.submit(desk.order(BUY, OrderType.LIMIT, price=Decimal("180.00")))
            second = desk.submit(desk.order(BUY, OrderType.LIMIT, price=Decimal("181.00")))
            for order in (first, second):
                await desk.until_status(order, OrderStatus.REJECTED)
            return desk, [first.reason, second.reason]
        finally:
            await desk.close()

    desk, reasons = asyncio.run(run())
    assert all(r.startswith("Schwab login expired on ") and r.endswith(LOGIN_HELP)
               for r in reasons), reasons
    assert schwab.orders() == [] and schwab.requests(ORDERS_PATH, "POST") == []
    assert schwab.oauth.refused == 1  # Schwab was asked once, not for every request
    assert desk.router.sends == 2


def test_an_unclear_order_when_the_login_runs_out_is_found_after_the_next_login(
        schwab: SchwabServer, target: Target, settings: dict[str, Any],
        tmp_path: Path) -> None:
    async def before() -> Any:
        desk = await Desk(target, target.connect()).open()
        try:
            schwab.fail_next("lost_answer", end_login=True)  # booked, 504, login gone
            order = desk.submit(desk.order(BUY, OrderType.LIMIT, price=Decimal("180.00")))
            await desk.until(lambda: not desk.router.in_flight, "the send to give up")
            assert order.status is OrderStatus.SUBMITTED  # unknown: not resent, not dropped
            return order
        finally:
            await desk.close()

    order = asyncio.run(before())
    assert len(schwab.orders()) == 1 and len(schwab.requests(ORDERS_PATH, "POST")) == 1
    log_in(settings, tmp_path)  # the user logs in again and restarts the node

    async def after() -> OrderStatus:
        desk = await Desk(target, target.connect()).open()
        try:
            desk.cache.add_order(order)
            report = await desk.reconcile()
            assert report.ok, report
            return order.status
        finally:
            await desk.close()

    assert asyncio.run(after()) is OrderStatus.ACCEPTED
    assert len(schwab.orders()) == 1 and len(schwab.requests(ORDERS_PATH, "POST")) == 1


def test_the_quote_stream_ends_with_the_message_when_the_login_runs_out(
        schwab: SchwabServer, target: Target, caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> tuple[list[QuoteTick], BaseException | None]:
        adapter = target.connect()
        market = adapter.market_data
        assert market is not None
        await market.connect()
        got: list[QuoteTick] = []
        failure: BaseException | None = None
        try:
            await market.subscribe_quotes("AAPL")
            stream = market.stream()
            got.append(await anext(stream))  # type: ignore[arg-type]
            schwab.oauth.revoke_refresh_tokens()
            schwab.oauth.expire_access_tokens()
            schwab.drop_streams()
            try:
                async for item in stream:
                    got.append(item)  # type: ignore[arg-type]
            except SchwabLoginError as exc:
                failure = exc
        finally:
            await adapter.close()
        return got, failure

    with caplog.at_level(logging.DEBUG):
        got, failure = asyncio.run(run())
    assert [q.bid for q in got] == [189.5]
    assert failure is not None and str(failure).endswith(LOGIN_HELP)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["Schwab login refused",
                                                "Schwab login lost: the quote stream ends"]
    logged = " ".join(f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in caplog.records)
    assert not any(token in logged for token in _all_tokens(schwab))
