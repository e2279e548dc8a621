"""Free TCP ports for the servers a test starts as child processes (QuickFIX acceptors, venues,
``tradeloop serve``), which must be told their port before they bind it.

Asking the kernel for one (bind to port 0, read it, close) leaves a moment where the port is
free again: the other pytest-xdist worker, binding port 0 itself or asking the same way, can be
handed that very port before the child binds it. :func:`free_port` therefore takes its ports
below the kernel's ephemeral range (``ip_local_port_range``, where bind(0) and outgoing
connections get theirs), from a slice of its own per worker, in turn: no other worker of the
run and no kernel-chosen port can be the same, and a worker hands out the same port again only
after going round its slice.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

HOST = "127.0.0.1"
LOWEST_PORT = 10000
"""Ports below are left alone (well-known services, developers' own servers)."""
_PORT_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


class _Turns:  # this process's walk round its slice, set up on first use
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.candidates: Iterator[int] | None = None


_turns = _Turns()


def _ephemeral_start() -> int:
    try:
        return int(_PORT_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default; elsewhere this only narrows the slice


def worker_slot() -> tuple[int, int]:
    """``(index, count)`` of this pytest-xdist worker; ``(0, 1)`` in one process."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    return index % max(count, 1), max(count, 1)


def port_slice() -> range:
    """The ports this process hands out."""
    index, count = worker_slot()
    start, end = LOWEST_PORT, max(_ephemeral_start(), LOWEST_PORT + count)
    size = (end - start) // count
    return range(start + index * size, start + (index + 1) * size)


def _is_free(port: int, host: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = HOST) -> int:
    """A TCP port of ``host`` nobody listens on right now, from this worker's slice.

    Raises
    ------
    RuntimeError
        When every port of the slice is taken.
    """
    ports = port_slice()
    with _turns.lock:
        if _turns.candidates is None:
            first = random.randrange(len(ports))  # two runs side by side start apart
            _turns.candidates = itertools.cycle([*ports[first:], *ports[:first]])
        for _ in range(len(ports)):
            port = next(_turns.candidates)
            if _is_free(port, host):
                return port
    raise RuntimeError(f"no free TCP port in {ports} on {host}")
