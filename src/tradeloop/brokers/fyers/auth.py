"""The daily Fyers login (``tradeloop broker login fyers --settings node.toml``).

Fyers' flow for an app: the person opens the login address
(``/api/v3/generate-authcode?client_id=...&redirect_uri=...&response_type=code&state=...``),
logs in, and is sent to the app's redirect address with ``auth_code`` and ``state`` in it; the
app then posts the code with ``appIdHash = sha256("<client_id>:<secret_key>")`` to
``/api/v3/validate-authcode`` and receives an access token (valid until Fyers' next morning
reset) and a refresh token (15 days). :func:`interactive_login` does this with a person at the
keyboard and stores both tokens, encrypted (:mod:`.tokens`), where the nodes of that app find
them.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from tradeloop.brokers.fyers.client import app_id_hash
from tradeloop.brokers.fyers.config import FyersConfig, load_config
from tradeloop.brokers.fyers.parse import IST
from tradeloop.brokers.fyers.tokens import TokenSet, TokenStore
from tradeloop.core.errors import ConfigError


def login_url(config: FyersConfig, state: str) -> str:
    """The address a person opens to log in."""
    query = urlencode({"client_id": config.client_id, "redirect_uri": config.redirect_uri,
                       "response_type": "code", "state": state})
    return f"{config.api_url}/api/v3/generate-authcode?{query}"


def auth_code_from(answer: str, state: str) -> str:
    """The ``auth_code`` in what the person pasted: the address they were sent back to (or the
    bare code).

    Raises
    ------
    ConfigError
        The login failed, the ``state`` does not match (not this login's answer), or there is
        no code.
    """
    text = answer.strip()
    if not text:
        raise ConfigError("fyers login: nothing was pasted; paste the whole address the login "
                          "sent you to")
    if "auth_code=" not in text and "://" not in text and "?" not in text:
        return text
    query = parse_qs(urlsplit(text).query or text.partition("?")[2])
    if query.get("s", ["ok"])[0] != "ok":
        message = query.get("message", query.get("code", ["unknown"]))[0]
        raise ConfigError(f"fyers login: Fyers refused the login ({message})")
    if query.get("state", [""])[0] != state:
        raise ConfigError("fyers login: the pasted address belongs to another login (its "
                          "state differs); start again")
    code = query.get("auth_code", [""])[0]
    if not code:
        raise ConfigError("fyers login: the pasted address has no auth_code")
    return code


def exchange_code(config: FyersConfig, code: str, *,
                  transport: httpx.BaseTransport | None = None) -> TokenSet:
    """Trade an auth code for tokens (``POST /api/v3/validate-authcode``).

    Raises
    ------
    ConfigError
        No secret key configured, Fyers unreachable, or Fyers refused the code.
    """
    if config.secret_key is None:
        raise ConfigError(f"broker.settings.secret_key_env: the environment variable "
                          f"{config.secret_key_env or '(none named)'} with the app's secret key "
                          "is not set")
    body = {"grant_type": "authorization_code",
            "appIdHash": app_id_hash(config.client_id, config.secret_key.get_secret_value()),
            "code": code}
    try:
        with httpx.Client(timeout=config.timeout_s, trust_env=config.use_system_proxy,
                          transport=transport) as http:
            answer = http.post(f"{config.api_url}/api/v3/validate-authcode", json=body)
    except httpx.HTTPError as exc:
        raise ConfigError(f"fyers login: Fyers cannot be reached: {type(exc).__name__}: "
                          f"{exc}") from None
    try:
        payload: Any = answer.json()
    except ValueError:
        payload = {}
    access = payload.get("access_token") if isinstance(payload, dict) else None
    if answer.status_code >= 400 or not access:
        message = payload.get("message") if isinstance(payload, dict) else ""
        code_text = payload.get("code") if isinstance(payload, dict) else answer.status_code
        raise ConfigError(f"fyers login: Fyers refused the auth code ({code_text}: "
                          f"{message or 'no reason given'}); log in again")
    return TokenSet.from_tokens(str(access), str(payload.get("refresh_token") or "") or None)


def interactive_login(settings: Mapping[str, Any], home: Path, ask: Callable[[str], str],
                      show: Callable[[str], None]) -> None:
    """Log in to Fyers with a person at the keyboard and store the tokens.

    Parameters
    ----------
    settings : mapping
        The adapter's ``[broker.settings]`` (``client_id``, ``redirect_uri``,
        ``secret_key_env``...).
    home : Path
        The tradeloop home; the tokens go to ``<home>/brokers/fyers`` (or ``login_dir``).
    ask : callable
        Asks the person a question and returns the answer (the address they were sent to).
    show : callable
        Tells the person something (the address to open).

    Raises
    ------
    ConfigError
        Bad settings, a missing secret key, a failed or foreign login.
    """
    config = load_config(settings)
    if not config.redirect_uri:
        raise ConfigError("broker.settings.redirect_uri: the app's redirect address (as on the "
                          "Fyers API dashboard) is needed to log in")
    if config.secret_key is None:
        raise ConfigError(f"broker.settings.secret_key_env: the environment variable "
                          f"{config.secret_key_env or '(none named)'} with the app's secret key "
                          "is not set")
    state = secrets.token_urlsafe(12)
    show(f"Open this address, log in to Fyers, and paste the address you are sent back to:\n"
         f"{login_url(config, state)}")
    code = auth_code_from(ask("Address after the login"), state)
    tokens = exchange_code(config, code)
    store = TokenStore(config.token_path(home, adapter_home=False), config.token_key)
    store.save(tokens)
    until = dt.datetime.fromtimestamp(tokens.expires_at, IST).strftime("%Y-%m-%d %H:%M IST") \
        if tokens.expires_at else "Fyers' next morning reset"
    show(f"Fyers login stored for {config.client_id}: the access token works until {until}")


__all__ = ["auth_code_from", "exchange_code", "interactive_login", "login_url"]
