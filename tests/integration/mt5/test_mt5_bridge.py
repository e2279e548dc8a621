"""The MetaTrader 5 adapter through the RPC bridge: the real bridge server
(``deploy/mt5/mt5_bridge.py``) runs as a subprocess on 127.0.0.1 over the stand-in module, with
a token; the adapter reaches it with ``bridge = "127.0.0.1:PORT"``. The stand-in's terminal
lives in the bridge's process, so the tests steer it through the bridge too
(``standin_set_price``...)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import threading
import time
from collections import namedtuple
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import support.mt5_standin as standin
from support.mt5_bridge import SCRIPT, TOKEN, BridgeProcess, bridge_env, run_bridge
from tradeloop.brokers.base import BrokerAdapter
from tradeloop.brokers.mt5 import build_adapter, load_config
from tradeloop.brokers.mt5.bridge import BridgeError, BridgeModule, decode, encode
from tradeloop.brokers.mt5.client import Mt5Client
from tradeloop.brokers.mt5.errors import (
    Mt5FatalError,
    Mt5OutcomeUnknownError,
    Mt5RetryableError,
)
from tradeloop.core.errors import ConfigError
from tradeloop.core.logging import redact_text
from tradeloop.model import events as ev
from tradeloop.model.data import QuoteTick
from tradeloop.model.enums import AssetClass, OrderSide, OrderType
from tradeloop.model.orders import Order

HOUR_NS = 3600 * 10**9
TOKEN_VARIABLE = "MT5_BRIDGE_TOKEN"


def adapter_on(address: str, token: str | None = TOKEN, **settings: Any) -> BrokerAdapter:
    """The adapter as a node builds it from ``[broker.settings]``."""
    values: dict[str, Any] = {"bridge": address, "symbols": ["EURUSD"],
                              "poll_interval_s": 0.05, **settings}
    environ = {}
    if token is not None:
        values["bridge_token_env"] = TOKEN_VARIABLE
        environ[TOKEN_VARIABLE] = token
    return build_adapter(load_config(values, environ=environ))


def order(cid: str, side: OrderSide, quantity: str, price: str | None = None) -> Order:
    kind = OrderType.MARKET if price is None else OrderType.LIMIT
    return Order(cid, "bridge-test", "EURUSD", side, kind, Decimal(quantity), time.time_ns(),
                 price=Decimal(price) if price is not None else None)


async def wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 15
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.02)


def fills_of(events: list[ev.OrderEvent]) -> list[tuple[str, Decimal, Decimal]]:
    return [(e.client_order_id, e.last_qty, e.last_px) for e in events
            if isinstance(e, ev.OrderFilled)]


@pytest.fixture
def local_standin() -> Iterator[Any]:
    """The stand-in of this process (for comparisons with the bridge's), reset around."""
    standin.TERMINAL.reset()
    yield standin
    standin.TERMINAL.reset()


def test_the_adapter_trades_and_reads_history_through_the_bridge(
        bridge: BridgeProcess, local_standin: Any) -> None:
    steer = bridge.steering()
    end = time.time_ns() // HOUR_NS * HOUR_NS - 24 * HOUR_NS
    start = end - 5 * 24 * HOUR_NS

    async def scenario() -> tuple[Any, list[ev.OrderEvent]]:
        adapter = adapter_on(bridge.address)
        events: list[ev.OrderEvent] = []
        adapter.execution.bind(events.append)
        await adapter.execution.connect()
        try:
            eurusd, gold = await adapter.instruments.instruments(["EURUSD", "XAUUSD"])
            assert (eurusd.symbol, eurusd.asset_class, eurusd.tick_size, eurusd.lot_step,
                    eurusd.multiplier) == ("EURUSD", AssetClass.FX, Decimal("0.00001"),
                                           Decimal("0.01"), Decimal(100_000))
            assert (gold.symbol, gold.asset_class, gold.tick_size) == (
                "XAUUSD", AssetClass.COMMODITY, Decimal("0.01"))
            account = await adapter.execution.account()
            assert (account.account_id, account.currency, account.balance) == (
                "5001234", "USD", Decimal(100_000))

            # a market order fills at the ask the test set through the bridge
            steer.standin_set_price("EURUSD", 1.10000, 1.10012)
            await adapter.execution.submit_order(order("bridge-buy-1", OrderSide.BUY, "0.10"))
            assert fills_of(events) == [("bridge-buy-1", Decimal("0.10"), Decimal("1.10012"))]
            [held] = await adapter.execution.positions()
            assert (held.symbol, held.quantity, held.avg_px) == (
                "EURUSD", Decimal("0.10"), Decimal("1.10012"))

            # a resting limit fills when the market reaches it (seen by the adapter's polling)
            await adapter.execution.submit_order(
                order("bridge-sell-1", OrderSide.SELL, "0.10", "1.10100"))
            assert [o.client_order_id for o in await adapter.execution.open_orders()] == [
                "bridge-sell-1"]
            steer.standin_set_price("EURUSD", 1.10100, 1.10112)
            await wait_for(lambda: len(fills_of(events)) == 2, "the limit order's fill")
            assert fills_of(events)[1] == ("bridge-sell-1", Decimal("0.10"), Decimal("1.10100"))
            assert await adapter.execution.positions() == []
            since = await adapter.execution.fills_since(0)
            assert [(f.client_order_id, f.quantity, f.price) for f in since] == fills_of(events)

            # quotes: ticks polled with copy_ticks_from (record arrays through the bridge)
            assert adapter.market_data is not None
            await adapter.market_data.connect()
            await adapter.market_data.subscribe_quotes("EURUSD")
            steer.standin_set_price("EURUSD", 1.10200, 1.10210)
            quote = None
            async with asyncio.timeout(15):
                async for item in adapter.market_data.stream():
                    if isinstance(item, QuoteTick) and item.bid == 1.102:
                        quote = item
                        break
            assert quote is not None and quote.ask == 1.1021
            # stamped in UTC, not in the server's clock (two or three hours ahead)
            assert abs(quote.ts - time.time_ns()) < 600 * 10**9

            bars = await adapter.market_data.historical_bars("EURUSD", "1h", start, end)
            # every call of every connection ran on the bridge's one terminal thread
            assert steer.symbols_total() == 4
            assert steer.standin_threads() == 1
        finally:
            await adapter.close()
        return bars, events

    bars, _ = asyncio.run(scenario())
    deals = [(d["comment"], d["volume"], d["price"]) for d in steer.standin_deals()
             if d["comment"].startswith("bridge-")]
    assert deals == [("bridge-buy-1", 0.1, 1.10012), ("bridge-sell-1", 0.1, 1.101)]

    # copy_rates_range through the bridge gives what the module gives in-process
    local_standin.TERMINAL.set_price("EURUSD", 1.10200, 1.10210)

    async def in_process() -> Any:
        adapter = build_adapter(load_config({"module": "support.mt5_standin"}))
        await adapter.execution.connect()
        try:
            assert adapter.market_data is not None
            return await adapter.market_data.historical_bars("EURUSD", "1h", start, end)
        finally:
            await adapter.close()

    expected = asyncio.run(in_process())
    assert len(bars.ts) >= 48
    assert np.array_equal(bars.ts, expected.ts)
    for column in ("open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(bars, column), getattr(expected, column)), column
    assert bars.ts[0] >= start and bars.ts[-1] < end and not (bars.ts % HOUR_NS).any()


def test_last_error_travels_with_its_call(bridge: BridgeProcess) -> None:
    first = bridge.steering()
    second = BridgeModule("127.0.0.1", bridge.port, token=TOKEN)
    try:
        assert first.initialize() is True
        assert first.symbol_info("NOPE") is None
        # another connection's call in between does not change the first one's error
        assert second.account_info().login == 5_001_234
        assert second.last_error() == (1, "Success")
        assert first.last_error() == (-4, "Terminal: Not found")
        assert first.symbol_info("EURUSD").digits == 5
        assert first.last_error() == (1, "Success")
    finally:
        second.close()

    async def scenario() -> None:
        adapter = adapter_on(bridge.address)
        await adapter.execution.connect()
        try:
            client = adapter.execution.client  # type: ignore[attr-defined]
            with pytest.raises(Mt5FatalError, match=r"symbol_info failed: last_error -4 "
                                                    r"Terminal: Not found"):
                await client.call("symbol_info", "NOPE")
        finally:
            await adapter.close()

    asyncio.run(scenario())


class RawSession:
    """A plain socket speaking the protocol line by line."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), 10)
        self.reader = self.sock.makefile("r", encoding="utf-8")

    def send(self, line: str | dict[str, Any]) -> Any:
        text = line if isinstance(line, str) else json.dumps(line)
        self.sock.sendall(text.encode("utf-8") + b"\n")
        answer = self.reader.readline()
        return json.loads(answer) if answer else None

    def close(self) -> None:
        self.sock.close()


def test_requests_the_bridge_cannot_serve_get_error_answers(bridge: BridgeProcess) -> None:
    raw = RawSession(bridge.port)
    try:
        assert raw.send({"auth": TOKEN}) == {"ok": True}
        answer = raw.send("this is not json")
        assert answer["kind"] == "request" and answer["error"].startswith("request 1: not JSON")
        assert raw.send({"fn": "no_such_function"}) == {
            "kind": "request", "error": "request 2 (no_such_function): support.mt5_standin "
                                        "has no public function of that name"}
        # only public functions: no private ones, no attributes, no classes
        for number, name in enumerate(("_call", "TERMINAL", "Terminal", "records"), start=3):
            refused = raw.send({"fn": name})
            assert refused["kind"] == "request", name
            assert refused["error"].startswith(f"request {number} ({name}): "), refused
        assert raw.send({"fn": "symbol_info", "args": "EURUSD"})["kind"] == "request"
        assert raw.send({"fn": "initialize"}) == {"result": True, "last_error": [1, "Success"]}
        failed = raw.send({"fn": "symbol_info"})  # raises TypeError on the far side
        assert failed["kind"] == "call" and "(symbol_info): TypeError" in failed["error"]
        assert failed["last_error"] == [1, "Success"]
        # the connection still serves
        assert raw.send({"fn": "symbols_total"}) == {"result": 4, "last_error": [1, "Success"]}
        constants = raw.send({"fn": "__constants__"})["result"]
        assert constants["ORDER_TYPE_BUY_LIMIT"] == 2 and constants["TIMEFRAME_H1"] == 0x4001
        assert "TERMINAL" not in constants and "RATES_DTYPE" not in constants
    finally:
        raw.close()

    async def scenario() -> None:
        adapter = adapter_on(bridge.address)
        await adapter.execution.connect()
        client: Mt5Client = adapter.execution.client  # type: ignore[attr-defined]
        try:
            with pytest.raises(Mt5FatalError, match="no public function"):
                await client.call("no_such_function")
            with pytest.raises(Mt5FatalError, match="TypeError"):
                await client.call("symbol_info")  # a read that raised: fatal
            with pytest.raises(Mt5OutcomeUnknownError, match="TypeError"):
                await client.call("order_send", state_change=True)  # it may have run
            assert await client.call("symbols_total") == 4
        finally:
            await adapter.close()

    asyncio.run(scenario())
    assert "Traceback" not in bridge.output()


def test_a_wrong_or_missing_token_is_refused_and_never_logged(bridge: BridgeProcess) -> None:
    wrong = "tl-not-the-token-51f0"
    for first_line in ({"auth": wrong}, {"fn": "account_info"}, {"auth": ""}):
        raw = RawSession(bridge.port)
        try:
            assert raw.send(first_line) == {
                "error": "authentication failed: wrong or missing token", "kind": "auth"}
            assert raw.reader.readline() == ""  # and the connection is closed
        finally:
            raw.close()
    with pytest.raises(BridgeError, match="wrong or missing token") as refused:
        BridgeModule("127.0.0.1", bridge.port, token=wrong).account_info()
    assert refused.value.kind == "auth"

    async def connect(token: str | None) -> None:
        adapter = adapter_on(bridge.address, token)
        try:
            await adapter.execution.connect()
        finally:
            await adapter.close()

    for token in (wrong, None):
        with pytest.raises(Mt5FatalError, match="bridge failed: authentication failed"):
            asyncio.run(connect(token))
    asyncio.run(connect(TOKEN))  # the right one is taken
    output = bridge.output()
    assert output.count("refused 127.0.0.1:") == 6  # 3 raw, the module, 2 adapters
    assert TOKEN not in output and wrong not in output


def test_the_token_comes_from_the_environment_only() -> None:
    config = load_config({"bridge": "127.0.0.1:18812", "bridge_token_env": "BRIDGE_SECRET"},
                         environ={"BRIDGE_SECRET": "tl-config-token-77aa"})
    assert config.bridge_token is not None
    assert config.bridge_token.get_secret_value() == "tl-config-token-77aa"
    assert "tl-config-token-77aa" not in repr(config)
    assert "tl-config-token-77aa" not in redact_text("sent tl-config-token-77aa")  # registered
    with pytest.raises(ConfigError, match="bridge_token: secrets must not be written"):
        load_config({"bridge": "127.0.0.1:18812", "bridge_token": "abc"})
    with pytest.raises(ConfigError, match="BRIDGE_SECRET is not set"):
        load_config({"bridge": "127.0.0.1:18812", "bridge_token_env": "BRIDGE_SECRET"},
                    environ={})
    with pytest.raises(ConfigError, match="needs a bridge"):
        load_config({"bridge_token_env": "BRIDGE_SECRET"}, environ={"BRIDGE_SECRET": "x"})


def test_the_bridge_refuses_to_start_exposed_without_a_token() -> None:
    public = run_bridge("--host", "0.0.0.0", "--port", "0")
    assert public.returncode == 2
    assert "refusing to start: listening on 0.0.0.0" in public.stderr
    assert "needs a token (--token-env NAME)" in public.stderr
    assert "listening on 0.0.0.0:" not in public.stderr and "Traceback" not in public.stderr
    unset = run_bridge("--port", "0", "--token-env", "MT5_BRIDGE_UNSET_VARIABLE")
    assert unset.returncode == 2
    assert "MT5_BRIDGE_UNSET_VARIABLE (--token-env) is not set or empty" in unset.stderr
    missing = run_bridge("--port", "0", "--module", "no_such_mt5_module",
                         env=bridge_env())
    assert missing.returncode == 1 and "cannot import no_such_mt5_module" in missing.stderr


def _server_module() -> Any:
    spec = importlib.util.spec_from_file_location("mt5_bridge_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_loopback_detection_and_the_value_encoding_of_both_sides() -> None:
    server = _server_module()
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        assert server.is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.20", "10.0.0.5", ""):
        assert not server.is_loopback(host), host
    # results: server encode -> JSON -> client decode
    Point = namedtuple("Point", ["x", "label"])
    rates = np.zeros(2, dtype=[("time", "<i8"), ("close", "<f8"), ("tick_volume", "<u8")])
    rates[0] = (1_704_153_600, 1.08486, 350)
    rates[1] = (1_704_157_200, 1.08437, 476)
    sent = {"nt": Point(np.float64(1.5), "a"), "rows": rates, "n": np.int64(7),
            "at": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "many": (1, [2, 3])}
    got = decode(json.loads(json.dumps(server.encode(sent))))
    assert got["nt"] == (1.5, "a") and type(got["nt"]).__name__ == "Point"
    assert got["nt"].label == "a"
    assert got["rows"] == [{"time": 1_704_153_600, "close": 1.08486, "tick_volume": 350},
                           {"time": 1_704_157_200, "close": 1.08437, "tick_volume": 476}]
    assert got["n"] == 7 and got["many"] == (1, (2, 3))
    assert got["at"] == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    # arguments: client encode -> JSON -> server decode (a datetime's fields are kept)
    wall = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
    args = server.decode(json.loads(json.dumps(encode(["EURUSD", wall, {"volume": 0.1}]))))
    assert args == ["EURUSD", wall, {"volume": 0.1}]
    with pytest.raises(TypeError, match="cannot send a object value"):
        server.encode(object())


def test_killing_the_bridge_gives_mapped_errors_and_the_adapter_reconnects(
        bridge: BridgeProcess) -> None:
    async def scenario() -> None:
        adapter = adapter_on(bridge.address)
        events: list[ev.OrderEvent] = []
        adapter.execution.bind(events.append)
        await adapter.execution.connect()
        client: Mt5Client = adapter.execution.client  # type: ignore[attr-defined]
        try:
            assert (await adapter.execution.account()).account_id == "5001234"
            bridge.kill()
            # a read: retryable, after one reconnect attempt
            with pytest.raises(Mt5RetryableError, match="account_info failed"):
                await adapter.execution.account()
            # an order: its price could not be read, nothing was sent
            with pytest.raises(Mt5RetryableError):
                await adapter.execution.submit_order(order("dead-1", OrderSide.BUY, "0.10"))
            # a state change the bridge never received is retryable, not outcome-unknown
            with pytest.raises(Mt5RetryableError, match="cannot reach the bridge"):
                await client.call("order_send", {"action": 1}, state_change=True)
            assert not client.connected

            bridge.start()  # same port; a fresh stand-in terminal (Market Watch empty)
            assert (await adapter.execution.account()).account_id == "5001234"
            assert client.reconnects >= 1 and client.connected
            bridge.steering().standin_set_price("EURUSD", 1.2, 1.20015)
            await adapter.execution.submit_order(order("alive-1", OrderSide.BUY, "0.10"))
            assert fills_of(events) == [("alive-1", Decimal("0.10"), Decimal("1.20015"))]
        finally:
            await adapter.close()

    asyncio.run(scenario())
    assert bridge.output().count("listening on 127.0.0.1:") == 2


class AnswerLost:
    """A bridge-like server that answers every call with True except ``order_send``, whose
    connection it closes without an answer (the request reached it, the answer was lost)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn, conn.makefile("rwb") as stream:
                for line in stream:
                    fn = json.loads(line)["fn"]
                    self.requests.append(fn)
                    if fn == "order_send":
                        break
                    stream.write(b'{"result": true, "last_error": [1, "Success"]}\n')
                    stream.flush()

    def close(self) -> None:
        self.listener.close()


def test_a_state_change_whose_answer_is_lost_is_outcome_unknown_and_never_resent() -> None:
    server = AnswerLost()

    async def scenario() -> None:
        client = Mt5Client(load_config({"bridge": f"127.0.0.1:{server.port}"}))
        await client.open()
        try:
            with pytest.raises(Mt5OutcomeUnknownError, match="order_send failed"):
                await client.call("order_send", {"action": 1}, state_change=True)
            assert await client.call("symbols_total") is True  # a read goes on
        finally:
            await client.close()

    try:
        asyncio.run(scenario())
    finally:
        server.close()
    assert server.requests.count("order_send") == 1


def test_a_bridge_without_a_token_takes_clients_with_or_without_one(tmp_path: Path) -> None:
    process = BridgeProcess(tmp_path / "open-bridge", None).start()
    try:
        assert BridgeModule("127.0.0.1", process.port, token=TOKEN).initialize() is True
        assert BridgeModule("127.0.0.1", process.port).initialize() is True
    finally:
        process.stop()
    assert "token not required: loopback only" in process.output()
    assert TOKEN not in process.output()
