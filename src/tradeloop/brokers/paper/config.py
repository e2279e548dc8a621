"""Settings of the paper venue: the client's (where the venue is, its token, timeouts) and the
server's (state file, account, instruments, fees, market data source, bind address).

Secrets are ``SecretStr`` and come from the environment (``TRADELOOP_PAPER_TOKEN``), never
from a file. ``pydantic-settings`` is not a dependency, so :meth:`PaperClientConfig.from_env`
reads the few ``TRADELOOP_PAPER_*`` variables itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from tradeloop.brokers.paper.protocol import TOKEN_ENV
from tradeloop.brokers.paper.state import DEFAULT_MARKS_FLUSH_MS
from tradeloop.model.enums import AccountType

DEFAULT_PORT = 8765
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
_ENV_PREFIX = "TRADELOOP_PAPER_"


def _token(value: SecretStr | str | None) -> SecretStr | None:
    if value is None:
        return None
    secret = value if isinstance(value, SecretStr) else SecretStr(value)
    return secret if secret.get_secret_value().strip() else None


class PaperClientConfig(BaseModel):
    """How a node reaches a served paper venue.

    Attributes
    ----------
    url : str
        ``http://host:port`` of the venue; the stream is the same address over ``ws://``.
    token : SecretStr or None
        Bearer token, when the venue requires one.
    owner : str
        Who this node is at a shared venue: its orders carry it, and it lists and hears only
        its own orders (positions and the account are the whole account's). "" sees all.
    venue : str
        The venue name the execution engine routes by.
    connect_timeout_s, request_timeout_s : float
        Limits for opening a connection and for waiting on an answer; a state change that
        times out is reported as outcome-unknown.
    stream_open_timeout_s : float
        How long :meth:`connect` waits for the event stream.
    reconnect_initial_s, reconnect_max_s : float
        Backoff of stream reconnections (doubling from the first to the second).
    page_size : int
        Events fetched per request when filling a gap.
    trust_env : bool
        Use proxy settings from the environment (off: the venue is usually local).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = DEFAULT_URL
    token: SecretStr | None = None
    owner: str = ""
    venue: str = "PAPER"
    connect_timeout_s: float = Field(default=2.0, gt=0)
    request_timeout_s: float = Field(default=5.0, gt=0)
    stream_open_timeout_s: float = Field(default=5.0, gt=0)
    reconnect_initial_s: float = Field(default=0.05, gt=0)
    reconnect_max_s: float = Field(default=2.0, gt=0)
    page_size: int = Field(default=1000, ge=1, le=10_000)
    trust_env: bool = False

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"paper venue url must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @field_validator("token", mode="before")
    @classmethod
    def _blank_token(cls, value: SecretStr | str | None) -> SecretStr | None:
        return _token(value)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any
                 ) -> PaperClientConfig:
        """Settings from ``TRADELOOP_PAPER_URL``, ``_TOKEN``, ``_OWNER``, ``_VENUE``,
        ``_CONNECT_TIMEOUT_S`` and ``_REQUEST_TIMEOUT_S``; ``overrides`` win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in ("url", "token", "owner", "venue", "connect_timeout_s",
                     "request_timeout_s"):
            key = _ENV_PREFIX + name.upper()
            if env.get(key):
                values[name] = env[key]
        values.update(overrides)
        return cls(**values)


class PaperAccountConfig(BaseModel):
    """The account a new state file starts with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    account_id: str = "PAPER-001"
    currency: str = "USD"
    account_type: AccountType = AccountType.MARGIN
    balance: Decimal = Field(default=Decimal(100_000), gt=0)


