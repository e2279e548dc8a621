"""The in-process paper client: the same contract as the network client, without a network."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from paper_harness import BUY, SELL, bar, make_venue, order, run

from tradeloop.brokers.paper import (
    InProcessPaperClient,
    PaperClientConfig,
    PaperExecutionClient,
    create_execution_client,
)
from tradeloop.brokers.paper.errors import PaperFatalError
from tradeloop.brokers.paper.venue import PaperVenue
from tradeloop.core.errors import FatalVenueError, RetryableVenueError
from tradeloop.execution.ports import LiveExecutionClient
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderStatus


@pytest.fixture
def venue(tmp_path: Path) -> Iterator[PaperVenue]:
    v = make_venue(tmp_path / "paper.db")
    yield v
    v.close()


def test_events_on_the_loop_thread_arrive_at_once_as_in_a_backtest(venue: PaperVenue) -> None:
    async def main() -> None:
        client = InProcessPaperClient(venue)
        events: list[ev.OrderEvent] = []
        client.bind(events.append)
        await client.connect()
        await client.submit_order(order(BUY, 10, cid="A"))
        assert [e.kind for e in events] == ["OrderAccepted"]
        # the node feeds the venue a bar: its fill is known before the strategies see the bar
        venue.on_bar(bar(0, 100, 101, 99, 100))
        assert isinstance(events[-1], ev.OrderFilled) and events[-1].trade_id == "PAPER-T1"
        assert [p.quantity for p in await client.positions()] == [10]
        assert (await client.account()).balance == Decimal(1_000_000)
        report = await client.order_status("A")
        assert report is not None and report.status is OrderStatus.FILLED
        assert await client.order_status("B") is None
        await client.disconnect()

    run(main())


def test_events_from_another_thread_arrive_on_the_loop(venue: PaperVenue) -> None:
    async def main() -> None:
        client = InProcessPaperClient(venue)
        events: list[ev.OrderEvent] = []
        client.bind(events.append)
        await client.connect()
        await asyncio.to_thread(venue.submit, order(BUY, 10, cid="T"))
        await asyncio.sleep(0)
        assert [e.kind for e in events] == ["OrderAccepted"]
        await client.disconnect()

    run(main())


def test_rejections_cancels_and_modifications_raise_like_the_network_client(
    venue: PaperVenue
) -> None:
    async def main() -> None:
        client = InProcessPaperClient(venue)
        events: list[ev.OrderEvent] = []
        client.bind(events.append)
        await client.connect()
        with pytest.raises(FatalVenueError) as refused:
            await client.submit_order(order(BUY, "0.5", cid="R"))
        assert isinstance(refused.value, PaperFatalError)
        assert refused.value.code == "INVALID_VOLUME"
        limit = order(SELL, 2, cid="L", price="120")
        await client.submit_order(limit)
        await client.submit_order(limit)  # idempotent: no error, nothing new
        await client.modify_order(limit, None, Decimal("121"), None)
        await client.cancel_order(limit)
        with pytest.raises(PaperFatalError) as closed:
            await client.cancel_order(limit)
        assert closed.value.code == "ORDER_NOT_OPEN"
        await asyncio.sleep(0)
        assert [e.kind for e in events] == ["OrderRejected", "OrderAccepted", "OrderUpdated",
                                            "OrderCanceled", "OrderCancelRejected"]
        await client.disconnect()

    run(main())


def test_owners_hear_and_list_only_their_own_orders(venue: PaperVenue) -> None:
    async def main() -> None:
        one = InProcessPaperClient(venue, owner="one")
        two = InProcessPaperClient(venue, owner="two")
        heard: dict[str, list[str]] = {"one": [], "two": []}
        one.bind(lambda e: heard["one"].append(e.client_order_id))
        two.bind(lambda e: heard["two"].append(e.client_order_id))
        await one.connect()
        await two.connect()
        await one.submit_order(order(BUY, 3, cid="X1", price="90"))
        await two.submit_order(order(BUY, 4, cid="Y1"))
        venue.on_bar(bar(0, 100, 101, 99, 100))
        await asyncio.sleep(0)
        assert heard == {"one": ["X1"], "two": ["Y1", "Y1"]}
        assert [r.client_order_id for r in await one.open_orders()] == ["X1"]
        assert await two.open_orders() == []
        assert [f.client_order_id for f in await two.fills_since(0)] == ["Y1"]
        assert await one.fills_since(0) == []
        assert [p.quantity for p in await one.positions()] == [4]  # the account's

    run(main())


def test_since_seq_replays_what_happened_before_connecting(venue: PaperVenue) -> None:
    venue.submit(order(BUY, 1, cid="A"))
    venue.submit(order(BUY, 1, cid="B"))

    async def main() -> None:
        client = InProcessPaperClient(venue, since_seq=1)
        events: list[ev.OrderEvent] = []
        client.bind(events.append)
        await client.connect()
        assert [e.client_order_id for e in events] == ["B"]
        assert client.last_seq == 2

    run(main())


def test_calls_before_connect_are_retryable(venue: PaperVenue) -> None:
    client = InProcessPaperClient(venue)
    with pytest.raises(RetryableVenueError):
        run(client.submit_order(order(BUY, 1)))


def test_the_factory_picks_in_process_or_network(venue: PaperVenue) -> None:
    local = create_execution_client(PaperClientConfig(owner="me"), venue=venue)
    assert isinstance(local, InProcessPaperClient) and local.owner == "me"
    remote = create_execution_client(PaperClientConfig(url="http://127.0.0.1:1"))
    assert isinstance(remote, PaperExecutionClient) and remote.venue == "PAPER"
    clients: list[LiveExecutionClient] = [local, remote]  # both satisfy the port
    assert all(c.capabilities.oco for c in clients)
