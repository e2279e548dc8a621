"""The login side of the local Fyers: auth codes, access tokens and refresh tokens.

Access tokens are JWTs as Fyers issues them (``header.payload.signature``, HS256, signed here
with a server key): the payload carries ``exp``, ``fy_id``, the app id and the ``hsm_key`` the
data socket authenticates with. ``appIdHash`` is ``sha256("<app_id>:<secret_key>")`` in hex, as
Fyers checks it on ``validate-authcode`` and ``validate-refresh-token``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

APP_ID = "TLSTAND1-100"
SECRET_KEY = "standin-secret-key"
REDIRECT_URI = "https://127.0.0.1/fyers/redirect"
PIN = "4321"
FY_ID = "XT00001"
#: Access tokens live this long unless the server is told otherwise (Fyers: until the next
#: morning's reset).
DEFAULT_TTL_S = 12 * 3600
REFRESH_TTL_S = 15 * 86_400
AUTH_CODE_TTL_S = 300


def app_id_hash(app_id: str, secret_key: str) -> str:
    """``sha256("<app_id>:<secret_key>")`` in hex."""
    return hashlib.sha256(f"{app_id}:{secret_key}".encode()).hexdigest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def jwt_payload(token: str) -> dict[str, object] | None:
    """The payload of a JWT-shaped token (None when it is not one)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        loaded = json.loads(base64.urlsafe_b64decode(parts[1] + "==="))
    except (ValueError, json.JSONDecodeError):
        return None
    return loaded if isinstance(loaded, dict) else None


@dataclass
class Issued:
    """One access token the server issued."""

    token: str
    exp: int
    hsm_key: str
    revoked: bool = False


@dataclass
class TokenDesk:
    """Auth codes, access tokens and refresh tokens of one app.

    Parameters
    ----------
    now : callable
        The server's clock in seconds.
    """

    now: Callable[[], float] = time.time
    app_id: str = APP_ID
    secret_key: str = SECRET_KEY
    redirect_uri: str = REDIRECT_URI
    pin: str = PIN
    ttl_s: int = DEFAULT_TTL_S
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    codes: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, Issued] = field(default_factory=dict)
    refresh: dict[str, float] = field(default_factory=dict)
    logins: int = 0
    refreshes: int = 0

    def _clock(self) -> float:
        return self.now()

    # -- step 1: the browser login --------------------------------------------------------

    def auth_code(self) -> str:
        """A fresh one-time auth code (what the login page hands back)."""
        code = self._jwt({"sub": "auth_code", "app_id": self.app_id,
                          "nonce": secrets.token_hex(8)}, AUTH_CODE_TTL_S)
        self.codes[code] = self._clock() + AUTH_CODE_TTL_S
        return code

    # -- step 2: validate-authcode -----------------------------------------------------------

    def validate_code(self, app_hash: str, code: str) -> tuple[str, str] | str:
        """(access token, refresh token) for a valid code, else why not."""
        if not hmac.compare_digest(app_hash, app_id_hash(self.app_id, self.secret_key)):
            return "invalid app id hash"
        expiry = self.codes.pop(code, None)
        if expiry is None:
            return "invalid auth code"
        if expiry < self._clock():
            return "auth code expired"
        self.logins += 1
        refresh = self._jwt({"sub": "refresh_token", "app_id": self.app_id}, REFRESH_TTL_S)
        self.refresh[refresh] = self._clock() + REFRESH_TTL_S
        return self.issue(), refresh

    def validate_refresh(self, app_hash: str, refresh: str, pin: str) -> str | tuple[str]:
        """(access token,) for a valid refresh token and PIN, else why not."""
        if not hmac.compare_digest(app_hash, app_id_hash(self.app_id, self.secret_key)):
            return "invalid app id hash"
        expiry = self.refresh.get(refresh)
        if expiry is None or expiry < self._clock():
            return "invalid or expired refresh token"
        if pin != self.pin:
            return "invalid pin"
        self.refreshes += 1
        return (self.issue(),)

    def issue(self) -> str:
        """A new access token."""
        hsm_key = secrets.token_hex(20)
        token = self._jwt({"sub": "access_token", "app_id": self.app_id, "fy_id": FY_ID,
                           "appType": 100, "hsm_key": hsm_key}, self.ttl_s)
        payload = jwt_payload(token) or {}
        self.tokens[token] = Issued(token, int(str(payload.get("exp", 0))), hsm_key)
        return token

    # -- every request ----------------------------------------------------------------------

    def check(self, authorization: str) -> int:
        """0 when ``<app_id>:<access_token>`` is good; else Fyers' error code (-352 wrong
        app id, -15 a token never issued, -8 an expired or revoked one)."""
        app_id, sep, token = authorization.partition(":")
        if not sep:
            app_id, token = self.app_id, authorization
        if app_id != self.app_id:
            return -352
        issued = self.tokens.get(token)
        if issued is None:
            return -15
        if issued.revoked or issued.exp <= self._clock():
            return -8
        return 0

    def hsm_key_ok(self, hsm_key: str) -> bool:
        """True when ``hsm_key`` belongs to a live access token."""
        now = self._clock()
        return any(t.hsm_key == hsm_key and not t.revoked and t.exp > now
                   for t in self.tokens.values())

    def expire_all(self) -> None:
        """Every access token issued so far stops working (the morning reset)."""
        for issued in self.tokens.values():
            issued.revoked = True

    def _jwt(self, claims: dict[str, object], ttl_s: int) -> str:
        now = int(self._clock())
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps({"iss": "api.fyers.in", "iat": now, "exp": now + ttl_s,
                                "nbf": now, **claims}).encode())
        signature = hmac.new(self.key, f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{_b64(signature)}"


__all__ = ["APP_ID", "FY_ID", "PIN", "REDIRECT_URI", "SECRET_KEY", "Issued", "TokenDesk",
           "app_id_hash", "jwt_payload"]
