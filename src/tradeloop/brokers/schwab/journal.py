"""Which Schwab orders are ours: the adapter's order journal, kept under the node's home.

Schwab's orders carry no client order id, so the adapter writes down, before each order
leaves, what it sends (a *send*: the order's :func:`~.orders.fingerprint`, the time, and the
layout of a group's tree) and, once Schwab names it, the ``orderId`` of each of our orders
(several when a modify replaced the order: the last one is the order now). A restarted adapter
reads it back, so open orders, fills and lookups map to client order ids again. A send whose
answer was lost has no ``orderId`` yet: :mod:`.execution` finds it among Schwab's orders by its
fingerprint and time (see ``docs/schwab.md``).

The file is JSON, written to a temporary file in the same directory and then replaced, so it
is never half-written.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradeloop.brokers.schwab.orders import Layout
from tradeloop.core.errors import ConfigError

logger = logging.getLogger(__name__)

KEEP_SENDS = 5_000


@dataclass
class Send:
    """One order (or group) as it left the adapter.

    Attributes
    ----------
    head : str
        The client order id it is filed under (a group's first order).
    layout : Layout
    fingerprint : str
    sent_ms : int
    root_id : int or None
        Schwab's id of the tree's root, once known.
    absent : bool
        Looked up after an unclear answer and not found at Schwab.
    replacing : int or None
        For a modify: the order being replaced.
    """

    head: str
    layout: Layout
    fingerprint: str
    sent_ms: int
    root_id: int | None = None
    absent: bool = False
    replacing: int | None = None

    @property
    def resolved(self) -> bool:
        """True once Schwab's id is known or the send is known not to have arrived."""
        return self.root_id is not None or self.absent

    def to_json(self) -> dict[str, Any]:
        """As kept in the file."""
        return {"layout": self.layout.to_json(), "fingerprint": self.fingerprint,
                "sent_ms": self.sent_ms, "root_id": self.root_id, "absent": self.absent,
                "replacing": self.replacing}

    @classmethod
    def from_json(cls, head: str, raw: dict[str, Any]) -> Send:
        """Back from :meth:`to_json`."""
        return cls(head, Layout.from_json(raw["layout"]), str(raw["fingerprint"]),
                   int(raw["sent_ms"]), raw.get("root_id"), bool(raw.get("absent")),
                   raw.get("replacing"))


@dataclass
class OrderJournal:
    """Our orders at Schwab, kept in ``path``."""

    path: Path
    sends: dict[str, Send] = field(default_factory=dict)  # head -> its latest send
    ids: dict[str, list[int]] = field(default_factory=dict)  # client order id -> order ids
    heads: dict[str, str] = field(default_factory=dict)  # client order id -> its send's head
    _owner: dict[int, str] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path) -> OrderJournal:
        """The journal in ``path`` (empty when there is none yet).

        Raises
        ------
        ConfigError
            The file exists but is not a journal.
        """
        journal = cls(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return journal
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the Schwab order journal {path}: {exc}") from None
        try:
            for head, send in raw.get("sends", {}).items():
                journal.sends[head] = Send.from_json(head, send)
            for cid, entry in raw.get("orders", {}).items():
                journal.ids[cid] = [int(i) for i in entry.get("ids", [])]
                journal.heads[cid] = str(entry.get("head", cid))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"the Schwab order journal {path} is damaged ({exc}); move it "
                              "away to start a new one") from None
        journal._index()
        return journal

    # -- what is known ------------------------------------------------------------------------

    def current(self, client_order_id: str) -> int | None:
        """Schwab's id of the order now carrying ``client_order_id`` (None: not known)."""
        found = self.ids.get(client_order_id)
        return found[-1] if found else None

    def chain(self, client_order_id: str) -> list[int]:
        """Every Schwab order that carried ``client_order_id``, oldest first."""
        return list(self.ids.get(client_order_id, ()))

    def owner(self, order_id: int) -> str | None:
        """Our client order id of a Schwab order id (any in a chain), None when not ours."""
        return self._owner.get(order_id)

    def send_of(self, client_order_id: str) -> Send | None:
        """The latest send ``client_order_id`` went out in."""
        head = self.heads.get(client_order_id)
        return self.sends.get(head) if head is not None else None

    def unresolved(self) -> Iterator[Send]:
        """Sends whose outcome is not known yet."""
        return (s for s in self.sends.values() if not s.resolved)

    def knows(self, client_order_id: str) -> bool:
        """True when the journal has anything about ``client_order_id``."""
        return client_order_id in self.heads or client_order_id in self.ids

    # -- what changes -------------------------------------------------------------------------

    def record_send(self, send: Send) -> None:
        """Write down a send before it leaves (replacing an earlier send of the same head)."""
        self.sends[send.head] = send
        for node in send.layout.walk():
            if node.client_order_id:
                self.heads[node.client_order_id] = send.head
        self._prune()
        self.save()

    def link(self, client_order_id: str, order_id: int, save: bool = True) -> None:
        """``order_id`` now carries ``client_order_id`` (after a submit or a replace)."""
        chain = self.ids.setdefault(client_order_id, [])
        if order_id not in chain:
            chain.append(order_id)
        self._owner[order_id] = client_order_id
        if save:
            self.save()

    def resolve(self, send: Send, root_id: int | None) -> None:
        """The send's tree is Schwab's ``root_id`` (None: it never arrived)."""
        send.root_id = root_id
        send.absent = root_id is None
        self.save()

    def save(self) -> None:
        """Write the journal atomically."""
        entries: dict[str, dict[str, Any]] = {
            cid: {"head": self.heads.get(cid, cid), "ids": ids} for cid, ids in self.ids.items()}
        for cid, head in self.heads.items():
            entries.setdefault(cid, {"head": head, "ids": []})
        document = {"version": 1, "sends": {h: s.to_json() for h, s in self.sends.items()},
                    "orders": entries}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        try:
            partial.write_text(json.dumps(document), encoding="utf-8")
            os.replace(partial, self.path)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            logger.error("the Schwab order journal could not be written", extra={"fields": {
                "path": str(self.path), "error": str(exc)}})
            raise

    def _index(self) -> None:
        self._owner = {i: cid for cid, ids in self.ids.items() for i in ids}

    def _prune(self) -> None:
        if len(self.sends) <= KEEP_SENDS:
            return
        for head in list(self.sends)[:len(self.sends) - KEEP_SENDS]:
            send = self.sends.pop(head)
            for node in send.layout.walk():
                cid = node.client_order_id
                if cid and self.heads.get(cid) == head:
                    self.heads.pop(cid, None)
                    for order_id in self.ids.pop(cid, []):
                        self._owner.pop(order_id, None)


__all__ = ["KEEP_SENDS", "OrderJournal", "Send"]
