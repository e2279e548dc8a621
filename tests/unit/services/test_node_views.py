"""The account view of a running node: the day's PnL from the last equity before the UTC day,
the drawdown from the highest equity recorded or seen since, kept in memory after one read."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from tradeloop.core.time import NANOS_PER_DAY, NANOS_PER_HOUR
from tradeloop.model import events as ev
from tradeloop.services.node_views import AccountTracker, account_from_store

DAY = 20_000 * NANOS_PER_DAY


@dataclass
class _Account:
    currency: str = "USD"


@dataclass
class _Portfolio:
    equity: Decimal = Decimal(0)
    balance: Decimal = Decimal(100)
    account: _Account = field(default_factory=_Account)

    def unrealized_pnl(self) -> Decimal:
        return self.equity - self.balance


@dataclass
class _Clock:
    now: int = 0

    def now_ns(self) -> int:
        return self.now


@dataclass
class _Kernel:
    portfolio: _Portfolio = field(default_factory=_Portfolio)
    clock: _Clock = field(default_factory=_Clock)


def _snapshot(ts: int, equity: str) -> ev.AccountState:
    return ev.AccountState(ts=ts, account_id="A", currency="USD", balance=Decimal(100),
                           equity=Decimal(equity), margin_used=Decimal(0))


def test_the_tracker_starts_from_the_record_and_then_follows_the_equity() -> None:
    history = [_snapshot(DAY - 5 * NANOS_PER_HOUR, "110"), _snapshot(DAY - NANOS_PER_HOUR, "100"),
               _snapshot(DAY + NANOS_PER_HOUR, "103")]
    kernel = _Kernel()
    kernel.clock.now = DAY + 2 * NANOS_PER_HOUR
    kernel.portfolio.equity = Decimal(105)
    tracker = AccountTracker(history)
    view = tracker.view(kernel)  # type: ignore[arg-type]
    assert view.daily_pnl == Decimal(5) and view.peak_equity == Decimal(110)
    assert view.drawdown == pytest.approx(105 / 110 - 1)
    kernel.portfolio.equity = Decimal(120)
    view = tracker.view(kernel)  # type: ignore[arg-type]
    assert view.peak_equity == Decimal(120) and view.drawdown == 0.0
    kernel.portfolio.equity = Decimal(114)
    kernel.clock.now = DAY + NANOS_PER_DAY + 1  # the next UTC day
    view = tracker.view(kernel)  # type: ignore[arg-type]
    assert view.daily_pnl == Decimal(-6)  # from the last equity seen before midnight
    assert view.drawdown == pytest.approx(114 / 120 - 1)


def test_a_stored_account_without_snapshots_is_zeros() -> None:
    view = account_from_store([], "EUR")
    assert (view.currency, view.equity, view.ts) == ("EUR", Decimal(0), None)
