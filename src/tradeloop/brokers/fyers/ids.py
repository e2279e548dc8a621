"""Our client order ids at Fyers: as the ``orderTag`` of an order, and, for cover and bracket
orders (which Fyers refuses to tag), as a journal of what was sent.

Fyers takes an ``orderTag`` of 1 to 30 letters and digits (not ``Untagged``), shows it back as
``1:<tag>`` and filters the order book and trade book by it; it does not refuse a tag it has
seen, so the adapter never sends an id twice itself (the live router looks an order up before
any resend). An id that fits is sent as it is; one that does not (ours have a ``-``) becomes
``T`` and 29 characters of the base32 SHA-256 of the id: the same order always carries the same
tag. The pairs are kept in a small JSON file under the adapter's home, so a tag can be turned
back into our id after a restart.

Cover (CO) and bracket (BO) orders cannot carry a tag. Before one is sent, its intent (symbol,
side, quantity, prices, time) is written to the same file; the order id Fyers answers is added
to it. After a lost answer, the order is found in the order book as the untagged CO/BO order
with the same details, placed after the intent, that no other intent has claimed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tradeloop.core.errors import ConfigError

logger = logging.getLogger(__name__)

#: What Fyers accepts as an order tag.
TAG = re.compile(r"^[A-Za-z0-9]{1,30}$")
_KEEP = 20_000


def tag_of(client_order_id: str) -> str:
    """The order tag of an id: the id itself when Fyers takes it, else ``T`` + 29 characters
    of its hash."""
    if TAG.match(client_order_id) and client_order_id != "Untagged":
        return client_order_id
    digest = hashlib.sha256(client_order_id.encode("utf-8")).digest()
    return "T" + base64.b32encode(digest).decode("ascii").rstrip("=")[:29]


def plain_tag(shown: str) -> str:
    """The user tag in Fyers' ``1:<tag>`` ("" for Fyers' own ``2:...`` tags)."""
    prefix, sep, rest = shown.partition(":")
    if not sep:
        return shown
    return rest if prefix == "1" else ""


@dataclass
class NativeIntent:
    """A cover or bracket order as it was sent.

    Attributes
    ----------
    client_order_id, symbol, product : str
    side : int
        1 buy, -1 sell.
    qty : int
    order_type : int
        Fyers' type (1 limit, 2 market, 3 stop, 4 stop-limit).
    limit, stop, stop_loss, take_profit : str
        As sent (decimal text).
    ts : float
        Epoch seconds just before sending.
    venue_order_id : str
        Fyers' id once known.
    """

    client_order_id: str
    symbol: str
    product: str
    side: int
    qty: int
    order_type: int
    limit: str
    stop: str
    stop_loss: str
    take_profit: str
    ts: float
    venue_order_id: str = ""


class OrderIds:
    """Tags and cover/bracket intents, kept in a JSON file.

    Parameters
    ----------
    path : Path or None
        The file (None: memory only).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._ours: dict[str, str] = {}  # tag -> our id (mapped tags only)
        self._natives: dict[str, NativeIntent] = {}
        self._legs: dict[str, str] = {}  # Fyers' id of a leg -> the child order that took it
        if path is not None and path.exists():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                self._ours = {str(k): str(v) for k, v in loaded.get("tags", {}).items()}
                self._natives = {str(k): NativeIntent(**v)
                                 for k, v in loaded.get("natives", {}).items()}
                self._legs = {str(k): str(v) for k, v in loaded.get("legs", {}).items()}
            except (OSError, ValueError, TypeError, AttributeError) as exc:
                raise ConfigError(f"{path}: unreadable Fyers order id file: {exc}") from None

    # -- tags --------------------------------------------------------------------------------

    def tag(self, client_order_id: str) -> str:
        """The tag to send for ``client_order_id`` (recorded first when it is a mapped one)."""
        tag = tag_of(client_order_id)
        if tag != client_order_id:
            with self._lock:
                if self._ours.get(tag) != client_order_id:
                    self._ours[tag] = client_order_id
                    self._save()
        return tag

    def ours(self, shown: str) -> str:
        """Our id of a tag as Fyers shows it (``1:<tag>``); "" for an untagged order."""
        tag = plain_tag(shown)
        if not tag:
            return ""
        return self._ours.get(tag, tag)

    # -- cover and bracket orders ------------------------------------------------------------

    def intend(self, intent: NativeIntent) -> None:
        """Record a cover or bracket order before it is sent."""
        with self._lock:
            self._natives[intent.client_order_id] = intent
            self._save()

    def placed(self, client_order_id: str, venue_order_id: str) -> None:
        """Add the id Fyers gave a cover or bracket order."""
        with self._lock:
            intent = self._natives.get(client_order_id)
            if intent is not None and intent.venue_order_id != venue_order_id:
                intent.venue_order_id = venue_order_id
                self._save()

    def native(self, client_order_id: str) -> NativeIntent | None:
        """The intent of a cover or bracket order."""
        return self._natives.get(client_order_id)

    def native_by_venue_id(self, venue_order_id: str) -> NativeIntent | None:
        """The intent whose order Fyers numbered ``venue_order_id``."""
        for intent in self._natives.values():
            if intent.venue_order_id == venue_order_id:
                return intent
        return None

    def take_leg(self, leg_venue_id: str, client_order_id: str) -> None:
        """Record that our order ``client_order_id`` is the leg Fyers numbered
        ``leg_venue_id``."""
        with self._lock:
            if self._legs.get(leg_venue_id) != client_order_id:
                self._legs[leg_venue_id] = client_order_id
                self._save()

    def leg_owner(self, leg_venue_id: str) -> str:
        """Our order that took over a leg ("" when none did)."""
        return self._legs.get(leg_venue_id, "")

    def leg_of(self, client_order_id: str) -> str:
        """Fyers' id of the leg our order took over ("" when it is no leg)."""
        for leg, owner in self._legs.items():
            if owner == client_order_id:
                return leg
        return ""

    def match(self, intent: NativeIntent, book: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The order of ``book`` (Fyers' order book entries) that ``intent`` placed."""
        claimed = {i.venue_order_id for i in self._natives.values()
                   if i.venue_order_id and i is not intent}
        for entry in book:
            if str(entry.get("id")) in claimed or entry.get("parentId"):
                continue
            if plain_tag(str(entry.get("orderTag") or "")):
                continue
            if (str(entry.get("symbol")) == intent.symbol
                    and str(entry.get("productType")) == intent.product
                    and int(entry.get("side", 0)) == intent.side
                    and int(entry.get("qty", 0)) == intent.qty
                    and int(entry.get("type", 0)) == intent.order_type
                    and _same(entry.get("limitPrice"), intent.limit)
                    and _same(entry.get("stopPrice"), intent.stop)):
                return entry
        return None

    # -- the file ----------------------------------------------------------------------------

    def _save(self) -> None:
        for table in (self._natives, self._legs, self._ours):
            for key in list(table)[:max(0, len(table) - _KEEP)]:
                del table[key]
        if self.path is None:
            return
        record = {"tags": self._ours, "legs": self._legs,
                  "natives": {k: asdict(v) for k, v in self._natives.items()}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".fyers-ids-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(record, handle, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


def _same(value: Any, text: str) -> bool:
    try:
        return abs(float(value or 0) - float(text or 0)) < 1e-9
    except (TypeError, ValueError):
        return False


__all__ = ["TAG", "NativeIntent", "OrderIds", "plain_tag", "tag_of"]
