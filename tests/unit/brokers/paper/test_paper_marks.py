"""Marks and the clock are saved in batches, every order change at once: a venue killed after
many quote-only updates restarts a little behind in market data but with everything it
acknowledged, and fills afterwards exactly as a venue that was never killed."""

from __future__ import annotations

import gc
import signal
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from paper_harness import (
    BUY,
    SELL,
    START_NS,
    SYMBOL,
    ServedVenue,
    bar,
    make_venue,
    order,
    run,
    wait_for,
)
from pydantic import ValidationError

from tradeloop.brokers.paper import marks as marks_module
from tradeloop.brokers.paper.config import PaperServerConfig
from tradeloop.brokers.paper.data import _Delivered
from tradeloop.brokers.paper.inprocess import InProcessPaperClient
from tradeloop.brokers.paper.market import SeriesReplay
from tradeloop.brokers.paper.venue import PaperVenue
from tradeloop.core.errors import ConfigError, FatalVenueError
from tradeloop.model.data import QuoteSeries, QuoteTick
from tradeloop.model.enums import OrderStatus, OrderType
from tradeloop.model.orders import Order

NEVER = 3_600_000.0
"""marks_flush_ms that no test outlasts: marks are saved only with order changes or on close."""
RISE, CALM = 100, 400
"""Quotes that drag the trailing stop up (order changes), then quotes that change only marks."""


def quote(i: int, bid: float) -> QuoteTick:
    """The ``i``-th quote, a millisecond apart, two cents wide."""
    return QuoteTick(SYMBOL, START_NS + i * 1_000_000, round(bid, 2), round(bid + 0.02, 2))


def history() -> list[QuoteTick]:
    """The quotes before the kill: bids from 100.00 up to 101.00, then calm bids between
    100.50 and 100.89 (below the high: the trailing stop stays where it is)."""
    rise = [quote(i, 100.00 + i * 0.01) for i in range(RISE + 1)]
    calm = [quote(RISE + 1 + i, 100.50 + (i % 40) * 0.01) for i in range(CALM)]
    return rise + calm


def later() -> list[QuoteTick]:
    """Quotes after the restart: bids falling from 100.80 to 98.85, through the trailing
    stop's 100.00 and the resting limit's 99.00."""
    first = RISE + CALM + 1
    return [quote(first + i, 100.80 - i * 0.05) for i in range(40)]


def trade_until_the_kill(venue: PaperVenue) -> None:
    """A market buy, a resting limit buy and a trailing stop, then :func:`history`."""
    quotes = history()
    venue.on_quote(quotes[0])
    venue.submit(order(BUY, 10, cid="M"))  # fills at the next quote
    venue.submit(order(BUY, 5, cid="L", price="99.00"))
    venue.submit(Order(client_order_id="T", strategy_id="S", symbol=SYMBOL, side=SELL,
                       order_type=OrderType.TRAILING_STOP, quantity=Decimal(10), ts_init=0,
                       trailing_offset=Decimal("1.00")))
    for item in quotes[1:]:
        venue.on_quote(item)


def books(venue: PaperVenue) -> tuple[Any, ...]:
    """What the venue acknowledged: orders, fills, positions, balance, events."""
    return (venue.orders(), venue.fills_since(0),
            [(p.symbol, p.quantity, p.avg_px) for p in venue.positions()],
            venue.account().balance, venue.last_seq, venue.events_since(0, limit=10_000))


def killed() -> None:
    """Finish what a killed process leaves: the caller dropped its venue without calling
    close(); the connection goes with the garbage (and releases the state file)."""
    gc.collect()


def replay(venue: PaperVenue, quotes: list[QuoteTick]) -> None:
    """Feed ``quotes`` as the served venue's replay does: from where the venue's marks say it
    stopped."""
    series = QuoteSeries(SYMBOL, np.array([q.ts for q in quotes], dtype=np.int64),
                         np.array([q.bid for q in quotes]), np.array([q.ask for q in quotes]),
                         np.zeros(len(quotes)), np.zeros(len(quotes)))
    run(SeriesReplay([series], speed=0).run(venue))


