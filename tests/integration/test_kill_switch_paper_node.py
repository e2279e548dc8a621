"""The kill switch on a paper node replaying the bundled EURUSD bars, on SQLite and PostgreSQL.

The node runs in process, as ``tradeloop paper`` runs it. A probe strategy trades on a few
bars, leaves a resting limit order, and creates the node's kill file on one bar: from the next
item on nothing the strategy sends reaches the venue (each order is denied with KILL_SWITCH),
the resting order is cancelled and the position closed. A restarted node is still halted;
``tradeloop resume`` is refused while the kill file exists, and once it is removed and the
switch re-armed, orders flow again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from crash_harness import audit_database

from tradeloop.config.node import NodeConfig, load_node_config
from tradeloop.data import bundled_path
from tradeloop.model.data import Bar
from tradeloop.model.enums import OrderStatus
from tradeloop.model.orders import Order
from tradeloop.persistence import AuditStore, open_database
from tradeloop.persistence.records import RiskEventRecord
from tradeloop.services.node import run_paper
from tradeloop.strategy import Strategy


class KillProbe(Strategy):
    """Buys at market on bar ``start``, rests a limit buy far below on the next bar, buys at
    market on every later bar before ``stop``, and creates ``kill_file`` on bar ``kill_at``
    (its first line, the reason of the kill, ends with the time of the bar's orders)."""

    start: int = 10
    stop: int = 26
    kill_at: int = -1
    kill_file: str = ""

    def on_start(self) -> None:
        self.seen = 0

    def on_bar(self, bar: Bar) -> None:
        self.seen += 1
        n = self.seen
        if n == self.start + 1:
            self.buy(1000, limit=round(bar.close - 0.05, 5), tag="resting")
        elif self.start <= n < self.stop:
            self.buy(1000, tag=f"bar-{n}")
        if n == self.kill_at and self.kill_file:
            Path(self.kill_file).write_text(f"probe pulled the plug at {self.now_ns}\n",
                                            encoding="utf-8")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """"" (SQLite in the node's home) or a fresh PostgreSQL database."""
    with audit_database(request.param) as url:
        yield url


def _config_file(tmp_path: Path, kill_file: Path) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(f'''
mode = "paper"
name = "kill-node"
[account]
cash = "100000"
[data]
source = "replay"
files = ["{bundled_path("EURUSD")}"]
speed = 0
[logging]
level = "WARNING"
file = ""
[risk]
kill_file = "{kill_file}"
flatten_on_kill = true
[[strategies]]
strategy = "{Path(__file__).resolve()}:KillProbe"
id = "probe"
symbols = ["EURUSD"]
params = {{ start = 10, stop = 26, kill_at = 20, kill_file = "{kill_file}" }}
''', encoding="utf-8")
    return path


def _environ(home: Path, database_url: str) -> dict[str, str]:
    env = dict(os.environ, TRADELOOP_HOME=str(home))
    env.pop("TRADELOOP_DATABASE__URL", None)
    if database_url:
        env["TRADELOOP_DATABASE__URL"] = database_url
    return env


def _load(path: Path, home: Path, database_url: str, **params: int) -> NodeConfig:
    config = load_node_config(path, environ=_environ(home, database_url))
    config.strategies[0].params.update(params)
    return config


def _audit(home: Path, database_url: str, run_id: str
           ) -> tuple[list[Order], list[RiskEventRecord], list[RiskEventRecord]]:
    database = open_database(database_url or None, home)
    try:
        store = AuditStore(database)
        return store.orders(run_id=run_id), store.risk_events(run_id=run_id), \
            store.risk_events()
    finally:
        database.close()


def _cli(home: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tradeloop", *args], capture_output=True,
                          text=True, check=False, env=_environ(home, database_url), timeout=120)


def _denied_by_kill_switch(orders: list[Order], risk: list[RiskEventRecord]) -> set[str]:
    denied = {r.client_order_id for r in risk if r.rule == "KILL_SWITCH" and
              r.decision == "DENIED"}
    assert denied == {o.client_order_id for o in orders if o.status is OrderStatus.DENIED}
    return denied


def test_the_kill_file_halts_a_paper_node_until_resumed(
        tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("TRADELOOP_HOME", str(home))
    kill_file = tmp_path / "tradeloop.KILL"
    config_path = _config_file(tmp_path, kill_file)

    # 1. the strategy creates the kill file on its 20th bar
    first = run_paper(_load(config_path, home, database_url), home)
    reason = kill_file.read_text(encoding="utf-8").strip()
    kill_ts = int(reason.split()[-1])
    orders, risk, _ = _audit(home, database_url, first.run_id)
    strategy_orders = [o for o in orders if "flatten" not in o.tags]
    after = [o for o in strategy_orders if o.ts_init > kill_ts]
    assert len(after) == 5  # bars 21 to 25
    # nothing the strategy sent after the cycle that saw the file was submitted
    assert all(o.status is OrderStatus.DENIED for o in after)
    assert all(o.reason == f"trading is halted: kill switch: {reason}" for o in after)
    assert _denied_by_kill_switch(orders, risk) == {o.client_order_id for o in after}
    before = [o for o in strategy_orders if o.ts_init <= kill_ts]
    assert len(before) == 11 and not any(o.status is OrderStatus.DENIED for o in before)
    [resting] = [o for o in before if "resting" in o.tags]
    assert resting.status is OrderStatus.CANCELED  # cancel_on_kill
    flatten = [o for o in orders if "flatten" in o.tags]
    assert flatten and all(o.reduce_only and o.status is OrderStatus.FILLED for o in flatten)
    assert first.summary.positions == {}  # flatten_on_kill closed the position
    [halted] = [r for r in risk if r.decision == "HALTED"]
    assert (halted.rule, halted.by) == ("KILL_SWITCH", f"kill file {kill_file}")
    assert halted.reason == f"kill switch: {reason}"

    # 2. after a restart the node is still halted: every order is denied from the start
    second = run_paper(_load(config_path, home, database_url, start=100, stop=105,
                             kill_at=-1), home)
    orders, risk, _ = _audit(home, database_url, second.run_id)
    assert len(orders) == 5 and all(o.status is OrderStatus.DENIED for o in orders)
    assert len(_denied_by_kill_switch(orders, risk)) == 5
    assert (risk[0].rule, risk[0].decision) == ("KILL_SWITCH", "HALTED")

    # 3. resume is refused while the kill file exists, in one line
    refused = _cli(home, database_url, "resume", str(config_path), "--by", "tester",
                   "--reason", "checked")
    assert refused.returncode == 2
    assert f"remove {kill_file} first" in refused.stderr
    assert "Traceback" not in refused.stderr and refused.stderr.count("\n") == 1
    kill_file.unlink()
    resumed = _cli(home, database_url, "resume", str(config_path), "--by", "tester",
                   "--reason", "checked the books")
    assert resumed.returncode == 0, resumed.stderr
    assert "re-armed by tester" in resumed.stdout

    # 4. orders flow again
    third = run_paper(_load(config_path, home, database_url, start=200, stop=205,
                            kill_at=-1), home)
    orders, risk, every = _audit(home, database_url, third.run_id)
    assert len(orders) == 5 and not any(o.status is OrderStatus.DENIED for o in orders)
    # the venue took every one (it fills no more: it saw these old bars in the first run)
    assert all(o.status in (OrderStatus.ACCEPTED, OrderStatus.FILLED) for o in orders)
    assert risk == []
    assert ("KILL_SWITCH", "RESUMED", "tester", "checked the books") in [
        (r.rule, r.decision, r.by, r.reason) for r in every]


def test_kill_and_flatten_commands_without_a_running_node(tmp_path: Path) -> None:
    home = tmp_path / "home"
    config_path = _config_file(tmp_path, tmp_path / "tradeloop.KILL")
    killed = _cli(home, "", "kill", str(config_path), "--by", "alice", "--reason", "test")
    assert killed.returncode == 0, killed.stderr
    assert "kill switch engaged" in killed.stdout and "by alice: test" in killed.stdout
    assert (home / "state" / "kill-node.kill.json").is_file()
    nobody = _cli(home, "", "flatten", str(config_path), "EURUSD", "--wait", "0.3")
    assert nobody.returncode == 3
    assert "did not take the flatten request" in nobody.stderr
    assert "Traceback" not in nobody.stderr
    assert list((home / "state" / "kill-node.control").iterdir()) == []
    no_by = _cli(home, "", "resume", str(config_path), "--reason", "x")
    assert no_by.returncode == 2 and "needs --by" in no_by.stderr
