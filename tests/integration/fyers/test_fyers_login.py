"""The daily Fyers login: the auth-code flow against the local Fyers, the tokens stored
encrypted where the node's adapter finds them, and the renewal with the refresh token and PIN."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from support.fyers import APP_ID, REDIRECT_URI, FyersServer, follow_login
from support.fyers.adapter import PIN_ENV, SECRET_ENV
from tradeloop.brokers.base import interactive_login as login_by_name
from tradeloop.brokers.fyers import create_adapter, load_config
from tradeloop.brokers.fyers.auth import interactive_login, login_url
from tradeloop.brokers.fyers.errors import FyersTokenError
from tradeloop.brokers.fyers.tokens import TokenSet, TokenStore
from tradeloop.core.errors import ConfigError


class Person:
    """At the keyboard: opens the address shown, pastes back where the login sent them."""

    def __init__(self, tamper: str = "") -> None:
        self.shown: list[str] = []
        self.tamper = tamper

    def show(self, text: str) -> None:
        self.shown.append(text)

    def ask(self, question: str) -> str:
        url = next(line for text in self.shown for line in text.splitlines()
                   if line.startswith("http"))
        answer = follow_login(url)
        return answer.replace("state=", "state=x") if self.tamper == "state" else answer


def _account(settings: dict[str, Any], home: Path) -> str:
    async def run() -> str:
        adapter = create_adapter(settings, variant="", home=home)
        await adapter.execution.connect()
        try:
            return (await adapter.execution.account()).account_id
        finally:
            await adapter.close()

    return asyncio.run(run())


def test_the_login_url_carries_the_app_and_a_state(fyers: FyersServer,
                                                    settings: dict[str, Any]) -> None:
    url = login_url(load_config(settings), "s1")
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{fyers.base_url}/api/v3/generate-authcode?")
    assert query == {"client_id": [APP_ID], "redirect_uri": [REDIRECT_URI],
                     "response_type": ["code"], "state": ["s1"]}


def test_a_login_is_stored_encrypted_where_the_nodes_adapter_reads_it(
        fyers: FyersServer, settings: dict[str, Any], tmp_path: Path) -> None:
    settings = {k: v for k, v in settings.items() if k != "login_dir"}
    tradeloop_home = tmp_path / "tl"
    person = Person()
    login_by_name("fyers", settings, tradeloop_home, person.ask, person.show)

    stored = tradeloop_home / "brokers" / "fyers" / f"token-{APP_ID}.json"
    assert stored.exists() and (stored.stat().st_mode & 0o077) == 0
    tokens = TokenStore(stored, load_config(settings).token_key).load()
    assert tokens is not None and tokens.refresh_token is not None
    assert tokens.access_token.get_secret_value() not in stored.read_text()
    assert fyers.tokens.logins == 1
    assert "works until" in person.shown[-1]
    # a node's adapter lives in <home>/brokers/<node> and finds the same tokens
    assert _account(settings, tradeloop_home / "brokers" / "my-node") == "XT00001"


def test_an_answer_from_another_login_is_refused_and_nothing_is_stored(
        fyers: FyersServer, settings: dict[str, Any], tmp_path: Path) -> None:
    person = Person(tamper="state")
    with pytest.raises(ConfigError, match="another login"):
        interactive_login(settings, tmp_path, person.ask, person.show)
    assert not (tmp_path / "fyers-tokens").exists()
    assert fyers.tokens.logins == 0


def test_the_login_needs_the_apps_secret_key(fyers: FyersServer, settings: dict[str, Any],
                                             tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV)
    person = Person()
    with pytest.raises(ConfigError, match=f"secret_key_env: the environment variable "
                                          f"{SECRET_ENV}"):
        interactive_login(settings, tmp_path, person.ask, person.show)
    assert person.shown == []


def test_a_wrong_secret_key_is_refused_by_fyers(fyers: FyersServer, settings: dict[str, Any],
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "not-the-secret")
    person = Person()
    with pytest.raises(ConfigError, match="Fyers refused the auth code"):
        interactive_login(settings, tmp_path, person.ask, person.show)


def test_without_a_login_the_adapter_says_how_to_log_in(fyers: FyersServer,
                                                        settings: dict[str, Any],
                                                        home: Path) -> None:
    with pytest.raises(FyersTokenError) as caught:
        _account(settings, home)
    assert "tradeloop broker login fyers --settings node.toml" in str(caught.value)
    assert "no stored login" in str(caught.value)
    assert fyers.requests() == []  # nothing was sent without a token


def test_a_refused_token_is_renewed_with_the_refresh_token_and_pin(
        fyers: FyersServer, settings: dict[str, Any], home: Path, tmp_path: Path) -> None:
    person = Person()
    interactive_login({**settings, "pin_env": PIN_ENV}, tmp_path, person.ask, person.show)
    fyers.expire_tokens()  # the morning reset

    assert _account({**settings, "pin_env": PIN_ENV}, home) == "XT00001"
    assert fyers.tokens.refreshes == 1
    codes = [r.code for r in fyers.requests("/api/v3/profile")]
    assert codes == [-8, None]  # refused once, then through with the new token
    config = load_config(settings)
    renewed = TokenStore(config.token_path(home, adapter_home=True), config.token_key).load()
    assert renewed is not None and fyers.tokens.check(
        f"{APP_ID}:{renewed.access_token.get_secret_value()}") == 0


def test_an_expired_token_without_a_pin_is_not_renewed(
        fyers: FyersServer, settings: dict[str, Any], home: Path, tmp_path: Path) -> None:
    person = Person()
    interactive_login(settings, tmp_path, person.ask, person.show)
    config = load_config(settings)
    store = TokenStore(config.token_path(home, adapter_home=True), config.token_key)
    stored = store.load()
    assert stored is not None
    # a token whose own expiry has passed is not even sent
    store.save(TokenSet(stored.access_token, stored.refresh_token, 1, 1))
    with pytest.raises(FyersTokenError, match="code -8"):
        _account(settings, home)
    assert fyers.requests("/api/v3/profile") == []
    assert fyers.tokens.refreshes == 0


def test_the_broker_login_service_reads_the_nodes_file(fyers: FyersServer,
                                                       settings: dict[str, Any],
                                                       tmp_path: Path) -> None:
    from tradeloop.services.live import broker_login

    node = tmp_path / "node.toml"
    lines = "\n".join(f"{key} = \"{value}\"" if isinstance(value, str) else
                      f"{key} = {str(value).lower() if isinstance(value, bool) else value}"
                      for key, value in settings.items() if key != "symbols")
    node.write_text(f"mode = \"live\"\n[broker]\nname = \"fyers\"\n[broker.settings]\n{lines}\n",
                    encoding="utf-8")
    person = Person()
    broker_login("fyers", node, ask=person.ask, show=person.show, home=tmp_path / "tl")
    assert fyers.tokens.logins == 1
    assert _account(settings, tmp_path / "tl" / "brokers" / "node") == "XT00001"
