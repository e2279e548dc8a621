"""Injected faults give the client the documented error class, and the stream's duplicates,
reordering, drops and gaps are repaired by the seq: every event reaches the handler once, in
order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from paper_harness import BUY, ServedVenue, bar, make_venue, order, run, wait_for
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tradeloop.brokers.paper.errors import (
    PaperFatalError,
    PaperOutcomeUnknownError,
    PaperRetryableError,
)
from tradeloop.brokers.paper.execution import PaperExecutionClient
from tradeloop.core.errors import FatalVenueError, OutcomeUnknownError, RetryableVenueError
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderStatus


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedVenue]:
    venue = make_venue(tmp_path / "paper.db")
    server = ServedVenue(venue, allow_faults=True)
    yield server
    server.stop()
    venue.close()


async def _raw_stream(served: ServedVenue) -> ClientConnection:
    """A bare WebSocket reader of the stream, past the hello."""
    websocket = await connect(f"ws://127.0.0.1:{served.port}/v1/stream", proxy=None)
    hello = json.loads(await websocket.recv())
    assert hello["type"] == "hello"
    return websocket


async def _read(websocket: ClientConnection, count: int) -> list[dict[str, Any]]:
    return [json.loads(await asyncio.wait_for(websocket.recv(), 10)) for _ in range(count)]


async def _connected(served: ServedVenue, **options: Any
                     ) -> tuple[PaperExecutionClient, list[ev.OrderEvent]]:
    client = PaperExecutionClient(served.client_config(**options))
    events: list[ev.OrderEvent] = []
    client.bind(events.append)
    await client.connect()
    return client, events


def test_a_delayed_answer_is_an_unknown_outcome_and_the_order_exists(
    served: ServedVenue
) -> None:
    async def main() -> None:
        client, events = await _connected(served, request_timeout_s=1.0)
        await asyncio.to_thread(served.fault, kind="delay_answer", delay_s=2.5)
        with pytest.raises(OutcomeUnknownError) as unknown:
            await client.submit_order(order(BUY, 5, cid="SLOW", price="90"))
        assert isinstance(unknown.value, PaperOutcomeUnknownError)
        assert unknown.value.request == "POST /v1/orders"
        report = await client.order_status("SLOW")  # look it up, never resend blindly
        assert report is not None and report.status is OrderStatus.ACCEPTED
        await client.submit_order(order(BUY, 5, cid="SLOW", price="90"))  # idempotent
        await wait_for(lambda: len(events) == 1)
        assert [e.kind for e in events] == ["OrderAccepted"]
        assert len(await client.open_orders()) == 1
        await client.disconnect()

    run(main())


@pytest.mark.parametrize(("code", "status"), [
    ("RATE_LIMITED", 429), ("REQUOTE", 503), ("BUSY", 503),
])
def test_retryable_rejections_book_nothing(served: ServedVenue, code: str, status: int) -> None:
    async def main() -> None:
        client, _ = await _connected(served)
        await asyncio.to_thread(served.fault, kind="reject", code=code)
        with pytest.raises(RetryableVenueError) as refused:
            await client.submit_order(order(BUY, 1, cid="Q"))
        assert isinstance(refused.value, PaperRetryableError) and refused.value.code == code
        if code == "RATE_LIMITED":
            assert refused.value.retry_after_s == 1.0
        assert await client.order_status("Q") is None
        await client.submit_order(order(BUY, 1, cid="Q"))  # the retry goes through
        report = await client.order_status("Q")
        assert report is not None and report.status is OrderStatus.ACCEPTED
        await client.disconnect()

    run(main())
    with served.http() as http:
        served.fault(kind="reject", code=code)
        answer = http.post("/v1/orders", json={"client_order_id": "Z", "symbol": "ABC",
                                               "side": "BUY", "order_type": "MARKET",
                                               "quantity": "1"})
        assert answer.status_code == status
        assert answer.json()["error"]["retryable"] is True


@pytest.mark.parametrize("code", ["INVALID_VOLUME", "INSUFFICIENT_FUNDS", "MARKET_CLOSED"])
def test_fatal_rejections_are_booked_and_reported(served: ServedVenue, code: str) -> None:
    async def main() -> None:
        client, events = await _connected(served)
        await asyncio.to_thread(served.fault, kind="reject", code=code, reason="simulated")
        with pytest.raises(FatalVenueError) as refused:
            await client.submit_order(order(BUY, 1, cid="F"))
        assert isinstance(refused.value, PaperFatalError) and refused.value.code == code
        await wait_for(lambda: len(events) == 1)
        assert isinstance(events[0], ev.OrderRejected) and events[0].reason == "simulated"
        with pytest.raises(PaperFatalError) as again:  # the id stays rejected
            await client.submit_order(order(BUY, 1, cid="F"))
        assert again.value.code == code
        await client.disconnect()

    run(main())


def test_an_unknown_fault_code_is_a_bad_request(served: ServedVenue) -> None:
    with served.http() as http:
        answer = http.post("/v1/admin/faults", json={"kind": "reject", "code": "NOPE"})
        assert answer.status_code == 400 and "NOPE" in answer.json()["error"]["reason"]
        assert http.post("/v1/admin/faults", json={"kind": "explode"}).status_code == 400
        served.fault(kind="duplicate_events", count=3)
        assert [f["kind"] for f in http.get("/v1/admin/faults").json()["armed"]] == [
            "duplicate_events"]
        assert http.delete("/v1/admin/faults").json() == {"armed": []}


def test_duplicate_reports_carry_the_same_seq_and_are_dropped(served: ServedVenue) -> None:
    async def main() -> None:
        client, events = await _connected(served)
        raw = await _raw_stream(served)
        await asyncio.to_thread(served.fault, kind="duplicate_events", count=2)
        await client.submit_order(order(BUY, 1, cid="D1"))
        await client.submit_order(order(BUY, 1, cid="D2"))
        assert [m["seq"] for m in await _read(raw, 4)] == [1, 1, 2, 2]
        await wait_for(lambda: client.duplicates_dropped == 2)
        assert [(e.kind, e.client_order_id) for e in events] == [
            ("OrderAccepted", "D1"), ("OrderAccepted", "D2")]
        await raw.close()
        await client.disconnect()

    run(main())


def test_a_fill_sent_before_its_acknowledgement_is_put_back_in_order(
    served: ServedVenue
) -> None:
    async def main() -> None:
        client, events = await _connected(served)
        raw = await _raw_stream(served)
        await asyncio.to_thread(served.fault, kind="fill_before_ack")
        await client.submit_order(order(BUY, 3, cid="OOO"))
        await asyncio.to_thread(served.push, bar(0, 100, 101, 99, 100))
        messages = await _read(raw, 2)
        assert [(m["seq"], m["kind"]) for m in messages] == [
            (2, "OrderFilled"), (1, "OrderAccepted")]
        await wait_for(lambda: len(events) == 2)
        assert [e.kind for e in events] == ["OrderAccepted", "OrderFilled"]
        assert client.gap_fills >= 1 and client.duplicates_dropped >= 1
        await raw.close()
        await client.disconnect()

    run(main())


def test_a_stream_dropped_during_a_burst_of_fills_is_gap_filled(served: ServedVenue) -> None:
    async def main() -> None:
        client, events = await _connected(served)
        raw = await _raw_stream(served)
        for i in range(4):
            await client.submit_order(order(BUY, 1, cid=f"B{i}"))
        await _read(raw, 4)
        await asyncio.to_thread(served.fault, kind="drop_stream", after_events=1)
        await asyncio.to_thread(served.push, bar(0, 100, 101, 99, 100))  # four fills
        [first] = await _read(raw, 1)
        assert first["seq"] == 5
        with pytest.raises(ConnectionClosed) as closed:
            await _read(raw, 1)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000
        await wait_for(lambda: len(events) == 8)
        assert client.reconnects >= 1
        assert [e.kind for e in events] == ["OrderAccepted"] * 4 + ["OrderFilled"] * 4
        assert [e.client_order_id for e in events[4:]] == ["B0", "B1", "B2", "B3"]
        assert client.last_seq == 8
        await client.disconnect()

    run(main())


def test_the_client_reconnects_after_a_server_restart_and_fills_the_gap(
    tmp_path: Path
) -> None:
    venue = make_venue(tmp_path / "paper.db")
    server = ServedVenue(venue)

    async def main() -> None:
        nonlocal server
        client, events = await _connected(server)
        await client.submit_order(order(BUY, 2, cid="G1", price="99"))
        await wait_for(lambda: len(events) == 1)
        port = server.port
        await asyncio.to_thread(server.stop)
        with pytest.raises(RetryableVenueError):  # refused before anything was sent
            await client.submit_order(order(BUY, 1, cid="G2"))
        venue.on_bar(bar(0, 99.5, 100, 98, 99))  # fills while the node is cut off
        server = await asyncio.to_thread(ServedVenue, venue, port)
        await wait_for(lambda: len(events) == 2, timeout_s=20)
        assert isinstance(events[1], ev.OrderFilled) and events[1].client_order_id == "G1"
        assert client.last_seq == 2 and client.gap_fills >= 1
        await client.disconnect()

    try:
        run(main())
    finally:
        server.stop()
        venue.close()


def test_connecting_to_nothing_is_retryable(tmp_path: Path) -> None:
    venue = make_venue(tmp_path / "paper.db")
    server = ServedVenue(venue)
    config = server.client_config()
    server.stop()
    venue.close()

    async def main() -> None:
        client = PaperExecutionClient(config)
        with pytest.raises(RetryableVenueError) as refused:
            await client.connect()
        assert refused.value.code == "UNREACHABLE"  # type: ignore[attr-defined]

    run(main())
