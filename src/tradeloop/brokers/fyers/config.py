"""Settings of the Fyers adapter (``[broker] name = "fyers"``, ``[broker.settings]``).

Fyers issues an access token once a day, after a person logs in in a browser
(``tradeloop broker login fyers --settings node.toml``); the adapter reads it from the
encrypted token file the login wrote. Nothing secret sits in the settings: the app's secret
key, the optional PIN (to renew the token with the 15-day refresh token) and the optional
key that encrypts the token file are read from the environment variables named here::

    [broker]
    name = "fyers"

    [broker.settings]
    client_id = "ABCD1234EF-100"          # the app id of the Fyers API dashboard
    redirect_uri = "https://127.0.0.1/fyers"
    secret_key_env = "FYERS_SECRET_KEY"   # needed by the login only
    symbols = ["NSE:SBIN-EQ", "NSE:NIFTY24DECFUT"]
    product_type = "INTRADAY"             # INTRADAY, CNC or MARGIN; per symbol in products
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from tradeloop.core.errors import ConfigError
from tradeloop.core.secrets import lookup_secret

Product = Literal["INTRADAY", "CNC", "MARGIN", "MTF"]
_CLIENT_ID = re.compile(r"^[A-Z0-9]+-\d{3}$")
_SYMBOL = re.compile(r"^(NSE|BSE|MCX):\S+$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class FyersConfig(BaseModel):
    """How the adapter reaches Fyers and what it trades there.

    Attributes
    ----------
    client_id : str
        The app id (``"ABCD1234EF-100"``); with the access token it makes the
        ``Authorization`` header.
    redirect_uri : str
        The app's redirect address, as registered on the API dashboard (the login only).
    secret_key_env : str
        The environment variable holding the app's secret key (the login and token refresh
        only: ``appIdHash = sha256(client_id:secret_key)``).
    pin_env : str
        The environment variable holding the account PIN; when set, an expired access
        token is renewed with the refresh token (valid 15 days) instead of asking for a login.
    token_key_env : str
        The environment variable holding the key that encrypts the stored tokens; when it is
        not set, a key file beside the tokens is made on the first login (readable by its
        owner only).
    login_dir : str
        Where the encrypted tokens live; empty: ``<tradeloop home>/brokers/fyers``.
    symbols : list of str
        Fyers symbols the node trades (``NSE:SBIN-EQ``, ``NSE:NIFTY24DECFUT``,
        ``MCX:CRUDEOIL24DECFUT``): their instruments come from Fyers' symbol master.
    product_type : {"INTRADAY", "CNC", "MARGIN", "MTF"}
        The product orders are placed with; ``products`` overrides it per symbol.
    products : mapping of str to str
    api_url : str
        REST base (``/api/v3`` and ``/data`` below it).
    order_socket_url, data_socket_url : str
        The order-update websocket and the market data websocket.
    symbol_master_url : str
        Where the ``<SEGMENT>_sym_master.json`` files are.
    per_second, per_minute, per_day : int
        Fyers' request limits; the adapter keeps under them.
    timeout_s : float
        Longest wait for one HTTP answer; an order request that times out is outcome-unknown.
    use_websockets : bool
        Order events from the order socket (else from polling) and quotes from the data
        socket.
    poll_interval_s : float
        How often working orders are polled without the order socket.
    sweep_interval_s : float
        With the socket, how often working orders are also checked over REST.
    reconnect_initial_s, reconnect_max_s : float
        Backoff of websocket reconnections.
    use_system_proxy : bool
        Use proxy settings from the environment.
    venue : str
        The venue name on instruments and orders.
    secret_key, pin, token_key : SecretStr or None
        Read from the variables above, never from the settings table.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_id: str = Field(min_length=1)
    redirect_uri: str = ""
    secret_key_env: str = "FYERS_SECRET_KEY"
    pin_env: str = ""
    token_key_env: str = "FYERS_TOKEN_KEY"
    login_dir: str = ""
    symbols: list[str] = Field(default_factory=list)
    product_type: Product = "INTRADAY"
    products: dict[str, Product] = Field(default_factory=dict)
    api_url: str = "https://api-t1.fyers.in"
    order_socket_url: str = "wss://socket.fyers.in/trade/v3"
    data_socket_url: str = "wss://socket.fyers.in/hsm/v1-5/prod"
    symbol_master_url: str = "https://public.fyers.in/sym_details"
    per_second: int = Field(10, ge=1)
    per_minute: int = Field(200, ge=1)
    per_day: int = Field(100_000, ge=1)
    timeout_s: float = Field(10.0, gt=0)
    use_websockets: bool = True
    poll_interval_s: float = Field(1.0, gt=0)
    sweep_interval_s: float = Field(5.0, gt=0)
    reconnect_initial_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)
    use_system_proxy: bool = True
    venue: str = "FYERS"
    secret_key: SecretStr | None = None
    pin: SecretStr | None = None
    token_key: SecretStr | None = None

    @model_validator(mode="after")
    def _check(self) -> FyersConfig:
        if not _CLIENT_ID.match(self.client_id):
            raise ValueError(f"client_id {self.client_id!r} is not an app id such as "
                             "\"ABCD1234EF-100\"")
        for name in ("secret_key_env", "pin_env", "token_key_env"):
            value = getattr(self, name)
            if value and not _ENV.match(value):
                raise ValueError(f"{name} {value!r} is not an environment variable name")
        for symbol in [*self.symbols, *self.products]:
            if not _SYMBOL.match(symbol):
                raise ValueError(f"symbol {symbol!r} is not a Fyers symbol such as "
                                 "\"NSE:SBIN-EQ\" (NSE, BSE or MCX)")
        for url in (self.api_url, self.symbol_master_url):
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} must start with http:// or https://")
        for url in (self.order_socket_url, self.data_socket_url):
            if not url.startswith(("ws://", "wss://")):
                raise ValueError(f"{url!r} must start with ws:// or wss://")
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError("reconnect_max_s must be at least reconnect_initial_s")
        return self

    def product_of(self, symbol: str) -> str:
        """The product orders of ``symbol`` are placed with."""
        return self.products.get(symbol, self.product_type)

    def token_path(self, home: Path, *, adapter_home: bool) -> Path:
        """The encrypted token file of this app.

        ``home`` is the adapter's own directory (``<tradeloop home>/brokers/<node>``) when
        ``adapter_home``, else the tradeloop home (the login's); both lead to the same file.
        """
        if self.login_dir:
            folder = Path(self.login_dir).expanduser()
        elif adapter_home:
            folder = home.parent / "fyers"
        else:
            folder = home / "brokers" / "fyers"
        return folder / f"token-{self.client_id}.json"


