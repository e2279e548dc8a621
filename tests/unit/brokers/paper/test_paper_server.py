"""The served paper venue with the real clients on top: submit, acknowledgement and fill through
the stream, idempotent resubmits, cancel/modify, queries, market data, token and bind rules."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from paper_harness import BUY, SELL, START_NS, ServedVenue, bar, make_venue, order, run, wait_for
from pydantic import SecretStr

from tradeloop.brokers.paper.client import PaperHttpClient
from tradeloop.brokers.paper.config import PaperServerConfig
from tradeloop.brokers.paper.data import PaperMarketDataClient
from tradeloop.brokers.paper.errors import PaperFatalError
from tradeloop.brokers.paper.execution import PaperExecutionClient
from tradeloop.brokers.paper.server import check_bind, is_loopback, serve
from tradeloop.core.errors import ConfigError, OutcomeUnknownError, RetryableVenueError
from tradeloop.model import events as ev
from tradeloop.model.data import Bar, QuoteTick
from tradeloop.model.enums import OrderStatus


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedVenue]:
    venue = make_venue(tmp_path / "paper.db")
    server = ServedVenue(venue)
    yield server
    server.stop()
    venue.close()


def test_submit_ack_and_fill_arrive_through_the_stream(served: ServedVenue) -> None:
    async def main() -> None:
        client = PaperExecutionClient(served.client_config())
        events: list[ev.OrderEvent] = []
        client.bind(events.append)
        await client.connect()
        await client.submit_order(order(BUY, 10, cid="A"))
        await wait_for(lambda: len(events) == 1)
        await asyncio.to_thread(served.push, bar(0, 100, 101, 99, 100.5))
        await wait_for(lambda: len(events) == 2)
        accepted, filled = events
        assert isinstance(accepted, ev.OrderAccepted) and accepted.venue_order_id == "PAPER-1"
        assert isinstance(filled, ev.OrderFilled)
        assert (filled.trade_id, filled.last_qty, filled.last_px) == (
            "PAPER-T1", Decimal(10), Decimal(100))
        [position] = await client.positions()
        assert position.quantity == 10
        assert (await client.account()).equity == Decimal(1_000_005)
        assert client.last_seq == 2
        await client.disconnect()

    run(main())


def test_resubmitting_a_client_order_id_creates_no_second_order(served: ServedVenue) -> None:
    async def main() -> None:
        client = PaperExecutionClient(served.client_config())
        events: list[ev.OrderEvent] = []
        client.bind(events.append)
        await client.connect()
        await client.submit_order(order(BUY, 10, cid="A", price="99"))
        await client.submit_order(order(BUY, 10, cid="A", price="99"))  # no error
        await wait_for(lambda: len(events) >= 1)
        await asyncio.sleep(0.05)
        assert [e.kind for e in events] == ["OrderAccepted"]
        assert [r.client_order_id for r in await client.open_orders()] == ["A"]
        await client.disconnect()

    run(main())
    body = {"client_order_id": "A", "symbol": "ABC", "side": "BUY", "order_type": "LIMIT",
            "quantity": "10", "price": "99"}
    with served.http() as http:
        answer = http.post("/v1/orders", json=body)
        assert answer.status_code == 200 and answer.json()["duplicate"] is True
        body["client_order_id"] = "B"
        assert http.post("/v1/orders", json=body).status_code == 201


def test_cancel_and_modify_through_the_client(served: ServedVenue) -> None:
    async def main() -> None:
        client = PaperExecutionClient(served.client_config())
        events: list[ev.OrderEvent] = []
        client.bind(events.append)
        await client.connect()
        limit = order(BUY, 10, cid="L", price="95")
        await client.submit_order(limit)
        await client.modify_order(limit, Decimal(12), Decimal("96"), None)
        with pytest.raises(PaperFatalError) as off_tick:
            await client.modify_order(limit, None, Decimal("96.001"), None)
        assert off_tick.value.code == "INVALID_PRICE"
        await client.cancel_order(limit)
        with pytest.raises(PaperFatalError) as again:
            await client.cancel_order(limit)
        assert again.value.code == "ORDER_NOT_OPEN"
        await wait_for(lambda: len(events) == 5)
        assert [e.kind for e in events] == ["OrderAccepted", "OrderUpdated",
                                            "OrderModifyRejected", "OrderCanceled",
                                            "OrderCancelRejected"]
        status = await client.order_status("L")
        assert status is not None and status.status is OrderStatus.CANCELED
        assert (status.quantity, status.price) == (Decimal(12), Decimal(96))
        assert await client.order_status("NEVER-SENT") is None
        await client.disconnect()

    run(main())


def test_a_rejection_is_fatal_with_its_code_and_an_event(served: ServedVenue) -> None:
    async def main() -> None:
        client = PaperExecutionClient(served.client_config())
        events: list[ev.OrderEvent] = []
        client.bind(events.append)
        await client.connect()
        for _ in range(2):  # the same answer again for the same id
            with pytest.raises(PaperFatalError) as refused:
                await client.submit_order(order(BUY, "1.5", cid="R"))
            assert refused.value.code == "INVALID_VOLUME"
            assert refused.value.order is not None
            assert refused.value.order.status is OrderStatus.REJECTED
        await wait_for(lambda: len(events) == 1)
        assert isinstance(events[0], ev.OrderRejected)
        assert "lot step" in events[0].reason
        await client.disconnect()

    run(main())


def test_queries_fills_events_and_owners(served: ServedVenue) -> None:
    async def main() -> None:
        mine = PaperExecutionClient(served.client_config(owner="node-1"))
        theirs = PaperExecutionClient(served.client_config(owner="node-2"))
        heard: dict[str, list[ev.OrderEvent]] = {"node-1": [], "node-2": []}
        mine.bind(heard["node-1"].append)
        theirs.bind(heard["node-2"].append)
        await mine.connect()
        await theirs.connect()
        await mine.submit_order(order(BUY, 10, cid="M1"))
        await theirs.submit_order(order(SELL, 4, cid="T1"))
        await theirs.submit_order(order(SELL, 1, cid="T2", price="150"))
        await asyncio.to_thread(served.push, bar(0, 100, 101, 99, 100))
        await wait_for(lambda: len(heard["node-1"]) == 2 and len(heard["node-2"]) == 3)
        assert {e.client_order_id for e in heard["node-1"]} == {"M1"}
        assert [r.client_order_id for r in await theirs.open_orders()] == ["T2"]
        assert await mine.open_orders() == []
        assert [f.client_order_id for f in await mine.fills_since(0)] == ["M1"]
        assert [p.quantity for p in await mine.positions()] == [6]  # netted account-wide
        assert await mine.fills_since(START_NS + 1) == []
        assert [i.symbol for i in await mine.instruments()] == ["ABC", "XYZ"]
        await mine.disconnect()
        await theirs.disconnect()

    run(main())
    with served.http() as http:
        answer = http.get("/v1/events", params={"since_seq": 3, "limit": 1}).json()
        assert answer["last_seq"] == 5
        [message] = answer["events"]
        assert (message["seq"], message["kind"], message["owner"]) == (4, "OrderFilled",
                                                                      "node-1")
        assert message["event"]["last_px"] == "100"


def test_bad_requests_get_one_line_reasons(served: ServedVenue) -> None:
    with served.http() as http:
        garbage = http.post("/v1/orders", content=b"{not json",
                            headers={"Content-Type": "application/json"})
        assert garbage.status_code == 400
        assert garbage.json()["error"]["code"] == "BAD_REQUEST"
        no_price = http.post("/v1/orders", json={
            "client_order_id": "X", "symbol": "ABC", "side": "BUY", "order_type": "LIMIT",
            "quantity": "1"})
        assert no_price.status_code == 422
        assert no_price.json()["error"] == {"code": "INVALID_ORDER", "retryable": False,
                                            "reason": "LIMIT order X: needs a limit price"}
        negative = http.get("/v1/events", params={"since_seq": -1})
        assert negative.status_code == 400 and "since_seq" in negative.json()["error"]["reason"]
        missing = http.delete("/v1/orders/NOPE")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "ORDER_NOT_FOUND"
        bad_bar = http.post("/v1/admin/market", json={
            "type": "bar", "symbol": "ABC", "ts": 1, "open": 1, "high": 0.5, "low": 1,
            "close": 1, "volume": 1})
        assert bad_bar.status_code == 400 and "bar ABC" in bad_bar.json()["error"]["reason"]


def test_admin_and_fault_endpoints_are_off_unless_enabled(tmp_path: Path) -> None:
    venue = make_venue(tmp_path / "paper.db")
    server = ServedVenue(venue, allow_admin=False, allow_faults=False)
    try:
        with server.http() as http:
            market = http.post("/v1/admin/market", json={
                "type": "quote", "symbol": "ABC", "ts": 1, "bid": 1, "ask": 1.01})
            assert market.status_code == 403 and market.json()["error"]["code"] == "FORBIDDEN"
            fault = http.post("/v1/admin/faults", json={"kind": "duplicate_events"})
            assert fault.status_code == 403
    finally:
        server.stop()
        venue.close()


def test_the_token_is_required_when_set(tmp_path: Path) -> None:
    venue = make_venue(tmp_path / "paper.db")
    server = ServedVenue(venue, token=SecretStr("s3cret"))
    try:
        with server.http() as http:
            assert http.get("/v1/account").status_code == 200
            assert http.get("/v1/account", headers={"Authorization": "Bearer wrong"}
                            ).status_code == 401
            anonymous = http.get("/v1/account", headers={"Authorization": ""})
            assert anonymous.status_code == 401
            assert anonymous.headers["www-authenticate"] == "Bearer"
            assert anonymous.json()["error"]["code"] == "UNAUTHORIZED"
            assert http.get("/health", headers={"Authorization": ""}).status_code == 200

        async def main() -> None:
            intruder = PaperExecutionClient(server.client_config(token=None))
            with pytest.raises(PaperFatalError) as refused:
                await intruder.connect()
            assert refused.value.code == "UNAUTHORIZED"
            friend = PaperExecutionClient(server.client_config())
            await friend.connect()
            assert (await friend.account()).account_id == "PAPER-001"
            await friend.disconnect()

        run(main())
    finally:
        server.stop()
        venue.close()


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.9.10", True), ("localhost", True), ("::1", True),
    ("[::1]", True), ("0.0.0.0", False), ("192.0.2.7", False), ("example.org", False),
])
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    if loopback:
        check_bind(host, None)
    else:
        with pytest.raises(ConfigError, match="without a token"):
            check_bind(host, None)
        check_bind(host, SecretStr("t"))


def test_serve_refuses_a_non_loopback_address_without_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRADELOOP_PAPER_TOKEN", raising=False)
    config = PaperServerConfig(state_path=tmp_path / "paper.db", host="0.0.0.0", port=0,
                               symbols=["AAPL"])
    with pytest.raises(ConfigError, match=r"will not listen on 0\.0\.0\.0 without a token"):
        serve(config)
    assert not (tmp_path / "paper.db").exists()  # refused before anything was opened
    monkeypatch.setenv("TRADELOOP_PAPER_TOKEN", "from-env")
    assert config.resolved_token() == SecretStr("from-env")


def test_market_data_client_yields_what_the_venue_processes(served: ServedVenue) -> None:
    pushed = [bar(0, 100, 101, 99, 100.5), bar(1, 100.5, 102, 100, 101)]

    async def main() -> None:
        client = PaperMarketDataClient(served.client_config(), symbols=["ABC"])
        got: list[Bar | QuoteTick] = []

        async def consume() -> None:
            async for item in client:
                got.append(item)  # type: ignore[arg-type]
                if len(got) == 3:
                    await client.close()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(client.connected.wait(), 10)
        for item in pushed:
            await asyncio.to_thread(served.push, item)
        await asyncio.to_thread(served.push, bar(2, 1, 1, 1, 1, symbol="XYZ"))  # filtered out
        with served.http() as http:
            http.post("/v1/admin/market", json={
                "type": "quote", "symbol": "ABC", "ts": pushed[1].ts + 1, "bid": 101.0,
                "ask": 101.02}).raise_for_status()
        await asyncio.wait_for(task, 10)
        assert got == [*pushed, QuoteTick("ABC", pushed[1].ts + 1, 101.0, 101.02)]

    run(main())


def test_a_failed_venue_answers_500_an_unknown_outcome_for_changes(
    served: ServedVenue
) -> None:
    served.venue.close()  # as if the venue had stopped after an internal error
    with served.http() as http:
        answer = http.get("/v1/events")
        assert answer.status_code == 500 and answer.json()["error"]["code"] == "INTERNAL"
        health = http.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "failed"

    async def main() -> None:
        with pytest.raises(RetryableVenueError):
            await PaperExecutionClient(served.client_config()).connect()
        http = PaperHttpClient(served.client_config())
        with pytest.raises(OutcomeUnknownError):
            await http.request("DELETE", "/orders/X")
        with pytest.raises(RetryableVenueError):
            await http.request("GET", "/orders/X")
        await http.aclose()

    run(main())
