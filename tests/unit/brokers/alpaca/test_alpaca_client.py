"""alpaca-py set up for a node: paper or live endpoints by ``paper``, no retries inside the
SDK, a timeout on every request, the adapter's capabilities and its registration."""

from __future__ import annotations

from pathlib import Path

import pytest
from alpaca.common.enums import BaseURL

from tradeloop.brokers.alpaca import NAME, capabilities, create_adapter
from tradeloop.brokers.alpaca.client import AlpacaClient
from tradeloop.brokers.alpaca.config import load_config
from tradeloop.brokers.base import ADAPTERS
from tradeloop.model.enums import OrderType, TimeInForce

ENV = {"APCA_API_KEY_ID": "PKUNITTEST0000000001", "APCA_API_SECRET_KEY": "unit-secret-value"}


@pytest.mark.parametrize(("paper", "rest", "stream"), [
    (True, BaseURL.TRADING_PAPER, BaseURL.TRADING_STREAM_PAPER),
    (False, BaseURL.TRADING_LIVE, BaseURL.TRADING_STREAM_LIVE),
])
def test_paper_chooses_alpacas_paper_or_live_endpoints(paper: bool, rest: BaseURL,
                                                       stream: BaseURL) -> None:
    client = AlpacaClient(load_config({"paper": paper}, ENV))
    assert client.trading._base_url == rest
    assert client.stocks._base_url == BaseURL.DATA
    updates = client.trade_updates(_handler, lambda: None)
    assert updates._endpoint == stream


def test_the_sdk_neither_retries_nor_waits_for_ever() -> None:
    client = AlpacaClient(load_config({"timeout_s": 2.5}, ENV))
    for rest in (client.trading, client.stocks, client.crypto):
        assert rest._retry == 0 and rest._retry_codes == []
        assert rest._session.timeout_s == 2.5


def test_overrides_move_every_endpoint() -> None:
    config = load_config({"trading_url": "http://127.0.0.1:1", "data_url": "http://127.0.0.1:2",
                          "stream_url": "ws://127.0.0.1:3/stream",
                          "data_stream_url": "ws://127.0.0.1:4", "feed": "sip"}, ENV)
    client = AlpacaClient(config)
    assert client.trading._base_url == "http://127.0.0.1:1"
    assert client.crypto._base_url == "http://127.0.0.1:2"
    stocks = client.data_stream(False, lambda msg: None)
    crypto = client.data_stream(True, lambda msg: None)
    assert (stocks._endpoint, crypto._endpoint) == ("ws://127.0.0.1:4/v2/sip",
                                                    "ws://127.0.0.1:4/v1beta3/crypto/us")


def test_capabilities_say_what_alpaca_does_itself() -> None:
    caps = capabilities()
    assert OrderType.MARKET_IF_TOUCHED not in caps.order_types
    assert TimeInForce.GTD not in caps.time_in_force
    assert caps.bracket and caps.trailing_stop and caps.modify and caps.fractional
    assert not caps.hedging and caps.streaming and caps.history


def test_the_adapter_is_registered_by_name(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    assert ADAPTERS[NAME] == "tradeloop.brokers.alpaca:create_adapter"
    adapter = create_adapter({}, variant="", home=tmp_path)
    assert adapter.name == "alpaca" and adapter.execution.venue == "ALPACA"
    assert adapter.market_data is not None and adapter.capabilities == capabilities()


async def _handler(update: object) -> None:
    return None
