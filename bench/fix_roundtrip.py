"""FIX round trips: NewOrderSingle out, ExecutionReport back, against QuickFIX's ``executor``.

QuickFIX's example ``executor`` (Debian's ``libquickfix-doc``, FIX 4.4 on 127.0.0.1) fills every
limit order at once with one ExecutionReport. Two clients take turns on it, one order at a time
(closed loop), in turns of ``--block`` orders (20 by default), so that both see the same
machine: a burst of load from elsewhere on a shared machine (a few milliseconds to tens of
them) lands on both alike. Long turns (``--block 1000``: six turns each) let such a burst
fall on one client's turn and decide the p99 ratio; a turn of one order leaves each client's
code cold in the CPU's caches and slows the baseline the most:

* ours: an order submitted through :class:`~tradeloop.brokers.fix.execution.FixExecutionClient`
  (the whole adapter: the order recorded in its book, the session numbering and storing the
  message before it is written, the report read, sequence-checked, applied to the book by
  ExecID, and turned into events), timed from the ``submit_order`` call to the ``OrderFilled``
  event reaching the handler;
* the baseline, measured in the same run: a raw simplefix client on a plain blocking socket
  (encode, ``sendall``, read until the report with our ClOrdID), which persists nothing.

Our store keeps what a restart needs: ours appends each message it sends to the session's
journal before the message goes out, and the book's changes and each inbound sequence number
taken in order go to the same journal. With ``--sync normal`` (the default, as ``store_sync``'s)
the journal's writes reach the operating system, which survives a crash of the node, not of the
machine (what QuickFIX's file store does by default). ``--sync full`` also syncs the journal
(``fdatasync``) before each message goes out, so its latency includes one disk sync per order;
``--dir`` chooses where the journal lives (a tmpfs such as /dev/shm shows the cost without the
disk). Prints p50, p99 and the round trips per second of each, and the ratio of the p99s
(target: ours within 1.5x of raw).

    python bench/fix_roundtrip.py [--orders 6000] [--block 20] [--sync normal|full] [--dir PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import socket
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import simplefix

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.quickfix import QuickFixAcceptor, quickfix_program
from tradeloop.brokers.fix import build_adapter, wire
from tradeloop.brokers.fix.config import FixAdapterConfig
from tradeloop.brokers.fix.execution import FixExecutionClient
from tradeloop.model import events as ev
from tradeloop.model.enums import OrderSide, OrderType
from tradeloop.model.orders import Order

TARGET_RATIO = 1.5


class RawClient:
    """A FIX 4.4 initiator on a blocking socket: logon, then one order at a time."""

    def __init__(self, port: int, sender: str, target: str) -> None:
        self.sender, self.target = sender, target
        self.sock = socket.create_connection(("127.0.0.1", port), 5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.parser = simplefix.FixParser()
        self.seq = 0
        self._send("A", (98, "0"), (108, "60"), (141, "Y"))
        self._read_until(lambda m: wire.field(m, 35) == "A")

    def _send(self, msg_type: str, *fields: tuple[int, str]) -> None:
        self.seq += 1
        message = simplefix.FixMessage()
        message.append_pair(8, "FIX.4.4")
        message.append_pair(35, msg_type)
        message.append_pair(49, self.sender)
        message.append_pair(56, self.target)
        message.append_pair(34, self.seq)
        message.append_utc_timestamp(52, precision=3)
        for tag, value in fields:
            message.append_pair(tag, value)
        self.sock.sendall(message.encode())

    def _read_until(self, wanted: object) -> simplefix.FixMessage:
        while True:
            message = self.parser.get_message()
            if message is None:
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("executor closed the connection")
                self.parser.append_buffer(data)
                continue
            if wire.field(message, 35) == "1":  # TestRequest
                self._send("0", (112, wire.field(message, 112) or ""))
            if wanted(message):  # type: ignore[operator]
                return message

    def round_trip(self, cl_ord_id: str) -> int:
        began = time.perf_counter_ns()
        self._send("D", (11, cl_ord_id), (21, "1"), (55, "ABC"), (54, "1"),
                   (60, wire.format_timestamp(time.time_ns())), (38, "1"), (40, "2"),
                   (44, "100"), (59, "1"))
        self._read_until(lambda m: wire.field(m, 35) == "8" and wire.field(m, 11) == cl_ord_id)
        return time.perf_counter_ns() - began

    def close(self) -> None:
        self._send("5")
        self.sock.close()


class Ours:
    """The adapter's execution client, timing submit to OrderFilled."""

    def __init__(self, port: int, store_dir: Path, sync: str) -> None:
        adapter = build_adapter(FixAdapterConfig.model_validate({
            "session": {"port": port, "sender_comp_id": "CLIENT", "target_comp_id": "EXECUTOR",
                        "heartbeat_s": 60, "store_dir": store_dir, "store_sync": sync},
            "venue": "EXECUTOR", "account_balance": "1000000",
            "instruments": [{"symbol": "ABC"}],
            "capabilities": {"order_types": ["LIMIT"], "status_requests": False}}))
        assert isinstance(adapter.execution, FixExecutionClient)
        self.client = adapter.execution
        self.client.bind(self._on_event)
        self._filled: asyncio.Future[int] | None = None

    def _on_event(self, event: ev.OrderEvent) -> None:
        if isinstance(event, ev.OrderFilled) and self._filled is not None:
            self._filled.set_result(time.perf_counter_ns())

    async def round_trip(self, client_order_id: str) -> int:
        order = Order(client_order_id=client_order_id, strategy_id="B", symbol="ABC",
                      side=OrderSide.BUY, order_type=OrderType.LIMIT, quantity=Decimal(1),
                      ts_init=time.time_ns(), price=Decimal(100))
        self._filled = asyncio.get_running_loop().create_future()
        began = time.perf_counter_ns()
        await self.client.submit_order(order)
        return await self._filled - began


