"""Settings of the ccxt adapter (``[broker] name = "ccxt:binance"``, ``[broker.settings]``).

Keys never sit in a file: ``api_key_env`` and ``secret_env`` (and ``password_env`` for
exchanges that want a passphrase) name environment variables, read once when the adapter is
built and kept as ``SecretStr``: they are never logged, shown in ``repr`` or put in an error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from tradeloop.core.errors import ConfigError
from tradeloop.core.secrets import lookup_secret

MarketType = Literal["spot", "swap"]


class CcxtConfig(BaseModel):
    """How the adapter reaches one exchange through ccxt.

    Attributes
    ----------
    exchange : str
        The ccxt exchange id (``binance``, ``binanceusdm``); the adapter's variant.
    market : {"spot", "swap"} or None
        What the adapter trades: spot pairs or linear (USD-M) perpetuals. None takes the
        exchange's default (``binanceusdm`` trades perpetuals, ``binance`` spot).
    api_key_env, secret_env, password_env : str
        Names of the environment variables holding the credentials ("" when not needed:
        market data and history work without keys).
    api_key, secret, password : SecretStr or None
        The credentials, read from those variables (never from the settings table).
    sandbox : bool
        Trade on the exchange's test network (ccxt's sandbox mode).
    urls : str, mapping or None
        Replace the exchange's API addresses: a base URL (``http://127.0.0.1:9000``) keeps
        each address's path and moves it there (websocket addresses too, as ``ws://``), a
        mapping replaces entries of ccxt's ``urls['api']``. For tests and proxies; the error
        tables ccxt picks by host name still apply.
    options : mapping
        Extra ccxt ``options`` merged over the adapter's (``fetchCurrencies = false``...).
    enable_rate_limit : bool
        Keep ccxt's own request throttle on (recommended).
    rate_limit_ms : float or None
        Override ccxt's pause between requests (ms); None keeps the exchange's.
    order_rate, order_burst : float, int
        Our token bucket for order requests (submit, cancel, modify): this many per second on
        average, this many at once. 0 turns it off.
    timeout_s : float
        Longest wait for one HTTP answer; a state change that times out is outcome-unknown.
    poll_interval_s : float
        How often order events and quotes are polled when not streamed.
    sweep_interval_s : float
        With websockets, how often the working orders are also checked over REST (a safety
        net for updates a reconnect lost).
    ohlcv_limit : int
        Bars asked for per history request (Binance: 1000 spot, 1500 USD-M at most).
    leverage : int or None
        Perpetuals: set this leverage on each of ``symbols`` when connecting; instruments then
        carry a margin rate of ``1 / leverage`` (without it: 1, fully funded).
    use_websockets : bool
        Stream order events and market data with ccxt.pro when the exchange has them.
    symbols : list of str
        The instruments the node trades (ccxt's unified symbols, ``BTC/USDT`` or
        ``BTC/USDT:USDT``): fills, positions and open orders are read for these (Binance
        lists trades per symbol), plus any symbol an order was sent for.
    account_currency : str
        The balance reported as the account (``USDT``).
    venue : str or None
        The venue name on instruments and orders (default: the exchange id in capitals).
    spot_positions_since : datetime or None
        Spot holdings are balances, not positions; the adapter reports as a spot position the
        net of the account's own trades in ``symbols`` from this moment on (None: all of them),
        which is what a node's portfolio books. Set it to when the node started trading the
        account if the account traded before.
    reconnect_initial_s, reconnect_max_s : float
        Backoff of websocket reconnections.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    exchange: str = Field(min_length=1)
    market: MarketType | None = None
    api_key_env: str = ""
    secret_env: str = ""
    password_env: str = ""
    api_key: SecretStr | None = None
    secret: SecretStr | None = None
    password: SecretStr | None = None
    sandbox: bool = False
    urls: str | dict[str, Any] | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    enable_rate_limit: bool = True
    rate_limit_ms: float | None = Field(default=None, ge=0)
    order_rate: float = Field(default=5.0, ge=0)
    order_burst: int = Field(default=5, ge=1)
    timeout_s: float = Field(default=10.0, gt=0)
    poll_interval_s: float = Field(default=1.0, gt=0)
    sweep_interval_s: float = Field(default=10.0, gt=0)
    ohlcv_limit: int = Field(default=1000, ge=1, le=5000)
    leverage: int | None = Field(default=None, ge=1, le=125)
    use_websockets: bool = True
    symbols: list[str] = Field(default_factory=list)
    account_currency: str = "USDT"
    venue: str | None = None
    spot_positions_since: datetime | None = None
    reconnect_initial_s: float = Field(default=0.1, gt=0)
    reconnect_max_s: float = Field(default=5.0, gt=0)

    @field_validator("urls")
    @classmethod
    def _check_urls(cls, value: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
        if isinstance(value, str):
            if not value.startswith(("http://", "https://")):
                raise ValueError(f"a base url must start with http:// or https://, got {value!r}")
            return value.rstrip("/")
        return value

    @field_validator("spot_positions_since")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @property
    def venue_name(self) -> str:
        """The venue name on instruments and orders."""
        return self.venue or self.exchange.upper()

    @property
    def has_keys(self) -> bool:
        """True when an API key and secret were given."""
        return self.api_key is not None and self.secret is not None


_SECRET_FIELDS = (("api_key_env", "api_key"), ("secret_env", "secret"),
                  ("password_env", "password"))


def load_config(settings: Mapping[str, Any], exchange: str,
                environ: Mapping[str, str] | None = None) -> CcxtConfig:
    """``[broker.settings]`` of a ``ccxt:<exchange>`` broker as a :class:`CcxtConfig`.

    Parameters
    ----------
    settings : mapping
    exchange : str
        The ccxt exchange id (the adapter's variant).
    environ : mapping, optional
        Where the credential variables are read (default: the process environment).

    Raises
    ------
    ConfigError
        An unknown or wrong setting (named), a literal secret in the settings, or a credential
        variable that is named but not set.
    """
    env = os.environ if environ is None else environ
    values = dict(settings)
    for name_field, value_field in _SECRET_FIELDS:
        if values.get(value_field) not in (None, ""):
            raise ConfigError(f"broker.settings.{value_field}: secrets must not be written in "
                              f"the settings: name an environment variable with "
                              f"{name_field} = \"MY_VARIABLE\"")
        variable = values.get(name_field)
        if variable:
            found = lookup_secret(str(variable), env)
            if found is None or not found.get_secret_value():
                raise ConfigError(f"broker.settings.{name_field}: the environment variable "
                                  f"{variable} is not set")
            values[value_field] = found
    values["exchange"] = exchange
    try:
        return CcxtConfig(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"broker.settings.{where}: {first['msg']}") from None


__all__ = ["CcxtConfig", "MarketType", "load_config"]
