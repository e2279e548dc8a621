"""Bearer-token authentication for the API: every route but ``/health`` (and the webhook,
which has its passphrase) needs a token with the route's scope. Failed attempts are counted per
client address and refused for a while once too many; nothing logged ever holds the token."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request, WebSocket
from starlette.concurrency import run_in_threadpool

from tradeloop.services.tokens import AuthError, FailedAuthLimiter, TokenInfo

log = logging.getLogger(__name__)

Authenticator = Callable[[str, str], TokenInfo]
"""(token, needed scope) -> the token's facts, or :class:`AuthError`."""

_SCHEME = "bearer "
WS_PROTOCOL = "tradeloop"
"""The WebSocket subprotocol; the token travels as a second one, ``bearer.<token>``, since a
browser cannot set headers on a WebSocket."""


@dataclass
class AuthGate:
    """Checks tokens for one app.

    Parameters
    ----------
    authenticate : callable
        ``(token, scope) -> TokenInfo``; raises AuthError (401 unknown, expired or revoked,
        403 missing scope).
    limiter : FailedAuthLimiter
    """

    authenticate: Authenticator
    limiter: FailedAuthLimiter

    async def check(self, token: str | None, scope: str, client: str, what: str) -> TokenInfo:
        """The token's facts, or an HTTPException (401, 403 or 429)."""
        wait = self.limiter.retry_after(client)
        if wait is not None:
            raise HTTPException(429, "too many failed authentication attempts: try again "
                                     f"in {wait} s", headers={"Retry-After": str(wait)})
        if not token:
            self._failed(client)
            log.info("request without a token", extra={"fields": {
                "client": client, "route": what}})
            raise HTTPException(401, "a bearer token is needed (Authorization: Bearer ...)",
                                headers={"WWW-Authenticate": "Bearer"})
        try:
            info = await run_in_threadpool(self.authenticate, token, scope)
        except AuthError as exc:
            if exc.status == 401:
                self._failed(client)
                challenge = 'Bearer error="invalid_token"'
            else:  # a valid token without the scope: not counted as a failed login
                challenge = f'Bearer error="insufficient_scope", scope="{scope}"'
            # 401 in both cases, as the issue asks; the challenge tells which
            raise HTTPException(401, exc.reason,
                                headers={"WWW-Authenticate": challenge}) from None
        return info

    def _failed(self, client: str) -> None:
        self.limiter.failed(client)  # the token service logs the failure itself


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header."""
    header = request.headers.get("authorization", "")
    if header[:len(_SCHEME)].lower() != _SCHEME:
        return None
    return header[len(_SCHEME):].strip() or None


def websocket_token(websocket: WebSocket) -> str | None:
    """The token of a WebSocket: an ``Authorization`` header (programs) or the
    ``bearer.<token>`` subprotocol (browsers)."""
    header = websocket.headers.get("authorization", "")
    if header[:len(_SCHEME)].lower() == _SCHEME:
        return header[len(_SCHEME):].strip() or None
    offered = websocket.headers.get("sec-websocket-protocol", "")
    for part in (p.strip() for p in offered.split(",")):
        if part.startswith("bearer."):
            return part.removeprefix("bearer.") or None
    return None


def client_address(request: Request | WebSocket, behind_proxy: bool = False) -> str:
    """Who is asking: the socket's peer. Behind a proxy, uvicorn has already put the address
    from ``X-Forwarded-For`` there, and only when the proxy is one of ``api.trusted_proxies``;
    the header itself is never read here, so a client cannot choose its address."""
    del behind_proxy
    return request.client.host if request.client is not None else "unknown"


def require(scope: str) -> Callable[[Request], Awaitable[TokenInfo]]:
    """A FastAPI dependency: the request's token must have ``scope``."""

    async def dependency(request: Request) -> TokenInfo:
        gate: AuthGate = request.app.state.auth
        client = client_address(request, request.app.state.behind_proxy)
        return await gate.check(bearer_token(request), scope, client,
                                f"{request.method} {request.url.path}")

    return dependency
