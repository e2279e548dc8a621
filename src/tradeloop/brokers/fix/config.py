"""Settings of the FIX adapter: each session (where the counterparty is, who we are, timers,
the store) and the adapter around them (account, instruments, capabilities, market orders).

The password is a ``SecretStr`` and comes from the environment: ``password_env`` names the
variable and :meth:`FixSessionConfig.resolved_password` reads it (the value is then masked in
every log line). A ``password`` given directly (by code, never by a settings file) wins.

:func:`adapter_config` turns a node's ``[broker.settings]`` table into a
:class:`FixAdapterConfig`::

    [broker.settings]
    account = "ACC1"                 # tag 1 on orders (optional)
    market_orders = "limit"          # the venue takes no MARKET orders
    account_balance = 1000000        # the venue reports no balance
    [broker.settings.session]
    port = 5001
    begin_string = "FIX.4.2"
    sender_comp_id = "CLIENT"
    target_comp_id = "ORDERMATCH"
    password_env = "FIX_PASSWORD"
    [broker.settings.capabilities]
    order_types = ["LIMIT"]
    time_in_force = ["DAY"]
    modify = false
    status_requests = false
    [[broker.settings.instruments]]
    symbol = "GOOG"
    tick_size = "0.01"
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from tradeloop.core.errors import ConfigError
from tradeloop.core.logging import register_secret
from tradeloop.core.secrets import lookup_secret
from tradeloop.model.enums import AssetClass, OrderType, TimeInForce

#: The FIX versions the session speaks (QuickFIX's ``ordermatch`` example knows only 4.2).
BeginString = Literal["FIX.4.4", "FIX.4.2"]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FILE_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _check_fix_text(value: str | None) -> str | None:
    if value is None:
        return None
    if not value or not value.isprintable() or not value.isascii():
        raise ValueError("must be printable ASCII text, not empty")
    return value


class ReconnectPolicy(BaseModel):
    """How a dropped session comes back.

    Attributes
    ----------
    enabled : bool
        Reconnect by itself after the connection drops (never after :meth:`FixSession.stop`).
    initial_backoff_s, max_backoff_s : float
        The wait before the first attempt, doubled after each failed one up to the maximum.
    jitter : float
        Each wait is shortened by a random fraction up to this (0: exact waits), so that
        many clients do not reconnect in step.
    max_attempts : int or None
        Attempts before giving up (the session then fails); None retries forever.
    max_logon_disconnects : int
        Consecutive attempts where the peer closed the connection in answer to our Logon
        before the session gives up: a counterparty that drops unknown CompIDs or bad
        credentials looks like this, and retrying forever would only hammer it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    initial_backoff_s: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    max_backoff_s: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    jitter: float = Field(default=0.25, ge=0, lt=1)
    max_attempts: int | None = Field(default=None, ge=1)
    max_logon_disconnects: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> ReconnectPolicy:
        if self.max_backoff_s < self.initial_backoff_s:
            raise ValueError("max_backoff_s must be at least initial_backoff_s")
        return self

    def backoff_s(self, attempt: int, random_fraction: float = 0.0) -> float:
        """The wait before attempt number ``attempt`` (1 for the first).

        Parameters
        ----------
        attempt : int
            1 for the first attempt after a drop.
        random_fraction : float
            A number in [0, 1), scaled by :attr:`jitter` and taken off the wait.

        Returns
        -------
        float
            ``min(max_backoff_s, initial_backoff_s * 2**(attempt - 1))`` less its jitter.
        """
        base = min(self.max_backoff_s, self.initial_backoff_s * 2.0 ** min(attempt - 1, 62))
        return base * (1.0 - self.jitter * random_fraction)


