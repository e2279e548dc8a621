"""Settings of the Polygon.io history source, and Polygon's ticker spellings.

The API key never sits in a file: ``api_key_env`` names the environment variable that holds it
(``POLYGON_API_KEY`` by default). It is read once, kept as a ``SecretStr`` and registered with
the log redaction, so it appears in no log line, error message or ``repr``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from tradeloop.core.errors import ConfigError
from tradeloop.core.logging import register_secret

AssetClass = Literal["stocks", "options", "fx", "crypto", "indices"]

DEFAULT_BASE_URL = "https://api.polygon.io"
DEFAULT_KEY_VARIABLE = "POLYGON_API_KEY"
FREE_TIER_REQUESTS_PER_MINUTE = 5
MAX_PAGE_LIMIT = 50_000

_PREFIXES: dict[str, AssetClass] = {"O:": "options", "C:": "fx", "X:": "crypto", "I:": "indices"}
_STOCK = re.compile(r"^[A-Z][A-Z0-9.\-]{0,15}$")
_OPTION = re.compile(r"^O:[A-Z0-9]{1,6}\d{6}[CP]\d{8}$")
_PAIR = re.compile(r"^[A-Z0-9]{2,12}$")
_INDEX = re.compile(r"^I:[A-Z0-9.\-]{1,16}$")


class PolygonSettings(BaseModel):
    """How the source reaches Polygon.io and what it asks for.

    Attributes
    ----------
    api_key_env : str
        The environment variable holding the API key.
    api_key : SecretStr or None
        The key, read from that variable (never from the settings).
    base_url : str
        Polygon's REST address (``https://api.polygon.io``); another one for a proxy or a test
        server. Every request, ``next_url`` pages included, goes there and nowhere else.
    auth : {"header", "query"}
        How the key is sent: ``Authorization: Bearer`` (default; URLs never hold it) or the
        ``apiKey`` query parameter (for proxies that drop the header).
    requests_per_minute : int
        Most requests in any 60 seconds (Polygon's free tier allows 5); 0 for no limit
        (paid plans).
    adjusted : bool
        Bars adjusted for splits.
    page_limit : int
        Results asked for per request (``limit``, at most 50000) for bars and trades.
    chunk_bars : int
        Bars fetched and stored per step of a download; a rerun after an interruption keeps
        the steps already stored.
    trades_chunk_hours : float
        Trade time fetched and stored per step of a trades download.
    timeout_s : float
        Longest wait for one answer.
    max_retries : int
        Retries of a request that was rate limited (429), failed on Polygon's side (5xx) or
        lost on the network, before giving up.
    backoff_initial_s, backoff_max_s : float
        Waits between retries when Polygon sends no ``Retry-After``: doubling from the first,
        never longer than the second.
    repair : bool
        Drop bars and trades that fail validation (and log how many) instead of stopping.
    check_tickers : bool
        When a ticker gives no bars at all, ask Polygon whether it exists (one request), so
        that a misspelt ticker fails with a clear message instead of storing nothing.
    venue : str
        The store's venue name for what is downloaded.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key_env: str = DEFAULT_KEY_VARIABLE
    api_key: SecretStr | None = None
    base_url: str = DEFAULT_BASE_URL
    auth: Literal["header", "query"] = "header"
    requests_per_minute: int = Field(default=FREE_TIER_REQUESTS_PER_MINUTE, ge=0)
    adjusted: bool = True
    page_limit: int = Field(default=MAX_PAGE_LIMIT, ge=1, le=MAX_PAGE_LIMIT)
    chunk_bars: int = Field(default=MAX_PAGE_LIMIT, ge=1)
    trades_chunk_hours: float = Field(default=24.0, gt=0)
    timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=5, ge=0)
    backoff_initial_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=60.0, gt=0)
    repair: bool = False
    check_tickers: bool = True
    venue: str = Field(default="POLYGON", min_length=1)

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with https:// (or http://), got {value!r}")
        return value.rstrip("/")

    @property
    def key_source(self) -> str:
        """Where the key came from, for messages (``$POLYGON_API_KEY``)."""
        return f"${self.api_key_env}"


