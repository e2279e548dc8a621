"""Settings of the MetaTrader 5 adapter (``[broker] name = "mt5"``, ``[broker.settings]``).

Two modes: **attach** (no ``login``: the adapter attaches to the terminal already running and
logged in, optionally the one at ``path``) and **login** (``login``, ``server`` and
``password_env``: the terminal at ``path`` is started if needed and logged in). The password
never sits in a file: ``password_env`` names an environment variable, read once when the
adapter is built and kept as ``SecretStr``.

``bridge`` (``"host:port"``) reaches a terminal on another machine (Windows, or Wine) through
the JSON-over-TCP bridge of ``deploy/mt5/mt5_bridge.py``; its shared token comes from the
environment variable ``bridge_token_env`` names, read once like the password. ``module`` names
the Python module used instead of ``MetaTrader5`` (a stand-in for tests).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from tradeloop.core.errors import ConfigError
from tradeloop.core.secrets import lookup_secret


class Mt5Config(BaseModel):
    """How the adapter reaches one MetaTrader 5 terminal.

    Attributes
    ----------
    path : str
        The terminal's ``terminal64.exe`` ("" lets the module find the running one).
    login : int or None
        The account number; None attaches to the terminal as it is (attach mode).
    server : str
        The trade server (login mode).
    password_env : str
        The environment variable with the account password (login mode).
    password : SecretStr or None
        Read from ``password_env``, never from the settings.
    portable : bool
        Start the terminal in portable mode.
    timeout_ms : int
        How long ``initialize`` waits for the terminal.
    server_timezone : str
        The trade server's clock: an IANA zone (``"Europe/Athens"``: EET with EU summer time,
        what most brokers use), ``"UTC+2"`` (fixed) or ``"UTC"``. MetaTrader stamps ticks,
        bars and deals in this clock; the adapter converts to UTC.
    symbols : list of str
        Symbols selected into Market Watch at connect (others are selected when used).
    magic : int
        The base magic number; each strategy gets ``magic + crc32(strategy id) % 100000``
        unless ``magic_by_strategy`` names one.
    magic_by_strategy : mapping of str to int
    deviation_points : int
        How far (points) a market order may fill from the price it was sent at.
    requotes : int
        How often a requoted market order is priced again and resent before giving up.
    halt_s : float
        How long new orders on a symbol the trade server halted (trading disabled, market
        closed, long, short or close only) are refused locally before it is asked again.
    poll_interval_s : float
        How often orders, deals and ticks are polled.
    history_days : int
        How far back deal and order history is searched (lookups, reconciliation).
    module : str
        The Python module to import instead of ``MetaTrader5``.
    bridge : str
        ``"host:port"`` of an RPC bridge to a remote terminal ("" for none).
    bridge_timeout_s : float
    bridge_token_env : str
        The environment variable with the bridge's shared token ("" when the bridge has none).
    bridge_token : SecretStr or None
        Read from ``bridge_token_env``, never from the settings.
    account_type : {"auto", "netting", "hedging"}
        Taken from the account when "auto".
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = ""
    login: int | None = None
    server: str = ""
    password_env: str = ""
    password: SecretStr | None = None
    portable: bool = False
    timeout_ms: int = Field(60_000, gt=0)
    server_timezone: str = "Europe/Athens"
    symbols: list[str] = Field(default_factory=list)
    magic: int = Field(234_000, ge=0)
    magic_by_strategy: dict[str, int] = Field(default_factory=dict)
    deviation_points: int = Field(20, ge=0)
    requotes: int = Field(3, ge=0)
    halt_s: float = Field(60.0, gt=0)
    poll_interval_s: float = Field(0.2, gt=0)
    history_days: int = Field(30, gt=0)
    module: str = "MetaTrader5"
    bridge: str = ""
    bridge_timeout_s: float = Field(10.0, gt=0)
    bridge_token_env: str = ""
    bridge_token: SecretStr | None = None
    account_type: Literal["auto", "netting", "hedging"] = "auto"

    @field_validator("server_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        server_zone(value)
        return value

    @field_validator("bridge")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if value:
            host, _, port = value.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"{value!r} is not host:port")
        return value

    @property
    def mode(self) -> str:
        """``"login"`` or ``"attach"``."""
        return "login" if self.login is not None else "attach"

    @property
    def zone(self) -> tzinfo:
        """The trade server's time zone."""
        return server_zone(self.server_timezone)


