"""The order journal that maps Schwab's order ids to our client order ids (Schwab carries none),
and the guard that keeps two identical orders from being unresolved at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from tradeloop.brokers.schwab.errors import SchwabRetryableError
from tradeloop.brokers.schwab.journal import OrderJournal, Send
from tradeloop.brokers.schwab.lookup import OrderLocator
from tradeloop.brokers.schwab.orders import Layout
from tradeloop.core.errors import ConfigError


def test_what_is_written_is_read_back_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "schwab-orders.json"
    journal = OrderJournal.open(path)
    bracket = Layout("E1", [Layout("", [Layout("S1"), Layout("T1")])])
    journal.record_send(Send("E1", bracket, "fp-bracket", 1_000))
    journal.record_send(Send("L1", Layout("L1"), "fp-limit", 2_000))
    for cid, order_id in (("E1", 11), ("S1", 13), ("T1", 14), ("L1", 21)):
        journal.link(cid, order_id)
    journal.resolve(journal.sends["E1"], 11)
    journal.link("L1", 22)  # a modify: Schwab replaced 21 with 22

    again = OrderJournal.open(path)
    assert again.current("L1") == 22 and again.chain("L1") == [21, 22]
    assert [again.owner(i) for i in (11, 13, 14, 21, 22, 99)] == [
        "E1", "S1", "T1", "L1", "L1", None]
    send = again.send_of("T1")
    assert send is not None and send.head == "E1" and send.root_id == 11
    assert [n.client_order_id for n in send.layout.walk()] == ["E1", "", "S1", "T1"]
    assert [s.head for s in again.unresolved()] == ["L1"]
    again.resolve(again.sends["L1"], None)
    assert OrderJournal.open(path).sends["L1"].absent
    assert [p.name for p in tmp_path.iterdir()] == ["schwab-orders.json"]


def test_a_damaged_journal_is_named(tmp_path: Path) -> None:
    path = tmp_path / "schwab-orders.json"
    path.write_text('{"sends": {"A": {"layout": 5}}}', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"the Schwab order journal .* is damaged"):
        OrderJournal.open(path)


def test_an_identical_order_waits_while_another_is_unresolved(tmp_path: Path) -> None:
    journal = OrderJournal.open(tmp_path / "j.json")
    first = Send("A1", Layout("A1"), "same", 1_000)
    journal.record_send(first)
    locator = OrderLocator(cast(Any, None), journal, 120.0)
    locator.unclear(first)
    with pytest.raises(SchwabRetryableError, match="IDENTICAL_ORDER_UNRESOLVED"):
        locator.guard("same", "A2")
    locator.guard("same", "A1")  # its own resend is fine
    locator.guard("other", "A2")
    locator.settled(first)
    locator.guard("same", "A2")
    # after a restart, sends still unresolved in the journal hold their fingerprint
    reopened = OrderLocator(cast(Any, None), OrderJournal.open(tmp_path / "j.json"), 120.0)
    with pytest.raises(SchwabRetryableError):
        reopened.guard("same", "A2")
