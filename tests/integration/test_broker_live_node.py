"""A live node through a broker adapter, end to end: the served paper venue on 127.0.0.1 plays the
broker (``[broker] name = "paper"``), its quotes become the node's one-second bars, the node
reconciles, trades, and records orders and fills in the audit database; ``doctor`` checks the
broker (connect, account, instruments, a what-if order never sent)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from support.paper_venue import ServedVenue
from tradeloop.brokers.paper.venue import PaperVenue
from tradeloop.brokers.simulated.venue import SimulatedVenueConfig
from tradeloop.config.node import NodeConfig, load_node_config
from tradeloop.model.account import Account
from tradeloop.model.enums import AccountType
from tradeloop.model.instrument import Instrument
from tradeloop.persistence import AuditStore, open_database
from tradeloop.services.control import NodeControl
from tradeloop.services.doctor import diagnose
from tradeloop.services.live import run_live

STRATEGY = '''
from tradeloop.strategy import Strategy


class BuyOnce(Strategy):
    """Buys one share on the first bar it sees, then holds."""

    def on_start(self):
        self.sent = False

    def on_bar(self, bar):
        if not self.sent:
            self.sent = True
            self.buy(1)
'''


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[ServedVenue]:
    yield from _served_broker(tmp_path, Decimal(1))


@pytest.fixture
def broker_5x(tmp_path: Path) -> Iterator[ServedVenue]:
    yield from _served_broker(tmp_path, Decimal("0.2"))  # a fifth of the value as margin


def _served_broker(tmp_path: Path, margin_rate: Decimal) -> Iterator[ServedVenue]:
    abc = replace(Instrument.equity("ABC", venue="PAPER"), margin_rate=margin_rate)
    venue = PaperVenue(tmp_path / "broker.db", [abc],
                       account=Account("BROKER-7", "USD", AccountType.MARGIN, Decimal(50_000)),
                       config=SimulatedVenueConfig(venue="PAPER"))
    served = ServedVenue(venue)
    stop = threading.Event()

    def tick() -> None:  # a live market: a quote every 50 ms
        with served.http() as http:
            k = 0
            while not stop.wait(0.05):
                k += 1
                bid = 100 + (k % 7) * 0.01
                http.post("/v1/admin/market", json={
                    "type": "quote", "symbol": "ABC", "ts": time.time_ns(), "bid": bid,
                    "ask": bid + 0.02, "bid_size": 1000, "ask_size": 1000})

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    yield served
    stop.set()
    ticker.join(5)
    served.stop()
    venue.close()


def _config(tmp_path: Path, served: ServedVenue, strategy: str = STRATEGY,
            account: str = "") -> NodeConfig:
    (tmp_path / "buy_once.py").write_text(strategy, encoding="utf-8")
    path = tmp_path / "node.toml"
    path.write_text(f'''
mode = "live"
name = "live-test"
[broker]
name = "paper"
[broker.settings]
url = "{served.url}"
[data]
source = "broker"
symbols = ["ABC@1s"]
[logging]
file = ""
{account}
[[strategies]]
strategy = "{tmp_path / 'buy_once.py'}:BuyOnce"
id = "once"
''', encoding="utf-8")
    return load_node_config(path, environ={})


class StopAfterFill:
    """Beside the node: stops it once a fill is recorded (or after a while)."""

    def __init__(self) -> None:
        self._stopping = False

    async def run(self, control: NodeControl) -> None:
        deadline = time.monotonic() + 30
        while not self._stopping and time.monotonic() < deadline:
            if control.fills():
                break
            await asyncio.sleep(0.1)
        control.stop("test done")

    def stop(self) -> None:
        self._stopping = True


def test_a_live_node_trades_through_its_broker_and_records_it(tmp_path: Path,
                                                             broker: ServedVenue) -> None:
    config = _config(tmp_path, broker)
    home = tmp_path / "home"
    session = run_live(config, home, beside=(StopAfterFill(),))
    assert session.summary.failures == []
    database = open_database(None, home)
    try:
        store = AuditStore(database)
        orders = store.orders(run_id=session.run_id)
        fills = store.fills(run_id=session.run_id)
    finally:
        database.close()
    assert [(o.symbol, o.side.value, o.quantity) for o in orders] == [("ABC", "BUY", 1)]
    assert len(fills) == 1 and fills[0].last_qty == 1
    # the broker booked the same: one position of one share on its account
    with broker.http() as http:
        positions = http.get("/v1/positions").json()
    assert [(p["symbol"], Decimal(p["quantity"])) for p in positions] == [("ABC", 1)]


class StopWhenSettled:
    """Beside the node: stops it once an order is filled or denied (or after a while)."""

    async def run(self, control: NodeControl) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(o.status in ("FILLED", "DENIED", "REJECTED") for o in control.orders()):
                break
            await asyncio.sleep(0.1)
        control.stop("test done")

    def stop(self) -> None:
        """Nothing to cut short."""


@pytest.mark.parametrize(("account", "status"), [
    ('[account]\ntype = "margin"\nleverage = "5"', "FILLED"),
    ("", "DENIED"),  # leverage 1 by default
    ('[account]\ntype = "cash"', "DENIED"),
])
def test_the_account_section_gives_the_live_account_its_type_and_leverage(
        tmp_path: Path, broker_5x: ServedVenue, account: str, status: str) -> None:
    # 2,000 shares at about 100 on the broker's 50,000, which it lends 5x: the node's gate
    # lets them through only when told the account's leverage
    config = _config(tmp_path, broker_5x, STRATEGY.replace("self.buy(1)", "self.buy(2000)"),
                     account)
    session = run_live(config, tmp_path / "home", beside=(StopWhenSettled(),))
    database = open_database(None, tmp_path / "home")
    try:
        (order,) = AuditStore(database).orders(run_id=session.run_id)
    finally:
        database.close()
    assert (order.quantity, order.status.value) == (2000, status), order.reason
    if status == "DENIED":
        assert "buying power" in order.reason


def test_doctor_checks_the_broker_without_sending_anything(tmp_path: Path,
                                                           broker: ServedVenue) -> None:
    checks = {c.name: c for c in diagnose(_config(tmp_path, broker), tmp_path / "home")}
    assert checks["broker"].ok and "paper connected" in checks["broker"].detail
    assert "modify: yes" in checks["broker"].detail
    assert checks["account"].ok and "BROKER-7: balance 50000 USD" in checks["account"].detail
    assert checks["instruments"].detail.startswith("ABC (tick 0.01, lot 1")
    assert checks["what-if ABC"].ok, checks["what-if ABC"].detail
    with broker.http() as http:
        assert http.get("/v1/orders").json() == []  # nothing was sent


def test_doctor_reports_an_unreachable_broker(tmp_path: Path) -> None:
    config = load_node_config(_write_unreachable(tmp_path), environ={})
    checks = {c.name: c for c in diagnose(config, tmp_path / "home")}
    assert not checks["broker"].ok
    assert checks["broker"].detail.startswith("paper: ")
    assert "UNREACHABLE" in checks["broker"].detail and "Traceback" not in checks["broker"].detail


def _write_unreachable(tmp_path: Path) -> Path:
    path = tmp_path / "node.toml"
    path.write_text('''
mode = "live"
name = "nowhere"
[broker]
name = "paper"
[broker.settings]
url = "http://127.0.0.1:9"
connect_timeout_s = 0.5
[data]
source = "broker"
symbols = ["ABC@1m"]
[[strategies]]
strategy = "sma_cross"
''', encoding="utf-8")
    return path
