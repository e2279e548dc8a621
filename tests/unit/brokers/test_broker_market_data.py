"""A broker's market data as a node's source: when the broker's stream fails (a lost login),
the node's iteration ends with that error, not quietly as if the data had run out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tradeloop.brokers.market import BrokerMarketData
from tradeloop.core.errors import ConfigError
from tradeloop.execution.ports import VenueCapabilities
from tradeloop.model.data import QuoteTick
from tradeloop.model.enums import OrderType, TimeInForce


class LostLogin(ConfigError):
    pass


class QuotesThenFailure:
    """A market data client (the port) whose quote stream gives two quotes, then fails or
    ends."""

    capabilities = VenueCapabilities(
        order_types=frozenset({OrderType.MARKET}), time_in_force=frozenset({TimeInForce.DAY}),
        quotes=True, trades=False, bars=False, history=False, streaming=True)

    def __init__(self, failure: Exception | None) -> None:
        self.failure = failure

    async def connect(self) -> None:
        return None

    async def disconnect(self) -> None:
        return None

    async def subscribe_quotes(self, symbol: str) -> None:
        return None

    async def stream(self) -> AsyncIterator[QuoteTick]:
        for k in range(2):
            yield QuoteTick("ABC", 1_000 + k, 10.0, 10.1, 1.0, 1.0)
        if self.failure is not None:
            raise self.failure


async def _drain(source: BrokerMarketData) -> list[object]:
    await source.start()
    return [item async for item in source]


def test_a_failing_stream_ends_the_iteration_with_its_error() -> None:
    source = BrokerMarketData(QuotesThenFailure(LostLogin("login expired: log in again")),
                              ["ABC@quotes"], "test")  # type: ignore[arg-type]
    with pytest.raises(LostLogin, match="login expired"):
        asyncio.run(_drain(source))


def test_a_stream_that_ends_ends_the_iteration_quietly() -> None:
    source = BrokerMarketData(QuotesThenFailure(None), ["ABC@quotes"],
                              "test")  # type: ignore[arg-type]
    items = asyncio.run(_drain(source))
    assert [type(i).__name__ for i in items] == ["QuoteTick", "QuoteTick"]
