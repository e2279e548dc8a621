import re
from decimal import Decimal
from pathlib import Path

import pytest

from tradeloop.core.errors import ConfigError
from tradeloop.data.instruments import (
    InstrumentBook,
    InstrumentSpec,
    bundled_instruments,
    instrument_book,
    load_instruments,
    parse_instruments,
)
from tradeloop.model.enums import AssetClass
from tradeloop.model.instrument import Instrument

FX_MAJORS = ["EURUSD", "GBPUSD", "USDJPY", "USDCHF", "AUDUSD", "USDCAD", "NZDUSD"]
STOCKS = ["AAPL", "MSFT", "GOOG", "AMZN", "SPY"]
MICROS = ["MES", "MNQ", "M2K", "MYM", "MGC", "M6E"]

VALID = """
[EURUSD]
asset_class = "fx"
base = "EUR"
quote = "USD"
tick_size = "0.00001"
"""


def write(tmp_path: Path, text: str, name: str = "instruments.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def fails(tmp_path: Path, text: str, *parts: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_instruments(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    for part in parts:
        assert part in message, message
    return message


# --- bundled specs ---------------------------------------------------------------------------


def test_bundled_book_holds_the_documented_instruments() -> None:
    book = bundled_instruments()
    assert set(book.symbols()) == {*FX_MAJORS, "XAUUSD", *STOCKS, *MICROS, "BTCUSDT"}
    assert len(book) == 20
    assert book.symbols() == sorted(book.symbols())
    assert bundled_instruments() is book


@pytest.mark.parametrize("symbol", bundled_instruments().symbols())
def test_every_bundled_spec_builds_a_valid_instrument(symbol: str) -> None:
    book = bundled_instruments()
    spec = book.get(symbol)
    assert isinstance(spec, InstrumentSpec)
    assert spec.symbol == symbol
    assert spec.description
    assert spec.trading_hours
    assert spec.symbols
    instrument = book.instrument(symbol, venue="ibkr")
    assert isinstance(instrument, Instrument)
    assert (instrument.symbol, instrument.venue) == (symbol, "ibkr")
    assert spec.instrument.venue == "SIM"
    for value in (instrument.tick_size, instrument.lot_step, instrument.multiplier):
        assert isinstance(value, Decimal)
        assert value > 0
    assert 0 < instrument.margin_rate <= 1
    assert instrument.min_quantity % instrument.lot_step == 0
    # prices round to the tick exactly
    price = instrument.make_price(instrument.tick_size * 1234 + instrument.tick_size / 3)
    assert price == instrument.tick_size * 1234
    assert instrument.is_price_on_tick(price)


@pytest.mark.parametrize("symbol", FX_MAJORS)
def test_fx_majors(symbol: str) -> None:
    instrument = bundled_instruments().instrument(symbol)
    assert instrument.asset_class is AssetClass.FX
    assert (instrument.base_currency, instrument.quote_currency) == (symbol[:3], symbol[3:])
    tick = "0.001" if symbol.endswith("JPY") else "0.00001"
    assert instrument.tick_size == Decimal(tick)
    assert instrument.lot_step == 1
    assert instrument.min_quantity == 1
    assert instrument.multiplier == 1
    assert instrument.margin_rate == Decimal("0.0333")
    spec = bundled_instruments().get(symbol)
    assert spec.trading_hours == "fx"
    assert spec.symbols["ibkr"] == f"{symbol[:3]}.{symbol[3:]}"
    assert spec.symbols["mt5"] == symbol


@pytest.mark.parametrize(
    ("symbol", "tick", "multiplier", "tick_value", "exchange"),
    [
        ("MES", "0.25", "5", "1.25", "CME"),
        ("MNQ", "0.25", "2", "0.50", "CME"),
        ("M2K", "0.1", "5", "0.50", "CME"),
        ("MYM", "1", "0.5", "0.50", "CBOT"),
        ("MGC", "0.1", "10", "1.00", "COMEX"),
        ("M6E", "0.0001", "12500", "1.25", "CME"),
    ],
)
def test_cme_micro_futures(
    symbol: str, tick: str, multiplier: str, tick_value: str, exchange: str
) -> None:
    spec = bundled_instruments().get(symbol)
    instrument = spec.instrument
    assert instrument.asset_class is AssetClass.FUTURE
    assert instrument.tick_size == Decimal(tick)
    assert instrument.multiplier == Decimal(multiplier)
    # one tick on one contract is worth CME's published tick value
    assert instrument.notional(Decimal(1), instrument.tick_size) == Decimal(tick_value)
    assert (instrument.lot_step, instrument.min_quantity) == (1, 1)
    assert instrument.quote_currency == "USD"
    assert spec.exchange == exchange
    assert spec.trading_hours == "Sun-Fri 17:00-16:00 America/Chicago"
    assert spec.symbols == {"ibkr": symbol}


@pytest.mark.parametrize("symbol", STOCKS)
def test_us_stocks(symbol: str) -> None:
    spec = bundled_instruments().get(symbol)
    instrument = spec.instrument
    assert instrument.asset_class is AssetClass.EQUITY
    assert instrument.tick_size == Decimal("0.01")
    assert (instrument.lot_step, instrument.min_quantity, instrument.multiplier) == (1, 1, 1)
    assert instrument.base_currency == instrument.quote_currency == "USD"
    assert spec.trading_hours == "XNYS"
    assert spec.symbols == {"ibkr": symbol, "alpaca": symbol}


def test_gold_and_bitcoin() -> None:
    book = bundled_instruments()
    gold = book.instrument("XAUUSD")
    assert gold.asset_class is AssetClass.CFD
    assert (gold.base_currency, gold.quote_currency) == ("XAU", "USD")
    assert (gold.tick_size, gold.multiplier, gold.lot_step) == (Decimal("0.01"), 1, 1)
    assert gold.notional(Decimal(1), Decimal("2000.50")) == Decimal("2000.50")  # 1 oz
    btc = book.instrument("BTCUSDT")
    assert btc.asset_class is AssetClass.CRYPTO
    assert (btc.base_currency, btc.quote_currency) == ("BTC", "USDT")
    assert btc.tick_size == Decimal("0.01")
    assert btc.lot_step == btc.min_quantity == Decimal("0.00001")
    assert btc.make_quantity("0.123456789") == Decimal("0.12345")
    assert book.get("BTCUSDT").trading_hours == "24/7"
    assert book.venue_symbol("BTCUSDT", "ccxt") == "BTC/USDT"


# --- resolution --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    ["EURUSD", "EUR.USD", "EUR/USD", "EURUSD.m", "EURUSDm", "eurusd", "EUR_USD", " eur/usd ",
     "eurusd.m", "EURUSD-ecn", "EURUSD.a", "EUR-USD"],
)
def test_resolve_spellings_of_eurusd(spelling: str) -> None:
    assert bundled_instruments().resolve(spelling) == "EURUSD"


