"""The transport to Schwab's Trader and Market Data APIs (:class:`SchwabClient`), over httpx.

Every request carries the access token :class:`~.auth.TokenManager` hands out. A 401 means
Schwab refused the request before looking at it (nothing was placed): the token is renewed
once and the request sent again; a second 401 is a login error. Any other failure is
translated once, in :mod:`.errors`. The account is addressed by its hash
(``GET /trader/v1/accounts/accountNumbers``), looked up once per connection; the hash and the
account number are masked in logs (httpx logs request URLs).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import httpx

from tradeloop.brokers.schwab.auth import TokenManager
from tradeloop.brokers.schwab.config import SchwabConfig
from tradeloop.brokers.schwab.errors import (
    SchwabFatalError,
    SchwabLoginError,
    SchwabOutcomeUnknownError,
    body_of,
    from_response,
    from_transport,
)
from tradeloop.core.errors import ConfigError
from tradeloop.core.logging import mask_secrets_in, register_secret

logger = logging.getLogger(__name__)

TRADER = "/trader/v1"
MARKET_DATA = "/marketdata/v1"
MAX_RANGE_MS = 364 * 86_400_000


def query_time(ms: int) -> str:
    """A time as Schwab's order queries take it: ``2024-05-06T14:30:00.000Z``."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def order_id_from_location(location: str | None) -> int | None:
    """The order id at the end of a ``Location`` header, None when there is none."""
    if not location:
        return None
    tail = location.rstrip("/").rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


