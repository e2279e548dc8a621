"""Our symbols as IB contracts, and IB's contract details as instruments
(:class:`ContractBook`).

Every symbol is described in the settings (``contracts``) and qualified through IB's contract
details, which also give the instrument: ``minTick`` is the tick size, ``sizeIncrement`` and
``minSize`` the lot and minimum, ``multiplier`` the contract multiplier.

Futures roll: a future is configured by its root (``ES`` on ``CME``) and IB lists every month.
The node trades the front month until ``roll_days`` before its last trading day, then the next
one; the instrument keeps the root as its symbol, while IB sees the month's local symbol
(``ESZ6``). Each use checks the date, so a long-running node rolls by itself (and logs it).
Positions in any month of a configured root are reported under the root.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from ib_async import Contract, ContractDetails, Forex, Future, Option, Stock

from tradeloop.brokers.base import pick_instruments
from tradeloop.brokers.ibkr.client import IbkrClient
from tradeloop.brokers.ibkr.config import ContractSpec, IbkrConfig
from tradeloop.brokers.ibkr.errors import IbkrFatalError
from tradeloop.brokers.ibkr.parse import plain
from tradeloop.core.errors import ConfigError
from tradeloop.model.enums import AssetClass
from tradeloop.model.instrument import Instrument

logger = logging.getLogger(__name__)

ASSET_CLASSES = {"STK": AssetClass.EQUITY, "CASH": AssetClass.FX, "FUT": AssetClass.FUTURE,
                 "OPT": AssetClass.EQUITY}
#: Margin per unit of notional assumed locally (IB computes the real requirement).
MARGIN_RATES = {"STK": Decimal(1), "OPT": Decimal(1), "CASH": Decimal("0.0333"),
                "FUT": Decimal("0.1")}


def utc_today() -> dt.date:
    """Today's date in UTC."""
    return dt.datetime.now(dt.UTC).date()


def last_trade_date(details: ContractDetails) -> dt.date:
    """The last trading day of a future (``lastTradeDateOrContractMonth``; a bare month counts
    from its 15th, to roll early rather than late)."""
    contract = details.contract
    for text in (contract.lastTradeDateOrContractMonth if contract else "",
                 details.realExpirationDate):
        head = (text or "")[:8]
        if len(head) == 8 and head.isdigit():
            return dt.date(int(head[:4]), int(head[4:6]), int(head[6:8]))
    month = (contract.lastTradeDateOrContractMonth if contract else "") or details.contractMonth
    if len(month) >= 6 and month[:6].isdigit():
        return dt.date(int(month[:4]), int(month[4:6]), 15)
    raise IbkrFatalError(f"IB gave no last trading day for {contract}")


def front_month(chain: list[ContractDetails], roll_days: int, today: dt.date
                ) -> ContractDetails | None:
    """The month to trade on ``today``: the first whose last trading day minus ``roll_days``
    is still ahead (None when every listed month is past it)."""
    for details in sorted(chain, key=last_trade_date):
        if today < last_trade_date(details) - dt.timedelta(days=roll_days):
            return details
    return None


def base_contract(symbol: str, spec: ContractSpec) -> Contract:
    """The contract to ask IB's details for (unqualified)."""
    ib_symbol, currency = spec.ib_symbol(symbol), spec.ib_currency(symbol)
    contract: Contract
    if spec.sec_type == "STK":
        contract = Stock(ib_symbol, spec.ib_exchange, currency,
                         primaryExchange=spec.primary_exchange)
    elif spec.sec_type == "CASH":
        contract = Forex(exchange=spec.ib_exchange, symbol=ib_symbol, currency=currency)
    elif spec.sec_type == "FUT":
        contract = Future(ib_symbol, spec.expiry, spec.ib_exchange, currency=currency,
                          multiplier=spec.multiplier)
    else:
        contract = Option(ib_symbol, spec.expiry, float(spec.strike or 0), spec.right,
                          spec.ib_exchange, multiplier=spec.multiplier, currency=currency)
    if spec.local_symbol:
        contract.localSymbol = spec.local_symbol
    if spec.trading_class:
        contract.tradingClass = spec.trading_class
    return contract


