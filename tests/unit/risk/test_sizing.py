"""The largest order the size rules allow: what position sizing is capped at."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradeloop.brokers.simulated.venue import SimulatedVenue
from tradeloop.core.clock import TestClock
from tradeloop.engine.kernel import Kernel
from tradeloop.model.account import Account
from tradeloop.model.enums import AccountType, OrderSide
from tradeloop.model.instrument import Instrument
from tradeloop.risk import Scope
from tradeloop.risk.limits import ExposureLimit, MaxPosition, OrderQuantityLimit
from tradeloop.risk.sizing import max_quantity

D = Decimal


def desk(*rules: object, cash: str = "100000", lot: str = "1") -> Kernel:
    kernel = Kernel(TestClock(1_000), Account("A", "USD", AccountType.MARGIN, D(cash), D(1)))
    kernel.add_instrument(Instrument("ABC", lot_step=D(lot), min_quantity=D(lot)))
    kernel.add_execution_client(SimulatedVenue(kernel.cache, kernel.clock))
    kernel.cache.last_prices["ABC"] = 100.0
    kernel.risk.add_rules(list(rules))  # type: ignore[arg-type]
    return kernel


def cap(kernel: Kernel, side: OrderSide = OrderSide.BUY, upper: Decimal | None = None,
        price: Decimal | None = None) -> Decimal:
    return max_quantity(kernel.risk.rules, kernel.risk.context, "S", "ABC", side, price, upper)


@pytest.mark.parametrize(("rules", "expected"), [
    ((), D(1000)),  # buying power alone: 100,000 / 100
    ((OrderQuantityLimit(maximum=D(250)),), D(250)),
    ((MaxPosition(quantity=D(40)),), D(40)),
    ((OrderQuantityLimit(maximum=D(250)), MaxPosition(quantity=D(40))), D(40)),
    ((ExposureLimit(max_gross=D(12_345)),), D(123)),  # rounded down to the lot
    ((MaxPosition(Scope(symbol="XYZ"), quantity=D(5)),), D(1000)),  # another symbol's limit
], ids=["buying-power", "order-quantity", "position", "tightest-wins", "exposure-rounds-down",
        "other-scope"])
def test_the_tightest_size_rule_caps_the_quantity(rules: tuple[object, ...],
                                                  expected: Decimal) -> None:
    assert cap(desk(*rules)) == expected


def test_the_cap_is_exactly_what_the_gate_allows() -> None:
    kernel = desk(ExposureLimit(max_gross=D(12_345)))
    best = cap(kernel)
    from tradeloop.model.enums import OrderType
    from tradeloop.model.orders import Order

    def order(qty: Decimal) -> Order:
        return Order(client_order_id=f"O-{qty}", strategy_id="S", symbol="ABC",
                     side=OrderSide.BUY, order_type=OrderType.MARKET, quantity=qty, ts_init=1)

    assert kernel.risk.check(order(best)) is None
    denial = kernel.risk.check(order(best + 1))
    assert denial is not None and denial.code == "GROSS_EXPOSURE"


def test_a_wanted_size_below_the_cap_is_kept_and_lots_are_respected() -> None:
    kernel = desk(OrderQuantityLimit(maximum=D(250)), lot="10")
    assert cap(kernel) == D(250)
    assert cap(kernel, upper=D(95)) == D(90)


def test_a_minimum_is_not_a_cap() -> None:
    kernel = desk(OrderQuantityLimit(minimum=D(50), maximum=D(200)))
    assert cap(kernel) == D(200)


def test_unknown_symbol_sizes_to_zero() -> None:
    kernel = desk()
    assert max_quantity(kernel.risk.rules, kernel.risk.context, "S", "NOPE", OrderSide.BUY) == 0