class FixSessionConfig(BaseModel):
    """One FIX session as the initiator (we connect, the counterparty accepts).

    Attributes
    ----------
    host, port : str, int
        The counterparty's acceptor.
    begin_string : {"FIX.4.4", "FIX.4.2"}
    sender_comp_id, target_comp_id : str
        Our CompID (49 on what we send) and the counterparty's (56).
    sender_sub_id, target_sub_id : str or None
        Tags 50 and 57, when the counterparty wants them.
    username : str or None
        Tag 553 of the Logon.
    password : SecretStr or None
        Tag 554 of the Logon; normally left out and read from ``password_env``.
    password_env : str or None
        The environment variable holding the password.
    heartbeat_s : int
        HeartBtInt (108): we send a Heartbeat after this many idle seconds.
    heartbeat_grace_s : float or None
        How much longer than ``heartbeat_s`` the peer may stay silent before we send a
        TestRequest, and then how long it has to answer before we drop the connection.
        None: 20% of ``heartbeat_s``, at least half a second.
    reset_seq_on_logon : bool
        Start every logon from sequence number 1 (ResetSeqNumFlag 141=Y), forgetting what
        was sent before: only when the counterparty asks for it.
    store_dir : Path
        Where the sequence numbers, sent messages and order book of the session persist,
        one journal file per session (``<store_name>.fixlog``).
    store_sync : {"normal", "full"}
        "normal" (default, as QuickFIX's file store): each record reaches the operating system
        before its message is sent, which survives a crash or kill of the node but not a power
        cut or kernel crash of the machine. "full": it also reaches the disk (``fdatasync``)
        first, so not even a power cut can reuse a sequence number or lose an order's record;
        each message sent then waits for the disk (about 0.13 ms on a local SSD, often
        milliseconds on network storage), and the node's event loop with it.
    reconnect : ReconnectPolicy
    connect_timeout_s, logon_timeout_s, logout_timeout_s : float
        How long opening the connection, the Logon answer and the Logout answer may take.
    resend_max_age_s : float or None
        Application messages older than this are not resent when the counterparty asks
        for them: a SequenceReset-GapFill covers them instead, so a stale order never
        reaches the market late. None resends everything stored.
    check_comp_ids : bool
        Drop the session when an inbound message carries CompIDs other than ours.
    max_message_bytes : int
        The largest inbound message accepted; more unparsed bytes drop the connection.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)
    begin_string: BeginString = "FIX.4.4"
    sender_comp_id: str
    target_comp_id: str
    sender_sub_id: str | None = None
    target_sub_id: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    password_env: str | None = None
    heartbeat_s: int = Field(default=30, ge=1, le=3600)
    heartbeat_grace_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    reset_seq_on_logon: bool = False
    store_dir: Path
    store_sync: Literal["full", "normal"] = "normal"
    reconnect: ReconnectPolicy = ReconnectPolicy()
    connect_timeout_s: float = Field(default=5.0, gt=0, allow_inf_nan=False)
    logon_timeout_s: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    logout_timeout_s: float = Field(default=5.0, gt=0, allow_inf_nan=False)
    resend_max_age_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    check_comp_ids: bool = True
    max_message_bytes: int = Field(default=1 << 20, ge=1024)

    @field_validator("sender_comp_id", "target_comp_id", "sender_sub_id", "target_sub_id",
                     "username")
    @classmethod
    def _fix_text(cls, value: str | None) -> str | None:
        return _check_fix_text(value)

    @field_validator("password_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(f"{value!r} is not an environment variable name: use letters, "
                             "digits and _, such as FIX_PASSWORD")
        return value

    @field_validator("password", mode="before")
    @classmethod
    def _blank_password(cls, value: SecretStr | str | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value if isinstance(value, SecretStr) else SecretStr(value)
        return secret if secret.get_secret_value() else None

    @property
    def session_id(self) -> str:
        """``BEGIN:SENDER->TARGET``, as in the counterparty's logs."""
        return f"{self.begin_string}:{self.sender_comp_id}->{self.target_comp_id}"

    @property
    def store_name(self) -> str:
        """The session's file name under :attr:`store_dir` (no extension)."""
        return _FILE_UNSAFE.sub("_", f"{self.begin_string}-{self.sender_comp_id}-"
                                     f"{self.target_comp_id}")

    @property
    def grace_s(self) -> float:
        """The heartbeat grace in seconds (see :attr:`heartbeat_grace_s`)."""
        if self.heartbeat_grace_s is not None:
            return self.heartbeat_grace_s
        return max(0.5, 0.2 * self.heartbeat_s)

    def resolved_password(self, environ: Mapping[str, str] | None = None) -> SecretStr | None:
        """The Logon password: :attr:`password`, else the variable named by ``password_env``.

        Parameters
        ----------
        environ : mapping, optional
            The environment; ``os.environ`` by default.

        Returns
        -------
        SecretStr or None
            None when neither is set. The value is registered for masking in logs.

        Raises
        ------
        ConfigError
            ``password_env`` names a variable that is unset or empty.
        """
        if self.password is not None:
            register_secret(self.password)
            return self.password
        if self.password_env is None:
            return None
        env = os.environ if environ is None else environ
        found = lookup_secret(self.password_env, env)
        if found is None or not found.get_secret_value():
            state = "is not set" if found is None else "is empty"
            raise ConfigError(f"environment variable {self.password_env} {state} (needed for "
                              f"the password of FIX session {self.session_id})")
        return found


