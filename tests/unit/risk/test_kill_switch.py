"""The kill switch latch, its trigger file and flatten requests, and the kernel's cancel-all
and flatten behind it."""

from __future__ import annotations

import json
import logging
import os
from decimal import Decimal
from pathlib import Path

import pytest

from tradeloop.brokers.simulated.venue import SimulatedVenue
from tradeloop.core.clock import TestClock
from tradeloop.core.errors import ConfigError
from tradeloop.engine.kernel import Kernel
from tradeloop.model import commands as cmd
from tradeloop.model import events as ev
from tradeloop.model.account import Account
from tradeloop.model.enums import AccountType, OrderSide, OrderStatus, OrderType
from tradeloop.model.instrument import Instrument
from tradeloop.model.orders import Order
from tradeloop.risk.base import DenialCode, TradingState
from tradeloop.risk.kill_switch import (
    FlattenRequests,
    FlattenResult,
    KillState,
    KillSwitch,
)

T0 = 1_700_000_000_000_000_000


class Ticks:
    """A clock for the latch that moves one second per reading."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        self.now += 1_000_000_000
        return self.now


def _switch(tmp_path: Path, trigger: bool = True) -> KillSwitch:
    return KillSwitch(tmp_path / "state" / "node.kill.json",
                      tmp_path / "KILL" if trigger else None, clock=Ticks())


# -- the latch ------------------------------------------------------------------------------


def test_a_new_switch_is_not_engaged_and_writes_nothing(tmp_path: Path) -> None:
    switch = _switch(tmp_path)
    assert switch.state() == KillState()
    assert not switch.state_path.exists()


def test_the_latch_persists_across_a_new_kill_switch_object(tmp_path: Path) -> None:
    first = _switch(tmp_path)
    engaged = first.engage("alice", "venue misbehaving", flatten=True)
    again = _switch(tmp_path).state()
    assert again == engaged
    assert (again.engaged, again.by, again.reason, again.flatten, again.since) == (
        True, "alice", "venue misbehaving", True, T0 + 1_000_000_000)
    assert [(h.action, h.by) for h in again.history] == [("engaged", "alice")]
    stored = json.loads(first.state_path.read_text(encoding="utf-8"))
    assert stored["engaged"] is True and stored["history"][0]["reason"] == "venue misbehaving"
    # the write was atomic: no temporary file is left next to the state
    assert [p.name for p in first.state_path.parent.iterdir()] == ["node.kill.json"]


def test_resume_rearms_and_keeps_the_history(tmp_path: Path) -> None:
    switch = _switch(tmp_path)
    switch.engage("alice", "fat finger")
    switch.engage("bob", "still bad", flatten=True)  # keeps the first cause, adds flatten
    state = switch.state()
    assert (state.by, state.reason, state.flatten) == ("alice", "fat finger", True)
    resumed = _switch(tmp_path).resume("carol", "checked the books")
    assert not resumed.engaged and resumed.since is None
    assert [(h.action, h.by, h.reason) for h in resumed.history] == [
        ("engaged", "alice", "fat finger"), ("engaged", "bob", "still bad"),
        ("resumed", "carol", "checked the books")]
    assert _switch(tmp_path).state() == resumed


@pytest.mark.parametrize(("by", "reason", "message"), [
    ("", "ok", "needs --by"),
    ("   ", "ok", "needs --by"),
    ("carol", "", "needs --reason"),
    ("carol", "  ", "needs --reason"),
], ids=["no-by", "blank-by", "no-reason", "blank-reason"])
def test_resume_needs_who_and_why(tmp_path: Path, by: str, reason: str, message: str) -> None:
    switch = _switch(tmp_path)
    switch.engage("alice", "halt")
    with pytest.raises(ConfigError, match=message):
        switch.resume(by, reason)
    assert switch.state().engaged


def test_resume_is_refused_while_the_trigger_file_exists(tmp_path: Path) -> None:
    switch = _switch(tmp_path)
    trigger = tmp_path / "KILL"
    trigger.write_text("stop now\n", encoding="utf-8")
    assert switch.poll() is not None
    with pytest.raises(ConfigError, match=rf"remove {trigger} first"):
        switch.resume("carol", "fine")
    assert switch.state().engaged
    trigger.unlink()
    assert not switch.resume("carol", "fine").engaged


@pytest.mark.parametrize("content", [
    "{not json", "", "[]", '{"engaged": "yes"}', '{"flatten": true}',
    '{"engaged": false, "history": [{"action": "exploded"}]}',
], ids=["truncated", "empty", "array", "engaged-not-bool", "no-engaged", "bad-history"])
def test_a_corrupt_state_file_counts_as_engaged(tmp_path: Path, content: str,
                                                caplog: pytest.LogCaptureFixture) -> None:
    switch = _switch(tmp_path)
    switch.state_path.parent.mkdir(parents=True)
    switch.state_path.write_text(content, encoding="utf-8")
    with caplog.at_level(logging.ERROR, logger="tradeloop.risk.kill_switch"):
        state = switch.state()
    assert state.engaged and state.corrupt
    assert str(switch.state_path) in state.reason
    assert "unreadable" in caplog.text
    polled = switch.poll()
    assert polled is not None and polled.engaged
    # re-arming replaces the corrupt file with a valid one
    assert not switch.resume("carol", "state file repaired").engaged
    assert not switch.state().corrupt


# -- polling ----------------------------------------------------------------------------------


def test_the_first_poll_returns_the_state_and_later_ones_are_quiet(tmp_path: Path) -> None:
    switch = _switch(tmp_path)
    assert switch.poll() == KillState()
    for _ in range(3):
        assert switch.poll() is None


def test_poll_reads_nothing_while_nothing_changed(tmp_path: Path) -> None:
    switch = _switch(tmp_path)
    switch.engage("alice", "halt")
    assert switch.poll() is not None
    # garbage of the same size written in place, with the old time put back: only a read
    # of the file could notice it
    before = os.stat(switch.state_path)
    with switch.state_path.open("r+b") as handle:
        handle.write(b"#" * before.st_size)
    os.utime(switch.state_path, ns=(before.st_atime_ns, before.st_mtime_ns))
    for _ in range(3):
        assert switch.poll() is None
    assert switch.state().corrupt  # a read does see it


def test_poll_sees_an_engagement_by_another_process(tmp_path: Path) -> None:
    node = _switch(tmp_path)
    assert node.poll() == KillState()
    _switch(tmp_path).engage("operator", "tradeloop kill")
    seen = node.poll()
    assert seen is not None and (seen.engaged, seen.by) == (True, "operator")
    assert node.poll() is None
    _switch(tmp_path).resume("operator", "all clear")
    resumed = node.poll()
    assert resumed is not None and not resumed.engaged


@pytest.mark.parametrize(("content", "reason"), [
    ("broker is down\nsecond line\n", "broker is down"),
    ("", "kill file present"),
    ("   \n", "kill file present"),
], ids=["first-line", "empty-file", "blank-line"])
def test_poll_engages_when_the_trigger_file_appears(tmp_path: Path, content: str,
                                                    reason: str) -> None:
    switch = _switch(tmp_path)
    assert switch.poll() == KillState()
    (tmp_path / "KILL").write_text(content, encoding="utf-8")
    state = switch.poll()
    assert state is not None and state.engaged
    assert (state.by, state.reason) == (f"kill file {tmp_path / 'KILL'}", reason)
    assert switch.poll() is None
    assert _switch(tmp_path).state() == state  # persisted: it survives the file's removal
    (tmp_path / "KILL").unlink()
    assert switch.poll() is None  # removing the file does not re-arm the latch
    assert switch.state().engaged


def test_a_trigger_file_present_at_start_engages_on_the_first_poll(tmp_path: Path) -> None:
    (tmp_path / "KILL").write_text("", encoding="utf-8")
    state = _switch(tmp_path).poll()
    assert state is not None and state.engaged


def test_without_a_trigger_path_only_the_state_file_counts(tmp_path: Path) -> None:
    (tmp_path / "KILL").write_text("", encoding="utf-8")
    switch = _switch(tmp_path, trigger=False)
    assert switch.poll() == KillState()
    assert switch.poll() is None
    assert not switch.resume("carol", "nothing to do").engaged


# -- flatten requests -------------------------------------------------------------------------


def test_a_flatten_request_is_taken_answered_and_read_back(tmp_path: Path) -> None:
    requests = FlattenRequests(_switch(tmp_path).control_dir)
    assert requests.folder == tmp_path / "state" / "node.control"
    assert requests.pending() == []
    request = requests.submit("EURUSD", by="alice")
    [pending] = requests.pending()
    assert (pending.request_id, pending.symbol, pending.by) == (request.request_id, "EURUSD",
                                                               "alice")
    assert requests.result(request) is None
    assert requests.take(pending)
    assert requests.pending() == []
    assert not requests.withdraw(request)  # the node has it
    done = requests.complete(pending, FlattenResult(pending.request_id, ("A-1", "B-2")))
    assert done.name == f"flatten-{request.request_id}.done"
    assert requests.result(request) == FlattenResult(request.request_id, ("A-1", "B-2"))
    assert sorted(os.listdir(requests.folder)) == [done.name]


def test_a_withdrawn_request_cannot_be_taken(tmp_path: Path) -> None:
    requests = FlattenRequests(tmp_path / "control")
    request = requests.submit(None)
    assert requests.withdraw(request)
    assert not requests.take(request)
    assert requests.pending() == []


def test_an_unreadable_request_is_answered_with_an_error(tmp_path: Path) -> None:
    requests = FlattenRequests(tmp_path / "control")
    (tmp_path / "control").mkdir()
    (tmp_path / "control" / "flatten-bad.json").write_text("{oops", encoding="utf-8")
    assert requests.pending() == []
    done = json.loads((tmp_path / "control" / "flatten-bad.done").read_text(encoding="utf-8"))
    assert done["orders"] == [] and "unreadable request" in done["error"]


# -- the kernel's cancel-all and flatten --------------------------------------------------------


class Desk:
    def __init__(self) -> None:
        self.clock = TestClock(1_000)
        account = Account("A", "USD", AccountType.MARGIN, Decimal(1_000_000), Decimal(1))
        self.kernel = Kernel(self.clock, account)
        for symbol in ("ABC", "XYZ"):
            self.kernel.add_instrument(Instrument.equity(symbol))
            self.kernel.cache.last_prices[symbol] = 100.0
        self.venue = SimulatedVenue(self.kernel.cache, self.clock)
        self.kernel.add_execution_client(self.venue)
        self.events: list[ev.Event] = []
        self.kernel.bus.subscribe("events.order.*", self.events.append)
        self._n = 0

    def send(self, symbol: str, side: OrderSide, qty: int, limit: str | None = None,
             strategy: str = "T") -> Order:
        self._n += 1
        order = Order(
            client_order_id=f"O-{self._n}", strategy_id=strategy, symbol=symbol, side=side,
            order_type=OrderType.LIMIT if limit else OrderType.MARKET, quantity=Decimal(qty),
            ts_init=self.clock.now_ns(), price=Decimal(limit) if limit else None,
        )
        self.kernel.cache.add_order(order)
        self.kernel.bus.send("RiskEngine.execute", cmd.SubmitOrder(order, self.clock.now_ns()))
        return order

    def bar(self, price: float = 100.0) -> None:
        self.clock.advance_to(self.clock.now_ns() + 60)
        for symbol in ("ABC", "XYZ"):
            self.venue.process_bar(symbol, self.clock.now_ns(), price, price, price, price, 1e9)


@pytest.mark.parametrize(("symbol", "cancelled"), [
    (None, {"O-1", "O-2"}), ("ABC", {"O-1"}), ("XYZ", {"O-2"}),
], ids=["all", "one-symbol", "other-symbol"])
def test_cancel_all_cancels_the_open_orders(symbol: str | None, cancelled: set[str]) -> None:
    desk = Desk()
    resting = [desk.send("ABC", OrderSide.BUY, 10, "90"), desk.send("XYZ", OrderSide.BUY, 10,
                                                                    "90")]
    sent = desk.kernel.cancel_all("test", symbol)
    assert set(sent) == cancelled
    assert {o.client_order_id for o in resting if o.status is OrderStatus.CANCELED} == cancelled


def test_flatten_closes_every_position_with_reduce_only_market_orders() -> None:
    desk = Desk()
    desk.send("ABC", OrderSide.BUY, 30, strategy="alpha")
    desk.send("XYZ", OrderSide.SELL, 20, strategy="beta")
    desk.bar()
    assert desk.kernel.cache.net_quantity("ABC") == 30
    desk.kernel.risk.halt("stop", code=DenialCode.KILL_SWITCH)
    sent = desk.kernel.flatten("kill switch")
    assert [(o.symbol, o.strategy_id, o.side, o.quantity, o.reduce_only, o.tags)
            for o in sent] == [
        ("ABC", "alpha", OrderSide.SELL, 30, True, ("flatten",)),
        ("XYZ", "beta", OrderSide.BUY, 20, True, ("flatten",)),
    ]
    assert all(o.status is OrderStatus.ACCEPTED for o in sent)  # the halt lets them pass
    assert desk.kernel.flatten("again") == []  # already working: nothing sent twice
    desk.bar()
    assert desk.kernel.cache.open_positions() == []
    assert desk.kernel.risk.state is TradingState.HALTED


def test_flatten_of_one_symbol_leaves_the_others() -> None:
    desk = Desk()
    desk.send("ABC", OrderSide.BUY, 30)
    desk.send("XYZ", OrderSide.BUY, 20)
    desk.bar()
    [order] = desk.kernel.flatten("just ABC", "ABC")
    desk.bar()
    assert order.symbol == "ABC" and order.status is OrderStatus.FILLED
    assert [p.symbol for p in desk.kernel.cache.open_positions()] == ["XYZ"]


def test_flatten_ids_are_deterministic_and_never_reused() -> None:
    ids = []
    for _ in range(2):
        desk = Desk()
        desk.send("ABC", OrderSide.BUY, 30)
        desk.bar()
        [order] = desk.kernel.flatten("kill")
        ids.append(order.client_order_id)
    assert ids[0] == ids[1]
    desk.bar()
    desk.send("ABC", OrderSide.BUY, 30)
    desk.bar()
    [again] = desk.kernel.flatten("kill")
    assert again.client_order_id not in ids


def test_a_breaker_asking_to_flatten_reaches_the_kernel() -> None:
    desk = Desk()
    desk.send("ABC", OrderSide.BUY, 30)
    desk.bar()
    assert desk.kernel.risk.on_flatten == desk.kernel.flatten
    desk.kernel.risk.on_flatten("daily loss")  # type: ignore[misc]
    desk.bar()
    assert desk.kernel.cache.open_positions() == []


def test_a_halted_gate_denies_new_orders_with_the_kill_switch_code() -> None:
    desk = Desk()
    desk.kernel.risk.halt("kill switch: test", code=DenialCode.KILL_SWITCH, by="alice")
    order = desk.send("ABC", OrderSide.BUY, 10)
    assert order.status is OrderStatus.DENIED
    [denied] = [e for e in desk.events if isinstance(e, ev.OrderDenied)]
    assert denied.code == "KILL_SWITCH"
