"""The tokens of a Schwab login: encrypted at rest, renewed ahead of expiry and once however
many want them, one clear message when the login ran out, and never in a log."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import stat
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr

from tradeloop.brokers.schwab.auth import TokenManager, TokenSet, TokenStore
from tradeloop.brokers.schwab.config import load_config
from tradeloop.brokers.schwab.errors import SchwabLoginError

ENV = {"SCHWAB_APP_KEY": "the-app-key", "SCHWAB_APP_SECRET": "the-app-secret",
       "SCHWAB_TOKEN_KEY": "unit-test-token-key-123"}
NOW = 1_790_000_000.0  # 2026-09-21
ACCESS, REFRESH = "I0.access-token-original@", "R1.refresh-token-original@"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class TokenEndpoint:
    """A token endpoint that records the refresh grants it answers."""

    def __init__(self, refuse: bool = False, delay: float = 0.0) -> None:
        self.requests: list[httpx.Request] = []
        self.refuse = refuse
        self.delay = delay

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        await asyncio.sleep(self.delay)
        if self.refuse:
            inner = json.dumps({"error_description": "Exception while authenticating refresh "
                                                     "token [tokenDigest=x]",
                                "error": "refresh_token_authentication_error"})
            return httpx.Response(400, json={"error": "unsupported_token_type",
                                             "error_description": f"400 Bad Request: {inner}"})
        number = len(self.requests)
        return httpx.Response(200, json={"expires_in": 1800, "token_type": "Bearer",
                                         "scope": "api", "refresh_token": REFRESH,
                                         "access_token": f"I0.renewed-{number}@",
                                         "id_token": "x"})


def tokens(access_left_s: float = 1800, login_left_s: float = 7 * 86_400) -> TokenSet:
    return TokenSet(ACCESS, REFRESH, NOW + access_left_s, NOW + login_left_s,
                    NOW - 3600)


def manager(tmp_path: Path, saved: TokenSet | None, clock: Clock) -> TokenManager:
    config = load_config({}, ENV)
    store = TokenStore(tmp_path / "tokens.enc", SecretStr(ENV["SCHWAB_TOKEN_KEY"]))
    if saved is not None:
        store.save(saved)
    return TokenManager(config, store, clock)


def test_the_file_is_encrypted_private_and_unreadable_without_the_key(tmp_path: Path) -> None:
    path = tmp_path / "tokens.enc"
    store = TokenStore(path, SecretStr("the-right-key-123456"))
    store.save(tokens())
    text = path.read_text(encoding="utf-8")
    assert ACCESS not in text and REFRESH not in text and "access_token" not in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["tokens.enc"]  # no partial file left
    assert store.load() == tokens()
    with pytest.raises(SchwabLoginError, match=r"cannot be decrypted with the key in "
                                               r"token_key_env .*tradeloop broker login schwab"):
        TokenStore(path, SecretStr("another-key-1234567")).load()
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(SchwabLoginError, match="cannot be read"):
        store.load()


def test_a_fresh_access_token_is_used_as_it_is(tmp_path: Path) -> None:
    endpoint = TokenEndpoint()
    tm = manager(tmp_path, tokens(), Clock())

    async def run() -> str:
        async with httpx.AsyncClient(transport=httpx.MockTransport(endpoint)) as http:
            return await tm.access_token(http)

    assert asyncio.run(run()) == ACCESS
    assert endpoint.requests == [] and tm.refreshes == 0


def test_it_is_renewed_ahead_of_expiry_once_for_many_callers(tmp_path: Path) -> None:
    endpoint = TokenEndpoint(delay=0.05)
    clock = Clock()
    tm = manager(tmp_path, tokens(access_left_s=1800), clock)
    clock.now += 1800 - 200  # inside the 300 s margin, not expired yet

    async def run() -> list[str]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(endpoint)) as http:
            return await asyncio.gather(*(tm.access_token(http) for _ in range(20)))

    got = asyncio.run(run())
    assert got == ["I0.renewed-1@"] * 20
    assert len(endpoint.requests) == 1 and tm.refreshes == 1
    request = endpoint.requests[0]
    assert request.url.path == "/v1/oauth/token"
    basic = base64.b64encode(b"the-app-key:the-app-secret").decode()
    assert request.headers["authorization"] == f"Basic {basic}"
    assert parse_qs(request.content.decode()) == {"grant_type": ["refresh_token"],
                                                  "refresh_token": [REFRESH]}
    # saved: a new manager on the same file starts from the renewed token
    again = manager(tmp_path, None, clock)
    assert again.check().access_token == "I0.renewed-1@"
    assert again.check().refresh_expires_at == tokens().refresh_expires_at


def test_a_refusal_renews_once_whoever_saw_it(tmp_path: Path) -> None:
    endpoint = TokenEndpoint(delay=0.02)
    tm = manager(tmp_path, tokens(), Clock())

    async def run() -> list[str]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(endpoint)) as http:
            return await asyncio.gather(*(tm.renew(http, ACCESS) for _ in range(5)))

    assert asyncio.run(run()) == ["I0.renewed-1@"] * 5
    assert len(endpoint.requests) == 1


def test_an_expired_login_says_when_and_what_to_do_without_asking_schwab(
        tmp_path: Path) -> None:
    endpoint = TokenEndpoint()
    clock = Clock()
    tm = manager(tmp_path, tokens(access_left_s=-60, login_left_s=-5), clock)

    async def run() -> str:
        async with httpx.AsyncClient(transport=httpx.MockTransport(endpoint)) as http:
            return await tm.access_token(http)

    with pytest.raises(SchwabLoginError) as caught:
        asyncio.run(run())
    assert str(caught.value) == ("Schwab login expired on 2026-09-21 14:13 UTC: run "
                                 "`tradeloop broker login schwab --settings <your node.toml>` "
                                 "to log in again")
    assert endpoint.requests == []


def test_a_revoked_refresh_token_fails_once_then_stays_failed_until_a_new_login(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    endpoint = TokenEndpoint(refuse=True)
    clock = Clock()
    tm = manager(tmp_path, tokens(access_left_s=-1), clock)

    async def ask() -> str:
        async with httpx.AsyncClient(transport=httpx.MockTransport(endpoint)) as http:
            return await tm.access_token(http)

    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            with pytest.raises(SchwabLoginError, match=r"^Schwab login expired on .* \(Schwab "
                                                       r"refused the saved refresh token\): "
                                                       r"run `tradeloop broker login schwab"):
                asyncio.run(ask())
    assert len(endpoint.requests) == 1  # asked once, not at every request
    logged = " ".join(f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in caplog.records)
    assert "Schwab login refused" in logged
    assert ACCESS not in logged and REFRESH not in logged
    # a new login saved by `tradeloop broker login schwab` is picked up
    tm.store.save(TokenSet("I0.new-login@", "R2.new@", NOW + 1800, NOW + 86_400 * 7, NOW))
    assert asyncio.run(ask()) == "I0.new-login@"


def test_no_login_saved_says_to_log_in(tmp_path: Path) -> None:
    tm = manager(tmp_path, None, Clock())
    with pytest.raises(SchwabLoginError, match=r"no saved Schwab login in .*tokens\.enc: run "
                                               r"`tradeloop broker login schwab"):
        tm.check()


def test_tokens_do_not_show_in_reprs() -> None:
    assert ACCESS not in repr(tokens()) and REFRESH not in repr(tokens())