def test_resolve_other_spellings() -> None:
    book = bundled_instruments()
    assert book.resolve("BTC/USDT") == "BTCUSDT"
    assert book.resolve("btc-usdt") == "BTCUSDT"
    assert book.resolve("USD.JPY", venue="ibkr") == "USDJPY"
    assert book.resolve("AAPL.US") == "AAPL"
    assert book.resolve("mes") == "MES"
    assert book.get("gbp/usd").symbol == "GBPUSD"
    assert book.instrument("usd_jpy").tick_size == Decimal("0.001")


def test_venue_symbol() -> None:
    book = bundled_instruments()
    assert book.venue_symbol("EURUSD", "ibkr") == "EUR.USD"
    assert book.venue_symbol("EUR/USD", "IBKR") == "EUR.USD"
    assert book.venue_symbol("eurusd", "mt5") == "EURUSD"
    assert book.venue_symbol("EURUSD", "ccxt") == "EUR/USD"
    assert book.venue_symbol("EUR.USD", "SIM") == "EURUSD"
    assert book.venue_symbol("AAPL", "alpaca") == "AAPL"
    with pytest.raises(ConfigError, match=r"MES has no mt5 symbol.*\[MES\.symbols\]"):
        book.venue_symbol("MES", "mt5")


def test_unknown_symbol_suggests_close_names() -> None:
    book = bundled_instruments()
    with pytest.raises(ConfigError, match=r"unknown instrument 'EURUSX'.*did you mean EURUSD\?"):
        book.resolve("EURUSX")
    with pytest.raises(ConfigError, match=r"unknown instrument 'GBP/USX'.*did you mean GBPUSD"):
        book.get("GBP/USX")
    with pytest.raises(ConfigError, match=r"unknown instrument 'QQQQQQQ'.*known: AAPL, AMZN"):
        book.instrument("QQQQQQQ")
    with pytest.raises(ConfigError, match="empty instrument symbol"):
        book.resolve("  ")
    # an upper-case three-letter tail is part of the name, not a broker suffix
    with pytest.raises(ConfigError, match=r"unknown instrument 'EUR\.CHF'"):
        book.resolve("EUR.CHF")