def figures(samples_ns: list[int]) -> tuple[float, float, float]:
    """p50 and p99 in microseconds, and round trips per second."""
    array = np.asarray(samples_ns, dtype=np.float64) / 1_000
    return (float(np.percentile(array, 50)), float(np.percentile(array, 99)),
            1e6 / float(array.mean()))


async def run(port: int, store_dir: Path, sync: str, orders: int, block: int, warmup: int
              ) -> tuple[list[int], list[int]]:
    raw = RawClient(port, "RAW", "EXECUTOR")
    ours = Ours(port, store_dir, sync)
    await ours.client.connect()
    try:
        for k in range(warmup):
            raw.round_trip(f"RW-{k}")  # blocks the event loop, which has nothing else to do
            await ours.round_trip(f"OW-{k}")
        raw_ns: list[int] = []
        ours_ns: list[int] = []
        gc.collect()
        gc.freeze()
        for first in range(0, orders, block):
            turn = range(first, min(first + block, orders))
            raw_ns += [raw.round_trip(f"R-{k}") for k in turn]
            ours_ns += [await ours.round_trip(f"O-{k}") for k in turn]
        return raw_ns, ours_ns
    finally:
        raw.close()
        await ours.client.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=6000, help="orders per client")
    parser.add_argument("--block", type=int, default=20,
                        help="orders each client sends in its turn")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--sync", choices=["normal", "full"], default="normal",
                        help="our session store's durability (the store_sync setting)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where our session store and book go (default: a temp dir)")
    args = parser.parse_args()
    if args.orders < 1 or args.block < 1:
        parser.error("--orders and --block must be at least 1")
    with tempfile.TemporaryDirectory(prefix="fix-roundtrip-") as scratch:
        work = Path(scratch)
        acceptor = QuickFixAcceptor(quickfix_program("executor", work / "programs"),
                                    work / "executor", begin_string="FIX.4.4",
                                    sender_comp_id="EXECUTOR", target_comp_id="CLIENT",
                                    extra_target_comp_ids=("RAW",))
        acceptor.start()
        try:
            store = (args.dir or work) / "client"
            raw_ns, ours_ns = asyncio.run(run(acceptor.port, store, args.sync, args.orders,
                                              args.block, args.warmup))
        finally:
            acceptor.stop()
    raw, ours = figures(raw_ns), figures(ours_ns)
    ratio = ours[1] / raw[1]
    print(f"FIX round trips against QuickFIX executor on 127.0.0.1: {args.orders} orders per "
          f"client, one at a time, in turns of {args.block}; our store in "
          f"{args.dir or 'a temp dir'}, store_sync={args.sync}")
    print(f"  raw simplefix socket (baseline): p50 {raw[0]:8.1f} us  p99 {raw[1]:8.1f} us  "
          f"{raw[2]:8.0f} round trips/s")
    print(f"  FixExecutionClient to OrderFilled: p50 {ours[0]:8.1f} us  p99 {ours[1]:8.1f} us  "
          f"{ours[2]:8.0f} round trips/s")
    print(f"  ratio ours/raw: p50 {ours[0] / raw[0]:.2f}x, p99 {ratio:.2f}x (target p99 within "
          f"{TARGET_RATIO}x: {'met' if ratio <= TARGET_RATIO else 'MISSED'})")


if __name__ == "__main__":
    main()
