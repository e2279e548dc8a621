"""The transport to Fyers' REST API (:class:`FyersClient`), shared by the execution and market
data clients.

Every call carries ``Authorization: <client_id>:<access_token>``, waits for the request pacer
(Fyers' per-second, per-minute and per-day limits), and has its failures translated once, by
:mod:`.errors`. The access token comes from the encrypted token store the login wrote; an
expired one is renewed with the refresh token when the PIN is configured.

When Fyers refuses the token (-8, -15, -16, -17), the refusal is logged once and latched: every
later call raises the same :class:`~.errors.FyersTokenError` at once, without reaching Fyers,
so no order leaves with a dead token and none is retried into a block. A new login written to
the token file (``tradeloop broker login fyers``) lifts the latch on the next call.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

import httpx

from tradeloop.brokers.fyers.config import FyersConfig
from tradeloop.brokers.fyers.errors import (
    FyersFatalError,
    FyersRetryableError,
    FyersTokenError,
    error_for,
    token_message,
    transport_error,
)
from tradeloop.brokers.fyers.pacing import RequestPacer
from tradeloop.brokers.fyers.tokens import TokenSet, TokenStore

logger = logging.getLogger(__name__)

#: Seconds before its expiry that a token is renewed, when it can be.
RENEW_MARGIN_S = 60


def app_id_hash(client_id: str, secret_key: str) -> str:
    """``sha256("<client_id>:<secret_key>")`` in hex, as Fyers' token endpoints want it."""
    return hashlib.sha256(f"{client_id}:{secret_key}".encode()).hexdigest()


