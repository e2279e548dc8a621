"""A rule that raises denies the order with RISK_ERROR, and nothing reaches the venue: a trader's
own rule (an interpreted subclass, also on the compiled gate) and a built-in rule that cannot
value the order alike."""

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
from tradeloop.risk import DenialCode, ExposureLimit, Rule
from tradeloop.risk.base import Denial, RiskContext
from tradeloop.risk.engine import default_rules


class _Buggy(Rule):
    code = DenialCode.QUANTITY

    def check(self, order: Order, ctx: RiskContext) -> Denial | None:
        raise RuntimeError(f"a bug looking at {order.client_order_id}")


def _desk(rule: Rule, instrument: Instrument, price: float) -> tuple[Kernel, list[object]]:
    clock = TestClock(1_000)
    kernel = Kernel(clock, Account("A", "USD", AccountType.MARGIN, Decimal(10**6), Decimal(1)))
    kernel.add_instrument(instrument)
    kernel.add_execution_client(SimulatedVenue(kernel.cache, clock))
    kernel.cache.last_prices[instrument.symbol] = price
    kernel.risk.add_rules([rule])
    seen: list[object] = []
    kernel.bus.subscribe("events.order.*", seen.append)
    return kernel, seen


def _send(kernel: Kernel, symbol: str, cid: str) -> Order:
    order = Order(client_order_id=cid, strategy_id="T", symbol=symbol, side=OrderSide.BUY,
                  order_type=OrderType.MARKET, quantity=Decimal(100), ts_init=1_000)
    kernel.cache.add_order(order)
    kernel.bus.send("RiskEngine.execute", cmd.SubmitOrder(order, 1_000))
    return order


def _only_denial(seen: list[object]) -> ev.OrderDenied:
    denied = [e for e in seen if isinstance(e, ev.OrderDenied)]
    assert len(denied) == 1 and denied[0].code == "RISK_ERROR"
    assert not [e for e in seen
                if isinstance(e, (ev.OrderSubmitted, ev.OrderAccepted, ev.OrderFilled))]
    return denied[0]


def test_a_traders_own_rule_that_raises_denies_the_order_and_nothing_is_sent(
        caplog: pytest.LogCaptureFixture) -> None:
    kernel, seen = _desk(_Buggy(), Instrument.equity("ABC"), 10.0)
    order = _send(kernel, "ABC", "O-1")
    assert order.status is OrderStatus.DENIED
    assert _only_denial(seen).reason == (
        "risk rule _Buggy(account) failed: RuntimeError: a bug looking at O-1")
    assert "risk rule failed: order denied" in caplog.text
    kernel.risk.set_rules(default_rules())  # the same order passes without the rule
    assert _send(kernel, "ABC", "O-2").status is OrderStatus.ACCEPTED


def test_a_built_in_rule_that_cannot_value_the_order_denies_it() -> None:
    kernel, seen = _desk(ExposureLimit(max_gross=10**9), Instrument.equity("XYZ", "CHF"), 10.0)
    order = _send(kernel, "XYZ", "O-1")
    assert order.status is OrderStatus.DENIED
    reason = _only_denial(seen).reason
    assert reason.startswith("risk rule BuyingPower(account) failed: ConfigError: cannot "
                             "convert CHF to USD")
