"""The MetaTrader 5 adapter reaching its terminal (the in-process stand-in module): attach and
login modes as ``initialize`` receives them, the password kept out of logs and errors, symbols
selected into Market Watch as they are needed, instruments from ``symbol_info``, and history
bars and quotes stamped on the server's clock (EET with EU summer time) coming out in UTC."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

import support.mt5_standin as standin
from support.mt5_standin import Spec, Terminal
from tradeloop.brokers.base import BrokerAdapter
from tradeloop.brokers.mt5 import Mt5FatalError, create_adapter
from tradeloop.core.errors import ConfigError
from tradeloop.model.data import QuoteTick
from tradeloop.model.enums import AssetClass, OrderSide, OrderType
from tradeloop.model.orders import Order

MODULE = "support.mt5_standin"
SECRET = "Pa55-w0rd-of-the-mt5-login-test"
PASSWORD_ENV = "MT5_LOGIN_TEST_PASSWORD"
HOUR_NS = 3600 * 10**9
ATHENS = ZoneInfo("Europe/Athens")


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    """The stand-in terminal, reset, with its account settings restored afterwards."""
    t = standin.TERMINAL
    saved = (t.zone, t.hedging, t.login, t.password, t.server, t.leverage)
    t.reset()
    yield t
    t.zone, t.hedging, t.login, t.password, t.server, t.leverage = saved
    t.reset()


def adapter_of(tmp_path: Path, **settings: Any) -> BrokerAdapter:
    """The adapter as a node builds it from ``[broker.settings]``."""
    return create_adapter({"module": MODULE, "poll_interval_s": 0.05, **settings}, variant="",
                          home=tmp_path)


def utc_ns(*fields: int) -> int:
    return int(datetime(*fields, tzinfo=UTC).timestamp()) * 10**9  # type: ignore[misc]


async def connect_and_close(adapter: BrokerAdapter) -> str:
    await adapter.execution.connect()
    try:
        return (await adapter.execution.account()).account_id
    finally:
        await adapter.close()


# -- 1. attach mode and login mode -------------------------------------------------------------

def test_attach_mode_initializes_with_only_the_path_and_timeout(
        terminal: Terminal, tmp_path: Path) -> None:
    adapter = adapter_of(tmp_path, path="C:\\MT5\\terminal64.exe", timeout_ms=5000)
    assert asyncio.run(connect_and_close(adapter)) == "5001234"
    assert terminal.init_calls == [(("C:\\MT5\\terminal64.exe",), {"timeout": 5000})]
    assert "login" not in terminal.calls  # attached to the terminal as it is logged in
    terminal.init_calls.clear()
    asyncio.run(connect_and_close(adapter_of(tmp_path)))  # the running terminal, found
    assert terminal.init_calls == [((), {"timeout": 60_000})]


def test_login_mode_logs_in_with_the_password_from_the_environment_and_never_shows_it(
        terminal: Terminal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    terminal.password = SECRET
    monkeypatch.setenv(PASSWORD_ENV, SECRET)
    settings = {"login": 5_001_234, "server": "StandIn-Demo", "password_env": PASSWORD_ENV,
                "path": "C:\\MT5\\terminal64.exe", "portable": True}
    assert asyncio.run(connect_and_close(adapter_of(tmp_path, **settings))) == "5001234"
    assert terminal.init_calls == [(("C:\\MT5\\terminal64.exe",), {
        "timeout": 60_000, "portable": True, "login": 5_001_234, "password": SECRET,
        "server": "StandIn-Demo"})]

    # the terminal refuses the login (the password changed on the server): fatal, and the
    # error names the code, not the password
    terminal.password = "rotated-on-the-server"
    with pytest.raises(Mt5FatalError) as refused:
        asyncio.run(connect_and_close(adapter_of(tmp_path, **settings)))
    assert str(refused.value) == "MetaTrader 5 refused the login: -6 Authorization failed"
    assert refused.value.code == -6
    for record in caplog.records:
        assert SECRET not in record.getMessage() and SECRET not in repr(vars(record))
    assert SECRET not in caplog.text
    assert any("connected to MetaTrader 5" in r.getMessage() for r in caplog.records)

    # the variable is not set: a clear ConfigError before anything reaches the terminal
    monkeypatch.delenv(PASSWORD_ENV)
    calls = len(terminal.init_calls)
    with pytest.raises(ConfigError) as unset:
        adapter_of(tmp_path, **settings)
    assert str(unset.value) == (f"broker.settings.password_env: the environment variable "
                                f"{PASSWORD_ENV} is not set")
    assert len(terminal.init_calls) == calls
    with pytest.raises(ConfigError, match="secrets must not be written in the settings"):
        adapter_of(tmp_path, **settings, password=SECRET)


# -- 2. Market Watch -----------------------------------------------------------------------------

def test_symbols_are_selected_into_market_watch_as_they_are_needed(
        terminal: Terminal, tmp_path: Path) -> None:
    async def scenario() -> None:
        adapter = adapter_of(tmp_path, symbols=["EURUSD"])
        assert adapter.market_data is not None
        await adapter.execution.connect()
        await adapter.market_data.connect()
        try:
            assert terminal.selected == {"EURUSD"}  # the configured ones, at connect
            # an order on a symbol not in ``symbols`` selects it first (its price is read)
            await adapter.execution.submit_order(Order(
                "MW-1", "mw", "USDJPY", OrderSide.BUY, OrderType.MARKET, Decimal("0.10"), 0))
            assert [(d["symbol"], d["comment"]) for d in terminal.deals[1:]] == [
                ("USDJPY", "MW-1")]
            await adapter.market_data.subscribe_quotes("GBPUSD")
            await adapter.market_data.historical_bars(
                "XAUUSD", "1h", utc_ns(2024, 6, 3), utc_ns(2024, 6, 4))
            assert terminal.selected == {"EURUSD", "USDJPY", "GBPUSD", "XAUUSD"}

            # a restarted terminal lost its Market Watch: the reconnect selects them again
            terminal.selected.clear()
            terminal.drop_connection()
            assert (await adapter.execution.account()).account_id == "5001234"
            assert terminal.selected == {"EURUSD", "USDJPY", "GBPUSD", "XAUUSD"}

            # symbols the terminal does not list: clear errors, nothing sent
            with pytest.raises(Mt5FatalError, match="MetaTrader 5 does not list 'EURUSDX'"):
                await adapter.execution.submit_order(Order(
                    "MW-2", "mw", "EURUSDX", OrderSide.BUY, OrderType.MARKET,
                    Decimal("0.10"), 0))
            with pytest.raises(ConfigError, match="MetaTrader 5 does not list 'GER40'"):
                await adapter.market_data.subscribe_quotes("GER40")
            with pytest.raises(ConfigError, match="MetaTrader 5 does not list 'GER40'"):
                await adapter.market_data.historical_bars(
                    "GER40", "1h", utc_ns(2024, 6, 3), utc_ns(2024, 6, 4))
            assert terminal.calls.count("order_send") == 1
        finally:
            await adapter.close()

    asyncio.run(scenario())


def test_an_unknown_symbol_in_the_settings_is_a_config_error_at_connect(
        terminal: Terminal, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as unknown:
        asyncio.run(connect_and_close(adapter_of(tmp_path, symbols=["EURUSD", "EURUSDX"])))
    assert str(unknown.value) == ("broker.settings.symbols: MetaTrader 5 does not list "
                                  "'EURUSDX' (Market Watch cannot select it)")
    assert not terminal.initialized  # the terminal was let go


# -- 3. instruments ------------------------------------------------------------------------------

def test_instruments_come_from_symbol_info(terminal: Terminal, tmp_path: Path) -> None:
    terminal.leverage = 50
    terminal.symbols["US500"] = Spec("US500", 1, 1.0, volume_min=0.1, volume_max=500.0,
                                     volume_step=0.1, base="", profit="USD", margin="USD",
                                     path="Indices\\US500", bid=5000.0, ask=5000.5)
    adapter = adapter_of(tmp_path)

    async def scenario() -> list[Any]:
        found = await adapter.instruments.instruments(["EURUSD", "USDJPY", "XAUUSD", "US500"])
        with pytest.raises(ConfigError) as unknown:
            await adapter.instruments.instruments(["EURUSD", "EURUSX"])
        assert str(unknown.value) == ("MetaTrader 5 does not list 'EURUSX'; did you mean "
                                      "'EURUSD'?")
        every = await adapter.instruments.instruments()
        assert sorted(i.symbol for i in every) == [
            "EURUSD", "GBPUSD", "US500", "USDJPY", "XAUUSD"]
        return found

    eurusd, usdjpy, gold, index = asyncio.run(scenario())
    rows = [(i.symbol, i.asset_class, i.base_currency, i.quote_currency, i.tick_size,
             i.lot_step, i.min_quantity, i.multiplier, i.margin_rate)
            for i in (eurusd, usdjpy, gold, index)]
    assert rows == [
        ("EURUSD", AssetClass.FX, "EUR", "USD", Decimal("0.00001"), Decimal("0.01"),
         Decimal("0.01"), Decimal(100_000), Decimal("0.02")),
        ("USDJPY", AssetClass.FX, "USD", "JPY", Decimal("0.001"), Decimal("0.01"),
         Decimal("0.01"), Decimal(100_000), Decimal("0.02")),
        ("XAUUSD", AssetClass.COMMODITY, "XAU", "USD", Decimal("0.01"), Decimal("0.01"),
         Decimal("0.01"), Decimal(100), Decimal("0.02")),
        # no base currency: the margin currency stands in
        ("US500", AssetClass.CFD, "USD", "USD", Decimal("0.1"), Decimal("0.1"),
         Decimal("0.1"), Decimal(1), Decimal("0.02")),
    ]
    # read without a node running: the terminal was opened for it and let go
    assert not terminal.initialized and len(terminal.init_calls) == 3
    assert terminal.selected >= {"EURUSD", "USDJPY", "XAUUSD", "US500"}


# -- 9. the server's clock ---------------------------------------------------------------------

@pytest.mark.parametrize(("start", "end", "friday_last", "monday_first", "weekend_h"), [
    # autumn: Friday in summer time (UTC+3), Monday in winter time (UTC+2)
    ((2024, 10, 24), (2024, 10, 30), (2024, 10, 25, 20), (2024, 10, 27, 22), 50),
    # spring: Friday in winter time, Monday in summer time
    ((2024, 3, 28), (2024, 4, 3), (2024, 3, 29, 21), (2024, 3, 31, 21), 48),
])
def test_history_bars_across_a_daylight_saving_change_come_out_in_utc(
        terminal: Terminal, tmp_path: Path, start: tuple[int, ...], end: tuple[int, ...],
        friday_last: tuple[int, ...], monday_first: tuple[int, ...], weekend_h: int) -> None:
    async def scenario() -> Any:
        adapter = adapter_of(tmp_path)
        await adapter.execution.connect()
        try:
            assert adapter.market_data is not None
            return await adapter.market_data.historical_bars(
                "EURUSD", "1h", utc_ns(*start), utc_ns(*end))
        finally:
            await adapter.close()

    bars = asyncio.run(scenario())
    ts = bars.ts.tolist()
    assert ts[0] >= utc_ns(*start) and ts[-1] < utc_ns(*end)
    assert not (bars.ts % HOUR_NS).any()
    # the weekend: Friday 23:00 and Monday 00:00 on the server's clock
    gap = ts.index(utc_ns(*monday_first))
    assert ts[gap - 1] == utc_ns(*friday_last)
    assert ts[gap] - ts[gap - 1] == weekend_h * HOUR_NS
    # every other step is one hour: no bar lost or doubled at the change
    steps = np.diff(bars.ts).tolist()
    assert steps.count(HOUR_NS) == len(ts) - 2 and len(set(steps)) == 2

    # the bars the terminal holds for that span, stamped on its wall clock, each at its UTC
    def wall_seconds(fields: tuple[int, ...]) -> int:
        wall = datetime(*fields, tzinfo=UTC).astimezone(ATHENS)  # type: ignore[misc]
        return int(wall.replace(tzinfo=UTC).timestamp())

    raw = terminal.rates("EURUSD", 3600, wall_seconds(start), wall_seconds(end) - 1)
    expected = [int(datetime.fromtimestamp(int(t), UTC).replace(tzinfo=ATHENS).timestamp())
                * 10**9 for t in raw["time"]]
    assert ts == expected
    assert bars.close.tolist() == raw["close"].tolist()
    assert bars.open.tolist() == raw["open"].tolist()


def test_quotes_polled_from_the_server_clock_come_out_in_utc(
        terminal: Terminal, tmp_path: Path) -> None:
    async def scenario() -> QuoteTick:
        adapter = adapter_of(tmp_path)
        assert adapter.market_data is not None
        await adapter.market_data.connect()
        try:
            await adapter.market_data.subscribe_quotes("EURUSD")
            terminal.set_price("EURUSD", 1.09123, 1.09133)
            async with asyncio.timeout(15):
                async for item in adapter.market_data.stream():
                    if isinstance(item, QuoteTick) and item.bid == 1.09123:
                        return item
            raise AssertionError("no quote")
        finally:
            await adapter.close()

    quote = asyncio.run(scenario())
    msc = terminal.ticks["EURUSD"][-1][0]  # the server's wall clock, in ms
    wall = datetime.fromtimestamp(msc / 1000, UTC).replace(tzinfo=ATHENS)
    offset = wall.utcoffset()
    assert offset is not None and offset.total_seconds() in (7200, 10800)
    assert quote.ts == (msc - int(offset.total_seconds() * 1000)) * 10**6
    assert quote.ask == 1.09133
