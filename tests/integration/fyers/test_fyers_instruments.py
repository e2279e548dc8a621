"""Fyers' segments: instruments from the symbol master (F&O lot sizes, MCX multipliers, BSE),
orders sized by the lot, products per symbol, and the master read once a day."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from support.fyers import ORDER_PATH, FyersServer
from tradeloop.brokers.fyers import capabilities, create_adapter
from tradeloop.brokers.testing.harness import Desk, Target, TargetSpec
from tradeloop.core.errors import ConfigError
from tradeloop.model.enums import AssetClass, OrderSide, OrderStatus, OrderType, TimeInForce
from tradeloop.model.instrument import Instrument

NIFTY = "NSE:NIFTY24DECFUT"
CRUDE = "MCX:CRUDEOIL24DECFUT"


def _instruments(settings: dict[str, Any], home: Path, symbols: list[str]
                 ) -> tuple[list[Instrument], int]:
    async def run() -> tuple[list[Instrument], int]:
        adapter = create_adapter(settings, variant="", home=home)
        found = await adapter.instruments.instruments(symbols)
        downloads = adapter.execution.symbols.downloads  # type: ignore[attr-defined]
        return found, downloads

    return asyncio.run(run())


def test_instruments_carry_the_lot_tick_and_multiplier_of_the_symbol_master(
        fyers: FyersServer, settings: dict[str, Any], home: Path, logged_in: None) -> None:
    found, downloads = _instruments(settings, home, [NIFTY, CRUDE, "BSE:SBIN-EQ"])
    nifty, crude, bse = found
    assert (nifty.asset_class, nifty.lot_step, nifty.min_quantity, nifty.tick_size,
            nifty.multiplier) == (AssetClass.FUTURE, 25, 25, Decimal("0.05"), 1)
    assert (crude.asset_class, crude.lot_step, crude.tick_size, crude.multiplier) == (
        AssetClass.COMMODITY, 1, Decimal("1.0"), 100)
    assert (bse.asset_class, bse.lot_step, bse.quote_currency) == (AssetClass.EQUITY, 1, "INR")
    assert downloads == 3  # NSE_FO, MCX_COM, BSE_CM
    # a second adapter the same day reads its copies
    assert _instruments(settings, home, [NIFTY])[1] == 0
    assert len(list((home / "fyers-symbols").glob("NSE_FO-*.json"))) == 1


def test_an_unknown_symbol_is_refused_with_the_closest_listed_one(
        fyers: FyersServer, settings: dict[str, Any], home: Path, logged_in: None) -> None:
    with pytest.raises(ConfigError, match="does not list 'NSE:NIFTY24DECFUTX'; did you mean "
                                          "'NSE:NIFTY24DECFUT'"):
        _instruments(settings, home, ["NSE:NIFTY24DECFUTX"])
    with pytest.raises(ConfigError, match="NSE, BSE and MCX"):
        _instruments(settings, home, ["NYSE:IBM"])


def test_futures_orders_go_in_lots_with_the_symbols_product(
        fyers: FyersServer, settings: dict[str, Any], home: Path, logged_in: None) -> None:
    settings = {**settings, "products": {NIFTY: "MARGIN"}}
    instrument = Instrument(NIFTY, "FYERS", AssetClass.FUTURE, "INR", "INR", Decimal("0.05"),
                            Decimal(25), Decimal(25))
    target = Target(TargetSpec("fyers/fno", capabilities(), frozenset()), None,  # type: ignore[arg-type]
                    lambda: create_adapter(settings, variant="", home=home), instrument,
                    quantity=Decimal(25), bid=Decimal("24499.95"), ask=Decimal("24500.05"))

    async def run() -> None:
        desk = await Desk(target, target.connect()).open()
        try:
            odd = desk.submit(desk.order(OrderSide.BUY, OrderType.MARKET, quantity=Decimal(30),
                                         tif=TimeInForce.DAY))
            await desk.until_status(odd, OrderStatus.REJECTED)
            assert "multiples of the lot size 25" in odd.reason and "code -50" in odd.reason
            lots = desk.submit(desk.order(OrderSide.BUY, OrderType.MARKET,
                                          quantity=Decimal(50), tif=TimeInForce.DAY))
            await desk.until_status(lots, OrderStatus.FILLED)
            cnc = desk.order(OrderSide.SELL, OrderType.MARKET, quantity=Decimal(25),
                             tif=TimeInForce.DAY)
            cnc.tags = ("product=CNC",)
            desk.submit(cnc)
            await desk.until_status(cnc, OrderStatus.REJECTED)
            assert "CNC is for equities only" in cnc.reason
        finally:
            await desk.close()
        assert [r.body["productType"] for r in fyers.requests(ORDER_PATH, "POST")] == [
            "MARGIN", "MARGIN", "CNC"]
        with fyers.locked():
            assert {key: p.net for key, p in fyers.book.positions.items()} == {
                (NIFTY, "MARGIN"): 50}

    asyncio.run(run())
