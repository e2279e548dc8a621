"""Settings of the Interactive Brokers adapter (``[broker] name = "ibkr"``, ``[broker.settings]``).

The adapter talks to a running IB Gateway or TWS through its API socket (``host``/``port``, 4002
for a paper Gateway, 4001 live, 7497/7496 for TWS). IB needs more than a symbol to know what is
meant, so every symbol a node trades is described in ``contracts``::

    [broker.settings.contracts.AAPL]
    sec_type = "STK"
    primary_exchange = "NASDAQ"

    [broker.settings.contracts.ES]
    sec_type = "FUT"
    exchange = "CME"
    roll_days = 5

    [broker.settings.contracts.EURUSD]
    sec_type = "CASH"

``client_factory`` (``"module:callable"``) replaces ib_async's socket client with another one
built from the IB wrapper: the seam tests use for their stand-in Gateway. It stays empty in
production.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tradeloop.core.errors import ConfigError

SecType = Literal["STK", "CASH", "FUT", "OPT"]
_EXPIRY = re.compile(r"^\d{6}(\d{2})?$")
_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
#: Where each kind of contract is routed when ``exchange`` is left out.
DEFAULT_EXCHANGE = {"STK": "SMART", "OPT": "SMART", "CASH": "IDEALPRO"}


class ContractSpec(BaseModel):
    """How one of our symbols is found at IB.

    Attributes
    ----------
    sec_type : {"STK", "CASH", "FUT", "OPT"}
    symbol : str
        IB's symbol (the root for futures, the underlying for options, the base currency for
        FX); empty: our symbol (for FX, its first three letters).
    exchange : str
        Where orders are routed; empty: SMART for stocks and options, IDEALPRO for FX
        (futures must name theirs, e.g. ``"CME"``).
    currency : str
        The contract's currency (for FX, the quote currency; empty: the last three letters of
        a six-letter symbol).
    primary_exchange : str
        The listing exchange of a smart-routed stock (``"NASDAQ"``), when the symbol is
        ambiguous.
    local_symbol : str
        IB's exact local symbol, when known.
    expiry : str
        ``YYYYMM`` or ``YYYYMMDD``: the option's expiry, or a fixed futures month (then no
        roll).
    roll_days : int
        Futures: trade the front month until this many days before its last trading day, then
        the next one.
    strike : Decimal or None
        Options.
    right : {"", "C", "P"}
        Options: call or put.
    multiplier : str
        When IB lists several (options on some exchanges).
    trading_class : str
    what_to_show : str
        The price real-time and historical bars are made of; empty: TRADES, or MIDPOINT for FX.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    sec_type: SecType = "STK"
    symbol: str = ""
    exchange: str = ""
    currency: str = ""
    primary_exchange: str = ""
    local_symbol: str = ""
    expiry: str = ""
    roll_days: int = Field(5, ge=0, le=90)
    strike: Decimal | None = Field(None, gt=0)
    right: Literal["", "C", "P"] = ""
    multiplier: str = ""
    trading_class: str = ""
    what_to_show: Literal["", "TRADES", "MIDPOINT", "BID", "ASK"] = ""

    @model_validator(mode="after")
    def _complete(self) -> ContractSpec:
        if self.expiry and not _EXPIRY.match(self.expiry):
            raise ValueError(f"expiry {self.expiry!r} is not YYYYMM or YYYYMMDD")
        if self.sec_type == "OPT" and (not self.expiry or self.strike is None or not self.right):
            raise ValueError("an option needs expiry, strike and right (\"C\" or \"P\")")
        if self.sec_type == "FUT" and not self.exchange:
            raise ValueError("a future needs its exchange (e.g. \"CME\")")
        if self.sec_type != "OPT" and (self.strike is not None or self.right):
            raise ValueError("strike and right are for options (sec_type = \"OPT\")")
        return self

    def ib_symbol(self, ours: str) -> str:
        """IB's symbol for our symbol ``ours``."""
        if self.symbol:
            return self.symbol
        if self.sec_type == "CASH":
            return ours.replace(".", "").replace("/", "")[:3].upper()
        return ours

    def ib_currency(self, ours: str) -> str:
        """The contract's currency."""
        if self.currency:
            return self.currency
        if self.sec_type == "CASH":
            clean = ours.replace(".", "").replace("/", "").upper()
            if len(clean) == 6:
                return clean[3:]
        return "USD"

    @property
    def ib_exchange(self) -> str:
        """Where orders go."""
        return self.exchange or DEFAULT_EXCHANGE.get(self.sec_type, "SMART")

    @property
    def bar_source(self) -> str:
        """``whatToShow`` of real-time and historical bars."""
        return self.what_to_show or ("MIDPOINT" if self.sec_type == "CASH" else "TRADES")


