"""Renewed access tokens, kept where a restart finds them.

cTrader's refresh token works once: ``ProtoOARefreshTokenReq`` answers a new access token
and a new refresh token, and the old pair stops working. So a renewed pair must outlive the
process, or the next start would offer the environment's spent tokens. :class:`TokenStore`
keeps it in the adapter's home (``ctrader-tokens-<environment>-<account>.json``, readable by
the owner only, replaced atomically).

The stored pair is used only while the environment still holds the token it replaced (the
file records a digest of it): put a freshly granted token in the environment and it wins.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)


def digest(token: str) -> str:
    """A digest that identifies a token without revealing it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Tokens:
    """An access token, the refresh token that renews it, and when it expires (Unix s, 0 when
    unknown)."""

    access: str
    refresh: str
    expires_at: float = 0.0

    def __repr__(self) -> str:
        return f"Tokens(expires_at={self.expires_at})"


class TokenStore:
    """Renewed tokens of one account in one file.

    Parameters
    ----------
    path : Path or None
        None keeps nothing (``store_tokens = false``).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def load(self, original_access: str) -> Tokens | None:
        """The stored pair, when it replaced ``original_access`` (the environment's token)."""
        if self.path is None or not self.path.is_file():
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("replaces") != digest(original_access):
                return None
            return Tokens(str(data["access"]), str(data["refresh"]),
                          float(data.get("expires_at", 0.0)))
        except (OSError, ValueError, KeyError, TypeError):
            logger.warning("stored cTrader tokens are unreadable; using the environment's",
                           extra={"fields": {"file": str(self.path)}})
            return None

    def save(self, tokens: Tokens, original_access: str) -> None:
        """Keep ``tokens`` as the successor of ``original_access`` (owner-only file)."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"replaces": digest(original_access), "access": tokens.access,
                           "refresh": tokens.refresh, "expires_at": tokens.expires_at,
                           "saved_at": time.time()})
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".ctrader-tokens-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(body)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


__all__ = ["TokenStore", "Tokens", "digest"]