def server_zone(name: str) -> tzinfo:
    """``"UTC+2"``, ``"UTC-5"``, ``"UTC"`` or an IANA zone name as a tzinfo.

    Raises
    ------
    ValueError
        An unknown zone.
    """
    text = name.strip()
    if text.upper() == "UTC":
        return UTC
    if text.upper().startswith("UTC") and text[3:4] in "+-" and text[4:]:
        hours = float(text[4:])
        return timezone(timedelta(hours=hours if text[3] == "+" else -hours))
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name or UTC+N)") from None


def server_to_utc_ns(server_seconds: float, zone: tzinfo) -> int:
    """UTC nanoseconds of a MetaTrader time: seconds since 1970 on the server's wall clock."""
    return server_ms_to_utc_ns(round(server_seconds * 1000), zone)


def server_ms_to_utc_ns(server_ms: int, zone: tzinfo) -> int:
    """UTC nanoseconds of a MetaTrader ``time_msc`` (milliseconds on the server's clock)."""
    wall = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=server_ms)
    offset = wall.replace(tzinfo=zone).utcoffset() or timedelta(0)
    return (server_ms - int(offset.total_seconds() * 1000)) * 1_000_000


def utc_ns_to_server(ts_ns: int, zone: tzinfo) -> datetime:
    """The server's wall clock at ``ts_ns``, as the naive-as-UTC datetime MetaTrader takes
    (``copy_rates_range`` reads a datetime's fields as server time)."""
    utc = datetime.fromtimestamp(ts_ns / 1e9, UTC)
    local = utc.astimezone(zone)
    return local.replace(tzinfo=UTC)


def load_config(settings: Mapping[str, Any], environ: Mapping[str, str] | None = None
                ) -> Mt5Config:
    """``[broker.settings]`` of an ``mt5`` broker as a :class:`Mt5Config`.

    Raises
    ------
    ConfigError
        An unknown or wrong setting (named), a password or bridge token written in the
        settings, login mode without a server or password variable, a bridge token without a
        bridge, or a variable that is not set.
    """
    env = os.environ if environ is None else environ
    values = dict(settings)
    for key, variable in (("password", "MT5_PASSWORD"), ("bridge_token", "MT5_BRIDGE_TOKEN")):
        if values.get(key) not in (None, ""):
            raise ConfigError(f"broker.settings.{key}: secrets must not be written in the "
                              f"settings: name an environment variable with {key}_env = "
                              f"\"{variable}\"")
        name = values.get(f"{key}_env")
        if name:
            found = lookup_secret(str(name), env)
            if found is None or not found.get_secret_value():
                raise ConfigError(f"broker.settings.{key}_env: the environment variable "
                                  f"{name} is not set")
            values[key] = found
    try:
        config = Mt5Config(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"broker.settings.{where}: {first['msg']}") from None
    if config.login is not None and (not config.server or config.password is None):
        raise ConfigError("broker.settings.login: login mode needs server and password_env "
                          "too (leave login out to attach to a running terminal)")
    if config.bridge_token is not None and not config.bridge:
        raise ConfigError("broker.settings.bridge_token_env: a bridge token needs a bridge "
                          "(bridge = \"host:port\")")
    return config


__all__ = ["Mt5Config", "load_config", "server_ms_to_utc_ns", "server_to_utc_ns",
           "server_zone", "utc_ns_to_server"]