@pytest.mark.parametrize("lost_quotes", ["replayed", "never resent"])
def test_a_venue_killed_after_quote_only_updates_restores_and_fills_the_same_way(
        tmp_path: Path, lost_quotes: str) -> None:
    reference = make_venue(tmp_path / "reference.db", marks_flush_ms=NEVER)  # never killed
    venue = make_venue(tmp_path / "paper.db", marks_flush_ms=NEVER)
    trade_until_the_kill(reference)
    trade_until_the_kill(venue)
    acknowledged = books(venue)
    assert acknowledged == books(reference)
    del venue
    killed()

    restored = make_venue(tmp_path / "paper.db", marks_flush_ms=NEVER)
    assert books(restored) == acknowledged  # orders, trailing stop, fills, position, events
    last_order_change = history()[RISE].ts  # the last quote that moved the trailing stop
    assert restored.market_ns == restored.last_data_ns(SYMBOL) == last_order_change
    assert reference.market_ns == history()[-1].ts  # the calm quotes' marks were not saved

    if lost_quotes == "replayed":  # a replay resumes from the restored marks
        played: list[object] = []
        restored.subscribe_market(played.append)
        replay(restored, history())
        assert played == history()[RISE + 1:]
        assert books(restored) == books(reference)
        assert restored.account() == reference.account()  # same marks, same clock
    for venue_ in (reference, restored):
        venue_.submit(order(SELL, 3, cid="N"))  # sent before any new data: the next quote
        for item in later():
            venue_.on_quote(item)

    fills = restored.fills_since(0)
    assert fills == reference.fills_since(0)
    assert [(f.client_order_id, f.trade_id, f.price) for f in fills] == [
        ("M", "PAPER-T1", Decimal("100.03")), ("N", "PAPER-T2", Decimal("100.80")),
        ("T", "PAPER-T3", Decimal("100")), ("L", "PAPER-T4", Decimal("98.97"))]
    assert [(o.client_order_id, o.status, o.filled_qty, o.avg_px) for o in restored.orders()] \
        == [(o.client_order_id, o.status, o.filled_qty, o.avg_px) for o in reference.orders()]
    assert restored.account() == reference.account()
    assert restored.market_ns == reference.market_ns == later()[-1].ts
    if lost_quotes == "replayed":  # caught up before N: even its stamps are the same
        assert books(restored) == books(reference)
    else:  # N was stamped with the restored venue's older time, and matched the same
        stamps = {o.client_order_id: o.ts_accepted for o in restored.orders()}
        assert stamps["N"] == last_order_change
    restored.close()
    reference.close()