def instrument_of(symbol: str, details: ContractDetails, venue: str) -> Instrument:
    """Our instrument of IB's contract details (tick, lot, minimum and multiplier exact)."""
    contract = details.contract
    if contract is None:
        raise IbkrFatalError(f"IB's details of {symbol} name no contract")
    sec_type = contract.secType
    tick = plain(details.minTick) if details.minTick > 0 else Decimal("0.01")
    lot = plain(details.sizeIncrement) if details.sizeIncrement > 0 else Decimal(1)
    minimum = plain(details.minSize) if details.minSize > 0 else lot
    multiplier = plain(contract.multiplier) if contract.multiplier else Decimal(1)
    base = contract.symbol if sec_type == "CASH" else contract.currency
    return Instrument(symbol=symbol, venue=venue,
                      asset_class=ASSET_CLASSES.get(sec_type, AssetClass.EQUITY),
                      base_currency=base or contract.currency, quote_currency=contract.currency,
                      tick_size=tick, lot_step=lot, min_quantity=minimum,
                      multiplier=multiplier if multiplier > 0 else Decimal(1),
                      margin_rate=MARGIN_RATES.get(sec_type, Decimal(1)))


@dataclass(frozen=True)
class Roll:
    """A futures roll: ``symbol`` moved from one month to the next on ``day``."""

    symbol: str
    old: str
    new: str
    day: dt.date


class ContractBook:
    """Our configured symbols, qualified at IB on first use.

    Parameters
    ----------
    client : IbkrClient
    config : IbkrConfig
    today : callable, optional
        The current UTC date (futures rolls; tests move it).
    """

    def __init__(self, client: IbkrClient, config: IbkrConfig,
                 today: Callable[[], dt.date] = utc_today) -> None:
        self.client = client
        self.config = config
        self.today = today
        self.rolls: list[Roll] = []
        self._chains: dict[str, list[ContractDetails]] = {}
        self._current: dict[str, ContractDetails] = {}
        self._by_con_id: dict[int, str] = {}

    def spec(self, symbol: str) -> ContractSpec:
        """The configured contract of ``symbol`` (ConfigError when there is none)."""
        return self.config.spec(symbol)

    async def details(self, symbol: str) -> ContractDetails:
        """IB's details of the contract ``symbol`` trades today (for a future, the current
        front month; a roll is logged when it changed).

        Raises
        ------
        ConfigError
            Not configured, unknown to IB, or ambiguous.
        """
        spec = self.spec(symbol)
        chain = self._chains.get(symbol)
        if chain is None:
            chain = self._chains[symbol] = await self._request_chain(symbol, spec)
        if spec.sec_type != "FUT" or spec.expiry:
            chosen = chain[0]
        else:
            found = front_month(chain, spec.roll_days, self.today())
            if found is None:  # every month we knew of is past its roll date: ask again
                chain = self._chains[symbol] = await self._request_chain(symbol, spec)
                found = front_month(chain, spec.roll_days, self.today())
            if found is None:
                raise ConfigError(f"broker.settings.contracts.{symbol}: IB lists no month of "
                                  f"{spec.ib_symbol(symbol)} before its roll date")
            chosen = found
        before = self._current.get(symbol)
        if before is not None and before.contract and chosen.contract \
                and before.contract.conId != chosen.contract.conId:
            roll = Roll(symbol, before.contract.localSymbol, chosen.contract.localSymbol,
                        self.today())
            self.rolls.append(roll)
            logger.warning("futures roll", extra={"fields": {
                "symbol": symbol, "from": roll.old, "to": roll.new,
                "roll_days": spec.roll_days}})
        self._current[symbol] = chosen
        if chosen.contract is not None:
            self._by_con_id[chosen.contract.conId] = symbol
        return chosen

    async def contract(self, symbol: str) -> Contract:
        """The qualified contract ``symbol`` trades today."""
        details = await self.details(symbol)
        assert details.contract is not None
        return details.contract

    async def instrument(self, symbol: str) -> Instrument:
        """The instrument of ``symbol`` (its symbol stays ours, also for a future's months)."""
        return instrument_of(symbol, await self.details(symbol), self.config.venue)

    async def instruments(self, symbols: list[str] | None) -> list[Instrument]:
        """Instruments of ``symbols`` (every configured one when None).

        Raises
        ------
        ConfigError
            A symbol that is not configured (with the closest one) or unknown to IB.
        """
        wanted = list(self.config.contracts) if symbols is None else symbols
        for symbol in wanted:
            if symbol not in self.config.contracts:
                pick_instruments([Instrument(s) for s in self.config.contracts], [symbol],
                                 "broker.settings.contracts")
        return [await self.instrument(s) for s in wanted]

    def tick(self, symbol: str) -> Decimal | None:
        """The tick size of a symbol already qualified (None otherwise)."""
        details = self._current.get(symbol)
        return plain(details.minTick) if details is not None and details.minTick > 0 else None

    def multiplier(self, contract: Contract) -> Decimal:
        """A contract's multiplier (1 when it has none)."""
        return plain(contract.multiplier) if contract.multiplier else Decimal(1)

    def venue_symbol(self, symbol: str) -> str:
        """IB's local symbol of what ``symbol`` trades now ("" before its first use)."""
        details = self._current.get(symbol)
        return details.contract.localSymbol if details and details.contract else ""

    def symbol_of(self, contract: Contract) -> str:
        """Our symbol of an IB contract: the configured one it belongs to (any month of a
        future's root), else IB's local symbol."""
        found = self._by_con_id.get(contract.conId)
        if found is not None:
            return found
        for symbol, spec in self.config.contracts.items():
            if _matches(symbol, spec, contract):
                if contract.conId:
                    self._by_con_id[contract.conId] = symbol
                return symbol
        return contract.localSymbol or contract.symbol

    async def _request_chain(self, symbol: str, spec: ContractSpec) -> list[ContractDetails]:
        wanted = base_contract(symbol, spec)
        try:
            found = await self.client.request(
                f"contract details of {symbol}",
                lambda: self.client.ib.reqContractDetailsAsync(wanted))
        except IbkrFatalError as exc:
            raise ConfigError(f"broker.settings.contracts.{symbol}: IB does not know "
                              f"{_describe(wanted)} ({exc})") from None
        chain = [d for d in found if d.contract is not None
                 and d.contract.secType == wanted.secType]
        if not chain:
            raise ConfigError(f"broker.settings.contracts.{symbol}: IB does not know "
                              f"{_describe(wanted)}")
        if spec.sec_type == "FUT" and not spec.expiry:
            return chain
        if len(chain) > 1:
            narrowed = [d for d in chain if _narrow(spec, d)]
            if len(narrowed) != 1:
                listed = ", ".join(sorted({d.contract.localSymbol for d in chain
                                           if d.contract}))
                raise ConfigError(f"broker.settings.contracts.{symbol}: {_describe(wanted)} "
                                  f"is ambiguous at IB ({listed}): set primary_exchange, "
                                  "local_symbol or trading_class")
            chain = narrowed
        return chain