def test_ambiguous_spelling_needs_a_venue(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[XAUUSD]
asset_class = "cfd"
base = "XAU"
quote = "USD"
tick_size = "0.01"
symbols = { mt5 = "GOLD" }

[MGC]
asset_class = "future"
quote = "USD"
tick_size = "0.1"
multiplier = "10"
symbols = { ibkr = "MGC", other = "gold" }
""",
    )
    book = load_instruments(path)
    with pytest.raises(ConfigError, match=r"ambiguous instrument 'Gold'.*MGC \(other\).*XAUUSD"):
        book.resolve("Gold")
    assert book.resolve("GOLD") == "XAUUSD"  # exact venue spelling
    assert book.resolve("Gold", venue="mt5") == "XAUUSD"
    assert book.resolve("Gold", venue="other") == "MGC"
    assert book.resolve("XAUUSD", venue="other") == "XAUUSD"  # canonical symbols always count


def test_venue_spelling_wins_over_a_canonical_symbol_when_the_venue_is_given() -> None:
    text = """
[EUR]
asset_class = "fx"
quote = "USD"
tick_size = "0.0001"

[M6E]
asset_class = "future"
quote = "USD"
tick_size = "0.0001"
multiplier = "12500"
symbols = { ibkr = "EUR" }
"""
    book = parse_instruments(text, "mem")
    assert book.resolve("EUR") == "EUR"
    assert book.resolve("EUR", venue="ibkr") == "M6E"


# --- user files ----------------------------------------------------------------------------


USER_FILE = """
# my broker adds a suffix and allows 0.01 lots only
[EURUSD]
asset_class = "FX"
base = "EUR"
quote = "USD"
tick_size = "0.00001"
lot_step = "1000"
min_quantity = "1000"
margin_rate = "0.05"
trading_hours = "fx"
[EURUSD.symbols]
mt5 = "EURUSD.m"

[DE40]
description = "Germany 40 index CFD"
asset_class = "cfd"
quote = "EUR"
tick_size = 0.1
lot_step = 0.1
min_quantity = 0.1
multiplier = 1
margin_rate = 0.05
trading_hours = "Mon-Fri 08:00-22:00 Europe/Berlin"
exchange = "Xetra (underlying)"
symbols = { mt5 = "DE40.m", IBKR = "IBDE40" }
"""


def test_user_file_overrides_and_adds(tradeloop_home: Path) -> None:
    path = write(tradeloop_home, USER_FILE)
    book = instrument_book(tradeloop_home)
    assert str(path) in book.source
    assert len(book) == 21
    eurusd = book.get("EURUSD")
    assert eurusd.source == str(path)
    assert eurusd.instrument.lot_step == 1000
    assert eurusd.instrument.margin_rate == Decimal("0.05")
    assert eurusd.symbols == {"mt5": "EURUSD.m"}  # the whole spec is replaced
    assert book.venue_symbol("EURUSD", "mt5") == "EURUSD.m"
    assert book.resolve("EURUSD.m", venue="mt5") == "EURUSD"
    with pytest.raises(ConfigError, match="EURUSD has no ibkr symbol"):
        book.venue_symbol("EURUSD", "ibkr")
    de40 = book.instrument("de40.m", venue="mt5")
    assert (de40.symbol, de40.venue, de40.asset_class) == ("DE40", "mt5", AssetClass.CFD)
    assert (de40.base_currency, de40.quote_currency) == ("EUR", "EUR")
    assert (de40.tick_size, de40.lot_step, de40.multiplier) == (Decimal("0.1"), Decimal("0.1"), 1)
    assert book.venue_symbol("DE40", "ibkr") == "IBDE40"
    assert book.get("DE40").exchange == "Xetra (underlying)"
    # the rest is still bundled, and the bundled book itself is untouched
    assert book.get("GBPUSD").source == "bundled specs/instruments.toml"
    assert bundled_instruments().venue_symbol("EURUSD", "mt5") == "EURUSD"
    assert "DE40" not in bundled_instruments()


def test_instrument_book_without_a_user_file(tmp_path: Path) -> None:
    assert instrument_book(None) is bundled_instruments()
    assert instrument_book(tmp_path) is bundled_instruments()


def test_user_file_errors_surface_from_instrument_book(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + 'margin_rate = "2"\n')
    with pytest.raises(ConfigError, match=re.escape(f"{path}: [EURUSD] margin_rate")):
        instrument_book(tmp_path)


def test_merge_rejects_a_venue_spelling_of_another_instrument(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[GOLD]
asset_class = "cfd"
quote = "USD"
tick_size = "0.01"
[GOLD.symbols]
mt5 = "XAUUSD"
""",
    )
    message = re.escape(f"{path}: [GOLD.symbols] mt5: 'XAUUSD' is already the mt5 symbol of XAUUSD")
    with pytest.raises(ConfigError, match=message):
        instrument_book(tmp_path)