class MarketSourceConfig(BaseModel):
    """Where a served venue gets its market data.

    Attributes
    ----------
    kind : str
        ``none`` (only what ``POST /v1/admin/market`` pushes), ``bars`` or ``quotes`` (a
        CSV/Parquet file at ``path``), ``store_bars`` or ``store_quotes`` (the data store at
        ``store_root``), or ``synthetic`` (seeded random-walk quotes).
    symbol : str or None
        The instrument (default for files: the file name).
    timeframe : str or None
        The bar length to read from the store (``"1m"``).
    speed : float
        Replay speed: 1 is real time, 60 a minute per second, 0 as fast as possible.
    seed, start_price, volatility, spread_ticks, interval_s, count
        The synthetic generator: its random seed, first mid price, standard deviation of one
        step's log return, spread in ticks, seconds between quotes and number of quotes (None:
        endless).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["none", "bars", "quotes", "store_bars", "store_quotes", "synthetic"] = "none"
    path: Path | None = None
    store_root: Path | None = None
    store_venue: str = "SIM"
    symbol: str | None = None
    timeframe: str | None = None
    speed: float = Field(default=1.0, ge=0)
    seed: int = 0
    start_price: float = Field(default=100.0, gt=0)
    volatility: float = Field(default=0.0005, ge=0)
    spread_ticks: int = Field(default=2, ge=1)
    interval_s: float = Field(default=1.0, gt=0)
    count: int | None = Field(default=None, ge=1)


class PaperServerConfig(BaseModel):
    """A served paper venue (``tradeloop venue serve``).

    Attributes
    ----------
    state_path : Path
        The venue's state file (SQLite).
    host, port : str, int
        Where to listen; 127.0.0.1 by default. A non-loopback address needs a token.
    token : SecretStr or None
        Required bearer token; None reads ``TRADELOOP_PAPER_TOKEN`` (unset: no token).
    symbols : list of str
        The instruments traded, resolved in ``instruments_file`` (a TOML instruments file) or,
        without one, in the bundled instruments.
    venue : str
        The venue name in order and trade ids.
    commission, slippage : str
        Specs of the simulated venue (``"0.1%,min=1"``, ``"2ticks"``).
    conflict, volume_limit, day_timezone
        As in :class:`~tradeloop.brokers.simulated.venue.SimulatedVenueConfig`.
    account : PaperAccountConfig
    market : MarketSourceConfig
    marks_flush_ms : float
        Longest time market data that changes only marks and the clock stays unsaved (0:
        save every item); see :class:`~tradeloop.brokers.paper.venue.PaperVenue`.
    allow_admin : bool
        Enable ``POST /v1/admin/market`` (push market data by hand).
    allow_faults : bool
        Enable ``/v1/admin/faults`` (fault injection, for tests).
    log_level : str
        Of the HTTP server.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    state_path: Path
    host: str = "127.0.0.1"
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    token: SecretStr | None = None
    symbols: list[str] = Field(default_factory=list)
    instruments_file: Path | None = None
    venue: str = "PAPER"
    commission: str = ""
    slippage: str = ""
    conflict: Literal["stop_first", "target_first", "path"] = "stop_first"
    volume_limit: float | None = Field(default=None, gt=0, le=1)
    day_timezone: str = "UTC"
    account: PaperAccountConfig = PaperAccountConfig()
    market: MarketSourceConfig = MarketSourceConfig()
    marks_flush_ms: float = Field(default=DEFAULT_MARKS_FLUSH_MS, ge=0, allow_inf_nan=False)
    allow_admin: bool = False
    allow_faults: bool = False
    log_level: str = "info"

    @field_validator("token", mode="before")
    @classmethod
    def _blank_token(cls, value: SecretStr | str | None) -> SecretStr | None:
        return _token(value)

    def resolved_token(self, environ: Mapping[str, str] | None = None) -> SecretStr | None:
        """The token: this config's, else ``TRADELOOP_PAPER_TOKEN``, else None."""
        if self.token is not None:
            return self.token
        env = os.environ if environ is None else environ
        return _token(env.get(TOKEN_ENV))


__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_URL",
    "MarketSourceConfig",
    "PaperAccountConfig",
    "PaperClientConfig",
    "PaperServerConfig",
]