def load_settings(settings: Mapping[str, Any], environ: Mapping[str, str] | None = None
                  ) -> PolygonSettings:
    """The Polygon settings table as :class:`PolygonSettings`, with the key read.

    Parameters
    ----------
    settings : mapping
        ``api_key_env``, ``requests_per_minute``... (see :class:`PolygonSettings`).
    environ : mapping, optional
        Where the key's variable is read (default: the process environment).

    Raises
    ------
    ConfigError
        An unknown setting (with the closest known one), a wrong value, a key written in the
        settings, or a key variable that is not set.
    """
    env = os.environ if environ is None else environ
    values = dict(settings)
    if values.get("api_key") not in (None, ""):
        raise ConfigError("polygon settings: api_key: the key must not be written in the "
                          "settings: put it in an environment variable and name it with "
                          f"api_key_env (default {DEFAULT_KEY_VARIABLE})")
    values.pop("api_key", None)
    try:
        parsed = PolygonSettings(**values)
    except ValidationError as exc:
        raise _settings_error(exc) from None
    secret = env.get(parsed.api_key_env, "").strip()
    if not secret:
        raise ConfigError(f"polygon settings: api_key_env: the environment variable "
                          f"{parsed.api_key_env} is not set; put your Polygon API key in it")
    register_secret(secret)
    return parsed.model_copy(update={"api_key": SecretStr(secret)})


def _settings_error(exc: ValidationError) -> ConfigError:
    first = exc.errors()[0]
    loc = tuple(first["loc"])
    where = f"polygon settings: {'.'.join(str(p) for p in loc)}" if loc else "polygon settings"
    if first["type"] == "extra_forbidden":
        known = sorted(set(PolygonSettings.model_fields) - {"api_key"})
        hint = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        also = f"; did you mean {hint[0]!r}?" if hint else f" (known: {', '.join(known)})"
        return ConfigError(f"{where}: unknown setting{also}")
    return ConfigError(f"{where}: {str(first['msg']).removeprefix('Value error, ')}")


@dataclass(frozen=True, slots=True)
class PolygonTicker:
    """A ticker as Polygon spells it, with its asset class.

    Attributes
    ----------
    ticker : str
        ``AAPL``, ``O:SPY251219C00650000``, ``C:EURUSD``, ``X:BTCUSD``, ``I:SPX``.
    asset_class : {"stocks", "options", "fx", "crypto", "indices"}
    """

    ticker: str
    asset_class: AssetClass

    @property
    def has_trades(self) -> bool:
        """True when Polygon serves trades for it (not for currencies or indices)."""
        return self.asset_class in ("stocks", "options", "crypto")

    @property
    def trades_on_sessions(self) -> bool:
        """True for US exchange-listed instruments: daily bars are labelled by their New
        York trading day."""
        return self.asset_class in ("stocks", "options", "indices")


def parse_ticker(text: str) -> PolygonTicker:
    """Read a Polygon ticker and tell its asset class from its prefix.

    Raises
    ------
    ConfigError
        Lower case (with the upper-case spelling), a pair written with a slash (with the
        prefixed spellings), or a malformed option or pair ticker.
    """
    ticker = text.strip()
    if not ticker:
        raise ConfigError("polygon: the ticker is empty")
    if ticker != ticker.upper():
        raise ConfigError(f"polygon ticker {ticker!r}: Polygon tickers are upper case; did you "
                          f"mean {ticker.upper()!r}?")
    if "/" in ticker:
        pair = ticker.replace("/", "")
        raise ConfigError(f"polygon ticker {ticker!r}: write currency pairs as 'C:{pair}' and "
                          f"crypto pairs as 'X:{pair}'")
    asset = _PREFIXES.get(ticker[:2])
    if asset is None:
        if not _STOCK.match(ticker):
            raise ConfigError(f"polygon ticker {ticker!r} is not a stock ticker; prefix options "
                              "with O:, currencies with C:, crypto with X: and indices with I:")
        return PolygonTicker(ticker, "stocks")
    body = ticker[2:]
    if asset == "options" and not _OPTION.match(ticker):
        raise ConfigError(f"polygon ticker {ticker!r}: an option ticker is O:, the underlying, "
                          "the expiry as YYMMDD, C or P and the strike times 1000 in 8 digits, "
                          "such as O:SPY251219C00650000")
    if asset in ("fx", "crypto") and not _PAIR.match(body):
        example = "C:EURUSD" if asset == "fx" else "X:BTCUSD"
        raise ConfigError(f"polygon ticker {ticker!r}: a pair is its two currencies with no "
                          f"separator, such as {example}")
    if asset == "indices" and not _INDEX.match(ticker):
        raise ConfigError(f"polygon ticker {ticker!r} is not an index ticker such as I:SPX")
    return PolygonTicker(ticker, asset)


__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_KEY_VARIABLE",
    "FREE_TIER_REQUESTS_PER_MINUTE",
    "MAX_PAGE_LIMIT",
    "AssetClass",
    "PolygonSettings",
    "PolygonTicker",
    "load_settings",
    "parse_ticker",
]