def test_merged_keeps_both_books_unchanged() -> None:
    base = parse_instruments(VALID, "base.toml")
    extra = parse_instruments(VALID.replace("EURUSD", "GBPUSD").replace("EUR", "GBP"), "x.toml")
    merged = base.merged(extra)
    assert merged.symbols() == ["EURUSD", "GBPUSD"]
    assert merged.source == "base.toml + x.toml"
    assert base.symbols() == ["EURUSD"]
    assert extra.symbols() == ["GBPUSD"]


def test_book_from_specs_rejects_clashing_symbols() -> None:
    spec = parse_instruments(VALID, "a.toml").get("EURUSD")
    other = InstrumentSpec(Instrument.fx_pair("EUR/USD"), source="b.toml")
    message = r"b\.toml: \[EUR/USD\] clashes with \[EURUSD\] \(a\.toml\)"
    with pytest.raises(ConfigError, match=message):
        InstrumentBook([spec, other])


def test_defaults_and_numbers(tmp_path: Path) -> None:
    book = load_instruments(
        write(
            tmp_path,
            """
[ES]
asset_class = "future"
quote = "usd"
tick_size = 0.25
multiplier = 50
[BTC]
asset_class = "crypto"
base = "BTC"
quote = "USD"
tick_size = 0.00001
lot_step = "1e-8"
""",
        )
    )
    es = book.get("ES")
    assert es.instrument.base_currency == es.instrument.quote_currency == "USD"
    assert es.instrument.tick_size == Decimal("0.25")
    assert es.instrument.multiplier == 50
    assert es.instrument.lot_step == es.instrument.min_quantity == 1
    assert es.instrument.margin_rate == 1
    assert (es.trading_hours, es.description, es.exchange, es.symbols) == (None, "", None, {})
    btc = book.get("BTC").instrument
    assert btc.tick_size == Decimal("0.00001")
    assert btc.lot_step == btc.min_quantity == Decimal("0.00000001")