#: What the adapter sends for our order types and times in force (the rest is refused).
FIX_ORDER_TYPES = frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP,
                             OrderType.STOP_LIMIT})
FIX_TIME_IN_FORCE = frozenset(TimeInForce)


class FixInstrumentConfig(BaseModel):
    """One instrument as the venue trades it (for venues without a SecurityList).

    Attributes
    ----------
    symbol : str
        Symbol (55) as the venue spells it.
    tick_size, lot_step : Decimal
        Price increment and quantity step.
    min_quantity : Decimal or None
        The smallest order; None: one lot.
    currency : str
        The quote currency.
    asset_class : AssetClass
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str = Field(min_length=1)
    tick_size: Decimal = Field(default=Decimal("0.01"), gt=0)
    lot_step: Decimal = Field(default=Decimal(1), gt=0)
    min_quantity: Decimal | None = Field(default=None, gt=0)
    currency: str = Field(default="USD", min_length=3, max_length=3)
    asset_class: AssetClass = AssetClass.EQUITY


class FixCapabilitiesConfig(BaseModel):
    """What the counterparty does (the adapter declares it and never sends the rest).

    Attributes
    ----------
    order_types, time_in_force
        Those the venue takes (MARKET, LIMIT, STOP, STOP_LIMIT; DAY, GTC, IOC, FOK, GTD).
    modify : bool
        Takes OrderCancelReplaceRequest (G).
    status_requests : bool
        Answers OrderStatusRequest (H): order lookups ask the venue. Without it they are
        answered from the adapter's own book of what the venue reported.
    positions_requests : bool
        Answers RequestForPositions (AN) with PositionReports (AP); without it positions
        are the adapter's own fills summed.
    collateral_inquiry : bool
        Answers CollateralInquiry (BB) with a CollateralReport (BA); without it the
        balance is ``account_balance``.
    quotes : bool
        Answers MarketDataRequest (V) with bid and ask snapshots and updates.
    fractional : bool
        Takes quantities below one unit.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    order_types: frozenset[OrderType] = FIX_ORDER_TYPES
    time_in_force: frozenset[TimeInForce] = frozenset({TimeInForce.DAY, TimeInForce.GTC,
                                                       TimeInForce.IOC, TimeInForce.FOK,
                                                       TimeInForce.GTD})
    modify: bool = True
    status_requests: bool = True
    positions_requests: bool = False
    collateral_inquiry: bool = False
    quotes: bool = False
    fractional: bool = False

    @field_validator("order_types")
    @classmethod
    def _sendable(cls, value: frozenset[OrderType]) -> frozenset[OrderType]:
        extra = sorted(t.value for t in value - FIX_ORDER_TYPES)
        if extra:
            raise ValueError(f"the FIX adapter cannot send {', '.join(extra)} orders (it sends "
                             f"{', '.join(sorted(t.value for t in FIX_ORDER_TYPES))})")
        return value


