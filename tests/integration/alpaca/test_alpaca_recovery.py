"""How the Alpaca adapter stays right when answers and updates go missing, against the local
Alpaca: a fill made while the trade updates stream was down is caught by the REST sweep that
follows its reconnection; an answer that never came is resolved by the client order id; an
id Alpaca already has is taken as that order; refused keys are one clear line."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import alpaca_harness as h
import pytest

from support.alpaca import AlpacaServer
from tradeloop.core.errors import ConfigError
from tradeloop.model.enums import OrderSide, OrderStatus, OrderType
from tradeloop.model.orders import Order

BUY = OrderSide.BUY
S = OrderStatus


def test_a_fill_made_while_the_stream_was_down_is_swept_after_it_reconnects(
        alpaca: AlpacaServer, tmp_path: Path) -> None:
    async def scenario() -> None:
        # no periodic sweep within the test: only the reconnection can bring the fill
        desk = await h.open_desk(h.target(alpaca, tmp_path, sweep_interval_s=600.0))
        client = h.execution(desk)
        try:
            order = desk.submit(desk.order(BUY, OrderType.LIMIT, price=Decimal("147.00")))
            await desk.until_status(order, S.ACCEPTED)
            assert client.stream_connects == 1 and client.sweeps == 0
            alpaca.refuse_trading_stream(True)
            assert alpaca.drop_streams("trading") == 1
            alpaca.fill(order.client_order_id, Decimal(10))  # nobody is listening
            assert order.status is S.ACCEPTED and alpaca.subscribed("trading") == []
            alpaca.refuse_trading_stream(False)
            await desk.until_status(order, S.FILLED)
            assert client.stream_connects == 2 and client.sweeps >= 1
            [fill] = desk.fills(order)
            [activity] = alpaca.account().activities
            assert fill.trade_id == activity.execution_id and fill.last_px == Decimal("147.00")
            assert desk.cache.net_quantity("AAPL") == 10 == alpaca.position("AAPL")
        finally:
            await desk.close()

    asyncio.run(scenario())


def test_a_stalled_answer_is_looked_up_and_the_order_is_never_sent_twice(
        alpaca: AlpacaServer, tmp_path: Path) -> None:
    async def scenario() -> None:
        desk = await h.open_desk(h.target(alpaca, tmp_path, timeout_s=0.5))
        try:
            alpaca.fail_next("stall", delay_s=1.5)  # booked, answered after the timeout
            order = desk.submit(desk.order(BUY, OrderType.LIMIT, price=Decimal("147.00")))
            await desk.until_status(order, S.ACCEPTED)
            await asyncio.wait_for(desk.router.settle(), 10)
            assert desk.router.sends == 1 and alpaca.submits(order.client_order_id) == 1
            assert [o.client_order_id for o in alpaca.orders()] == [order.client_order_id]
        finally:
            await desk.close()

    asyncio.run(scenario())


def test_a_server_error_before_booking_is_looked_up_then_sent_again(alpaca: AlpacaServer,
                                                                    tmp_path: Path) -> None:
    async def scenario() -> None:
        desk = await h.open_desk(h.target(alpaca, tmp_path))
        try:
            alpaca.fail_next("internal")  # HTTP 500, nothing booked
            order = desk.submit(desk.order(BUY, OrderType.LIMIT, price=Decimal("147.00")))
            await desk.until_status(order, S.ACCEPTED)
            await asyncio.wait_for(desk.router.settle(), 10)
            lookups = alpaca.requests("/v2/orders:by_client_order_id")
            assert lookups and lookups[0].status == 404  # looked up first: not there
            assert alpaca.submits(order.client_order_id) == 2
            assert len(alpaca.orders()) == 1
        finally:
            await desk.close()

    asyncio.run(scenario())


def test_an_id_alpaca_already_has_is_taken_as_that_order(alpaca: AlpacaServer,
                                                         tmp_path: Path) -> None:
    async def scenario() -> None:
        first = await h.open_desk(h.target(alpaca, tmp_path))
        order = first.order(BUY, OrderType.LIMIT, price=Decimal("147.00"))
        try:
            first.submit(order)
            await first.until_status(order, S.ACCEPTED)
        finally:
            await first.close()
        again = await h.open_desk(h.target(alpaca, tmp_path))  # a restart that resends
        try:
            resent = again.submit(Order(
                client_order_id=order.client_order_id, strategy_id="CF", symbol="AAPL",
                side=BUY, order_type=OrderType.LIMIT, quantity=Decimal(10),
                ts_init=again.clock.now_ns(), price=Decimal("147.00")))
            await again.until_status(resent, S.ACCEPTED)
            assert len(alpaca.orders()) == 1
            assert [r.status for r in alpaca.requests("/v2/orders", "POST")] == [200, 422]
        finally:
            await again.close()

    asyncio.run(scenario())


def test_refused_keys_are_one_clear_configuration_error(alpaca: AlpacaServer, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(h.SECRET_ENV, "not-the-secret")

    async def scenario() -> None:
        adapter = h.adapter(alpaca, tmp_path)
        try:
            await adapter.execution.connect()
        finally:
            await adapter.close()

    with pytest.raises(ConfigError) as caught:
        asyncio.run(scenario())
    message = str(caught.value)
    assert "Alpaca refused the API keys" in message and "40110000" in message
    assert "not-the-secret" not in message and "\n" not in message


def test_an_order_rejected_after_alpaca_took_it_ends_rejected(alpaca: AlpacaServer,
                                                              tmp_path: Path) -> None:
    async def scenario() -> None:
        desk = await h.open_desk(h.target(alpaca, tmp_path))
        try:
            alpaca.fail_next("reject_after_booking")
            order = desk.submit(desk.order(BUY, OrderType.LIMIT, price=Decimal("147.00")))
            await desk.until_status(order, S.REJECTED)
            assert order.reason == "Alpaca status rejected"
            assert [type(e).__name__ for e in desk.events
                    if e.client_order_id == order.client_order_id] == [
                "OrderSubmitted", "OrderAccepted", "OrderRejected"]
            assert not await desk.venue_open(order)
        finally:
            await desk.close()

    asyncio.run(scenario())
