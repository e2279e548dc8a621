"""Economic calendar providers: scheduled releases fetched from a vendor's web API.

A provider is anything with ``fetch(start, end) -> list[EconomicEvent]``
(:class:`EconomicCalendarProvider`); store what it returns with
:meth:`tradeloop.data.economic.EconomicCalendar.add`.

:class:`TradingEconomicsProvider` reads the Trading Economics calendar,
``GET https://api.tradingeconomics.com/calendar/country/{countries}/{from}/{to}?c={key}&f=json``
(``countries`` is ``All`` or a comma-separated list of country names; ``importance=1|2|3``
filters by importance). Each event of the JSON list carries ``Date`` (UTC, no offset),
``Country``, ``Category``, ``Event``, ``Importance`` (1 low, 2 medium, 3 high), ``Actual``,
``Forecast``, ``Previous``, ``Currency`` and more. The currency of an event is the currency of
its country (:data:`tradeloop.data.economic.COUNTRY_CURRENCIES`), else its ``Currency`` field
when that is an ISO code; events of other countries are skipped and counted in the log.

The API key travels in the query string, as Trading Economics requires, but is added by the
transport at the last moment: the request that httpx logs, and every error and ``repr`` here,
carry no key.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote, quote_plus

import httpx
from pydantic import SecretStr

from tradeloop.core.errors import ConfigError, DataError, FatalVenueError, RetryableVenueError
from tradeloop.core.time import dt_to_ns
from tradeloop.data.economic import (
    CURRENCY_COUNTRIES,
    EconomicEvent,
    Impact,
    currency_of_country,
)

logger = logging.getLogger(__name__)

TRADING_ECONOMICS_URL = "https://api.tradingeconomics.com"
_SOURCE = "Trading Economics"
_BODY_EXCERPT = 200


@runtime_checkable
class EconomicCalendarProvider(Protocol):
    """A source of economic events."""

    def fetch(self, start: date, end: date) -> list[EconomicEvent]:
        """The events released from ``start`` to ``end`` (UTC dates, both included)."""
        ...


class ProviderAuthError(FatalVenueError):
    """The provider refused the credentials (HTTP 401 or 403); retrying will not help."""


class ProviderRateLimitError(RetryableVenueError):
    """The provider asked to slow down (HTTP 429).

    Attributes
    ----------
    retry_after_s : float or None
        The wait the provider asked for (its ``Retry-After`` header), when it gave one.
    """

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class _ApiKeyTransport(httpx.BaseTransport):
    """Adds the key to the query of the request actually sent, not of the one httpx logs."""

    def __init__(self, inner: httpx.BaseTransport, api_key: SecretStr) -> None:
        self._inner = inner
        self._api_key = api_key

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url.copy_merge_params({"c": self._api_key.get_secret_value()})
        signed = httpx.Request(request.method, url, headers=request.headers,
                               stream=request.stream, extensions=request.extensions)
        return self._inner.handle_request(signed)

    def close(self) -> None:
        self._inner.close()


class TradingEconomicsProvider:
    """The Trading Economics economic calendar.

    Parameters
    ----------
    api_key : SecretStr
        ``"client:secret"`` or the single key Trading Economics issues.
    transport : httpx.BaseTransport, optional
        The HTTP transport; tests pass an ``httpx.MockTransport``. By default a plain
        ``httpx.HTTPTransport`` (proxy settings from the environment are not used, so that the
        key is always added by this client; pass ``proxy`` instead).
    base_url : str, optional
    countries : sequence of str, optional
        Country names as Trading Economics spells them (``"united states"``); all by default.
    importance : Impact or str, optional
        Ask only for events of this importance.
    timeout_s : float, default 30
    proxy : str, optional
        An HTTP proxy URL, used only with the default transport.
    """

    def __init__(
        self, api_key: SecretStr, transport: httpx.BaseTransport | None = None, *,
        base_url: str = TRADING_ECONOMICS_URL, countries: Sequence[str] | None = None,
        importance: Impact | str | None = None, timeout_s: float = 30.0,
        proxy: str | None = None,
    ) -> None:
        if not isinstance(api_key, SecretStr):
            raise ConfigError("the Trading Economics API key must be a pydantic SecretStr")
        if not api_key.get_secret_value().strip():
            raise ConfigError("the Trading Economics API key is empty")
        self._api_key = api_key
        self._countries = [c.strip() for c in countries or () if c.strip()]
        self._importance = None if importance is None else Impact.parse(importance)
        self._timeout_s = timeout_s
        inner = transport if transport is not None else httpx.HTTPTransport(proxy=proxy)
        self._client = httpx.Client(
            base_url=base_url, transport=_ApiKeyTransport(inner, api_key),
            timeout=timeout_s, trust_env=False, follow_redirects=False,
            headers={"Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return (f"TradingEconomicsProvider(api_key={self._api_key!r}, "
                f"base_url={str(self._client.base_url)!r})")

    def __enter__(self) -> TradingEconomicsProvider:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def fetch(self, start: date, end: date) -> list[EconomicEvent]:
        """The events released from ``start`` to ``end`` (UTC dates, both included).

        Raises
        ------
        ProviderAuthError
            HTTP 401 or 403.
        ProviderRateLimitError
            HTTP 429; retry later.
        RetryableVenueError
            A server error (5xx), a timeout or a connection failure.
        FatalVenueError
            Any other refusal.
        DataError
            A response that is not the documented JSON list of events.
        """
        first, last = _utc_date(start), _utc_date(end)
        if last < first:
            raise ConfigError(f"fetch from {first} to {last}: the end is before the start")
        countries = ",".join(self._countries) or "All"
        params = {"f": "json"}
        if self._importance is not None:
            params["importance"] = str(int(self._importance))
        path = f"/calendar/country/{countries}/{first.isoformat()}/{last.isoformat()}"
        try:
            response = self._client.get(path, params=params)
            body = response.read()
        except httpx.TimeoutException:
            raise RetryableVenueError(
                f"{_SOURCE} did not answer within {self._timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise RetryableVenueError(
                f"cannot reach {_SOURCE} ({type(exc).__name__}: {self._redact(str(exc))})"
            ) from None
        self._check_status(response, body)
        events, skipped = _parse_calendar(body)
        logger.info("economic calendar fetched", extra={"fields": {
            "provider": "tradingeconomics", "start": first.isoformat(), "end": last.isoformat(),
            "events": len(events), "skipped_countries": skipped}})
        return events

    def _redact(self, text: str) -> str:
        key = self._api_key.get_secret_value()
        for form in (key, quote(key, safe=""), quote_plus(key, safe="")):
            text = text.replace(form, "***")
        return text

    def _check_status(self, response: httpx.Response, body: bytes) -> None:
        status = response.status_code
        if status < 300:
            return
        if status in (401, 403):
            raise ProviderAuthError(
                f"{_SOURCE} refused the API key (HTTP {status}): check the key and that the "
                "plan includes the economic calendar")
        if status == 429:
            retry_after = _seconds(response.headers.get("Retry-After"))
            wait = f"; retry after {retry_after:g} s" if retry_after is not None else ""
            raise ProviderRateLimitError(f"{_SOURCE} rate limit reached (HTTP 429){wait}",
                                         retry_after)
        excerpt = self._redact(body.decode("utf-8", "replace"))
        excerpt = " ".join(excerpt.split())[:_BODY_EXCERPT]
        if status >= 500:
            raise RetryableVenueError(f"{_SOURCE} server error (HTTP {status}): {excerpt}")
        raise FatalVenueError(f"{_SOURCE} request failed (HTTP {status}): {excerpt}")


def _utc_date(value: date) -> date:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ConfigError(f"naive datetime {value.isoformat()}: pass a date or an aware "
                              "datetime")
        return value.astimezone(UTC).date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"date {value!r}: use YYYY-MM-DD") from None


def _seconds(header: str | None) -> float | None:
    try:
        return max(float(header), 0.0) if header is not None else None
    except ValueError:
        return None  # an HTTP date instead of seconds: let the caller's backoff decide


def _text(item: dict[str, Any], field: str) -> str | None:
    value = item.get(field)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _parse_calendar(body: bytes) -> tuple[list[EconomicEvent], int]:
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as exc:
        raise DataError(f"{_SOURCE} response: not valid JSON ({exc.msg} at character "
                        f"{exc.pos})") from None
    except UnicodeDecodeError:
        raise DataError(f"{_SOURCE} response: not UTF-8 text") from None
    if not isinstance(payload, list):
        raise DataError(f"{_SOURCE} response: expected a JSON list of events, got "
                        f"{type(payload).__name__}")
    events: list[EconomicEvent] = []
    skipped = 0
    for index, item in enumerate(payload):
        where = f"{_SOURCE} response: event {index}"
        if not isinstance(item, dict):
            raise DataError(f"{where}: expected an object, got {type(item).__name__}")
        stamp = _text(item, "Date")
        try:
            moment = datetime.fromisoformat(stamp or "")
        except ValueError:
            raise DataError(f"{where}: cannot read Date {stamp!r}") from None
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
        importance = item.get("Importance")
        if str(importance) not in ("1", "2", "3"):
            raise DataError(f"{where}: Importance {importance!r} is not 1, 2 or 3")
        impact = Impact(int(str(importance)))
        title = _text(item, "Event") or _text(item, "Category")
        if title is None:
            raise DataError(f"{where}: no Event or Category")
        country = _text(item, "Country") or ""
        currency = currency_of_country(country)
        if currency is None:
            given = (_text(item, "Currency") or "").upper()
            currency = given if given in CURRENCY_COUNTRIES else None
        if currency is None:
            skipped += 1
            continue
        events.append(EconomicEvent(
            dt_to_ns(moment), currency, country, impact, title, _text(item, "Actual"),
            _text(item, "Forecast"), _text(item, "Previous"),
        ))
    return events, skipped


__all__ = [
    "TRADING_ECONOMICS_URL",
    "EconomicCalendarProvider",
    "ProviderAuthError",
    "ProviderRateLimitError",
    "TradingEconomicsProvider",
]
