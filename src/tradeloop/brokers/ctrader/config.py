"""Settings of the cTrader adapter (``[broker] name = "ctrader"``, ``[broker.settings]``).

The adapter speaks Spotware's Open API over TLS (``demo.ctraderapi.com`` or
``live.ctraderapi.com``, port 5035). It needs an Open API application (client id and secret)
and an access token granted to it for the trading account; all three come from environment
variables named in the settings, never from the file::

    [broker.settings]
    environment = "demo"
    client_id_env = "CTRADER_CLIENT_ID"
    client_secret_env = "CTRADER_CLIENT_SECRET"
    access_token_env = "CTRADER_ACCESS_TOKEN"
    refresh_token_env = "CTRADER_REFRESH_TOKEN"   # optional: renew the token when it expires
    account_id = 12345678                         # ctidTraderAccountId; 0: the only one

Secrets are kept as ``SecretStr`` and registered with the log masker: they never appear in
logs, errors or reprs.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from tradeloop.core.errors import ConfigError
from tradeloop.core.secrets import lookup_secret

#: The Open API's hosts.
HOSTS = {"demo": "demo.ctraderapi.com", "live": "live.ctraderapi.com"}
_SECRETS = (("client_id_env", "client_id"), ("client_secret_env", "client_secret"),
            ("access_token_env", "access_token"), ("refresh_token_env", "refresh_token"))
_REQUIRED_ENV = ("client_id_env", "client_secret_env", "access_token_env")


class CtraderConfig(BaseModel):
    """How the adapter reaches the Open API, and as which account.

    Attributes
    ----------
    environment : {"demo", "live"}
        Which proxy to use; an account belongs to one of them.
    host, port : str, int
        The proxy's address (empty host: the environment's).
    ca_file : str
        A PEM file of certificates to trust for the proxy (a private proxy or a test
        server); empty: the system's. Verification is never turned off.
    client_id_env, client_secret_env, access_token_env, refresh_token_env : str
        Names of the environment variables holding the application's credentials and the
        account's tokens (``refresh_token_env`` is optional).
    client_id, client_secret, access_token, refresh_token : SecretStr or None
        Read from those variables, never from the settings.
    account_id : int
        The ``ctidTraderAccountId`` to trade; 0 takes the only account of ``environment``
        that the access token grants.
    label : str
        The label put on every order (up to 100 characters).
    close_opposite : bool
        On a hedging account, a market order against an open position of the symbol
        reduces that position (``positionId``) instead of opening a hedge.
    connect_timeout_s : float
        How long connecting and authorising may take.
    request_timeout_s : float
        How long any request waits for its answer.
    ack_timeout_s : float
        How long a new order waits for cTrader's first answer before its outcome is unknown.
    heartbeat_s : float
        How often a heartbeat is sent (the reference asks for one every 10 seconds).
    read_timeout_s : float
        A connection that received nothing (not even a heartbeat) for this long is dead.
    reconnect_initial_s, reconnect_max_s : float
        Backoff of reconnections (doubling from the first to the second).
    reconnect_attempts : int
        Give up after this many failed reconnections in a row; 0 never gives up.
    retry_after_max_s : float
        The longest pause honoured when cTrader asks to wait before sending again.
    lookup_days : float
        How far back an order whose outcome is unknown is searched for by its id.
    store_tokens : bool
        Keep renewed tokens (owner-only file), so a restart uses them: cTrader invalidates a
        refresh token once used.
    token_file : str
        Where renewed tokens are kept; empty: the adapter's home
        (``ctrader-tokens-<environment>-<account>.json``). Point every node trading the account
        (and ``tradeloop data download``) at one file, so they share the renewed pair.
    venue : str
        The venue name on instruments and orders.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    environment: Literal["demo", "live"] = "demo"
    host: str = ""
    port: int = Field(5035, gt=0, lt=65536)
    ca_file: str = ""
    client_id_env: str = ""
    client_secret_env: str = ""
    access_token_env: str = ""
    refresh_token_env: str = ""
    client_id: SecretStr | None = None
    client_secret: SecretStr | None = None
    access_token: SecretStr | None = None
    refresh_token: SecretStr | None = None
    account_id: int = Field(0, ge=0)
    label: str = Field("tradeloop", max_length=100)
    close_opposite: bool = True
    connect_timeout_s: float = Field(15.0, gt=0)
    request_timeout_s: float = Field(15.0, gt=0)
    ack_timeout_s: float = Field(5.0, gt=0)
    heartbeat_s: float = Field(10.0, gt=0)
    read_timeout_s: float = Field(30.0, gt=0)
    reconnect_initial_s: float = Field(1.0, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)
    reconnect_attempts: int = Field(0, ge=0)
    retry_after_max_s: float = Field(5.0, ge=0)
    lookup_days: float = Field(7.0, gt=0)
    store_tokens: bool = True
    token_file: str = ""
    venue: str = "CTRADER"

    @model_validator(mode="after")
    def _check(self) -> CtraderConfig:
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError("reconnect_max_s must be at least reconnect_initial_s")
        if self.read_timeout_s <= self.heartbeat_s:
            raise ValueError("read_timeout_s must be longer than heartbeat_s")
        return self

    @property
    def address(self) -> tuple[str, int]:
        """Host and port of the proxy."""
        return self.host or HOSTS[self.environment], self.port

    def secret(self, name: str) -> str:
        """The plain value of one of the credentials ("" when not set)."""
        value = getattr(self, name)
        return value.get_secret_value() if isinstance(value, SecretStr) else ""


def _fail(where: str, message: str) -> ConfigError:
    return ConfigError(f"broker.settings.{where}: {message}")


def load_config(settings: Mapping[str, Any],
                environ: Mapping[str, str] | None = None) -> CtraderConfig:
    """``[broker.settings]`` of a ``ctrader`` broker as a :class:`CtraderConfig`.

    Parameters
    ----------
    settings : mapping
    environ : mapping, optional
        Where the credential variables are read (default: the process environment).

    Raises
    ------
    ConfigError
        An unknown key (with the closest known one), a wrong value, a literal secret in the
        settings, or a credential variable not named or not set.
    """
    env = os.environ if environ is None else environ
    values = dict(settings)
    known = sorted(CtraderConfig.model_fields)
    for key in values:
        if key not in known:
            hint = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            also = f"; did you mean {hint[0]!r}?" if hint else ""
            raise _fail(str(key), f"unknown setting{also}")
    for name_field, value_field in _SECRETS:
        if values.get(value_field) not in (None, ""):
            raise _fail(value_field, f"secrets must not be written in the settings: name an "
                        f"environment variable with {name_field} = \"MY_VARIABLE\"")
        variable = values.get(name_field)
        if not variable:
            if name_field in _REQUIRED_ENV:
                raise _fail(name_field, "name the environment variable that holds it "
                            f"({name_field} = \"CTRADER_{value_field.upper()}\")")
            continue
        found = lookup_secret(str(variable), env)
        if found is None or not found.get_secret_value():
            raise _fail(name_field, f"the environment variable {variable} is not set")
        values[value_field] = found
    try:
        return CtraderConfig(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        if not where:
            raise ConfigError(f"broker.settings: {message}") from None
        raise _fail(where, message) from None


__all__ = ["HOSTS", "CtraderConfig", "load_config"]