_SECRETS = (("secret_key_env", "secret_key"), ("pin_env", "pin"),
            ("token_key_env", "token_key"))


def load_config(settings: Mapping[str, Any], environ: Mapping[str, str] | None = None
                ) -> FyersConfig:
    """``[broker.settings]`` of a ``fyers`` broker as a :class:`FyersConfig`.

    Parameters
    ----------
    settings : mapping
    environ : mapping, optional
        Where the secret variables are read (default: the process environment).

    Raises
    ------
    ConfigError
        An unknown key (with the closest known one), a wrong value, or a secret written in
        the settings, named by its path.
    """
    env = os.environ if environ is None else environ
    values = dict(settings)
    for name_field, value_field in _SECRETS:
        if values.get(value_field) not in (None, ""):
            raise ConfigError(f"broker.settings.{value_field}: secrets must not be written in "
                              f"the settings: name an environment variable with "
                              f"{name_field} = \"MY_VARIABLE\"")
        values.pop(value_field, None)
    try:
        config = FyersConfig(**values)
    except ValidationError as exc:
        raise _explain(exc) from None
    secrets: dict[str, SecretStr] = {}
    for name_field, value_field in _SECRETS:
        variable = getattr(config, name_field)
        found = lookup_secret(variable, env) if variable else None
        if found is not None and found.get_secret_value():
            secrets[value_field] = found
    return config.model_copy(update=secrets) if secrets else config


def _explain(exc: ValidationError) -> ConfigError:
    first = exc.errors()[0]
    loc = tuple(first["loc"])
    where = "broker.settings" + "".join(f".{p}" for p in loc)
    if first["type"] == "extra_forbidden":
        known = sorted(n for n in FyersConfig.model_fields if n not in ("secret_key", "pin",
                                                                          "token_key"))
        hint = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        also = f"; did you mean {hint[0]!r}?" if hint else ""
        return ConfigError(f"{where}: unknown setting{also}")
    message = str(first["msg"]).removeprefix("Value error, ")
    return ConfigError(f"{where}: {message}")


__all__ = ["FyersConfig", "Product", "load_config"]
