"""OAuth 2 of the local Schwab: the authorization-code flow and the token endpoint.

* ``GET /v1/oauth/authorize?client_id=...&redirect_uri=...`` stands for the person logging in
  and approving: it answers 302 to the registered callback with ``?code=...%40&session=...``
  (Schwab's codes end in ``@``, URL-encoded in the redirect).
* ``POST /v1/oauth/token`` with HTTP Basic ``app key:app secret`` and a form body:
  ``grant_type=authorization_code`` (``code``, ``redirect_uri``) or ``grant_type=refresh_token``
  (``refresh_token``). Answers ``{"expires_in": 1800, "token_type": "Bearer", "scope": "api",
  "refresh_token", "access_token", "id_token"}``. A code is good for 30 s and once; an access
  token for 30 minutes; a refresh token for 7 days from the login that made it (a refresh
  grant keeps it).

Tests steer it: :meth:`OAuthServer.expire_access_tokens`, :meth:`OAuthServer.revoke_refresh_tokens`,
lifetimes, and counters of the grants.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from .errors import SchwabError, oauth_error, refresh_refused, unauthorized

APP_KEY = "LocalSchwabAppKey0123456789abcdef"
APP_SECRET = "LocalSchwabSecret42"
CALLBACK_URL = "https://127.0.0.1:8182"
ACCESS_LIFETIME_S = 1800
REFRESH_LIFETIME_S = 7 * 86_400
CODE_LIFETIME_S = 30


@dataclass
class _Grant:
    refresh_token: str
    expires_at: float
    revoked: bool = False


@dataclass
class OAuthServer:
    """Codes and tokens of the local Schwab.

    Parameters
    ----------
    clock : callable
        Seconds since the epoch (the server's clock).
    """

    clock: Callable[[], float]
    app_key: str = APP_KEY
    app_secret: str = APP_SECRET
    callback_url: str = CALLBACK_URL
    access_lifetime_s: int = ACCESS_LIFETIME_S
    refresh_lifetime_s: int = REFRESH_LIFETIME_S
    codes: dict[str, float] = field(default_factory=dict)
    access: dict[str, float] = field(default_factory=dict)  # token -> expiry
    grants: dict[str, _Grant] = field(default_factory=dict)  # refresh token -> grant
    #: Grants answered, by grant type (``authorization_code``, ``refresh_token``).
    issued: dict[str, int] = field(default_factory=dict)
    refused: int = 0
    _serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- the person at the browser --------------------------------------------------------

    def authorize(self, client_id: str, redirect_uri: str) -> str:
        """The redirect (``Location``) after a successful login and consent."""
        if client_id != self.app_key:
            raise oauth_error(401, "invalid_client", "Unauthorized")
        if redirect_uri.rstrip("/") != self.callback_url.rstrip("/"):
            raise oauth_error(400, "invalid_request", "redirect_uri does not match the "
                              "callback URL registered for the app")
        code = f"C0.{secrets.token_urlsafe(24)}@"
        self.codes[code] = self.clock() + CODE_LIFETIME_S
        session = secrets.token_hex(16)
        return f"{self.callback_url}/?code={quote(code, safe='')}&session={session}"

    # -- the token endpoint ---------------------------------------------------------------

    def token(self, authorization: str, form: dict[str, str]) -> dict[str, object]:
        """Answer ``POST /v1/oauth/token``.

        Raises
        ------
        SchwabError
            401 ``invalid_client`` for wrong Basic credentials; 400 for a bad or used code, or
            a refused refresh token (Schwab's nested shape).
        """
        self._check_client(authorization)
        grant_type = form.get("grant_type", "")
        if grant_type == "authorization_code":
            answer = self._exchange(form)
        elif grant_type == "refresh_token":
            answer = self._refresh(form.get("refresh_token", ""))
        else:
            raise oauth_error(400, "unsupported_grant_type",
                              f"grant_type {grant_type!r} is not supported")
        self.issued[grant_type] = self.issued.get(grant_type, 0) + 1
        return answer

    def _check_client(self, authorization: str) -> None:
        scheme, _, encoded = authorization.partition(" ")
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            decoded = ""
        if scheme.lower() != "basic" or decoded != f"{self.app_key}:{self.app_secret}":
            raise oauth_error(401, "invalid_client", "Unauthorized")

    def _exchange(self, form: dict[str, str]) -> dict[str, object]:
        code = form.get("code", "")
        expires = self.codes.pop(code, None)
        if expires is None or expires < self.clock():
            self.refused += 1
            raise oauth_error(400, "invalid_request", "The authorization code is invalid, "
                              "used or expired")
        if form.get("redirect_uri", "").rstrip("/") != self.callback_url.rstrip("/"):
            self.refused += 1
            raise oauth_error(400, "invalid_request", "redirect_uri does not match")
        refresh = f"R{next(self._serial)}.{secrets.token_urlsafe(32)}@"
        self.grants[refresh] = _Grant(refresh, self.clock() + self.refresh_lifetime_s)
        return self._tokens(refresh)

    def _refresh(self, refresh: str) -> dict[str, object]:
        grant = self.grants.get(refresh)
        if grant is None or grant.revoked or grant.expires_at <= self.clock():
            self.refused += 1
            digest = base64.b64encode(hashlib.sha256(refresh.encode()).digest()).decode()
            raise refresh_refused(digest)
        return self._tokens(refresh)

    def _tokens(self, refresh: str) -> dict[str, object]:
        access = f"I0.{secrets.token_urlsafe(32)}@"
        self.access[access] = self.clock() + self.access_lifetime_s
        return {"expires_in": self.access_lifetime_s, "token_type": "Bearer", "scope": "api",
                "refresh_token": refresh, "access_token": access,
                "id_token": secrets.token_urlsafe(48)}

    # -- checks and steering --------------------------------------------------------------

    def valid_access(self, token: str) -> bool:
        """True for an access token issued here and not expired."""
        expires = self.access.get(token)
        return expires is not None and expires > self.clock()

    def check_bearer(self, authorization: str) -> str:
        """The access token of an ``Authorization: Bearer ...`` header.

        Raises
        ------
        SchwabError
            401 when it is missing, unknown or expired.
        """
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not self.valid_access(token.strip()):
            raise unauthorized()
        return token.strip()

    def expire_access_tokens(self) -> None:
        """Every access token issued so far expires now."""
        now = self.clock()
        for token in self.access:
            self.access[token] = min(self.access[token], now - 1)

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token issued so far is refused from now on."""
        for grant in self.grants.values():
            grant.revoked = True

    def grants_of(self, grant_type: str) -> int:
        """How many grants of ``grant_type`` were answered."""
        return self.issued.get(grant_type, 0)


__all__ = ["ACCESS_LIFETIME_S", "APP_KEY", "APP_SECRET", "CALLBACK_URL", "REFRESH_LIFETIME_S",
           "OAuthServer", "SchwabError"]