CHILD = """
import os, signal, sys
from pathlib import Path

sys.path[:0] = [sys.argv[2], sys.argv[3]]
from paper_harness import make_venue
from test_paper_marks import NEVER, trade_until_the_kill

venue = make_venue(Path(sys.argv[1]), marks_flush_ms=NEVER)
trade_until_the_kill(venue)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_kill_9_after_quote_only_updates_loses_only_marks(tmp_path: Path) -> None:
    state = tmp_path / "paper.db"
    child = subprocess.run([sys.executable, "-c", CHILD, str(state), str(Path(__file__).parent),
                            str(Path(__file__).parents[3])],
                           capture_output=True, text=True, timeout=120, check=False)
    assert child.returncode == -signal.SIGKILL, child.stderr
    reference = make_venue(tmp_path / "reference.db", marks_flush_ms=NEVER)
    trade_until_the_kill(reference)

    restored = make_venue(state)
    assert books(restored) == books(reference)
    assert restored.market_ns == history()[RISE].ts < reference.market_ns
    for venue in (reference, restored):
        for item in later():
            venue.on_quote(item)
    assert restored.fills_since(0) == reference.fills_since(0)
    assert restored.status("T").status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert restored.status("L").status is OrderStatus.FILLED  # type: ignore[union-attr]
    restored.close()
    reference.close()


@pytest.mark.parametrize("save", ["order change", "persist_marks", "close", "every item"])
def test_marks_are_saved_with_an_order_change_on_request_on_close_or_with_every_item(
        tmp_path: Path, save: str) -> None:
    path = tmp_path / "paper.db"
    venue = make_venue(path, marks_flush_ms=0 if save == "every item" else NEVER)
    quotes = history()[:50]
    for item in quotes:
        venue.on_quote(item)
    if save == "order change":
        venue.submit(order(BUY, 1, cid="A", price="90.00"))
    elif save == "persist_marks":
        venue.persist_marks()
    if save == "close":
        venue.close()
    else:
        del venue
    killed()
    restored = make_venue(path)
    assert restored.market_ns == restored.last_data_ns(SYMBOL) == quotes[-1].ts
    restored.close()


def test_quote_only_updates_wait_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "paper.db"
    venue = make_venue(path, marks_flush_ms=NEVER)
    for item in history()[:50]:
        venue.on_quote(item)
    del venue
    killed()
    restored = make_venue(path)
    assert restored.market_ns == 0 and restored.last_data_ns(SYMBOL) is None
    restored.on_quote(history()[0])  # not stale: nothing of it was saved
    assert restored.last_data_ns(SYMBOL) == history()[0].ts
    restored.close()


def test_marks_are_saved_once_marks_flush_ms_has_passed(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    now_ms = [0]
    monkeypatch.setattr(marks_module, "time",
                        SimpleNamespace(monotonic_ns=lambda: now_ms[0] * 1_000_000))
    path = tmp_path / "paper.db"
    venue = make_venue(path, marks_flush_ms=250)
    quotes = history()
    for i, at_ms in enumerate([100, 249, 250, 400, 499]):
        now_ms[0] = at_ms
        venue.on_quote(quotes[i])
    del venue  # saved at 250 ms; the quotes at 400 and 499 ms were not due yet
    killed()
    restored = make_venue(path)
    assert restored.market_ns == quotes[2].ts
    restored.close()


def test_the_in_process_client_has_the_marks_saved_when_it_disconnects(tmp_path: Path) -> None:
    path = tmp_path / "paper.db"
    venue = make_venue(path, marks_flush_ms=NEVER)

    async def session(venue: PaperVenue) -> None:
        client = InProcessPaperClient(venue, owner="node")
        await client.connect()
        for item in history()[:10]:
            venue.on_quote(item)
        await client.disconnect()

    run(session(venue))
    del venue
    killed()
    restored = make_venue(path)
    assert restored.market_ns == history()[9].ts
    restored.close()


def test_a_served_venue_saves_the_marks_when_its_feed_pauses(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(marks_module, "time", SimpleNamespace(monotonic_ns=lambda: 0))
    path = tmp_path / "paper.db"
    venue = make_venue(path, marks_flush_ms=20)  # never due by itself: the clock is stopped
    saves: list[int] = []
    persist = venue.persist_marks

    def counted() -> None:
        persist()
        saves.append(1)

    venue.persist_marks = counted  # type: ignore[method-assign]
    served = ServedVenue(venue)
    try:
        served.push(bar(0, 100, 101, 99, 100.5))
        pushed = len(saves)
        run(wait_for(lambda: len(saves) > pushed))
    finally:
        served.stop()
    venue._store.close()  # killed (the stopped server's closures still hold the venue)
    restored = make_venue(path)
    assert restored.last_data_ns(SYMBOL) == bar(0, 1, 1, 1, 1).ts
    restored.close()


def test_a_failed_venue_writes_no_marks_on_close(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "paper.db"
    venue = make_venue(path, marks_flush_ms=NEVER)
    venue.on_quote(history()[0])
    venue.submit(order(BUY, 1, cid="A", price="90.00"))  # saved, with the first quote's marks
    for item in history()[1:20]:
        venue.on_quote(item)
    writes: list[object] = []

    def broken(changes: object) -> None:
        writes.append(changes)
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(venue._store, "commit", broken)
    with pytest.raises(sqlite3.OperationalError):
        venue.submit(order(BUY, 1, cid="B", price="90.00"))
    assert "internal error" in venue.failed
    with pytest.raises(FatalVenueError):
        venue.on_quote(history()[20])
    venue.persist_marks()  # nothing: memory and file are apart
    venue.close()
    assert len(writes) == 1
    restored = make_venue(path)
    assert [o.client_order_id for o in restored.orders()] == ["A"]
    assert restored.market_ns == history()[0].ts
    restored.close()


def test_a_negative_flush_interval_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="marks_flush_ms must be 0 or more"):
        make_venue(tmp_path / "paper.db", marks_flush_ms=-1)
    with pytest.raises(ValidationError):
        PaperServerConfig(state_path=tmp_path / "paper.db", marks_flush_ms=-1)
    assert PaperServerConfig(state_path=tmp_path / "paper.db").marks_flush_ms == 250


def test_the_market_data_client_delivers_what_a_restarted_venue_plays_again_once() -> None:
    delivered = _Delivered()
    seen = [quote(0, 100.00), quote(1, 100.01), quote(2, 100.02), quote(2, 100.02)]
    assert [delivered.is_new(q) for q in seen] == [True] * 4  # one connection: all of it
    assert delivered.is_new(QuoteTick("XYZ", START_NS, 10.0, 10.01))
    delivered.reconnected()  # to a venue restarted from the marks of the first quote
    again = [quote(1, 100.01), quote(2, 100.02), quote(2, 100.02), quote(2, 100.05),
             quote(3, 100.03), quote(3, 100.03), QuoteTick("XYZ", START_NS + 1, 10.0, 10.01)]
    assert [delivered.is_new(q) for q in again] == [False, False, False, True, True, True, True]
