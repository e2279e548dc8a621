"""The Fyers tokens, encrypted at rest."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from tradeloop.brokers.fyers.errors import FyersTokenError
from tradeloop.brokers.fyers.tokens import KEY_FILE, TokenSet, TokenStore, token_claims


def _jwt(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256'})}.{part(claims)}.c2lnbmF0dXJl"


def test_tokens_are_stored_encrypted_and_read_back(tmp_path: Path) -> None:
    access = _jwt({"exp": 2_000_000_000, "iat": 1_900_000_000, "hsm_key": "abc123"})
    store = TokenStore(tmp_path / "t.json", SecretStr("my key"))
    store.save(TokenSet.from_tokens(access, "refresh-me"))
    raw = (tmp_path / "t.json").read_text()
    assert access not in raw and "refresh-me" not in raw and "abc123" not in raw
    assert (tmp_path / "t.json").stat().st_mode & 0o777 == 0o600
    loaded = store.load()
    assert loaded is not None
    assert loaded.access_token.get_secret_value() == access
    assert loaded.refresh_token is not None and loaded.refresh_token.get_secret_value() == \
        "refresh-me"
    assert (loaded.expires_at, loaded.issued_at, loaded.hsm_key) == (2_000_000_000,
                                                                     1_900_000_000, "abc123")


def test_another_key_cannot_read_them(tmp_path: Path) -> None:
    TokenStore(tmp_path / "t.json", SecretStr("one")).save(TokenSet.from_tokens("a.b.c", None))
    with pytest.raises(FyersTokenError, match="cannot be decrypted with this key"):
        TokenStore(tmp_path / "t.json", SecretStr("two")).load()


def test_without_a_key_a_private_key_file_is_made(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "t.json", None)
    assert store.load() is None
    store.save(TokenSet.from_tokens("a.b.c", None))
    key = tmp_path / KEY_FILE
    assert key.exists() and key.stat().st_mode & 0o777 == 0o600
    assert store.load() is not None
    key.unlink()
    with pytest.raises(FyersTokenError, match="the key file is missing"):
        TokenStore(tmp_path / "t.json", None).load()


def test_expiry_comes_from_the_tokens_own_claim() -> None:
    tokens = TokenSet.from_tokens(_jwt({"exp": 1_000}), None)
    assert tokens.expired(999) is False and tokens.expired(1_000) is True
    assert TokenSet.from_tokens("opaque", None).expired(time.time()) is False  # unknown
    assert token_claims("not.a-jwt") == {} and token_claims("x") == {}