class SchwabClient:
    """One connection's worth of Schwab: an HTTP client, the tokens and the account hash.

    Parameters
    ----------
    config : SchwabConfig
    tokens : TokenManager
        Shared by the execution and market data clients of one adapter.
    """

    def __init__(self, config: SchwabConfig, tokens: TokenManager) -> None:
        self.config = config
        self.tokens = tokens
        mask_secrets_in("httpx", "httpcore")  # httpx logs every request's URL at INFO level
        self._http: httpx.AsyncClient | None = None
        self._users = 0
        self._account_hash: str | None = None
        self.account_number = ""
        #: Requests sent again after a 401.
        self.reauthorized = 0

    @property
    def is_open(self) -> bool:
        """True while the HTTP client is open."""
        return self._http is not None

    @property
    def http(self) -> httpx.AsyncClient:
        """The HTTP client (opened by :meth:`open`)."""
        if self._http is None:
            raise RuntimeError("the Schwab client is not open")
        return self._http

    async def open(self) -> None:
        """Open the HTTP client (reference counted: the execution and data clients share
        it)."""
        self._users += 1
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self.config.api_url,
                                           timeout=self.config.timeout_s,
                                           headers={"Accept": "application/json"})

    async def close(self) -> None:
        """Release the HTTP client once its last user closed it."""
        self._users = max(0, self._users - 1)
        if self._users == 0 and self._http is not None:
            http, self._http = self._http, None
            self._account_hash = None
            await http.aclose()

    # -- requests -----------------------------------------------------------------------------

    async def request(self, method: str, path: str, *, what: str, state_change: bool = False,
                      params: dict[str, Any] | None = None, body: Any = None) -> httpx.Response:
        """Send one request with the access token; the answer when it is a success.

        Raises
        ------
        SchwabRetryableError, SchwabFatalError, SchwabOutcomeUnknownError
            As :mod:`.errors` translates the failure.
        SchwabLoginError
            The login cannot be renewed.
        """
        http = self.http
        token = await self.tokens.access_token(http)
        for attempt in (1, 2):
            try:
                answer = await http.request(method, path, params=params, json=body,
                                            headers={"Authorization": f"Bearer {token}"})
            except httpx.HTTPError as exc:
                raise from_transport(exc, request=what, state_change=state_change) from None
            if answer.status_code != 401:
                break
            if attempt == 2:
                raise SchwabLoginError("Schwab refused a freshly renewed access token (HTTP "
                                       "401): run `tradeloop broker login schwab --settings "
                                       "<your node.toml>` to log in again")
            logger.info("Schwab answered 401: renewing the access token", extra={"fields": {
                "request": what}})
            self.reauthorized += 1
            token = await self.tokens.renew(http, token)
        if answer.status_code >= 400:
            raise from_response(answer, request=what, state_change=state_change)
        return answer

    async def get(self, path: str, what: str, params: dict[str, Any] | None = None) -> Any:
        """The JSON of a GET."""
        answer = await self.request("GET", path, what=what, params=params)
        return body_of(answer) if answer.content else None

    # -- accounts -----------------------------------------------------------------------------

    async def account_hash(self) -> str:
        """The hash of the configured account (the only one when none is named).

        Raises
        ------
        ConfigError
            The configured account is not linked to the login, or several are and none is
            named.
        """
        if self._account_hash is not None:
            return self._account_hash
        linked = await self.get(f"{TRADER}/accounts/accountNumbers", "account numbers") or []
        numbers = {str(a.get("accountNumber")): str(a.get("hashValue")) for a in linked}
        wanted = self.config.account
        if wanted:
            if wanted not in numbers:
                raise ConfigError(f"broker.settings.account: account ...{wanted[-4:]} is not "
                                  f"linked to this Schwab login (linked: "
                                  f"{_masked(numbers)})")
            chosen = wanted
        elif len(numbers) == 1:
            chosen = next(iter(numbers))
        else:
            raise ConfigError("broker.settings.account: the Schwab login links "
                              f"{len(numbers)} accounts ({_masked(numbers)}): name the one "
                              "to trade")
        self.account_number = chosen
        self._account_hash = numbers[chosen]
        for private in (chosen, self._account_hash):  # in URLs: kept out of the logs
            register_secret(private)
        return self._account_hash

    async def account(self, positions: bool = True) -> dict[str, Any]:
        """``GET /accounts/{hash}`` (with ``fields=positions``)."""
        path = f"{TRADER}/accounts/{await self.account_hash()}"
        params = {"fields": "positions"} if positions else None
        found = await self.get(path, "account", params)
        return found if isinstance(found, dict) else {}

    async def user_preference(self) -> dict[str, Any]:
        """``GET /userPreference``: the streamer's address and the ids its login needs."""
        found = await self.get(f"{TRADER}/userPreference", "user preference")
        return found if isinstance(found, dict) else {}

    # -- orders -------------------------------------------------------------------------------

    async def place_order(self, body: dict[str, Any], what: str) -> int:
        """POST an order; the new order's id (from the ``Location`` header).

        Raises
        ------
        SchwabOutcomeUnknownError
            Schwab answered 201 without the new order's id.
        """
        path = f"{TRADER}/accounts/{await self.account_hash()}/orders"
        answer = await self.request("POST", path, what=what, state_change=True, body=body)
        return _created(answer, what)

    async def replace_order(self, order_id: int, body: dict[str, Any], what: str) -> int:
        """PUT a replacement for a working order; the new order's id."""
        path = f"{TRADER}/accounts/{await self.account_hash()}/orders/{order_id}"
        answer = await self.request("PUT", path, what=what, state_change=True, body=body)
        return _created(answer, what)

    async def cancel_order(self, order_id: int, what: str) -> None:
        """DELETE a working order."""
        path = f"{TRADER}/accounts/{await self.account_hash()}/orders/{order_id}"
        await self.request("DELETE", path, what=what, state_change=True)

    async def order(self, order_id: int) -> dict[str, Any] | None:
        """One order (with its children), None when Schwab has no such order."""
        path = f"{TRADER}/accounts/{await self.account_hash()}/orders/{order_id}"
        try:
            found = await self.get(path, f"order #{order_id}")
        except SchwabFatalError as exc:
            if exc.code == "NOT_FOUND":
                return None
            raise
        return found if isinstance(found, dict) else None

    async def orders(self, from_ms: int, to_ms: int, status: str | None = None
                     ) -> list[dict[str, Any]]:
        """Orders entered in ``[from_ms, to_ms]`` (at most a year back from ``to_ms``), as
        Schwab lists them (roots with their children nested)."""
        from_ms = max(from_ms, to_ms - MAX_RANGE_MS)  # Schwab lists one year at most
        params: dict[str, Any] = {"fromEnteredTime": query_time(from_ms),
                                  "toEnteredTime": query_time(to_ms), "maxResults": 3000}
        if status:
            params["status"] = status
        path = f"{TRADER}/accounts/{await self.account_hash()}/orders"
        found = await self.get(path, "orders", params)
        return [o for o in found or [] if isinstance(o, dict)]

    # -- market data --------------------------------------------------------------------------

    async def quotes(self, symbols: list[str]) -> dict[str, Any]:
        """``GET /marketdata/v1/quotes`` of ``symbols`` (with reference data)."""
        found = await self.get(f"{MARKET_DATA}/quotes", "quotes",
                               {"symbols": ",".join(symbols), "fields": "quote,reference"})
        return found if isinstance(found, dict) else {}

    async def price_history(self, params: dict[str, Any]) -> dict[str, Any]:
        """``GET /marketdata/v1/pricehistory``."""
        found = await self.get(f"{MARKET_DATA}/pricehistory",
                               f"price history {params.get('symbol')}", params)
        return found if isinstance(found, dict) else {}


def _created(answer: httpx.Response, what: str) -> int:
    order_id = order_id_from_location(answer.headers.get("location"))
    if order_id is None:
        raise SchwabOutcomeUnknownError(what, f"HTTP {answer.status_code} without the new "
                                        "order's id")
    return order_id


def _masked(numbers: dict[str, str]) -> str:
    return ", ".join(f"...{n[-4:]}" for n in sorted(numbers)) or "none"


__all__ = ["MARKET_DATA", "TRADER", "SchwabClient", "order_id_from_location", "query_time"]
