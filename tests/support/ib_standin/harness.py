"""Helpers for tests that drive ib_async's real ``IB`` against the stand-in: a wired-up ``IB``,
waiting for a condition on the event loop, and a guard against hanging."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ib_async import IB

from . import GATEWAY, client_factory

GUARD_S = 15.0  # only a guard against hanging: nothing waits for time to pass
T = TypeVar("T")


def new_ib() -> IB:
    """An ``IB`` whose client is the stand-in (the same wiring as ``IB.__init__``)."""
    ib = IB()
    ib.client = client_factory(ib.wrapper)
    ib.client.apiEnd += ib.disconnectedEvent
    return ib


async def connect(client_id: int = 1, **kwargs: Any) -> IB:
    """A new ``IB``, connected and synchronised (IB.connectAsync's normal startup path)."""
    ib = new_ib()
    await ib.connectAsync("127.0.0.1", 4002, clientId=client_id, timeout=GUARD_S, **kwargs)
    return ib


async def until(check: Callable[[], bool], what: str) -> None:
    """Let the loop run until ``check()`` holds (failing with ``what`` on the guard)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GUARD_S
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)


async def settle() -> None:
    """Let every answer sent so far arrive."""
    await GATEWAY.quiesce()


def run(scenario: Coroutine[Any, Any, T]) -> T:
    """Run one test scenario on a fresh event loop, under the guard."""
    return asyncio.run(asyncio.wait_for(scenario, GUARD_S * 2))