def _narrow(spec: ContractSpec, details: ContractDetails) -> bool:
    contract = details.contract
    assert contract is not None
    return ((not spec.primary_exchange or contract.primaryExchange == spec.primary_exchange)
            and (not spec.local_symbol or contract.localSymbol == spec.local_symbol)
            and (not spec.trading_class or contract.tradingClass == spec.trading_class)
            and (not spec.multiplier or contract.multiplier == spec.multiplier))


def _describe(contract: Contract) -> str:
    parts = [contract.secType, contract.symbol, contract.lastTradeDateOrContractMonth,
             f"{contract.strike:g}" if contract.strike else "", contract.right,
             contract.exchange, contract.currency]
    return " ".join(p for p in parts if p)


def _matches(symbol: str, spec: ContractSpec, contract: Contract) -> bool:
    if contract.secType != spec.sec_type or contract.symbol != spec.ib_symbol(symbol):
        return False
    if contract.currency and contract.currency != spec.ib_currency(symbol):
        return False
    if spec.local_symbol and contract.localSymbol and contract.localSymbol != spec.local_symbol:
        return False
    if spec.sec_type == "OPT":
        return (contract.right[:1] == spec.right
                and abs(contract.strike - float(spec.strike or 0)) < 1e-9
                and contract.lastTradeDateOrContractMonth.startswith(spec.expiry))
    if spec.sec_type == "FUT" and spec.expiry:
        return contract.lastTradeDateOrContractMonth.startswith(spec.expiry)
    return True


__all__ = ["ASSET_CLASSES", "ContractBook", "Roll", "base_contract", "front_month",
           "instrument_of", "last_trade_date", "utc_today"]
