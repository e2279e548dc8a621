"""One API connection at the gateway: what the client subscribed to, and the outbox that turns
the gateway's answers into "packets" delivered later on the client's event loop, in order, the
way bytes arrive on a socket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .records import DONE, GwOrder

if TYPE_CHECKING:
    from .client import StandinClient
    from .market import RealtimeBars

Message = tuple[str, tuple[Any, ...]]


class Session:
    """A connected client as the gateway sees it."""

    def __init__(self, client: StandinClient, client_id: int, loop: asyncio.AbstractEventLoop,
                 on_queue: Callable[[int], None]) -> None:
        self.client = client
        self.client_id = client_id
        self.loop = loop
        self.open = True
        self._packet: list[Message] = []
        self._on_queue = on_queue
        # subscriptions
        self.positions = False
        self.account_updates = ""
        self.account_multi: dict[int, str] = {}
        self.account_sent: dict[tuple[str, str], str] = {}
        self.market_data: dict[int, int] = {}
        self.market_data_type = 0
        self.realtime_bars: dict[int, RealtimeBars] = {}
        self.rt_timer: asyncio.TimerHandle | None = None

    def send(self, name: str, *args: Any) -> None:
        """Queue a wrapper call for the next packet."""
        if self.open:
            self._packet.append((name, args))

    def error(self, req_id: int, code: int, text: str) -> None:
        self.send("error", req_id, code, text, "")

    def send_for(self, g: GwOrder, name: str, *args: Any) -> None:
        """Queue a message about order ``g``, honouring its armed faults: nothing while its
        answers are lost; its acknowledgement held back until its first execution."""
        if not self.open or g.lost:
            return
        if g.held is not None:
            if name == "execDetails":
                self._packet.append((name, args))
                self._release(g)
                return
            if name in ("openOrder", "orderStatus") and not _terminal(name, args):
                g.held.append((name, args))
                return
            self._release(g)
        self._packet.append((name, args))

    def _release(self, g: GwOrder) -> None:
        held, g.held = g.held or [], None
        self._packet.extend(held)

    def flush(self) -> None:
        """Hand the queued messages to the client's loop as one packet."""
        if not self._packet or not self.open or self.loop.is_closed():
            self._packet = []
            return
        packet, self._packet = self._packet, []
        self._on_queue(1)
        self.loop.call_soon_threadsafe(self._deliver, packet)

    def _deliver(self, packet: list[Message]) -> None:
        self._on_queue(-1)
        self.client.receive(self, packet)

    def close(self) -> None:
        self.open = False
        self._packet = []
        self.market_data.clear()
        self.realtime_bars.clear()
        if self.rt_timer is not None:
            self.rt_timer.cancel()
            self.rt_timer = None


def _terminal(name: str, args: tuple[Any, ...]) -> bool:
    status = args[1] if name == "orderStatus" else args[3].status
    return status in DONE
