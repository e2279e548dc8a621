"""Schwab's OAuth 2 login and the tokens it yields, kept encrypted at rest.

The login (:func:`interactive_login`, wired to ``tradeloop broker login schwab``) is Schwab's
authorization-code flow: the user opens ``/v1/oauth/authorize?client_id=<app key>&redirect_uri=
<callback>``, logs in and approves, and pastes back the address the browser was sent to
(``<callback>/?code=...&session=...``); the code is exchanged at ``POST /v1/oauth/token``
(HTTP Basic ``app key:app secret``, ``grant_type=authorization_code``). That yields an access
token (30 minutes) and a refresh token (7 days from the login); ``grant_type=refresh_token``
renews the access token.

:class:`TokenStore` keeps both in one file, encrypted with Fernet (AES-128-CBC and
HMAC-SHA256) under a key derived with scrypt from the secret in ``token_key_env`` and a random
salt; the file is mode 0600 and replaced atomically. Without the key the file reads as noise.

:class:`TokenManager` hands out access tokens to the client: it renews one ahead of its
expiry (``refresh_margin_s``), once however many requests want it at the same moment, and
again when Schwab answers 401. A login that ran out or was refused raises
:class:`~.errors.SchwabLoginError` with one message telling the user to log in again, every time
after that too, without asking Schwab again, until a new login is saved.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import httpx
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from pydantic import SecretStr

from tradeloop.brokers.schwab.config import SchwabConfig, load_config
from tradeloop.brokers.schwab.errors import (
    LOGIN_COMMAND,
    SchwabLoginError,
    SchwabRetryableError,
    body_of,
    reason_of,
)
from tradeloop.core.errors import ConfigError
from tradeloop.core.logging import register_secret

logger = logging.getLogger(__name__)

FILE_FORMAT = "tradeloop-schwab-tokens"
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


@dataclass(frozen=True)
class TokenSet:
    """The tokens of one login (times are seconds since the epoch).

    Attributes
    ----------
    access_token, refresh_token : str
    access_expires_at : float
    refresh_expires_at : float
        When the login runs out (the refresh token is refused from then on).
    logged_in_at : float
    access_issued_at : float
        When the access token was issued (0: unknown).
    """

    access_token: str
    refresh_token: str
    access_expires_at: float
    refresh_expires_at: float
    logged_in_at: float
    access_issued_at: float = 0.0

    def __repr__(self) -> str:
        return (f"TokenSet(access_expires_at={self.access_expires_at}, "
                f"refresh_expires_at={self.refresh_expires_at}, tokens=***)")

    def renew_within(self, margin_s: float) -> float:
        """How long before its expiry the access token is renewed: ``margin_s``, or half its
        lifetime when that is shorter (so a short-lived token is not renewed at every use)."""
        if self.access_issued_at <= 0:
            return margin_s
        return min(margin_s, (self.access_expires_at - self.access_issued_at) / 2)

    @property
    def login_ends(self) -> datetime:
        """When the login runs out, in UTC."""
        return datetime.fromtimestamp(self.refresh_expires_at, UTC)

    def to_json(self) -> dict[str, Any]:
        """As stored (inside the encryption)."""
        return {"access_token": self.access_token, "refresh_token": self.refresh_token,
                "access_expires_at": self.access_expires_at,
                "refresh_expires_at": self.refresh_expires_at,
                "logged_in_at": self.logged_in_at, "access_issued_at": self.access_issued_at}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> TokenSet:
        """Back from :meth:`to_json` (KeyError/ValueError when it is not one)."""
        return cls(str(raw["access_token"]), str(raw["refresh_token"]),
                   float(raw["access_expires_at"]), float(raw["refresh_expires_at"]),
                   float(raw["logged_in_at"]), float(raw.get("access_issued_at", 0.0)))


class TokenStore:
    """One encrypted token file.

    Parameters
    ----------
    path : Path
    key : SecretStr
        The secret the encryption key is derived from.
    """

    def __init__(self, path: Path, key: SecretStr) -> None:
        self.path = path
        self._secret = key.get_secret_value().encode()
        self._fernets: dict[bytes, Fernet] = {}

    def stamp(self) -> int:
        """The file's modification time (ns), 0 when there is none: tells a new login."""
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return 0

    def load(self) -> TokenSet | None:
        """The saved tokens, None when there is no file.

        Raises
        ------
        SchwabLoginError
            The file cannot be read or decrypted (another key, damaged).
        """
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, UnicodeDecodeError):
            raise SchwabLoginError(f"the saved Schwab login {self.path} cannot be read: run "
                                   f"`{LOGIN_COMMAND}` to log in again") from None
        try:
            if raw.get("format") != FILE_FORMAT:
                raise ValueError("not a token file")
            salt = base64.b64decode(raw["salt"])
            plain = self._fernet(salt).decrypt(raw["ciphertext"].encode())
            tokens = TokenSet.from_json(json.loads(plain))
        except InvalidToken:
            raise SchwabLoginError(f"the saved Schwab login {self.path} cannot be decrypted "
                                   "with the key in token_key_env (was the key changed?): run "
                                   f"`{LOGIN_COMMAND}` to log in again") from None
        except (KeyError, ValueError, TypeError, AttributeError):
            raise SchwabLoginError(f"the saved Schwab login {self.path} is damaged: run "
                                   f"`{LOGIN_COMMAND}` to log in again") from None
        register_secret(tokens.access_token)
        register_secret(tokens.refresh_token)
        return tokens

    def save(self, tokens: TokenSet) -> None:
        """Encrypt and write ``tokens``: a temporary file (mode 0600) in the same directory,
        then an atomic replace."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        salt = secrets.token_bytes(16)
        cipher = self._fernet(salt).encrypt(json.dumps(tokens.to_json()).encode())
        document = json.dumps({"format": FILE_FORMAT, "version": 1, "kdf": "scrypt",
                               "n": _SCRYPT_N, "r": _SCRYPT_R, "p": _SCRYPT_P,
                               "salt": base64.b64encode(salt).decode(),
                               "ciphertext": cipher.decode()})
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(document)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(partial, 0o600)
            os.replace(partial, self.path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    def _fernet(self, salt: bytes) -> Fernet:
        found = self._fernets.get(salt)
        if found is None:
            key = Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=_SCRYPT_R,
                         p=_SCRYPT_P).derive(self._secret)
            found = self._fernets[salt] = Fernet(base64.urlsafe_b64encode(key))
        return found


# -- the OAuth requests (shared by the login and the renewals) ----------------------------------


def authorize_url(config: SchwabConfig) -> str:
    """The address where the user logs in and approves the app."""
    key = _secret(config.app_key, "app_key_env")
    return (f"{config.api_url}/v1/oauth/authorize?client_id={quote(key, safe='')}"
            f"&redirect_uri={quote(config.callback_url, safe='')}")


def code_from_redirect(address: str, config: SchwabConfig) -> str:
    """The authorization code in the address the browser was sent to.

    Raises
    ------
    ConfigError
        The address is not the callback with a code (or carries Schwab's error).
    """
    text = address.strip()
    parsed = urlparse(text)
    query = parse_qs(parsed.query)
    if "error" in query:
        raise ConfigError(f"Schwab did not approve the login: {query['error'][0]}")
    codes = query.get("code")
    if not codes or not text.startswith(config.callback_url.split("://", 1)[0]):
        raise ConfigError("that is not the address Schwab sent the browser to: paste the "
                          f"whole address, starting with {config.callback_url} and holding "
                          "code=...")
    return codes[0]  # parse_qs has decoded it (Schwab's codes end in %40, '@')


def token_request(config: SchwabConfig, form: dict[str, str]
                  ) -> tuple[str, dict[str, str], dict[str, str]]:
    """URL, headers (HTTP Basic app key:app secret) and form of a token request."""
    key = _secret(config.app_key, "app_key_env")
    secret = _secret(config.app_secret, "app_secret_env")
    basic = base64.b64encode(f"{key}:{secret}".encode()).decode()
    return (f"{config.api_url}/v1/oauth/token",
            {"Authorization": f"Basic {basic}",
             "Content-Type": "application/x-www-form-urlencoded"}, form)


def tokens_from_answer(status: int, body: Any, *, grant: str, now: float,
                       config: SchwabConfig, previous: TokenSet | None = None) -> TokenSet:
    """The tokens of a token endpoint's answer.

    Raises
    ------
    SchwabLoginError
        Schwab refused the code, the refresh token or the app's credentials.
    SchwabRetryableError
        Schwab could not answer now (429, 5xx).
    """
    if status == 200 and isinstance(body, dict) and body.get("access_token"):
        access = str(body["access_token"])
        refresh = str(body.get("refresh_token") or (previous.refresh_token if previous else ""))
        register_secret(access)
        register_secret(refresh)
        expires_in = float(body.get("expires_in") or 1800)
        if grant == "authorization_code" or previous is None:
            return TokenSet(access, refresh, now + expires_in,
                            now + config.login_days * 86_400, now, now)
        return TokenSet(access, refresh, now + expires_in, previous.refresh_expires_at,
                        previous.logged_in_at, now)
    reason = reason_of(body, status)
    if status == 429 or status >= 500:
        raise SchwabRetryableError("TOKEN_ENDPOINT", f"Schwab's token endpoint: {reason}")
    if status == 401 or (isinstance(body, dict) and body.get("error") == "invalid_client"):
        raise SchwabLoginError(f"Schwab refused the app key and secret ({reason}): check the "
                               "variables named by app_key_env and app_secret_env")
    if grant == "refresh_token":
        ends = previous.login_ends if previous is not None else None
        if ends is not None and ends.timestamp() > now:
            ends = datetime.fromtimestamp(now, UTC)  # revoked before its time
        raise SchwabLoginError.expired(ends, "Schwab refused the saved refresh token")
    raise SchwabLoginError(f"Schwab refused the authorization code ({reason}); codes last 30 "
                           f"seconds: run `{LOGIN_COMMAND}` again and paste the address at once")


def _secret(value: SecretStr | None, setting: str) -> str:
    if value is None:
        raise ConfigError(f"broker.settings.{setting}: not set")
    return value.get_secret_value()


# -- renewals -------------------------------------------------------------------------------------


class TokenManager:
    """The access token the client sends, renewed ahead of its expiry.

    Parameters
    ----------
    config : SchwabConfig
    store : TokenStore
    clock : callable
        Seconds since the epoch (tests move it).
    """

    def __init__(self, config: SchwabConfig, store: TokenStore,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self._tokens: TokenSet | None = None
        self._loaded_stamp = -1
        self._failed: SchwabLoginError | None = None
        self._failed_stamp = 0
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        #: Renewals done (refresh grants sent).
        self.refreshes = 0

    @property
    def tokens(self) -> TokenSet | None:
        """The tokens in use (None before the first load)."""
        return self._tokens

    async def access_token(self, http: httpx.AsyncClient) -> str:
        """A valid access token, renewed first when it runs out within the margin.

        Raises
        ------
        SchwabLoginError
            No login saved, or it ran out or was refused.
        SchwabRetryableError
            Schwab's token endpoint could not be reached.
        """
        tokens = self._current()
        margin = tokens.renew_within(self.config.refresh_margin_s)
        if tokens.access_expires_at - self.clock() > margin:
            return tokens.access_token
        async with self._guard():
            tokens = self._current()
            margin = tokens.renew_within(self.config.refresh_margin_s)
            if tokens.access_expires_at - self.clock() > margin:
                return tokens.access_token  # renewed while this one waited
            return (await self._refresh(http, tokens)).access_token

    async def renew(self, http: httpx.AsyncClient, stale: str) -> str:
        """A new access token after Schwab refused ``stale`` (401): renewed once, whoever else
        saw the same refusal."""
        async with self._guard():
            tokens = self._current()
            if tokens.access_token != stale:
                return tokens.access_token
            return (await self._refresh(http, tokens)).access_token

    def check(self) -> TokenSet:
        """The saved login, without renewing anything.

        Raises
        ------
        SchwabLoginError
            None saved, or it has run out.
        """
        return self._current()

    def _current(self) -> TokenSet:
        stamp = self.store.stamp()
        if self._failed is not None:
            if stamp == self._failed_stamp:
                raise self._failed
            self._failed = None  # a new login was saved meanwhile
        if self._tokens is None or stamp != self._loaded_stamp:
            loaded = self.store.load()
            if loaded is None:
                raise self._fail(SchwabLoginError(
                    f"no saved Schwab login in {self.store.path}: run `{LOGIN_COMMAND}` first"))
            self._tokens, self._loaded_stamp = loaded, stamp
        if self._tokens.refresh_expires_at <= self.clock():
            raise self._fail(SchwabLoginError.expired(self._tokens.login_ends))
        return self._tokens

    async def _refresh(self, http: httpx.AsyncClient, tokens: TokenSet) -> TokenSet:
        url, headers, form = token_request(self.config, {
            "grant_type": "refresh_token", "refresh_token": tokens.refresh_token})
        self.refreshes += 1
        try:
            answer = await http.post(url, headers=headers, data=form,
                                     timeout=self.config.timeout_s)
        except httpx.HTTPError as exc:
            raise SchwabRetryableError("TOKEN_ENDPOINT", f"renewing the access token: "
                                       f"{type(exc).__name__}") from None
        try:
            fresh = tokens_from_answer(answer.status_code, body_of(answer),
                                       grant="refresh_token", now=self.clock(),
                                       config=self.config, previous=tokens)
        except SchwabLoginError as exc:
            logger.error("Schwab login refused", extra={"fields": {"error": str(exc)}})
            raise self._fail(exc) from None
        self.store.save(fresh)
        self._tokens, self._loaded_stamp = fresh, self.store.stamp()
        logger.info("Schwab access token renewed", extra={"fields": {
            "expires": datetime.fromtimestamp(fresh.access_expires_at, UTC).isoformat(),
            "login_ends": fresh.login_ends.isoformat()}})
        return fresh

    def _fail(self, error: SchwabLoginError) -> SchwabLoginError:
        self._failed, self._failed_stamp = error, self.store.stamp()
        return error

    def _guard(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock


# -- the login ------------------------------------------------------------------------------------


def interactive_login(settings: Mapping[str, Any], home: Path, ask: Callable[[str], str],
                      show: Callable[[str], None]) -> None:
    """Log in to Schwab with a person at the keyboard and save the tokens encrypted.

    Parameters
    ----------
    settings : mapping
        The broker's ``[broker.settings]``.
    home : Path
        The tradeloop home (the tokens go where nodes under it look for them).
    ask : callable
        Asks the person a question and returns the answer.
    show : callable
        Tells the person something.

    Raises
    ------
    ConfigError
        Bad settings, an address without a code, or Schwab's refusal (one line each).
    """
    config = load_config(settings)
    store = TokenStore(config.token_path(home), _secret_key(config))
    show("Open this address in a browser, log in to Schwab and approve the app:")
    show(authorize_url(config))
    address = ask(f"Paste the address the browser was sent to (it starts with "
                  f"{config.callback_url}): ")
    code = code_from_redirect(address, config)
    url, headers, form = token_request(config, {"grant_type": "authorization_code",
                                                "code": code,
                                                "redirect_uri": config.callback_url})
    try:
        with httpx.Client(timeout=config.timeout_s) as http:
            answer = http.post(url, headers=headers, data=form)
    except httpx.HTTPError as exc:
        raise ConfigError(f"cannot reach Schwab at {config.api_url}: "
                          f"{type(exc).__name__}") from None
    tokens = tokens_from_answer(answer.status_code, body_of(answer), grant="authorization_code",
                                now=time.time(), config=config)
    store.save(tokens)
    logger.info("Schwab login saved", extra={"fields": {
        "path": str(store.path), "login_ends": tokens.login_ends.isoformat()}})
    show(f"Logged in to Schwab. The login lasts until {tokens.login_ends:%Y-%m-%d %H:%M} UTC; "
         f"the tokens are saved encrypted in {store.path}.")


def _secret_key(config: SchwabConfig) -> SecretStr:
    if config.token_key is None:
        raise ConfigError("broker.settings.token_key_env: not set")
    return config.token_key


def token_store(config: SchwabConfig, home: Path) -> TokenStore:
    """The token file of ``config`` for an adapter whose home is ``home``."""
    return TokenStore(config.token_path(home), _secret_key(config))


__all__ = ["FILE_FORMAT", "TokenManager", "TokenSet", "TokenStore", "authorize_url",
           "code_from_redirect", "interactive_login", "token_request", "token_store",
           "tokens_from_answer"]