class FyersClient:
    """One app's REST session with Fyers.

    Parameters
    ----------
    config : FyersConfig
    store : TokenStore
    pacer : RequestPacer, optional
    transport : httpx.AsyncBaseTransport, optional
        Replaces the network (tests).
    """

    def __init__(self, config: FyersConfig, store: TokenStore, *,
                 pacer: RequestPacer | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self.store = store
        self.pacer = pacer or RequestPacer(config.per_second, config.per_minute,
                                           config.per_day)
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._users = 0
        self._tokens: TokenSet | None = None
        self._stamp: tuple[int, int] | None = None
        self._refused: FyersTokenError | None = None
        #: Times a refused token was reported (once per refusal).
        self.refusals = 0
        #: Requests sent (after pacing).
        self.sent = 0

    # -- the session -------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """True between :meth:`open` and the last :meth:`close`."""
        return self._http is not None

    async def open(self) -> None:
        """Start the session (the execution and market data clients each open it once).

        Raises
        ------
        FyersTokenError
            No stored login, or an expired one that cannot be renewed.
        """
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.config.timeout_s,
                                           trust_env=self.config.use_system_proxy,
                                           transport=self._transport)
        self._users += 1
        try:
            await self._ensure_token()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """End the session once every user has closed it."""
        self._users = max(0, self._users - 1)
        if self._users == 0 and self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    @property
    def tokens(self) -> TokenSet:
        """The tokens in use.

        Raises
        ------
        FyersTokenError
            There are none (the session is not open, or the token was refused).
        """
        if self._refused is not None:
            raise self._refused
        if self._tokens is None:
            raise FyersTokenError(token_message(0, "no access token loaded"))
        return self._tokens

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value."""
        return f"{self.config.client_id}:{self.tokens.access_token.get_secret_value()}"

    @property
    def refused(self) -> bool:
        """True while the token is known to be refused."""
        return self._refused is not None

    def refuse(self, error: FyersTokenError) -> FyersTokenError:
        """Latch a token refusal (reported once) and return it."""
        if self._refused is None:
            self._refused = error
            self.refusals += 1
            logger.error(str(error), extra={"fields": {"client_id": self.config.client_id}})
        return self._refused

    async def check_token(self) -> None:
        """Raise the latched refusal, unless a new login has been stored meanwhile."""
        if self._refused is None:
            if self._tokens is not None and self._tokens.expired(time.time() +
                                                                  RENEW_MARGIN_S):
                await self._ensure_token()
            return
        stamp = self.store.stamp()
        if stamp is not None and stamp != self._stamp:
            tokens = self.store.load()
            self._stamp = stamp
            if tokens is not None and not tokens.expired() and (
                    self._tokens is None or tokens.access_token.get_secret_value()
                    != self._tokens.access_token.get_secret_value()):
                self._tokens, self._refused = tokens, None
                logger.info("fyers: a new login was found; trading resumes")
                return
        raise self._refused

    # -- requests ----------------------------------------------------------------------------

    async def request(self, method: str, path: str, what: str, *,
                      params: dict[str, Any] | None = None, body: Any = None,
                      state_change: bool = False) -> dict[str, Any]:
        """One API call: the answer's JSON.

        Parameters
        ----------
        method, path : str
            ``"GET"``, ``"/api/v3/orders"``.
        what : str
            Names the call in errors (``"submit CF1"``).
        state_change : bool
            The call may change the account (a failure after sending is outcome-unknown).

        Raises
        ------
        FyersTokenError, FyersFatalError, FyersRetryableError, FyersOutcomeUnknownError
        """
        http = self._http
        if http is None:
            raise FyersRetryableError(f"Fyers {what}: the session is not open")
        await self.check_token()
        for attempt in (1, 2):
            async with self.pacer.slot():
                self.sent += 1
                carried = self.tokens
                try:
                    answer = await http.request(method, self.config.api_url + path,
                                                params=params, json=body,
                                                headers={"Authorization": self.authorization})
                except httpx.HTTPError as exc:
                    raise transport_error(exc, what, state_change=state_change) from None
            try:
                payload: Any = answer.json()
            except ValueError:
                payload = None
            failed = answer.status_code >= 400 or (isinstance(payload, dict)
                                                   and payload.get("s") == "error")
            if not failed:
                break
            error = error_for(payload, answer.status_code, what, state_change=state_change)
            if not isinstance(error, FyersTokenError):
                raise error
            # refused before anything was done: send it again with a token that came since (a
            # login meanwhile), or renew once with the refresh token, if we can
            current = self._tokens
            if attempt == 1 and current is not None and current is not carried \
                    and self._refused is None:
                continue
            renewed = await self._renew(carried) if attempt == 1 else None
            if renewed is None:
                raise self.refuse(error)
            self._tokens = renewed
        if not isinstance(payload, dict):
            raise FyersRetryableError(f"Fyers {what}: an answer that is not a JSON object "
                                      f"(HTTP {answer.status_code})")
        return payload

    async def public_json(self, url: str, what: str) -> Any:
        """A public file (the symbol master): no token, no pacing."""
        http = self._http
        if http is None:
            raise FyersRetryableError(f"Fyers {what}: the session is not open")
        try:
            answer = await http.get(url, timeout=max(self.config.timeout_s, 60.0))
        except httpx.HTTPError as exc:
            raise transport_error(exc, what, state_change=False) from None
        if answer.status_code == 404:
            raise FyersFatalError(f"Fyers {what}: {url} does not exist")
        if answer.status_code >= 400:
            raise FyersRetryableError(f"Fyers {what}: HTTP {answer.status_code}")
        try:
            return answer.json()
        except ValueError:
            raise FyersRetryableError(f"Fyers {what}: not JSON") from None

    # -- tokens ------------------------------------------------------------------------------

    async def _ensure_token(self) -> None:
        tokens = self.store.load()
        self._stamp = self.store.stamp()
        if tokens is None:
            raise self.refuse(FyersTokenError(token_message(0, "no stored login")))
        if tokens.expired(time.time() + RENEW_MARGIN_S):
            renewed = await self._renew(tokens)
            if renewed is None:
                raise self.refuse(FyersTokenError(token_message(-8)))
            tokens = renewed
        self._tokens, self._refused = tokens, None

    async def _renew(self, tokens: TokenSet) -> TokenSet | None:
        # a new access token from the refresh token and PIN (None when not configured)
        config = self.config
        if tokens.refresh_token is None or config.pin is None or config.secret_key is None \
                or self._http is None:
            return None
        body = {"grant_type": "refresh_token",
                "appIdHash": app_id_hash(config.client_id, config.secret_key.get_secret_value()),
                "refresh_token": tokens.refresh_token.get_secret_value(),
                "pin": config.pin.get_secret_value()}
        try:
            answer = await self._http.post(config.api_url + "/api/v3/validate-refresh-token",
                                           json=body)
            payload = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("fyers: the token could not be renewed", extra={"fields": {
                "error": f"{type(exc).__name__}: {exc}"}})
            return None
        access = payload.get("access_token") if isinstance(payload, dict) else None
        if answer.status_code >= 400 or not access:
            logger.warning("fyers: the refresh token was refused", extra={"fields": {
                "code": payload.get("code") if isinstance(payload, dict) else None}})
            return None
        renewed = TokenSet.from_tokens(str(access), tokens.refresh_token.get_secret_value())
        self.store.save(renewed)
        self._stamp = self.store.stamp()
        logger.info("fyers: access token renewed with the refresh token")
        return renewed


__all__ = ["RENEW_MARGIN_S", "FyersClient", "app_id_hash"]
