"""orders.requested_order: what a strategy's buy()/sell() arguments become."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tradeloop.core.identifiers import ClientOrderIdGenerator
from tradeloop.model.enums import OrderSide, OrderType, TimeInForce, TrailingOffsetType
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import requested_order

INST = Instrument.equity("ACME")  # one-cent tick, whole shares


def _request(ids: ClientOrderIdGenerator | None = None, quantity: Any = 3, **prices: Any) -> Any:
    names = ("limit", "stop", "touch", "trail", "trail_percent")
    return requested_order(
        ids or ClientOrderIdGenerator("S"), "S", INST, OrderSide.BUY, quantity, 1_000,
        *(prices.get(name) for name in names),
        prices.get("tif", TimeInForce.GTC), None, prices.get("reduce_only", False),
        prices.get("tag", ""), None,
    )


@pytest.mark.parametrize(("prices", "kind", "price", "trigger"), [
    ({}, OrderType.MARKET, None, None),
    ({"limit": 10.004}, OrderType.LIMIT, Decimal("10"), None),
    ({"stop": 9.456}, OrderType.STOP, None, Decimal("9.46")),
    ({"stop": 9.5, "limit": 9.4}, OrderType.STOP_LIMIT, Decimal("9.4"), Decimal("9.5")),
    ({"touch": "11.005"}, OrderType.MARKET_IF_TOUCHED, None, Decimal("11")),
    ({"trail": 0.5}, OrderType.TRAILING_STOP, None, None),
    ({"trail_percent": 2}, OrderType.TRAILING_STOP, None, None),
])
def test_the_type_follows_from_the_prices_given(
    prices: dict[str, Any], kind: OrderType, price: Decimal | None, trigger: Decimal | None
) -> None:
    order = _request(**prices)
    assert (order.order_type, order.price, order.trigger_price) == (kind, price, trigger)
    assert (order.quantity, order.symbol, order.strategy_id, order.ts_init) == (
        Decimal(3), "ACME", "S", 1_000)


def test_trailing_offsets_keep_their_kind() -> None:
    by_price, by_percent = _request(trail=0.504), _request(trail_percent="1.5")
    assert (by_price.trailing_offset, by_price.trailing_offset_type) == (
        Decimal("0.5"), TrailingOffsetType.PRICE)
    assert (by_percent.trailing_offset, by_percent.trailing_offset_type) == (
        Decimal("1.5"), TrailingOffsetType.PERCENT)


def test_options_are_carried() -> None:
    order = _request(limit=10, tif="ioc", reduce_only=True, tag="exit")
    assert (order.time_in_force, order.reduce_only, order.tags) == (
        TimeInForce.IOC, True, ("exit",))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"limit": 1, "touch": 2}, "S: limit and touch cannot be combined in one order"),
    ({"trail": 1, "stop": 2}, "S: stop and trail cannot be combined in one order"),
    ({"quantity": 0.4}, "S: quantity 0.4 rounds down to 0 at lot step 1"),
])
def test_a_bad_request_names_the_strategy_and_takes_no_id(
    kwargs: dict[str, Any], message: str
) -> None:
    ids = ClientOrderIdGenerator("S")
    with pytest.raises(ValueError, match=message):
        _request(ids, **kwargs)
    assert _request(ids).client_order_id == ClientOrderIdGenerator("S").next_id(1_000)
