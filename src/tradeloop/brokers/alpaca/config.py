"""Settings of the Alpaca adapter (``[broker] name = "alpaca"``, ``[broker.settings]``).

Keys never sit in a file: ``api_key_env`` and ``secret_env`` name environment variables
(Alpaca's own ``APCA_API_KEY_ID`` and ``APCA_API_SECRET_KEY`` by default), read once when the
adapter is built and kept as ``SecretStr``: they are never logged, shown in ``repr`` or put in
an error. ``paper = true`` (the default) trades the paper account at
``paper-api.alpaca.markets``; ``paper = false`` the live account. The ``*_url`` settings move
the endpoints elsewhere (a proxy, or the local stand-in tests use) and stay empty in
production.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from tradeloop.core.errors import ConfigError
from tradeloop.core.secrets import lookup_secret

Feed = Literal["iex", "sip", "delayed_sip"]
Adjustment = Literal["raw", "split", "dividend", "all"]


class AlpacaConfig(BaseModel):
    """How the adapter reaches one Alpaca account.

    Attributes
    ----------
    paper : bool
        Trade the paper account (True) or the live one.
    api_key_env, secret_env : str
        Names of the environment variables holding the key id and the secret key.
    api_key, secret : SecretStr or None
        The keys, read from those variables (never from the settings table).
    trading_url, data_url : str
        Base addresses of the trading API and the market data API; empty: Alpaca's (paper or
        live by ``paper``).
    stream_url : str
        The trading stream (``trade_updates``); empty: Alpaca's.
    data_stream_url : str
        Base address of the market data streams (``/v2/<feed>`` and
        ``/v1beta3/crypto/<location>`` are added); empty: Alpaca's.
    feed : {"iex", "sip", "delayed_sip"}
        The stock data feed (SIP needs a paid subscription; delayed SIP serves history only).
    crypto_location : str
        The crypto data location (``us``).
    adjustment : {"raw", "split", "dividend", "all"}
        Corporate-action adjustment of historical stock bars.
    symbols : list of str
        The instruments the node trades (``AAPL``, ``BTC/USD``): what ``instruments()`` lists
        when asked for all.
    extended_hours : bool
        Let LIMIT DAY stock orders work in the pre- and after-market unless an order's tags
        say otherwise (``"outside_rth"`` / ``"rth_only"``, as for IB). Alpaca takes extended
        hours only on LIMIT DAY orders: other orders keep regular hours, and an order tagged
        ``outside_rth`` that is not one is refused.
    fractional_shares : bool
        Trade fractional stock quantities where Alpaca allows them (the instrument's lot step
        is then 1e-9 share; Alpaca takes them on DAY orders only).
    timeout_s : float
        Longest wait for one HTTP answer; a state change that times out is outcome-unknown.
    stream_wait_s : float
        How long ``connect`` waits for the trading stream to listen before going on without
        it (REST sweeps then cover the events).
    sweep_interval_s : float
        How often the working orders are also read over REST (a safety net for events the
        stream missed; after a stream reconnection they are read at once).
    group_wait_s : float
        How long the first order of a bracket, OCO or OTO group waits for the others to be
        submitted before the group is refused as incomplete.
    fill_grace_s : float
        How long an order snapshot showing more filled than the fills received waits for
        them before they are read from the account activities.
    reconnect_initial_s, reconnect_max_s : float
        Backoff of stream reconnections.
    venue : str
        The venue name on instruments and orders.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    paper: bool = True
    api_key_env: str = "APCA_API_KEY_ID"
    secret_env: str = "APCA_API_SECRET_KEY"
    api_key: SecretStr | None = None
    secret: SecretStr | None = None
    trading_url: str = ""
    data_url: str = ""
    stream_url: str = ""
    data_stream_url: str = ""
    feed: Feed = "iex"
    crypto_location: Literal["us"] = "us"
    adjustment: Adjustment = "raw"
    symbols: list[str] = Field(default_factory=list)
    extended_hours: bool = False
    fractional_shares: bool = False
    timeout_s: float = Field(10.0, gt=0)
    stream_wait_s: float = Field(5.0, ge=0)
    sweep_interval_s: float = Field(5.0, gt=0)
    group_wait_s: float = Field(2.0, gt=0)
    fill_grace_s: float = Field(0.5, ge=0)
    reconnect_initial_s: float = Field(1.0, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)
    venue: str = Field("ALPACA", min_length=1)

    @model_validator(mode="after")
    def _check(self) -> AlpacaConfig:
        for name in ("trading_url", "data_url"):
            value = getattr(self, name)
            if value and not value.startswith(("http://", "https://")):
                raise ValueError(f"{name} must start with http:// or https://, got {value!r}")
        for name in ("stream_url", "data_stream_url"):
            value = getattr(self, name)
            if value and not value.startswith(("ws://", "wss://")):
                raise ValueError(f"{name} must start with ws:// or wss://, got {value!r}")
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError("reconnect_max_s must be at least reconnect_initial_s")
        return self

    @property
    def key_id(self) -> str:
        """The API key id (for the SDK)."""
        return self.api_key.get_secret_value() if self.api_key is not None else ""

    @property
    def secret_key(self) -> str:
        """The API secret key (for the SDK)."""
        return self.secret.get_secret_value() if self.secret is not None else ""


_SECRET_FIELDS = (("api_key_env", "api_key"), ("secret_env", "secret"))


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc)


def load_config(settings: Mapping[str, Any], environ: Mapping[str, str] | None = None
                ) -> AlpacaConfig:
    """``[broker.settings]`` of an ``alpaca`` broker as an :class:`AlpacaConfig`.

    Parameters
    ----------
    settings : mapping
    environ : mapping, optional
        Where the key variables are read (default: the process environment).

    Raises
    ------
    ConfigError
        An unknown key (with the closest known one) or a wrong value, named by its dotted path;
        a key written in the settings; a key variable that is not set.
    """
    env = os.environ if environ is None else environ
    values = dict(settings)
    for name_field, value_field in _SECRET_FIELDS:
        if values.get(value_field) not in (None, ""):
            raise ConfigError(f"broker.settings.{value_field}: keys must not be written in the "
                              f"settings: name an environment variable with {name_field} = "
                              "\"MY_VARIABLE\"")
        variable = str(values.get(name_field) or AlpacaConfig.model_fields[name_field].default)
        found = lookup_secret(variable, env)
        if found is None or not found.get_secret_value():
            raise ConfigError(f"broker.settings.{name_field}: the environment variable "
                              f"{variable} is not set (Alpaca needs an API key id and secret "
                              "key, from the dashboard of the paper or live account)")
        values[value_field] = found
    try:
        return AlpacaConfig(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        where = f"broker.settings.{_where(loc)}" if loc else "broker.settings"
        if first["type"] == "extra_forbidden":
            known = sorted(set(AlpacaConfig.model_fields) - {"api_key", "secret"})
            hint = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
            also = f"; did you mean {hint[0]!r}?" if hint else ""
            raise ConfigError(f"{where}: unknown setting{also}") from None
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{where}: {message}") from None


__all__ = ["Adjustment", "AlpacaConfig", "Feed", "load_config"]
