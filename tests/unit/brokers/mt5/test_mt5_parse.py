"""MetaTrader 5 records in our terms (``tradeloop.brokers.mt5.parse``) and the server clock
(``tradeloop.brokers.mt5.config``): times stamped on the server's wall clock (EET with EU
summer time here) come out in UTC, on both sides of each daylight-saving change; symbols become
instruments; stop-loss and take-profit come from an order's tags; ids fit MetaTrader's 31
character comment; each strategy has its magic number; filling modes follow the symbol."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

import support.mt5_standin.records as rec
from tradeloop.brokers.mt5.config import (
    server_ms_to_utc_ns,
    server_to_utc_ns,
    server_zone,
    utc_ns_to_server,
)
from tradeloop.brokers.mt5.parse import (
    COMMENT_LIMIT,
    EXECUTION_EXCHANGE,
    EXECUTION_INSTANT,
    EXECUTION_MARKET,
    EXECUTION_REQUEST,
    FILLING_FOK,
    FILLING_IOC,
    FILLING_RETURN,
    SymbolRules,
    fill_report,
    instrument,
    magic_for,
    net_positions,
    order_report,
    order_type_code,
    parse_tags,
    tag,
)
from tradeloop.core.identifiers import ClientOrderIdGenerator
from tradeloop.model.enums import AssetClass, OrderSide, OrderStatus, OrderType, TimeInForce

ATHENS = server_zone("Europe/Athens")
NS = 10**9


def utc_ns(*fields: int) -> int:
    """UTC nanoseconds of a UTC date and time."""
    return int(datetime(*fields, tzinfo=UTC).timestamp()) * NS  # type: ignore[misc]


def wall_ms(*fields: int) -> int:
    """A server wall-clock time as MetaTrader gives it: milliseconds since 1970 read as if the
    wall clock were UTC."""
    return int(datetime(*fields, tzinfo=UTC).timestamp()) * 1000  # type: ignore[misc]


# -- the server clock across daylight-saving changes ------------------------------------------

@pytest.mark.parametrize(("wall", "utc"), [
    # spring, 31 March 2024: at 01:00 UTC the wall clock jumps from 03:00 EET to 04:00 EEST
    ((2024, 3, 31, 2, 59, 59), (2024, 3, 31, 0, 59, 59)),
    ((2024, 3, 31, 4, 0, 0), (2024, 3, 31, 1, 0, 0)),
    ((2024, 3, 29, 23, 0, 0), (2024, 3, 29, 21, 0, 0)),  # Friday's last hour, winter
    ((2024, 4, 1, 0, 0, 0), (2024, 3, 31, 21, 0, 0)),  # Monday's first hour, summer
    # autumn, 27 October 2024: at 01:00 UTC the wall clock goes back from 04:00 to 03:00
    ((2024, 10, 27, 2, 59, 59), (2024, 10, 26, 23, 59, 59)),
    ((2024, 10, 27, 4, 0, 0), (2024, 10, 27, 2, 0, 0)),
    ((2024, 10, 25, 23, 0, 0), (2024, 10, 25, 20, 0, 0)),  # Friday's last hour, summer
    ((2024, 10, 28, 0, 0, 0), (2024, 10, 27, 22, 0, 0)),  # Monday's first hour, winter
])
def test_server_times_become_utc_on_both_sides_of_each_change(
        wall: tuple[int, ...], utc: tuple[int, ...]) -> None:
    ms = wall_ms(*wall)
    assert server_ms_to_utc_ns(ms, ATHENS) == utc_ns(*utc)
    assert server_ms_to_utc_ns(ms + 250, ATHENS) == utc_ns(*utc) + 250_000_000
    assert server_to_utc_ns(ms / 1000, ATHENS) == utc_ns(*utc)
    # and back: the naive-as-UTC datetime copy_rates_range and history_*_get take
    assert utc_ns_to_server(utc_ns(*utc), ATHENS) == datetime(*wall, tzinfo=UTC)  # type: ignore[misc]


def test_every_hour_of_a_week_across_each_change_goes_there_and_back() -> None:
    for first in (utc_ns(2024, 3, 27), utc_ns(2024, 10, 23)):
        for hour in range(7 * 24):
            ts = first + hour * 3600 * NS
            wall = utc_ns_to_server(ts, ATHENS)
            offset = wall - datetime.fromtimestamp(ts / NS, UTC)
            assert offset in (timedelta(hours=2), timedelta(hours=3))
            back = server_ms_to_utc_ns(int(wall.timestamp()) * 1000, ATHENS)
            repeated = datetime(2024, 10, 27, 3, tzinfo=UTC) <= wall < datetime(
                2024, 10, 27, 4, tzinfo=UTC)
            if repeated:
                # 03:00-04:00 on the autumn Sunday happens twice on the server's clock: a
                # MetaTrader time cannot tell which; the first (summer) reading is taken
                assert back in (ts, ts - 3600 * NS)
            else:
                assert back == ts, wall


def test_fixed_offsets_ignore_summer_time() -> None:
    plus_two = server_zone("UTC+2")
    for wall in ((2024, 1, 15, 12), (2024, 7, 15, 12)):
        assert server_ms_to_utc_ns(wall_ms(*wall), plus_two) == utc_ns(*wall) - 2 * 3600 * NS
    assert server_ms_to_utc_ns(wall_ms(2024, 7, 15, 12), server_zone("UTC")) == utc_ns(
        2024, 7, 15, 12)
    assert server_zone("UTC-5").utcoffset(None) == timedelta(hours=-5)
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        server_zone("Mars/Olympus")


# -- deals, orders and positions --------------------------------------------------------------

def deal(**values: Any) -> Any:
    row: dict[str, Any] = {
        "ticket": 2001, "order": 1001, "time": 0, "time_msc": 0, "type": rec.DEAL_TYPE_SELL,
        "entry": rec.DEAL_ENTRY_IN, "magic": 234_001, "position_id": 1001, "reason": 3,
        "volume": 0.3, "price": 1.0851049999, "commission": -2.5, "swap": 0.0, "profit": 0.0,
        "fee": -0.1, "symbol": "EURUSD", "comment": "CF1", "external_id": ""}
    row.update(values)
    return rec.TradeDeal(**row)


def test_deals_become_fills_stamped_in_utc_winter_and_summer() -> None:
    winter = fill_report(deal(time_msc=wall_ms(2024, 1, 15, 12, 0, 0) + 123), "CF1", 5, 2,
                         "USD", ATHENS)
    assert winter.ts == utc_ns(2024, 1, 15, 10) + 123_000_000
    summer = fill_report(deal(time_msc=wall_ms(2024, 7, 15, 12)), "CF1", 5, 2, "USD", ATHENS)
    assert summer.ts == utc_ns(2024, 7, 15, 9)
    # without time_msc, the seconds field is used
    seconds = fill_report(deal(time=wall_ms(2024, 10, 28, 0) // 1000), "CF1", 5, 2, "USD",
                          ATHENS)
    assert seconds.ts == utc_ns(2024, 10, 27, 22)
    assert (winter.client_order_id, winter.venue_order_id, winter.trade_id) == (
        "CF1", "1001", "2001")
    assert (winter.side, winter.quantity, winter.price) == (
        OrderSide.SELL, Decimal("0.30"), Decimal("1.08510"))
    # commission and fee are charged as negative numbers: a positive cost here
    assert (winter.commission, winter.commission_currency) == (Decimal("2.6"), "USD")


def order_row(**values: Any) -> Any:
    row: dict[str, Any] = {
        "ticket": 1001, "time_setup": 0, "time_setup_msc": wall_ms(2024, 10, 25, 23, 30),
        "time_done": 0, "time_done_msc": 0, "time_expiration": 0,
        "type": rec.ORDER_TYPE_BUY_STOP_LIMIT, "type_time": rec.ORDER_TIME_DAY,
        "type_filling": rec.ORDER_FILLING_RETURN, "state": rec.ORDER_STATE_PLACED,
        "magic": 234_001, "position_id": 0, "position_by_id": 0, "reason": 3,
        "volume_initial": 0.5, "volume_current": 0.5, "price_open": 1.09, "sl": 1.08,
        "tp": 1.1, "price_current": 1.0851, "price_stoplimit": 1.0905, "symbol": "EURUSD",
        "comment": "CF2", "external_id": ""}
    row.update(values)
    return rec.TradeOrder(**row)


def test_orders_become_reports_with_their_prices_state_and_utc_times() -> None:
    working = order_report(order_row(), "CF2", 5, 2, ATHENS)
    assert (working.order_type, working.side, working.status) == (
        OrderType.STOP_LIMIT, OrderSide.BUY, OrderStatus.ACCEPTED)
    assert (working.trigger_price, working.price) == (Decimal("1.09000"), Decimal("1.09050"))
    assert working.time_in_force is TimeInForce.DAY
    assert working.ts_accepted == working.ts_last == utc_ns(2024, 10, 25, 20, 30)
    done = order_report(order_row(
        type=rec.ORDER_TYPE_SELL_LIMIT, state=rec.ORDER_STATE_FILLED, volume_current=0.0,
        price_open=1.1, time_done_msc=wall_ms(2024, 10, 28, 9)), "CF2", 5, 2, ATHENS,
        avg_px=Decimal("1.10002"))
    assert (done.order_type, done.side, done.status, done.price, done.trigger_price) == (
        OrderType.LIMIT, OrderSide.SELL, OrderStatus.FILLED, Decimal("1.10000"), None)
    assert (done.filled_qty, done.avg_px) == (Decimal("0.50"), Decimal("1.10002"))
    assert done.ts_last == utc_ns(2024, 10, 28, 7)  # after the change: UTC+2
    partial = order_report(order_row(type=rec.ORDER_TYPE_SELL_STOP, volume_current=0.2),
                           "CF2", 5, 2, ATHENS)
    assert (partial.status, partial.filled_qty, partial.trigger_price) == (
        OrderStatus.PARTIALLY_FILLED, Decimal("0.30"), Decimal("1.09000"))
    for state, status in ((rec.ORDER_STATE_CANCELED, OrderStatus.CANCELED),
                          (rec.ORDER_STATE_EXPIRED, OrderStatus.EXPIRED),
                          (rec.ORDER_STATE_REJECTED, OrderStatus.REJECTED)):
        assert order_report(order_row(state=state), "CF2", 5, 2, ATHENS).status is status


def position(ticket: int, ptype: int, volume: float, price: float, wall: tuple[int, ...],
             symbol: str = "EURUSD") -> Any:
    msc = wall_ms(*wall)
    return rec.TradePosition(ticket, msc // 1000, msc, msc // 1000, msc, ptype, 234_001,
                             ticket, 3, volume, price, 0.0, 0.0, price, 0.0, 0.0, symbol, "",
                             "")


def test_hedged_positions_net_per_symbol_stamped_with_the_latest_in_utc() -> None:
    rows = [position(1, rec.POSITION_TYPE_BUY, 0.3, 1.08, (2024, 10, 25, 10)),
            position(2, rec.POSITION_TYPE_BUY, 0.1, 1.09, (2024, 10, 28, 10)),
            position(3, rec.POSITION_TYPE_SELL, 0.4, 151.2, (2024, 7, 1, 10), "USDJPY"),
            position(4, rec.POSITION_TYPE_BUY, 0.4, 151.0, (2024, 7, 1, 11), "USDJPY")]
    [eurusd] = net_positions(rows, {"EURUSD": (5, 2), "USDJPY": (3, 2)}, ATHENS)
    assert (eurusd.symbol, eurusd.quantity, eurusd.avg_px) == (
        "EURUSD", Decimal("0.40"), Decimal("1.08250"))
    assert eurusd.ts == utc_ns(2024, 10, 28, 8)  # the later one, in winter time


# -- symbols as instruments and their trading rules -------------------------------------------

def symbol_info(**values: Any) -> Any:
    row: dict[str, Any] = dict.fromkeys(rec.SymbolInfo._fields, 0)
    row.update(name="EURUSD", path="Forex\\EURUSD", digits=5, point=1e-5, volume_min=0.01,
               volume_max=100.0, volume_step=0.01, trade_contract_size=100_000.0,
               currency_base="EUR", currency_profit="USD", currency_margin="EUR",
               filling_mode=rec.SYMBOL_FILLING_FOK | rec.SYMBOL_FILLING_IOC,
               trade_mode=rec.SYMBOL_TRADE_MODE_FULL,
               trade_exemode=rec.SYMBOL_TRADE_EXECUTION_MARKET)
    row.update(values)
    return rec.SymbolInfo(**row)


def test_symbol_info_becomes_an_instrument() -> None:
    eurusd = instrument(symbol_info(), "MT5", 100)
    assert (eurusd.symbol, eurusd.venue, eurusd.asset_class) == ("EURUSD", "MT5", AssetClass.FX)
    assert (eurusd.base_currency, eurusd.quote_currency) == ("EUR", "USD")
    assert (eurusd.tick_size, eurusd.lot_step, eurusd.min_quantity, eurusd.multiplier) == (
        Decimal("0.00001"), Decimal("0.01"), Decimal("0.01"), Decimal(100_000))
    assert eurusd.margin_rate == Decimal("0.01")  # 1:100
    # an index CFD: whole points of 0.1, tenths of a lot, no base currency but its margin one
    index = instrument(symbol_info(
        name="US500", path="Indices\\US500", digits=1, point=0.1, volume_min=0.1,
        volume_max=500.0, volume_step=0.1, trade_contract_size=1.0, currency_base="",
        currency_margin="USD", currency_profit="USD"), "MT5", 20)
    assert (index.asset_class, index.base_currency, index.quote_currency) == (
        AssetClass.CFD, "USD", "USD")
    assert (index.tick_size, index.lot_step, index.min_quantity, index.multiplier) == (
        Decimal("0.1"), Decimal("0.1"), Decimal("0.1"), Decimal(1))
    assert index.margin_rate == Decimal("0.05")
    gold = instrument(symbol_info(name="XAUUSD", path="Metals\\XAUUSD", digits=2, point=0.01,
                                  trade_contract_size=100.0, currency_base="XAU",
                                  currency_margin="XAU"), "MT5", 100)
    assert (gold.asset_class, gold.tick_size, gold.multiplier) == (
        AssetClass.COMMODITY, Decimal("0.01"), Decimal(100))
    rules = SymbolRules.of(symbol_info(volume_step=0.1, digits=3))
    assert (rules.name, rules.digits, rules.volume_digits, rules.execution_mode) == (
        "EURUSD", 3, 1, EXECUTION_MARKET)


FOK_FLAG, IOC_FLAG = rec.SYMBOL_FILLING_FOK, rec.SYMBOL_FILLING_IOC


@pytest.mark.parametrize(("flags", "execution", "tif", "expected"), [
    (FOK_FLAG | IOC_FLAG, EXECUTION_MARKET, TimeInForce.GTC, FILLING_FOK),
    (FOK_FLAG | IOC_FLAG, EXECUTION_MARKET, TimeInForce.IOC, FILLING_IOC),
    (IOC_FLAG, EXECUTION_MARKET, TimeInForce.GTC, FILLING_IOC),
    (FOK_FLAG, EXECUTION_MARKET, TimeInForce.IOC, FILLING_FOK),
    (0, EXECUTION_EXCHANGE, TimeInForce.GTC, FILLING_RETURN),
    (IOC_FLAG, EXECUTION_EXCHANGE, TimeInForce.GTC, FILLING_IOC),
    # instant and request execution fill or kill whatever the flags say
    (IOC_FLAG, EXECUTION_INSTANT, TimeInForce.GTC, FILLING_FOK),
    (0, EXECUTION_REQUEST, TimeInForce.IOC, FILLING_FOK),
])
def test_the_filling_mode_of_a_market_deal_follows_the_symbol(
        flags: int, execution: int, tif: TimeInForce, expected: int) -> None:
    rules = SymbolRules.of(symbol_info(filling_mode=flags, trade_exemode=execution))
    assert rules.market_filling(tif) == expected


def test_order_types_map_to_metatrader_codes() -> None:
    codes = {(side, kind): order_type_code(side, kind) for side in OrderSide
             for kind in (OrderType.MARKET, OrderType.LIMIT, OrderType.STOP,
                          OrderType.STOP_LIMIT)}
    assert codes == {
        (OrderSide.BUY, OrderType.MARKET): rec.ORDER_TYPE_BUY,
        (OrderSide.SELL, OrderType.MARKET): rec.ORDER_TYPE_SELL,
        (OrderSide.BUY, OrderType.LIMIT): rec.ORDER_TYPE_BUY_LIMIT,
        (OrderSide.SELL, OrderType.LIMIT): rec.ORDER_TYPE_SELL_LIMIT,
        (OrderSide.BUY, OrderType.STOP): rec.ORDER_TYPE_BUY_STOP,
        (OrderSide.SELL, OrderType.STOP): rec.ORDER_TYPE_SELL_STOP,
        (OrderSide.BUY, OrderType.STOP_LIMIT): rec.ORDER_TYPE_BUY_STOP_LIMIT,
        (OrderSide.SELL, OrderType.STOP_LIMIT): rec.ORDER_TYPE_SELL_STOP_LIMIT}
    with pytest.raises(ValueError, match="MetaTrader 5 has no TRAILING_STOP"):
        order_type_code(OrderSide.BUY, OrderType.TRAILING_STOP)


# -- stop-loss and take-profit tags, comments, magic numbers ----------------------------------

def test_stop_loss_and_take_profit_ride_on_the_orders_tags() -> None:
    assert parse_tags(("sl=1.0800", "tp=1.0950")) == (Decimal("1.0800"), Decimal("1.0950"))
    assert parse_tags((" SL = 1.08 ", "flatten", "note=x")) == (Decimal("1.08"), None)
    assert parse_tags(()) == (None, None)
    for bad in ("sl=abc", "tp=-1", "sl=0", "tp=nan", "sl=inf"):
        with pytest.raises(ValueError, match=f"order tag '{bad}': .. must be a positive"):
            parse_tags(("tp=1.2", bad))


def test_client_order_ids_fit_the_31_character_comment() -> None:
    # the ids strategies issue always fit, even for long strategy names: kept as they are
    for strategy in ("sma", "a-very-long-strategy-name-for-eurusd-hourly-bars", "Ünïcode ß"):
        cid = ClientOrderIdGenerator(strategy).next_id(1_700_000_000 * NS)
        assert len(cid) <= COMMENT_LIMIT and tag(cid) == cid
    # a longer id (set by hand) becomes a stable hash of the id, 31 characters
    long_id = "manual-eurusd-breakout-2024-10-25T23:00:00Z-1"
    assert len(long_id) > COMMENT_LIMIT
    assert tag(long_id) == tag(long_id) and len(tag(long_id)) == COMMENT_LIMIT
    assert tag(long_id).startswith("tl:") and tag(long_id) != tag(long_id + "x")
    # an id that looks like a hash is hashed too, so no id can pass for another one's hash
    assert tag(tag(long_id)) != tag(long_id)
    assert tag("x" * COMMENT_LIMIT) == "x" * COMMENT_LIMIT
    assert tag("x" * (COMMENT_LIMIT + 1)).startswith("tl:")


def test_each_strategy_has_its_magic_number() -> None:
    for strategy in ("alpha", "beta", "sma_cross/EURUSD"):
        expected = 234_000 + zlib.crc32(strategy.encode()) % 100_000
        assert magic_for(strategy, 234_000, {}) == expected
        assert 234_000 <= expected < 334_000
    assert magic_for("alpha", 234_000, {}) != magic_for("beta", 234_000, {})
    assert magic_for("alpha", 234_000, {"alpha": 42}) == 42
    assert magic_for("beta", 1_000, {"alpha": 42}) == 1_000 + zlib.crc32(b"beta") % 100_000