class IbkrConfig(BaseModel):
    """How the adapter reaches one IB Gateway or TWS, and what it trades there.

    Attributes
    ----------
    host, port : str, int
        The API socket (4002: a paper IB Gateway).
    client_id : int
        This API client's id; give each node its own (orders belong to the client that placed
        them).
    account : str
        The account to trade; empty: the only account the login manages.
    readonly : bool
        Connect in IB's read-only API mode (no orders).
    connect_timeout_s : float
        How long a connection (with its start-up synchronisation) may take.
    ack_timeout_s : float
        How long an order waits for IB's first answer before its outcome is unknown.
    request_timeout_s : float
        How long any other request may take.
    commission_wait_s : float
        How long a fill waits for its commission report before it is reported without one.
    reconnect_initial_s, reconnect_max_s : float
        Backoff of reconnections after a drop (doubling from the first to the second).
    reconnect_attempts : int
        Give up after this many failed reconnections in a row; 0 never gives up (the nightly
        Gateway restart can take minutes).
    market_data_type : int
        1 live, 2 frozen, 3 delayed, 4 delayed-frozen.
    outside_rth : bool
        Let orders trigger and fill outside regular trading hours unless an order's tags say
        otherwise (``"outside_rth"`` / ``"rth_only"``).
    contracts : mapping of str to ContractSpec
        Every symbol the node trades, by our symbol.
    history_identical_s : float
        IB refuses an identical historical request within this many seconds.
    history_per_contract, history_per_contract_s : int, float
        At most this many historical requests for one contract within the window (IB counts
        six or more within 2 s as a violation).
    history_max_requests, history_window_s : int, float
        At most this many historical requests in all within the window.
    history_rth_only : bool
        Historical and real-time bars of regular trading hours only.
    client_factory : str
        ``"module:callable"`` building the socket client from ib_async's wrapper (tests).
    venue : str
        The venue name on instruments and orders.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(4002, gt=0, lt=65536)
    client_id: int = Field(1, ge=0)
    account: str = ""
    readonly: bool = False
    connect_timeout_s: float = Field(15.0, gt=0)
    ack_timeout_s: float = Field(5.0, gt=0)
    request_timeout_s: float = Field(30.0, gt=0)
    commission_wait_s: float = Field(2.0, ge=0)
    reconnect_initial_s: float = Field(1.0, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)
    reconnect_attempts: int = Field(0, ge=0)
    market_data_type: int = Field(1, ge=1, le=4)
    outside_rth: bool = False
    contracts: dict[str, ContractSpec] = Field(default_factory=dict)
    history_identical_s: float = Field(15.0, ge=0)
    history_per_contract: int = Field(5, ge=1)
    history_per_contract_s: float = Field(2.0, ge=0)
    history_max_requests: int = Field(60, ge=1)
    history_window_s: float = Field(600.0, ge=0)
    history_rth_only: bool = False
    client_factory: str = ""
    venue: str = "IBKR"

    @model_validator(mode="after")
    def _check(self) -> IbkrConfig:
        if self.client_factory and not _FACTORY.match(self.client_factory):
            raise ValueError(f"client_factory {self.client_factory!r} is not "
                             "\"module:callable\"")
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError("reconnect_max_s must be at least reconnect_initial_s")
        return self

    def spec(self, symbol: str) -> ContractSpec:
        """The contract of our ``symbol``.

        Raises
        ------
        ConfigError
            The symbol is not in ``contracts`` (with the closest one that is).
        """
        found = self.contracts.get(symbol)
        if found is None:
            hint = difflib.get_close_matches(symbol, sorted(self.contracts), n=1, cutoff=0.6)
            also = f"; did you mean {hint[0]!r}?" if hint else ""
            raise ConfigError(f"broker.settings.contracts: no contract for {symbol!r}{also} "
                              "(add [broker.settings.contracts." f"{symbol or 'SYMBOL'}])")
        return found


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    if len(loc) >= 3 and loc[0] == "contracts":
        return sorted(ContractSpec.model_fields)
    return sorted(IbkrConfig.model_fields)


def load_config(settings: Mapping[str, Any]) -> IbkrConfig:
    """``[broker.settings]`` of an ``ibkr`` broker as an :class:`IbkrConfig`.

    Raises
    ------
    ConfigError
        An unknown key (with the closest known one) or a wrong value, named by its dotted path.
    """
    try:
        return IbkrConfig(**dict(settings))
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        where = f"broker.settings.{_where(loc)}" if loc else "broker.settings"
        if first["type"] == "extra_forbidden":
            hint = difflib.get_close_matches(str(loc[-1]), _known_keys(loc), n=1, cutoff=0.6)
            also = f"; did you mean {hint[0]!r}?" if hint else ""
            raise ConfigError(f"{where}: unknown setting{also}") from None
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{where}: {message}") from None


__all__ = ["DEFAULT_EXCHANGE", "ContractSpec", "IbkrConfig", "SecType", "load_config"]
