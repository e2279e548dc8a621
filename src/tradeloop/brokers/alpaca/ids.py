"""Which Alpaca order is which of our orders.

An order we send carries our client order id as Alpaca's (``<id>.r<n>`` once replaced, see
:func:`~.parse.split_replacement`), so it is found again after a restart by that id alone.
The exit legs of a bracket, OTO or OCO order are named by Alpaca (random client order ids):
:class:`LegBook` keeps each leg's Alpaca order id with our client order id in a small JSON file
under the adapter's home, written before the node is told the leg was accepted, so a restarted
node still knows its legs.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from pathlib import Path

from tradeloop.core.errors import ConfigError

logger = logging.getLogger(__name__)
_KEEP = 20_000


class LegBook:
    """Alpaca order ids of legs <-> our client order ids.

    Parameters
    ----------
    path : Path or None
        The JSON file (None: in memory only).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._ours: dict[str, str] = {}  # Alpaca order id -> our client order id
        if path is not None and path.exists():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"{path}: unreadable map of Alpaca legs: {exc}") from None
            if not isinstance(loaded, dict):
                raise ConfigError(f"{path}: the map of Alpaca legs is not a JSON object")
            self._ours = {str(k): str(v) for k, v in loaded.items()}
        self._venue = {v: k for k, v in self._ours.items()}

    def ours(self, venue_order_id: str) -> str | None:
        """Our client order id of a leg."""
        return self._ours.get(venue_order_id)

    def venue_id(self, client_order_id: str) -> str | None:
        """The Alpaca order id of our leg (its latest replacement's when relinked)."""
        return self._venue.get(client_order_id)

    def link(self, venue_order_id: str, client_order_id: str) -> None:
        """Remember that the Alpaca order ``venue_order_id`` is our ``client_order_id``."""
        with self._lock:
            if self._ours.get(venue_order_id) == client_order_id:
                return
            self._ours[venue_order_id] = client_order_id
            self._venue[client_order_id] = venue_order_id
            if len(self._ours) > _KEEP:
                for key in list(self._ours)[:_KEEP // 2]:
                    self._venue.pop(self._ours.pop(key), None)
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".alpaca-legs-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self._ours, handle, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


__all__ = ["LegBook"]
