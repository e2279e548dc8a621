"""What Alpaca holds natively, through the adapter and the node's order path, against the local
Alpaca: brackets, OCO and OTO groups as one Alpaca order with its legs, trailing stops by price
and by percent, fractional shares, extended hours, a crypto pair, and the PDT protection."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import alpaca_harness as h

from support.alpaca import AlpacaServer
from tradeloop.brokers.testing.harness import Desk
from tradeloop.model.enums import (
    ContingencyType,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TrailingOffsetType,
)
from tradeloop.model.orders import Order

BUY, SELL = OrderSide.BUY, OrderSide.SELL
S = OrderStatus


def _run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def _link_bracket(parent: Order, stop: Order, take: Order) -> None:
    parent.contingency, parent.linked_ids = ContingencyType.OTO, (stop.client_order_id,
                                                                  take.client_order_id)
    for leg, other in ((stop, take), (take, stop)):
        leg.parent_id = parent.client_order_id
        leg.contingency, leg.linked_ids = ContingencyType.OCO, (other.client_order_id,)


def _posts(server: AlpacaServer) -> list[dict[str, object]]:
    return [r.body for r in server.requests("/v2/orders", "POST")]


async def _hold(desk: Desk, quantity: Decimal = Decimal(10)) -> Order:
    order = desk.submit(desk.order(BUY, OrderType.MARKET, quantity=quantity))
    return await desk.until_status(order, S.FILLED)


def test_a_bracket_is_one_alpaca_order_whose_legs_alpaca_holds(alpaca: AlpacaServer,
                                                               tmp_path: Path) -> None:
    async def scenario() -> None:
        desk = await h.open_desk(h.target(alpaca, tmp_path))
        try:
            entry = desk.order(BUY, OrderType.LIMIT, price=Decimal("149.00"))
            stop = desk.order(SELL, OrderType.STOP, trigger=Decimal("145.00"))
            take = desk.order(SELL, OrderType.LIMIT, price=Decimal("155.00"))
            _link_bracket(entry, stop, take)
            h.submit_list(desk, [entry, stop, take])
            for order in (entry, stop, take):
                await desk.until_status(order, S.ACCEPTED)
            # one request, under the entry's id, with both exits; Alpaca holds the legs
            posts = _posts(alpaca)
            assert len(posts) == 1 and posts[0]["client_order_id"] == entry.client_order_id
            assert posts[0]["order_class"] == "bracket"
            assert posts[0]["take_profit"] == {"limit_price": Decimal("155.0")}
            assert posts[0]["stop_loss"] == {"stop_price": Decimal("145.0")}
            parent = alpaca.order(entry.client_order_id)
            assert [(leg.type, leg.status) for leg in parent.legs] == [
                ("limit", "held"), ("stop", "held")]
            legs = json.loads((tmp_path / "alpaca-paper-legs.json").read_text())
            assert sorted(legs.values()) == sorted([stop.client_order_id, take.client_order_id])
            # the entry fills: the legs work; the take-profit fills: the stop is cancelled
            alpaca.set_price("AAPL", "148.90", "148.95")
            await desk.until_status(entry, S.FILLED)
            alpaca.set_price("AAPL", "155.00", "155.02")
            await desk.until_status(take, S.FILLED)
            await desk.until_status(stop, S.CANCELED)
            assert [f.last_px for f in desk.fills(entry)] == [Decimal("149.00")]
            assert [f.last_px for f in desk.fills(take)] == [Decimal("155.00")]
            assert desk.cache.net_quantity("AAPL") == 0 == alpaca.position("AAPL")
        finally:
            await desk.close()

    _run(scenario())


def test_an_oco_pair_is_one_alpaca_oco_order(alpaca: AlpacaServer, tmp_path: Path) -> None:
    async def scenario() -> None:
        desk = await h.open_desk(h.target(alpaca, tmp_path))
        try:
            await _hold(desk)
            # the stop has the smaller id: it sends the pair, under the take-profit's id
            stop = desk.order(SELL, OrderType.STOP_LIMIT, trigger=Decimal("145.00"),
                              price=Decimal("144.00"))
            take = desk.order(SELL, OrderType.LIMIT, price=Decimal("155.00"))
            assert stop.client_order_id < take.client_order_id
            for leg, other in ((take, stop), (stop, take)):
                leg.contingency, leg.linked_ids = ContingencyType.OCO, (other.client_order_id,)
            h.submit_list(desk, [take, stop])
            await desk.until_status(take, S.ACCEPTED)
            await desk.until_status(stop, S.ACCEPTED)
            oco = [p for p in _posts(alpaca) if p.get("order_class") == "oco"]
            assert len(oco) == 1 and oco[0]["client_order_id"] == take.client_order_id
            assert oco[0]["stop_loss"] == {"stop_price": Decimal("145.0"),
                                           "limit_price": Decimal("144.0")}
            alpaca.set_price("AAPL", "144.90", "144.95")  # the stop triggers, then trades
            await desk.until_status(stop, S.FILLED)
            await desk.until_status(take, S.CANCELED)
            assert desk.cache.net_quantity("AAPL") == 0 == alpaca.position("AAPL")
        finally:
            await desk.close()

    _run(scenario())


def test_an_oto_entry_releases_its_one_exit_when_it_fills(alpaca: AlpacaServer,
                                                         tmp_path: Path) -> None:
    async def scenario() -> None:
        desk = await h.open_desk(h.target(alpaca, tmp_path))
        try:
            entry = desk.order(BUY, OrderType.MARKET)
            stop = desk.order(SELL, OrderType.STOP, trigger=Decimal("140.00"))
            entry.contingency, entry.linked_ids = ContingencyType.OTO, (stop.client_order_id,)
            stop.parent_id = entry.client_order_id
            h.submit_list(desk, [entry, stop])
            await desk.until_status(entry, S.FILLED)
            await desk.until_status(stop, S.ACCEPTED)
            assert [p["order_class"] for p in _posts(alpaca)] == ["oto"]
            assert alpaca.order(entry.client_order_id).legs[0].status == "new"
            alpaca.set_price("AAPL", "139.90", "139.95")
            await desk.until_status(stop, S.FILLED)
            assert desk.fills(stop)[0].last_px == Decimal("139.90")
        finally:
            await desk.close()

    _run(scenario())


def test_a_group_alpaca_cannot_express_is_rejected_whole(alpaca: AlpacaServer,
                                                        tmp_path: Path) -> None:
    async def scenario() -> None:
        desk = await h.open_desk(h.target(alpaca, tmp_path))
        try:
            first = desk.order(SELL, OrderType.LIMIT, price=Decimal("155.00"))
            second = desk.order(SELL, OrderType.LIMIT, price=Decimal("156.00"))
            for leg, other in ((first, second), (second, first)):
                leg.contingency, leg.linked_ids = ContingencyType.OCO, (other.client_order_id,)
            h.submit_list(desk, [first, second])
            await desk.until_status(first, S.REJECTED)
            await desk.until_status(second, S.REJECTED)
            assert "one LIMIT (take profit)" in first.reason
            assert "contingent group was refused" in second.reason
            assert _posts(alpaca) == []
        finally:
            await desk.close()

    _run(scenario())


def test_trailing_stops_by_price_and_by_percent_are_alpacas(alpaca: AlpacaServer,
                                                            tmp_path: Path) -> None:
    async def scenario() -> None:
        desk = await h.open_desk(h.target(alpaca, tmp_path))
        try:
            await _hold(desk, Decimal(20))
            by_price = desk.submit(desk.order(SELL, OrderType.TRAILING_STOP,
                                              trailing_offset=Decimal("1.00")))
            by_percent = desk.order(SELL, OrderType.TRAILING_STOP,
                                    trailing_offset=Decimal("2"))
            by_percent.trailing_offset_type = TrailingOffsetType.PERCENT
            desk.submit(by_percent)
            await desk.until_status(by_price, S.ACCEPTED)
            await desk.until_status(by_percent, S.ACCEPTED)
            bodies = {p["client_order_id"]: p for p in _posts(alpaca)}
            assert bodies[by_price.client_order_id]["trail_price"] == Decimal("1.0")
            assert bodies[by_percent.client_order_id]["trail_percent"] == Decimal("2.0")
            alpaca.set_price("AAPL", "152.00", "152.02")  # the high water mark rises
            alpaca.set_price("AAPL", "151.00", "151.02")  # 1.00 under it: the first fires
            await desk.until_status(by_price, S.FILLED)
            assert by_percent.status is S.ACCEPTED
            assert desk.fills(by_price)[0].last_px == Decimal("151.00")
            alpaca.set_price("AAPL", "148.90", "148.92")  # 2 % under 152.01
            await desk.until_status(by_percent, S.FILLED)
            assert desk.cache.net_quantity("AAPL") == 0 == alpaca.position("AAPL")
        finally:
            await desk.close()

    _run(scenario())


def test_fractional_shares_trade_as_alpaca_allows_them(alpaca: AlpacaServer,
                                                       tmp_path: Path) -> None:
    async def scenario() -> None:
        t = h.target(alpaca, tmp_path, fractional_shares=True)
        desk = await h.open_desk(t)
        try:
            [inst] = await desk.adapter.instruments.instruments(["AAPL"])
            assert inst.lot_step == Decimal("0.000000001") == inst.min_quantity
            day = desk.submit(desk.order(BUY, OrderType.MARKET, quantity=Decimal("0.5"),
                                         tif=TimeInForce.DAY))
            await desk.until_status(day, S.FILLED)
            assert alpaca.position("AAPL") == Decimal("0.5")
            gtc = desk.submit(desk.order(BUY, OrderType.LIMIT, quantity=Decimal("0.25"),
                                         price=Decimal("140.00")))
            await desk.until_status(gtc, S.REJECTED)
            assert "fractional orders must be DAY orders" in gtc.reason
            assert desk.router.sends == 2
        finally:
            await desk.close()

    _run(scenario())


def test_extended_hours_follow_the_tags_and_the_default(alpaca: AlpacaServer,
                                                        tmp_path: Path) -> None:
    async def scenario() -> None:
        desk = await h.open_desk(h.target(alpaca, tmp_path))
        alpaca.set_session("extended")
        try:
            price = Decimal("150.02")
            tagged = desk.order(BUY, OrderType.LIMIT, price=price, tif=TimeInForce.DAY)
            tagged.tags = ("outside_rth",)
            plain = desk.order(BUY, OrderType.LIMIT, price=price, tif=TimeInForce.DAY)
            market = desk.order(BUY, OrderType.MARKET, tif=TimeInForce.DAY)
            market.tags = ("outside_rth",)
            for order in (tagged, plain, market):
                desk.submit(order)
            await desk.until_status(tagged, S.FILLED)  # works in the pre-market
            await desk.until_status(plain, S.ACCEPTED)  # waits for the regular session
            await desk.until_status(market, S.REJECTED)
            assert "extended-hours orders only as LIMIT orders with DAY" in market.reason
            bodies = {p["client_order_id"]: p for p in _posts(alpaca)}
            assert bodies[tagged.client_order_id]["extended_hours"] is True
            assert "extended_hours" not in bodies[plain.client_order_id]
            assert market.client_order_id not in bodies  # refused before sending
            alpaca.set_session("regular")
            await desk.until_status(plain, S.FILLED)
        finally:
            alpaca.set_session("regular")
            await desk.close()

    _run(scenario())


def test_the_extended_hours_default_applies_to_limit_day_orders_only(
        alpaca: AlpacaServer, tmp_path: Path) -> None:
    async def scenario() -> None:
        desk = await h.open_desk(h.target(alpaca, tmp_path, extended_hours=True))
        try:
            day = desk.submit(desk.order(BUY, OrderType.LIMIT, price=Decimal("140.00"),
                                         tif=TimeInForce.DAY))
            gtc = desk.submit(desk.order(BUY, OrderType.LIMIT, price=Decimal("140.00")))
            opted_out = desk.order(BUY, OrderType.LIMIT, price=Decimal("140.00"),
                                   tif=TimeInForce.DAY)
            opted_out.tags = ("rth_only",)
            desk.submit(opted_out)
            for order in (day, gtc, opted_out):
                await desk.until_status(order, S.ACCEPTED)
            bodies = {p["client_order_id"]: p for p in _posts(alpaca)}
            assert bodies[day.client_order_id].get("extended_hours") is True
            assert "extended_hours" not in bodies[gtc.client_order_id]
            assert "extended_hours" not in bodies[opted_out.client_order_id]
        finally:
            await desk.close()

    _run(scenario())


def test_a_crypto_pair_trades_gtc_with_its_slash(alpaca: AlpacaServer, tmp_path: Path) -> None:
    async def scenario() -> None:
        t = h.target(alpaca, tmp_path, symbol="BTC/USD", quantity=Decimal("0.01"))
        desk = await h.open_desk(t)
        try:
            [inst] = await desk.adapter.instruments.instruments(["BTC/USD"])
            assert (inst.tick_size, inst.lot_step, inst.min_quantity) == (
                Decimal(1), Decimal("0.000000001"), Decimal("0.0001"))
            bought = desk.submit(desk.order(BUY, OrderType.MARKET))
            await desk.until_status(bought, S.FILLED)
            assert desk.fills(bought)[0].last_px == Decimal(65010)
            positions = await desk.adapter.execution.positions()
            assert [(p.symbol, p.quantity) for p in positions] == [("BTC/USD", Decimal("0.01"))]
            fills = await desk.adapter.execution.fills_since(0)
            assert [(f.symbol, f.client_order_id) for f in fills] == [
                ("BTC/USD", bought.client_order_id)]
            day = desk.submit(desk.order(SELL, OrderType.LIMIT, price=Decimal(70000),
                                         tif=TimeInForce.DAY))
            await desk.until_status(day, S.REJECTED)
            assert "crypto orders with GTC or IOC only" in day.reason
        finally:
            await desk.close()

    _run(scenario())


def test_the_pdt_protection_is_a_fatal_reject_with_its_reason(alpaca: AlpacaServer,
                                                              tmp_path: Path) -> None:
    async def scenario() -> None:
        alpaca.set_account(last_equity=Decimal(20_000), daytrade_count=3)
        desk = await h.open_desk(h.target(alpaca, tmp_path))
        try:
            status = await h.execution(desk).day_trading()
            assert (status.pattern_day_trader, status.day_trade_count) == (False, 3)
            assert status.last_equity == Decimal(20_000)
            await _hold(desk)
            sends = desk.router.sends
            closing = desk.submit(desk.order(SELL, OrderType.MARKET))
            await desk.until_status(closing, S.REJECTED)
            assert closing.reason.startswith("PDT_PROTECTION: Alpaca's pattern day trader "
                                             "protection")
            assert "40310000" in closing.reason
            assert desk.router.sends == sends + 1  # refused for good: never retried
            assert alpaca.position("AAPL") == 10
        finally:
            await desk.close()

    _run(scenario())


def test_a_fourth_day_trade_under_the_limit_is_counted_by_alpaca(alpaca: AlpacaServer,
                                                                tmp_path: Path) -> None:
    async def scenario() -> None:
        alpaca.set_account(last_equity=Decimal(20_000), daytrade_count=2)
        desk = await h.open_desk(h.target(alpaca, tmp_path))
        try:
            await _hold(desk)
            closing = desk.submit(desk.order(SELL, OrderType.MARKET))
            await desk.until_status(closing, S.FILLED)
            status = await h.execution(desk).day_trading()
            assert status.day_trade_count == 3 and status.pattern_day_trader is False
        finally:
            await desk.close()

    _run(scenario())


def test_day_orders_expire_at_the_end_of_the_day(alpaca: AlpacaServer, tmp_path: Path) -> None:
    async def scenario() -> None:
        desk = await h.open_desk(h.target(alpaca, tmp_path))
        try:
            day = desk.submit(desk.order(BUY, OrderType.LIMIT, price=Decimal("140.00"),
                                         tif=TimeInForce.DAY))
            gtc = desk.submit(desk.order(BUY, OrderType.LIMIT, price=Decimal("140.00")))
            await desk.until_status(day, S.ACCEPTED)
            await desk.until_status(gtc, S.ACCEPTED)
            alpaca.end_of_day()
            await desk.until_status(day, S.EXPIRED)
            assert gtc.status is S.ACCEPTED and await desk.venue_open(gtc)
        finally:
            await desk.close()

    _run(scenario())
