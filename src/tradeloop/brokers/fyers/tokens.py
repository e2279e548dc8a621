"""The Fyers tokens, kept encrypted at rest.

A login yields an access token (valid until Fyers' next morning reset) and a refresh token
(15 days). They are stored in one JSON file whose values are encrypted with Fernet
(AES-128-CBC with an HMAC) under a key from the environment variable named by
``token_key_env``, or, when it is not set, from a key file beside the tokens made on the first
login (mode 0600). The file is written to a temporary file in the same directory and moved into
place, so a crash never leaves half a token behind.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

from tradeloop.brokers.fyers.errors import FyersTokenError
from tradeloop.core.errors import ConfigError
from tradeloop.core.logging import register_secret

logger = logging.getLogger(__name__)
KEY_FILE = "token.key"


def token_claims(token: str) -> dict[str, object]:
    """The claims of a JWT access token ({} when it is not one)."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        loaded = json.loads(base64.urlsafe_b64decode(parts[1] + "==="))
    except (ValueError, binascii.Error):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _int_claim(claims: dict[str, object], name: str) -> int:
    value = claims.get(name)
    return int(value) if isinstance(value, int | float) else 0


@dataclass(frozen=True)
class TokenSet:
    """The tokens of one login.

    Attributes
    ----------
    access_token : SecretStr
    refresh_token : SecretStr or None
    expires_at : int
        Epoch seconds when the access token stops working (its ``exp``; 0 when unknown).
    issued_at : int
        Epoch seconds of the login.
    """

    access_token: SecretStr
    refresh_token: SecretStr | None
    expires_at: int
    issued_at: int

    @classmethod
    def from_tokens(cls, access: str, refresh: str | None) -> TokenSet:
        """The set of a fresh login or refresh (expiry read from the token's claims)."""
        register_secret(access)
        if refresh:
            register_secret(refresh)
        claims = token_claims(access)
        return cls(SecretStr(access), SecretStr(refresh) if refresh else None,
                   _int_claim(claims, "exp"), _int_claim(claims, "iat") or int(time.time()))

    def expired(self, now: float | None = None) -> bool:
        """True once the access token's expiry has passed."""
        moment = time.time() if now is None else now
        return self.expires_at > 0 and moment >= self.expires_at

    @property
    def hsm_key(self) -> str:
        """The key the data socket authenticates with (a claim of the access token)."""
        return str(token_claims(self.access_token.get_secret_value()).get("hsm_key") or "")


class TokenStore:
    """One app's tokens in an encrypted file.

    Parameters
    ----------
    path : Path
        The token file.
    key : SecretStr or None
        The encryption key (any text: it is hashed to a Fernet key); None: the key file
        beside ``path``.
    """

    def __init__(self, path: Path, key: SecretStr | None) -> None:
        self.path = path
        self._key = key

    def load(self) -> TokenSet | None:
        """The stored tokens, or None when there are none.

        Raises
        ------
        FyersTokenError
            The file cannot be decrypted (another key) or is damaged: a new login is needed.
        """
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot read the Fyers tokens: "
                              f"{exc.strerror or exc}") from None
        fernet = self._fernet(create=False)
        if fernet is None:
            raise FyersTokenError(f"{self.path}: the Fyers tokens cannot be decrypted: the key "
                                  "file is missing; log in again")
        try:
            record = json.loads(raw)
            access = fernet.decrypt(str(record["access_token"]).encode()).decode()
            refresh_raw = record.get("refresh_token")
            refresh = fernet.decrypt(str(refresh_raw).encode()).decode() if refresh_raw \
                else None
        except (InvalidToken, ValueError, KeyError, TypeError):
            raise FyersTokenError(f"{self.path}: the Fyers tokens cannot be decrypted with "
                                  "this key (or the file is damaged); log in again") from None
        register_secret(access)
        if refresh:
            register_secret(refresh)
        return TokenSet(SecretStr(access), SecretStr(refresh) if refresh else None,
                        int(record.get("expires_at", 0)), int(record.get("issued_at", 0)))

    def save(self, tokens: TokenSet) -> None:
        """Write the tokens (encrypted) in place of the old ones."""
        fernet = self._fernet(create=True)
        assert fernet is not None
        refresh = tokens.refresh_token
        record = {
            "access_token": fernet.encrypt(tokens.access_token.get_secret_value().encode())
            .decode(),
            "refresh_token": fernet.encrypt(refresh.get_secret_value().encode()).decode()
            if refresh is not None else None,
            "expires_at": tokens.expires_at, "issued_at": tokens.issued_at,
        }
        _write_private(self.path, json.dumps(record).encode())
        logger.info("fyers tokens stored", extra={"fields": {
            "path": str(self.path), "expires_at": tokens.expires_at}})

    def stamp(self) -> tuple[int, int] | None:
        """(mtime ns, size) of the token file, to notice a new login cheaply."""
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def _fernet(self, *, create: bool) -> Fernet | None:
        if self._key is not None:
            secret = self._key.get_secret_value().encode()
        else:
            key_file = self.path.parent / KEY_FILE
            try:
                secret = key_file.read_bytes().strip()
            except FileNotFoundError:
                if not create:
                    return None
                secret = Fernet.generate_key()
                _write_private(key_file, secret)
        return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret).digest()))


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


__all__ = ["KEY_FILE", "TokenSet", "TokenStore", "token_claims"]
