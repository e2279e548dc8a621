"""The buying-power check: orders the account cannot pay for are denied with a reason."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradeloop.brokers.simulated.venue import SimulatedVenue
from tradeloop.core.clock import TestClock
from tradeloop.engine.kernel import Kernel
from tradeloop.model import commands as cmd
from tradeloop.model import events as ev
from tradeloop.model.account import Account
from tradeloop.model.enums import AccountType, OrderSide, OrderStatus, OrderType
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order

SYMBOL = "ABC"


class Desk:
    def __init__(self, account_type: AccountType = AccountType.MARGIN, leverage: int = 1):
        self.clock = TestClock(1_000)
        account = Account("A", "USD", account_type, Decimal(100_000), Decimal(leverage))
        self.kernel = Kernel(self.clock, account)
        self.kernel.add_instrument(Instrument.equity(SYMBOL))
        self.venue = SimulatedVenue(self.kernel.cache, self.clock)
        self.kernel.add_execution_client(self.venue)
        self.kernel.cache.last_prices[SYMBOL] = 100.0
        self.denials: list[ev.OrderDenied] = []
        self.kernel.bus.subscribe(
            "events.order.*", lambda e: self.denials.append(e) if isinstance(e, ev.OrderDenied)
            else None,
        )
        self._n = 0

    def send(self, side: OrderSide, qty: int, limit: str | None = None) -> Order:
        self._n += 1
        order = Order(
            client_order_id=f"O-{self._n}", strategy_id="T", symbol=SYMBOL, side=side,
            order_type=OrderType.LIMIT if limit else OrderType.MARKET, quantity=Decimal(qty),
            ts_init=self.clock.now_ns(), price=Decimal(limit) if limit else None,
        )
        self.kernel.cache.add_order(order)
        self.kernel.bus.send("RiskEngine.execute", cmd.SubmitOrder(order, self.clock.now_ns()))
        return order

    def bar(self, price: float) -> None:
        self.clock.advance_to(self.clock.now_ns() + 60)
        self.venue.process_bar(SYMBOL, self.clock.now_ns(), price, price, price, price, 1e9)
        self.kernel.cache.last_prices[SYMBOL] = price


def test_an_order_larger_than_the_account_is_denied_with_a_reason() -> None:
    desk = Desk()
    order = desk.send(OrderSide.BUY, 1_001)
    assert order.status is OrderStatus.DENIED
    assert "insufficient buying power" in order.reason
    assert "100,100.00" in order.reason and "100,000.00 available" in order.reason
    assert desk.send(OrderSide.BUY, 1_000).status is OrderStatus.ACCEPTED


def test_working_orders_use_up_buying_power() -> None:
    desk = Desk()
    assert desk.send(OrderSide.BUY, 600, limit="99").status is OrderStatus.ACCEPTED
    second = desk.send(OrderSide.BUY, 500, limit="99")
    assert second.status is OrderStatus.DENIED
    assert "40,600.00 available" in second.reason


def test_a_cancelled_working_order_frees_its_buying_power_again() -> None:
    desk = Desk()
    first = desk.send(OrderSide.BUY, 600, limit="99")
    assert desk.send(OrderSide.BUY, 500, limit="99").status is OrderStatus.DENIED
    desk.kernel.bus.send("RiskEngine.execute",
                         cmd.CancelOrder(first.client_order_id, desk.clock.now_ns()))
    assert first.status is OrderStatus.CANCELED
    assert desk.send(OrderSide.BUY, 500, limit="99").status is OrderStatus.ACCEPTED
    assert desk.send(OrderSide.BUY, 600, limit="99").status is OrderStatus.DENIED


def test_leverage_multiplies_buying_power() -> None:
    desk = Desk(leverage=4)
    assert desk.send(OrderSide.BUY, 3_900).status is OrderStatus.ACCEPTED
    assert desk.send(OrderSide.BUY, 200).status is OrderStatus.DENIED


def test_closing_and_flipping_count_only_the_part_that_opens() -> None:
    desk = Desk()
    desk.send(OrderSide.BUY, 900)
    desk.bar(100.0)
    assert desk.kernel.portfolio.net_quantity(SYMBOL) == 900
    # selling 1,800 closes 900 and opens a 900 short: the short must fit, and it does
    flip = desk.send(OrderSide.SELL, 1_800)
    assert flip.status is OrderStatus.ACCEPTED
    desk.bar(100.0)
    assert desk.kernel.portfolio.net_quantity(SYMBOL) == -900


@pytest.mark.parametrize("qty", [1, 50])
def test_a_cash_account_cannot_sell_short(qty: int) -> None:
    desk = Desk(AccountType.CASH)
    order = desk.send(OrderSide.SELL, qty)
    assert order.status is OrderStatus.DENIED
    assert "cash account cannot sell short" in order.reason


def test_a_cash_account_may_sell_what_it_holds() -> None:
    desk = Desk(AccountType.CASH)
    desk.send(OrderSide.BUY, 100)
    desk.bar(100.0)
    assert desk.send(OrderSide.SELL, 100).status is OrderStatus.ACCEPTED
    assert desk.send(OrderSide.SELL, 1).status is OrderStatus.DENIED
