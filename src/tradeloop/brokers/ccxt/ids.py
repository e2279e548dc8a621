"""Our client order ids as the exchange's, and back.

Binance takes ``newClientOrderId`` matching ``^[.A-Z:/a-z0-9_-]{1,36}$``. An id that fits is
sent as it is. One that does not is mapped deterministically to ``tl`` and 32 characters of
the base32 SHA-256 of the id, so the same order always carries the same exchange id (a resend
after a restart is still refused as a duplicate), and the pair is kept in a small JSON file
under the adapter's home, so the mapping is reversible after a restart too.
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
from pathlib import Path

from tradeloop.core.errors import ConfigError

logger = logging.getLogger(__name__)

#: What Binance accepts as a client order id.
BINANCE_CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
PREFIX = "tl"
_HASH_CHARS = 32


def mapped_id(client_order_id: str) -> str:
    """The deterministic exchange id of an id that does not fit (34 characters)."""
    digest = hashlib.sha256(client_order_id.encode("utf-8")).digest()
    return PREFIX + base64.b32encode(digest).decode("ascii").lower()[:_HASH_CHARS]


class ClientIdMap:
    """Our client order ids <-> the exchange's.

    Parameters
    ----------
    path : Path or None
        The JSON file keeping mapped ids (None: in memory only).
    pattern : re.Pattern
        What the exchange accepts as it is.
    """

    def __init__(self, path: Path | None, pattern: re.Pattern[str] = BINANCE_CLIENT_ID) -> None:
        self.path = path
        self.pattern = pattern
        self._lock = threading.Lock()
        self._ours: dict[str, str] = {}  # exchange id -> ours
        if path is not None and path.exists():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"{path}: unreadable client order id map: {exc}") from None
            if not isinstance(loaded, dict):
                raise ConfigError(f"{path}: the client order id map is not a JSON object")
            self._ours = {str(k): str(v) for k, v in loaded.items()}

    def to_venue(self, client_order_id: str) -> str:
        """The id to send (recorded first when it is a mapped one)."""
        if self.pattern.match(client_order_id):
            return client_order_id
        venue_id = mapped_id(client_order_id)
        with self._lock:
            if self._ours.get(venue_id) != client_order_id:
                self._ours[venue_id] = client_order_id
                self._save()
        return venue_id

    def to_ours(self, venue_id: str | None) -> str:
        """Our id of an exchange id (the exchange id itself when it was not mapped)."""
        if not venue_id:
            return ""
        return self._ours.get(venue_id, venue_id)

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".client-ids-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self._ours, handle, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


__all__ = ["BINANCE_CLIENT_ID", "PREFIX", "ClientIdMap", "mapped_id"]
