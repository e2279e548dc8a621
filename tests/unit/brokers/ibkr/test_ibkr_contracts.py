"""Symbols as IB contracts: instruments from contract details, the front month of a future and
its roll, options, and positions mapped back to our symbols."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from ib_async import Contract, ContractDetails, Forex, Future, Option, Stock

from tradeloop.brokers.ibkr.config import load_config
from tradeloop.brokers.ibkr.contracts import (
    ContractBook,
    base_contract,
    front_month,
    instrument_of,
    last_trade_date,
)
from tradeloop.core.errors import ConfigError
from tradeloop.model.enums import AssetClass


def es(month: str, last: str, con_id: int) -> ContractDetails:
    contract = Future("ES", last, "CME", localSymbol=f"ES{month}", multiplier="50",
                      currency="USD", conId=con_id)
    return ContractDetails(contract=contract, minTick=0.25, sizeIncrement=1, minSize=1)


CHAIN = [es("H7", "20270319", 3), es("Z6", "20261218", 2), es("M7", "20270618", 4)]


class FakeIB:
    def __init__(self, details: dict[str, list[ContractDetails]]) -> None:
        self.details = details
        self.asked: list[Contract] = []

    async def reqContractDetailsAsync(self, contract: Contract) -> list[ContractDetails]:
        self.asked.append(contract)
        return self.details.get(contract.symbol, [])


class FakeClient:
    def __init__(self, ib: FakeIB) -> None:
        self.ib = ib

    async def request(self, what: str, make: Any, **_: Any) -> Any:
        return await make()


def book(details: dict[str, list[ContractDetails]], contracts: dict[str, Any],
         today: list[dt.date]) -> tuple[ContractBook, FakeIB]:
    ib = FakeIB(details)
    config = load_config({"contracts": contracts})
    return ContractBook(FakeClient(ib), config, lambda: today[0]), ib  # type: ignore[arg-type]


def test_last_trade_date_and_the_front_month() -> None:
    assert last_trade_date(CHAIN[1]) == dt.date(2026, 12, 18)
    monthly = ContractDetails(contract=Future("ES", "202612", "CME"))
    assert last_trade_date(monthly) == dt.date(2026, 12, 15)
    assert front_month(CHAIN, 5, dt.date(2026, 12, 12)) is CHAIN[1]
    assert front_month(CHAIN, 5, dt.date(2026, 12, 13)) is CHAIN[0]  # 5 days before: roll
    assert front_month(CHAIN, 0, dt.date(2026, 12, 17)) is CHAIN[1]
    assert front_month(CHAIN, 5, dt.date(2027, 7, 1)) is None


def test_a_future_keeps_its_root_as_symbol_and_rolls_by_the_date() -> None:
    today = [dt.date(2026, 12, 1)]
    contracts, ib = book({"ES": CHAIN}, {"ES": {"sec_type": "FUT", "exchange": "CME",
                                               "roll_days": 5}}, today)

    async def run() -> None:
        inst = await contracts.instrument("ES")
        assert (inst.symbol, inst.asset_class, inst.tick_size, inst.multiplier) == (
            "ES", AssetClass.FUTURE, Decimal("0.25"), Decimal(50))
        assert contracts.venue_symbol("ES") == "ESZ6" and not contracts.rolls
        today[0] = dt.date(2026, 12, 13)
        assert (await contracts.contract("ES")).localSymbol == "ESH7"
        assert [(r.old, r.new, r.day) for r in contracts.rolls] == [
            ("ESZ6", "ESH7", dt.date(2026, 12, 13))]
        assert len(ib.asked) == 1  # the chain was asked once
        asked = ib.asked[0]
        assert (asked.secType, asked.symbol, asked.exchange, asked.lastTradeDateOrContractMonth
                ) == ("FUT", "ES", "CME", "")

    asyncio.run(run())


def test_positions_in_any_month_map_to_the_root() -> None:
    contracts, _ = book({}, {"ES": {"sec_type": "FUT", "exchange": "CME"},
                             "AAPL": {}, "EURUSD": {"sec_type": "CASH"},
                             "AAPL-P": {"sec_type": "OPT", "symbol": "AAPL",
                                        "expiry": "20261218", "strike": 180, "right": "P"}},
                        [dt.date(2026, 1, 1)])
    assert contracts.symbol_of(Future("ES", "20270618", "CME", localSymbol="ESM7",
                                      currency="USD", conId=9)) == "ES"
    assert contracts.symbol_of(Stock("AAPL", "SMART", "USD", conId=1)) == "AAPL"
    assert contracts.symbol_of(Forex("EURUSD", conId=5)) == "EURUSD"
    assert contracts.symbol_of(Option("AAPL", "20261218", 180, "P", "SMART", currency="USD",
                                      conId=7)) == "AAPL-P"
    assert contracts.symbol_of(Option("AAPL", "20261218", 185, "P", "SMART", currency="USD",
                                      localSymbol="AAPL  261218P00185000")) == \
        "AAPL  261218P00185000"
    assert contracts.symbol_of(Stock("MSFT", "SMART", "USD", localSymbol="MSFT")) == "MSFT"


def test_instruments_of_stocks_fx_and_options() -> None:
    stock = ContractDetails(contract=Stock("AAPL", "SMART", "USD", conId=1),
                            minTick=0.01, sizeIncrement=1, minSize=1)
    inst = instrument_of("AAPL", stock, "IBKR")
    assert (inst.asset_class, inst.tick_size, inst.lot_step, inst.min_quantity,
            inst.multiplier, inst.quote_currency) == (
        AssetClass.EQUITY, Decimal("0.01"), Decimal(1), Decimal(1), Decimal(1), "USD")
    fx = ContractDetails(contract=Forex("EURUSD", conId=2), minTick=0.00005, minSize=1)
    inst = instrument_of("EURUSD", fx, "IBKR")
    assert (inst.asset_class, inst.base_currency, inst.quote_currency, inst.tick_size) == (
        AssetClass.FX, "EUR", "USD", Decimal("0.00005"))
    assert str(inst.tick_size) == "0.00005"
    option = ContractDetails(contract=Option("AAPL", "20261218", 200, "C", "SMART",
                                             multiplier="100", currency="USD", conId=3),
                             minTick=0.01)
    inst = instrument_of("AAPL-C", option, "IBKR")
    assert (inst.symbol, inst.multiplier, inst.lot_step) == ("AAPL-C", Decimal(100), Decimal(1))


def test_base_contracts_of_each_kind() -> None:
    config = load_config({"contracts": {
        "AAPL": {"primary_exchange": "NASDAQ"}, "EURUSD": {"sec_type": "CASH"},
        "C": {"sec_type": "OPT", "symbol": "AAPL", "expiry": "20261218", "strike": "200",
              "right": "C", "multiplier": "100"}}})
    stock = base_contract("AAPL", config.spec("AAPL"))
    assert (stock.secType, stock.exchange, stock.primaryExchange) == ("STK", "SMART", "NASDAQ")
    fx = base_contract("EURUSD", config.spec("EURUSD"))
    assert (fx.secType, fx.symbol, fx.currency, fx.exchange) == ("CASH", "EUR", "USD",
                                                                 "IDEALPRO")
    option = base_contract("C", config.spec("C"))
    assert (option.secType, option.symbol, option.strike, option.right,
            option.lastTradeDateOrContractMonth, option.multiplier) == (
        "OPT", "AAPL", 200.0, "C", "20261218", "100")


def test_unknown_and_ambiguous_contracts_are_config_errors() -> None:
    twice = [ContractDetails(contract=Stock("XYZ", "SMART", "USD", primaryExchange=p,
                                            localSymbol="XYZ", conId=i), minTick=0.01)
             for i, p in ((1, "NYSE"), (2, "ARCA"))]
    contracts, _ = book({"XYZ": twice}, {"XYZ": {}, "ABC": {}, "PICK": {
        "symbol": "XYZ", "primary_exchange": "ARCA"}}, [dt.date(2026, 1, 1)])

    async def run() -> None:
        with pytest.raises(ConfigError, match=r"contracts\.ABC: IB does not know STK ABC"):
            await contracts.contract("ABC")
        with pytest.raises(ConfigError, match=r"ambiguous at IB.*set primary_exchange"):
            await contracts.contract("XYZ")
        assert (await contracts.contract("PICK")).conId == 2
        with pytest.raises(ConfigError, match=r"did you mean 'ABC'"):
            await contracts.instruments(["ABD"])

    asyncio.run(run())
