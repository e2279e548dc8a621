"""What the crash, restart and fault tests share: a served paper venue and paper nodes as child
processes, bars pushed to the venue, the audit database opened from the test process, and the
check that the node's books agree with the venue's after a restart.

Every child is started with ``sys.executable -m tradeloop ...`` in an isolated home, listens or
connects on 127.0.0.1 only, and is killed (by its own pid) when its fixture ends.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from support.ports import free_port
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderSide, OrderStatus
from tradeloop.model.orders import Order
from tradeloop.persistence import AuditStore, open_database

PG_URL_VARIABLE = "TRADELOOP_TEST_PG_URL"
REQUIRE_PG_VARIABLE = "TRADELOOP_REQUIRE_PG"
SYMBOL = "EURUSD"
STRATEGIES = Path(__file__).resolve().parent / "strategies.py"
#: Statuses of an order that can no longer change.
FINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED,
                   OrderStatus.REJECTED, OrderStatus.DENIED})


# -- the audit database -----------------------------------------------------------------------


def pg_base_url() -> sa.URL:
    """The PostgreSQL server given to the tests, or skip (fail when PostgreSQL is required)."""
    raw = os.environ.get(PG_URL_VARIABLE, "").strip()
    if not raw:
        if os.environ.get(REQUIRE_PG_VARIABLE):
            pytest.fail(f"{REQUIRE_PG_VARIABLE} is set but {PG_URL_VARIABLE} is not: give the "
                        "PostgreSQL URL, e.g. postgresql+psycopg://user:password@127.0.0.1/db")
        pytest.skip(f"PostgreSQL tests need {PG_URL_VARIABLE}, e.g. "
                    "postgresql+psycopg://user:password@127.0.0.1:5432/tradeloop_test")
    url = make_url(raw)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


@contextmanager
def audit_database(kind: str) -> Iterator[str]:
    """The audit database URL of one test: "" (SQLite under the node's home) or a PostgreSQL
    database created for the test and dropped after it."""
    if kind == "sqlite":
        yield ""
        return
    base = pg_base_url()
    name = f"tl_crash_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@dataclass
class AuditBooks:
    """What the audit database holds, read in one go."""

    orders: list[Order]
    fills: list[ev.OrderFilled]
    positions: dict[str, Decimal]

    def order(self, client_order_id: str) -> Order | None:
        """One order by client order id."""
        return next((o for o in self.orders if o.client_order_id == client_order_id), None)

    def fill_position(self, symbol: str) -> Decimal:
        """The net position the recorded fills add up to."""
        return sum((f.last_qty if f.side is OrderSide.BUY else -f.last_qty
                    for f in self.fills if f.symbol == symbol), Decimal(0))


def read_audit(url: str, home: Path) -> AuditBooks:
    """Read orders, fills and the latest positions (summed per symbol) from the audit DB."""
    database = open_database(url or None, home)
    try:
        store = AuditStore(database)
        positions: dict[str, Decimal] = {}
        for position in store.latest_positions():
            positions[position.symbol] = positions.get(position.symbol, Decimal(0)) \
                + position.quantity
        return AuditBooks(store.orders(), store.fills(), positions)
    finally:
        database.close()


def read_order_events(url: str, home: Path, client_order_id: str) -> list[ev.OrderEvent]:
    """Every event the audit database recorded for one order, in recording order."""
    database = open_database(url or None, home)
    try:
        return AuditStore(database).order_events(client_order_id)
    finally:
        database.close()


# -- child processes --------------------------------------------------------------------------


def child_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a child: this one without any TRADELOOP_ setting (overrides, tokens,
    crash points), plus its own home and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADELOOP_")}
    env.update(TRADELOOP_HOME=str(home), PYTHONUNBUFFERED="1", **extra)
    return env


def wait_until(condition: Callable[[], Any], timeout: float, what: str,
               interval: float = 0.02) -> Any:
    """Poll ``condition`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class Children:
    """Child processes of one test; :meth:`kill_all` ends each (SIGKILL by its pid)."""

    def __init__(self) -> None:
        self._processes: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], env: dict[str, str], log: Path, cwd: Path
              ) -> subprocess.Popen[bytes]:
        """Start ``python -m tradeloop ARGS`` with its output appended to ``log``."""
        with log.open("ab") as out:
            process = subprocess.Popen([sys.executable, "-m", "tradeloop", *args], env=env,
                                       cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
        self._processes.append(process)
        return process

    def kill_all(self) -> None:
        """SIGKILL every child still running and reap it."""
        for process in self._processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
            process.wait(30)


class Venue:
    """``tradeloop venue serve`` with admin and fault endpoints, and a client for them."""

    def __init__(self, children: Children, home: Path, folder: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "venue.log"
        self.process = children.start(
            ["venue", "serve", "--symbol", SYMBOL, "--port", str(self.port), "--allow-admin",
             "--allow-faults", "--state", str(folder / "venue.db")],
            child_env(home), self.log, folder)
        self.http = httpx.Client(base_url=self.url, trust_env=False, timeout=30)
        wait_until(self._healthy, 60, f"the venue at {self.url} (log: {self.log})")

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the venue exited: {self.log.read_text()[-2000:]}")
        try:
            return self.http.get("/health").status_code == 200
        except httpx.TransportError:
            return False

    def close(self) -> None:
        """Close the HTTP client (the process is killed by :class:`Children`)."""
        self.http.close()

    def push(self, bar: dict[str, Any]) -> None:
        """Push one bar; the venue matches resting orders against it."""
        self.http.post("/v1/admin/market", json=bar).raise_for_status()

    def arm(self, kind: str, **fields: Any) -> None:
        """Arm one fault (``POST /v1/admin/faults``)."""
        self.http.post("/v1/admin/faults", json={"kind": kind, **fields}).raise_for_status()

    def armed(self) -> list[dict[str, Any]]:
        """The faults still armed."""
        return list(self.http.get("/v1/admin/faults").json()["armed"])

    def orders(self, open_only: bool = False) -> list[dict[str, Any]]:
        """The venue's orders (``GET /v1/orders``)."""
        params = {"open": "true"} if open_only else {}
        return list(self.http.get("/v1/orders", params=params).json())

    def fills(self) -> list[dict[str, Any]]:
        """Every fill (``GET /v1/fills?since=0``)."""
        return list(self.http.get("/v1/fills", params={"since": "0"}).json())

    def positions(self) -> dict[str, Decimal]:
        """Net position per symbol (``GET /v1/positions``)."""
        return {p["symbol"]: Decimal(p["quantity"])
                for p in self.http.get("/v1/positions").json()}

    def events(self) -> list[dict[str, Any]]:
        """Every order event the venue published, in seq order."""
        out: list[dict[str, Any]] = []
        while True:
            answer = self.http.get("/v1/events", params={"since_seq": len(out),
                                                         "limit": 10_000}).json()
            out.extend(answer["events"])
            if not answer["events"] or out[-1]["seq"] >= answer["last_seq"]:
                return out


class Bars:
    """A seeded random walk of EURUSD bars stamped like a live feed: each bar is stamped with
    its open, the moment the previous one was made, and closes when it is made. An order a
    node sends on a bar is therefore filled at the next bar's open, a moment before the
    order's own (wall clock) ``ts_init``, as with a real feed."""

    def __init__(self, rng: random.Random, start: float = 1.08500) -> None:
        self._rng = rng
        self.close = start
        self._last_ns = time.time_ns() - 1_000_000_000

    def next(self, volume: float = 1.0, *, open_: float | None = None,
             close: float | None = None, low: float | None = None,
             high: float | None = None) -> dict[str, Any]:
        """The next bar, opening at the last close unless ``open_`` is given; ``close``,
        ``low`` and ``high`` force where it ends and how far it reaches."""
        rng = self._rng
        ts = self._last_ns
        self._last_ns = max(time.time_ns(), ts + 1)
        open_ = self.close if open_ is None else open_
        step = rng.gauss(0, 0.0002)
        close = round(open_ + step if close is None else close, 5)
        top = round(max(open_, close) + rng.uniform(0, 0.0003), 5)
        bottom = round(min(open_, close) - rng.uniform(0, 0.0003), 5)
        if low is not None:
            bottom = min(bottom, low)
        if high is not None:
            top = max(top, high)
        self.close = close
        return {"type": "bar", "symbol": SYMBOL, "ts": ts, "open": open_, "high": top,
                "low": bottom, "close": close, "volume": volume, "timeframe": ""}


@dataclass
class NodeRun:
    """One start of a node process."""

    process: subprocess.Popen[bytes]
    crash_at: str

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid


class Node:
    """A paper node on the served venue, started (and restarted) as ``tradeloop paper``.

    Parameters
    ----------
    children : Children
    home : Path
        Its TRADELOOP_HOME (the SQLite audit database lives there).
    folder : Path
        Where its config, journal and log go.
    venue : Venue
    strategy : str
        A class of ``strategies.py``.
    database_url : str
        "" for SQLite under ``home``; a PostgreSQL URL is passed through the environment.
    """

    def __init__(self, children: Children, home: Path, folder: Path, venue: Venue,
                 strategy: str, database_url: str = "", name: str = "crashy",
                 params: dict[str, Any] | None = None) -> None:
        self.children = children
        self.home = home
        self.folder = folder
        self.name = name
        self.database_url = database_url
        self.journal = folder / f"{name}.journal.jsonl"
        self.log = folder / f"{name}.log"
        self.config = folder / f"{name}.toml"
        all_params = {"journal": str(self.journal), **(params or {})}
        inline = ", ".join(f"{k} = {json.dumps(v)}" for k, v in all_params.items())
        self.config.write_text(f'''mode = "paper"
name = "{name}"
[data]
source = "venue"
[venue]
url = "{venue.url}"
[logging]
level = "WARNING"
[[strategies]]
strategy = "{STRATEGIES}:{strategy}"
symbols = ["{SYMBOL}"]
params = {{ {inline} }}
''', encoding="utf-8")
        self.runs: list[NodeRun] = []

    def start(self, crash_at: str = "") -> NodeRun:
        """Start the node; with ``crash_at`` (``name[:n]``) it SIGKILLs itself there."""
        extra = {"TRADELOOP_CRASH_AT": crash_at} if crash_at else {}
        if self.database_url:
            extra["TRADELOOP_DATABASE__URL"] = self.database_url
        with self.log.open("a", encoding="utf-8") as out:
            out.write(f"\n=== start {len(self.runs) + 1} crash_at={crash_at or '-'}\n")
        process = self.children.start(["paper", str(self.config)],
                                      child_env(self.home, **extra), self.log, self.folder)
        run = NodeRun(process, crash_at)
        self.runs.append(run)
        return run

    def records(self, pid: int | None = None, event: str | None = None
                ) -> list[dict[str, Any]]:
        """Journal records of the strategy (of one process, of one kind)."""
        if not self.journal.exists():
            return []
        out = []
        for line in self.journal.read_text(encoding="utf-8").splitlines():
            if not line.endswith("}"):
                continue  # a line the killed process did not finish
            record = json.loads(line)
            if (pid is None or record["pid"] == pid) and (event is None
                                                          or record["event"] == event):
                out.append(record)
        return out

    def wait_running(self, run: NodeRun, timeout: float = 60) -> dict[str, Any]:
        """Wait for the strategy's ``on_start`` record of this run (the node restored,
        connected and reconciled); fail with the log when the process ends first.

        A run with a crash point that killed it before its strategies started (a fill adopted
        during reconciliation reaches ``after_fill_before_commit``) returns ``{}``.
        """
        def started() -> dict[str, Any] | None:
            found = self.records(run.pid, "start")
            if found:
                return found[0]
            code = run.process.poll()
            if code == -signal.SIGKILL and run.crash_at:
                return {}
            if code is not None:
                raise AssertionError(
                    f"node exited with {run.process.returncode} before its strategies "
                    f"started:\n{self.log_tail()}")
            return None

        found: dict[str, Any] = wait_until(
            lambda: None if (r := started()) is None else (r or {"crashed": True}),
            timeout, "the node's strategies to start")
        return {} if found.get("crashed") else found

    def wait_bar(self, run: NodeRun, ts: int, timeout: float = 30) -> None:
        """Wait until the strategy of this run saw the bar at ``ts``."""
        def seen() -> bool:
            if run.process.poll() is not None:
                raise AssertionError(f"node exited with {run.process.returncode}:\n"
                                     f"{self.log_tail()}")
            return any(r["ts"] == ts for r in self.records(run.pid, "bar"))

        wait_until(seen, timeout, f"the strategy to see the bar at {ts}")

    def prime(self, run: NodeRun, venue: Venue, bars: Bars, volume: float = 0.0,
              timeout: float = 30) -> dict[str, Any]:
        """Push bars until the strategy of this run sees one (the node opens its market data
        stream after its strategies started, and market data is not replayed); return the
        last bar pushed."""
        deadline = time.monotonic() + timeout
        while True:
            bar = bars.next(volume)
            venue.push(bar)
            try:
                self.wait_bar(run, bar["ts"], timeout=0.2)
                return bar
            except AssertionError:
                if run.process.poll() is not None or time.monotonic() > deadline:
                    raise

    def kill(self, run: NodeRun) -> None:
        """SIGKILL this run (when it still runs) and reap it."""
        if run.process.poll() is None:
            os.kill(run.pid, signal.SIGKILL)
        run.process.wait(30)

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the node's output."""
        return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]


# -- the books after a restart ----------------------------------------------------------------


@dataclass
class BookCheck:
    """What :func:`check_books` compared, for the test's summary."""

    venue_orders: int = 0
    local_orders: int = 0
    never_sent: dict[str, tuple[OrderStatus, str]] = field(default_factory=dict)
    fills: int = 0
    position: Decimal = Decimal(0)
    settle_s: float = 0.0


def intent_key(order: Order) -> str:
    """What makes an intent of the test strategies: its tag (the bar and role)."""
    return ",".join(order.tags) or order.client_order_id


def check_books(venue: Venue, audit: AuditBooks, start: dict[str, Any] | None = None
                ) -> BookCheck:
    """After a restart, once the node reconciled: the venue and the audit database agree.

    * no duplicated order at the venue (client and venue order ids unique), and no intent
      (a strategy's decision on one bar) recorded twice locally;
    * every venue order maps to exactly one local intent this node recorded (none had to be
      adopted as external: every intent was written ahead of its send);
    * a local intent the venue never received is closed locally (the targeted lookup after the
      restart found nothing), every other one has the venue's status and filled quantity;
    * fills: the same trade ids on both sides, each once;
    * positions: the venue's equals the sum of the recorded fills, the latest recorded
      positions and (when ``start`` is given) what the strategy saw in ``on_start``.
    """
    report = BookCheck()
    venue_orders = venue.orders()
    cids = Counter(o["client_order_id"] for o in venue_orders)
    assert not [c for c, n in cids.items() if n > 1], f"duplicated at the venue: {cids}"
    venue_ids = Counter(o["venue_order_id"] for o in venue_orders if o["venue_order_id"])
    assert all(n == 1 for n in venue_ids.values()), f"venue order ids reused: {venue_ids}"
    intents = Counter(intent_key(o) for o in audit.orders)
    twice = {k: n for k, n in intents.items() if n > 1}
    assert not twice, f"intents recorded more than once: {twice}"

    local = {o.client_order_id: o for o in audit.orders}
    problems = []
    for row in venue_orders:
        order = local.get(row["client_order_id"])
        if order is None:
            problems.append(f"venue order {row['client_order_id']} has no local intent")
            continue
        if order.strategy_id == "EXTERNAL":
            problems.append(f"venue order {row['client_order_id']} was adopted as external "
                            f"although this node sent it ({order.tags})")
        if (order.status.value, order.filled_qty) != (row["status"],
                                                        Decimal(row["filled_qty"])):
            problems.append(
                f"{order.client_order_id} ({intent_key(order)}): local {order.status.value} "
                f"filled {order.filled_qty}, venue {row['status']} filled {row['filled_qty']}")
    for cid, order in local.items():
        if cid in cids:
            continue
        report.never_sent[cid] = (order.status, order.reason)
        if order.status not in FINAL:
            problems.append(f"{cid} ({intent_key(order)}) never reached the venue but is "
                            f"still {order.status.value} locally")
    assert not problems, "local and venue orders differ:\n" + "\n".join(problems)

    venue_fills = Counter(f["trade_id"] for f in venue.fills())
    local_fills = Counter(f.trade_id for f in audit.fills)
    assert local_fills == venue_fills, (
        f"fills differ: only local {sorted(local_fills - venue_fills)}, only at the venue "
        f"{sorted(venue_fills - local_fills)}")

    venue_position = venue.positions().get(SYMBOL, Decimal(0))
    seen = {
        "recorded fills": audit.fill_position(SYMBOL),
        "latest recorded positions": audit.positions.get(SYMBOL, Decimal(0)),
    }
    if start is not None:
        seen["the strategy's on_start"] = Decimal(start["position"])
    wrong = {k: v for k, v in seen.items() if v != venue_position}
    assert not wrong, f"venue position {venue_position}, but {wrong}"

    report.venue_orders, report.local_orders = len(venue_orders), len(local)
    report.fills, report.position = len(local_fills), venue_position
    return report


def settled_books(venue: Venue, url: str, home: Path, start: dict[str, Any] | None = None,
                  timeout: float = 10) -> BookCheck:
    """:func:`check_books` once the node settled what its reconciliation set going (a cancel
    lost in a crash is sent again, its answer comes back on the stream): the books must agree
    within ``timeout`` seconds; the last disagreement is raised otherwise."""
    began = time.monotonic()
    deadline = began + timeout
    while True:
        try:
            report = check_books(venue, read_audit(url, home), start)
            report.settle_s = time.monotonic() - began
            return report
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