@pytest.mark.parametrize(
    "hours",
    ["fx", "FX", "24/7", "XNYS", "CME Globex Equity", "Mon-Fri 09:30-16:00 America/New_York",
     "Sun-Fri 17:00-16:00 America/Chicago", "Mon,Wed,Fri 9:00-17:30 Europe/London",
     "Mon-Thu 08:00-12:00 Asia/Tokyo; Mon-Thu 13:00-15:00 Asia/Tokyo"],
)
def test_trading_hours_accepted(tmp_path: Path, hours: str) -> None:
    book = load_instruments(write(tmp_path, VALID + f'trading_hours = "{hours}"\n'))
    expected = hours.lower() if hours.lower() in ("fx", "24/7") else hours
    assert book.get("EURUSD").trading_hours == expected


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "parts"),
    [
        ('tick = "0.1"\n', ["[EURUSD] unknown field 'tick'", "did you mean 'tick_size'?"]),
        ('margin = "0.1"\n', ["[EURUSD] unknown field 'margin'", "did you mean 'margin_rate'?"]),
        ('lot_step = true\n', ["[EURUSD] lot_step", "expected a number or a string, got a bool"]),
        ('multiplier = [1]\n', ["[EURUSD] multiplier", "got an array"]),
        ('description = 12\n', ["[EURUSD] description", "expected a string, got an integer"]),
        ('lot_step = "0"\n', ["[EURUSD] lot_step", "must be positive, got 0"]),
        ('lot_step = -1\n', ["[EURUSD] lot_step", "must be positive, got -1"]),
        ('multiplier = "0"\n', ["[EURUSD] multiplier", "must be positive"]),
        ('margin_rate = "0"\n', ["[EURUSD] margin_rate", "must be in (0, 1], got 0"]),
        ('margin_rate = 1.5\n', ["[EURUSD] margin_rate", "must be in (0, 1], got 1.5"]),
        ('min_quantity = "-1"\n', ["[EURUSD] min_quantity", "must be >= 0"]),
        ('lot_step = "1000"\nmin_quantity = "1500"\n',
         ["[EURUSD] min_quantity", "1500 is not a whole number of lot_step 1000"]),
        ('margin_rate = "abc"\n', ["[EURUSD] margin_rate", "'abc' is not a number"]),
        ('multiplier = nan\n', ["[EURUSD] multiplier", "must be a finite number"]),
        ('multiplier = "Infinity"\n', ["[EURUSD] multiplier", "must be a finite number"]),
        ('trading_hours = "Mon-Fry 09:30-16:00 America/New_York"\n',
         ["[EURUSD] trading_hours", "unknown day 'Fry'"]),
        ('trading_hours = "Mon-Fri 09:30-16:00 America/NewYork"\n',
         ["[EURUSD] trading_hours", "unknown timezone 'America/NewYork'"]),
        ('trading_hours = "Mon-Fri 09:30-24:30 UTC"\n',
         ["[EURUSD] trading_hours", "'24:30' is not a time of day"]),
        ('trading_hours = "Mon-Fri 09:30 America/New_York"\n',
         ["[EURUSD] trading_hours", "is not \"<days> <HH:MM>-<HH:MM> <timezone>\""]),
        ('trading_hours = "Mon-Fri 09:30-09:30 UTC"\n', ["[EURUSD] trading_hours", "24/7"]),
        ('trading_hours = ""\n', ["[EURUSD] trading_hours: empty"]),
        ('trading_hours = "XNYS!"\n', ["[EURUSD] trading_hours", "'XNYS!' is neither"]),
        ('symbols = "EURUSD.m"\n', ["[EURUSD] symbols", "expected a table", "got a string"]),
        ('symbols = { mt5 = 5 }\n', ["[EURUSD.symbols] mt5", "not an integer"]),
        ('symbols = { mt5 = " " }\n', ["[EURUSD.symbols] mt5", "non-empty string, not a string"]),
        ('symbols = { "my venue" = "X" }\n', ["[EURUSD.symbols] 'my venue' is not a venue name"]),
        ('symbols = { MT5 = "A", mt5 = "B" }\n', ["[EURUSD.symbols]", "venue given twice"]),
    ],
)
def test_field_errors_name_file_instrument_and_field(
    tmp_path: Path, extra: str, parts: list[str]
) -> None:
    fails(tmp_path, VALID + extra, *parts)