class FixAdapterConfig(BaseModel):
    """The FIX adapter: its sessions and what it knows of the venue.

    Attributes
    ----------
    session : FixSessionConfig
        The order session.
    md_session : FixSessionConfig or None
        A separate market data session; None: quotes come over ``session``.
    venue : str
        The venue name orders are routed by.
    account : str or None
        Account (1) on orders and requests.
    instruments : list of FixInstrumentConfig
        The venue's instruments, when it has no SecurityList.
    security_list : bool
        Ask the venue for its instruments (SecurityListRequest x).
    tick_size_tag : int
        The tag of an instrument's tick size in a SecurityList entry (969
        MinPriceIncrement, or a venue's own tag).
    capabilities : FixCapabilitiesConfig
    market_orders : {"native", "limit"}
        ``"limit"``: the venue takes no MARKET orders, so the adapter sends a marketable
        limit at the last price known plus (buys) or minus (sells)
        ``market_protection_pct`` percent.
    market_protection_pct : Decimal
    time_in_force_fallback : dict
        What a time in force the venue lacks goes out as (``{GTC = "DAY"}``: GTC orders end
        with the venue's trading day). Declared capabilities stay the venue's own.
    account_currency : str
        The account's currency when the venue does not report it.
    account_balance : Decimal or None
        The balance when the venue reports none (needed without collateral inquiry).
    request_timeout_s : float
        How long an answer to a request (status, positions, balance, instruments, cancel,
        replace) may take; a submit waits as long for its first report, then its outcome is
        unknown.
    logon_wait_s : float
        A request made while the session is reconnecting waits this long for it before
        failing as retryable (nothing sent).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    session: FixSessionConfig
    md_session: FixSessionConfig | None = None
    venue: str = Field(default="FIX", min_length=1)
    account: str | None = None
    instruments: tuple[FixInstrumentConfig, ...] = ()
    security_list: bool = False
    tick_size_tag: int = Field(default=969, ge=1)
    capabilities: FixCapabilitiesConfig = FixCapabilitiesConfig()
    market_orders: Literal["native", "limit"] = "native"
    market_protection_pct: Decimal = Field(default=Decimal(1), ge=0, le=50)
    time_in_force_fallback: dict[TimeInForce, TimeInForce] = Field(default_factory=dict)
    account_currency: str = Field(default="USD", min_length=3, max_length=3)
    account_balance: Decimal | None = Field(default=None, gt=0)
    request_timeout_s: float = Field(default=5.0, gt=0, allow_inf_nan=False)
    logon_wait_s: float = Field(default=2.0, ge=0, allow_inf_nan=False)

    @field_validator("account")
    @classmethod
    def _fix_text(cls, value: str | None) -> str | None:
        return _check_fix_text(value)

    @model_validator(mode="after")
    def _consistent(self) -> FixAdapterConfig:
        caps = self.capabilities
        if not caps.collateral_inquiry and self.account_balance is None:
            raise ValueError("account_balance is needed when the venue answers no "
                             "CollateralInquiry (capabilities.collateral_inquiry = false)")
        if self.market_orders == "limit" and OrderType.LIMIT not in caps.order_types:
            raise ValueError('market_orders = "limit" needs LIMIT in capabilities.order_types')
        if not self.security_list and not self.instruments:
            raise ValueError("name the venue's instruments ([[instruments]]) or set "
                             "security_list = true")
        for wanted, used in self.time_in_force_fallback.items():
            if used not in caps.time_in_force or wanted in caps.time_in_force:
                raise ValueError(f"time_in_force_fallback: {wanted.value} -> {used.value} "
                                 "must map a time in force the venue lacks to one it takes")
        if self.md_session is not None and \
                self.md_session.session_id == self.session.session_id:
            raise ValueError("md_session must be another session than session")
        return self

    @property
    def market_as_limit(self) -> bool:
        """True when MARKET orders go out as marketable limits."""
        return self.market_orders == "limit"


def adapter_config(settings: Mapping[str, Any], home: Path) -> FixAdapterConfig:
    """``[broker.settings]`` of the FIX adapter as a :class:`FixAdapterConfig`.

    Each session's ``store_dir`` defaults to ``home/fix``.

    Raises
    ------
    ConfigError
        A wrong, missing or unknown setting, named with its path.
    """
    values = dict(settings)
    for name in ("session", "md_session"):
        table = values.get(name)
        if isinstance(table, Mapping):
            values[name] = {"store_dir": Path(home) / "fix", **table}
    try:
        return FixAdapterConfig.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        place = f"broker.settings.{where}" if where else "broker.settings"
        raise ConfigError(f"{place}: {first['msg'].removeprefix('Value error, ')}") from None


__all__ = [
    "FIX_ORDER_TYPES",
    "BeginString",
    "FixAdapterConfig",
    "FixCapabilitiesConfig",
    "FixInstrumentConfig",
    "FixSessionConfig",
    "ReconnectPolicy",
    "adapter_config",
]