@pytest.mark.parametrize(
    "literal", ["0.1000000000000000055", "0.30000000000000001", "1.00000000000000000001"]
)
def test_float_that_a_binary_double_cannot_hold_is_rejected(tmp_path: Path, literal: str) -> None:
    text = VALID.replace('tick_size = "0.00001"', f"tick_size = {literal}")
    fails(
        tmp_path, text, "[EURUSD] tick_size", f"{literal} is not exact as a binary float",
        f'write it as a string, e.g. tick_size = "{literal}"',
    )


@pytest.mark.parametrize(
    ("literal", "expected"),
    [("0.1", "0.1"), ("0.00001", "0.00001"), ("1e-5", "0.00001"), ("0.000_01", "0.00001"),
     ("2.5", "2.5"), ("3", "3"), ('"0.1000000000000000055"', "0.1000000000000000055")],
)
def test_numbers_are_exact(tmp_path: Path, literal: str, expected: str) -> None:
    text = VALID.replace('tick_size = "0.00001"', f"tick_size = {literal}")
    assert load_instruments(write(tmp_path, text)).get("EURUSD").instrument.tick_size == Decimal(
        expected
    )


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        (VALID.replace('asset_class = "fx"', 'asset_class = "equities"'),
         ["[EURUSD] asset_class: unknown 'equities'", "did you mean 'equity'?"]),
        (VALID.replace('asset_class = "fx"', 'asset_class = "bond"'),
         ["[EURUSD] asset_class: unknown 'bond'", "one of equity, fx, crypto"]),
        (VALID.replace('quote = "USD"\n', ""), ["[EURUSD] quote: required field missing"]),
        (VALID.replace('tick_size = "0.00001"\n', ""),
         ["[EURUSD] tick_size: required field missing"]),
        (VALID.replace('tick_size = "0.00001"', 'tick_size = "-0.00001"'),
         ["[EURUSD] tick_size: must be positive, got -0.00001"]),
        (VALID.replace('tick_size = "0.00001"', 'tick_size = "0"'),
         ["[EURUSD] tick_size: must be positive"]),
        (VALID.replace('base = "EUR"', 'base = "E U R"'),
         ["[EURUSD] base: 'E U R' is not a currency code"]),
        (VALID.replace('quote = "USD"', "quote = 840"),
         ["[EURUSD] quote: expected a string, got an integer"]),
        ('version = 1\n' + VALID, ["'version' must be a table [version]", "not an integer"]),
        ('["EUR USD"]\nasset_class = "fx"\n', ["['EUR USD'] is not a valid symbol"]),
        ('["--"]\nasset_class = "fx"\n', ["['--'] is not a valid symbol: use letters and digits"]),
    ],
)
def test_entry_errors(tmp_path: Path, text: str, parts: list[str]) -> None:
    fails(tmp_path, text, *parts)


def test_duplicate_venue_spelling_in_one_file(tmp_path: Path) -> None:
    text = VALID + 'symbols = { mt5 = "X" }\n' + VALID.replace("[EURUSD]", "[EURGBP]") + (
        'symbols = { mt5 = "X" }\n'
    )
    fails(tmp_path, text, "[EURGBP.symbols] mt5: 'X' is already the mt5 symbol of EURUSD")


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    text = '[EURUSD]\nasset_class = "fx"\nquote = "USD"\ntick_size = = "0.00001"\n'
    fails(tmp_path, text, "invalid TOML", "line 4")


def test_toml_duplicate_table_names_the_line(tmp_path: Path) -> None:
    fails(tmp_path, VALID + "\n" + VALID, "invalid TOML", "declare", "line 9")


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=re.escape(f"{missing}: no such instruments file")):
        load_instruments(missing)
    binary = tmp_path / "bad.toml"
    binary.write_bytes(b"[EURUSD]\ndescription = \"\xff\"\n")
    with pytest.raises(ConfigError, match=re.escape(f"{binary}: not UTF-8 text")):
        load_instruments(binary)
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path}: cannot read instruments file")):
        load_instruments(tmp_path)


def test_parse_instruments_names_its_source() -> None:
    with pytest.raises(ConfigError, match=r"^inline: \[EURUSD\] tick_size: required"):
        parse_instruments(VALID.replace('tick_size = "0.00001"\n', ""), "inline")
    assert parse_instruments("").symbols() == []
