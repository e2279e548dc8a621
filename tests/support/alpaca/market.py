"""Assets, the current quote of each, the ticks that happened on the server, and bar history.

History is a deterministic function of the symbol and the minute (a slow wave plus seeded
noise), so every page of a paged request and every run agree; stocks have one-minute bars in
the regular session only (09:30 to 16:00 New York, weekdays), crypto around the clock.
Longer bars aggregate the one-minute ones: hours and minutes on the UTC grid, days from
midnight New York for stocks and midnight UTC for crypto, as Alpaca labels them.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
NS_PER_MINUTE = 60 * 10**9
OPEN_MINUTE, CLOSE_MINUTE = 9 * 60 + 30, 16 * 60  # regular session, New York time


@dataclass(frozen=True)
class AssetSpec:
    """One asset as ``/v2/assets`` lists it, with its opening quote.

    Attributes
    ----------
    symbol : str
        ``AAPL`` or ``BTC/USD``.
    asset_class : str
        ``us_equity`` or ``crypto``.
    exchange : str
    bid, ask : Decimal
        The opening quote.
    fractionable, marginable, shortable : bool
    min_order_size, min_trade_increment, price_increment : str
        Crypto only (stocks leave them empty, as Alpaca does).
    """

    symbol: str
    asset_class: str
    exchange: str
    bid: Decimal
    ask: Decimal
    fractionable: bool = True
    marginable: bool = True
    shortable: bool = True
    min_order_size: str = ""
    min_trade_increment: str = ""
    price_increment: str = ""

    @property
    def crypto(self) -> bool:
        """True for a crypto pair."""
        return self.asset_class == "crypto"

    @property
    def id(self) -> str:
        """A stable asset id (a UUID derived from the symbol)."""
        digest = f"{zlib.crc32(self.symbol.encode()):08x}"
        return f"{digest}-0000-4000-8000-{digest}{digest[:4]}"

    def as_json(self) -> dict[str, Any]:
        """The asset as Alpaca answers it."""
        out: dict[str, Any] = {
            "id": self.id, "class": self.asset_class, "exchange": self.exchange,
            "symbol": self.symbol, "name": self.symbol, "status": "active", "tradable": True,
            "marginable": self.marginable and not self.crypto,
            "shortable": self.shortable and not self.crypto,
            "easy_to_borrow": self.shortable and not self.crypto,
            "fractionable": self.fractionable, "attributes": [],
        }
        if self.crypto:
            out.update(min_order_size=self.min_order_size,
                       min_trade_increment=self.min_trade_increment,
                       price_increment=self.price_increment)
        return out


DEFAULT_ASSETS: tuple[AssetSpec, ...] = (
    AssetSpec("AAPL", "us_equity", "NASDAQ", Decimal("150.00"), Decimal("150.02")),
    AssetSpec("SPY", "us_equity", "ARCA", Decimal("500.00"), Decimal("500.01")),
    AssetSpec("GOOG", "us_equity", "NASDAQ", Decimal("140.00"), Decimal("140.02")),
    AssetSpec("BTC/USD", "crypto", "CRYPTO", Decimal("65000"), Decimal("65010"),
              min_order_size="0.0001", min_trade_increment="0.000000001",
              price_increment="1"),
    AssetSpec("ETH/USD", "crypto", "CRYPTO", Decimal("3500.0"), Decimal("3500.5"),
              min_order_size="0.001", min_trade_increment="0.000000001",
              price_increment="0.1"),
)


@dataclass
class Tick:
    """A quote or trade that happened on the server (for the historical quotes and trades)."""

    ts: int
    values: dict[str, Any]


@dataclass
class Market:
    """Quotes and history of the listed assets.

    Parameters
    ----------
    assets : tuple of AssetSpec
    seed : int
        Seeds the generated history.
    """

    assets: tuple[AssetSpec, ...] = DEFAULT_ASSETS
    seed: int = 7
    quotes: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    quote_log: dict[str, list[Tick]] = field(default_factory=dict)
    trade_log: dict[str, list[Tick]] = field(default_factory=dict)
    _last_ts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_symbol = {a.symbol: a for a in self.assets}
        for asset in self.assets:
            self.quotes[asset.symbol] = (asset.bid, asset.ask)

    def asset(self, symbol: str) -> AssetSpec | None:
        """The asset of ``symbol`` (``BTCUSD`` finds ``BTC/USD`` too)."""
        found = self.by_symbol.get(symbol)
        if found is None and "/" not in symbol:
            found = next((a for a in self.assets if a.symbol.replace("/", "") == symbol), None)
        return found

    def stamp(self, symbol: str) -> int:
        """Now, in ns, strictly after the last tick of ``symbol``."""
        ts = max(time.time_ns(), self._last_ts.get(symbol, 0) + 1)
        self._last_ts[symbol] = ts
        return ts

    def set_quote(self, symbol: str, bid: Decimal, ask: Decimal) -> int:
        """Make ``bid``/``ask`` the market; returns the quote's time."""
        self.quotes[symbol] = (bid, ask)
        ts = self.stamp(symbol)
        self.quote_log.setdefault(symbol, []).append(Tick(ts, {"bp": bid, "ap": ask}))
        return ts

    def record_trade(self, symbol: str, price: Decimal, size: Decimal, trade_id: int) -> int:
        """A trade printed on the tape; returns its time."""
        ts = self.stamp(symbol)
        self.trade_log.setdefault(symbol, []).append(
            Tick(ts, {"p": price, "s": size, "i": trade_id}))
        return ts

    def mid(self, symbol: str) -> Decimal:
        """The middle of the current quote."""
        bid, ask = self.quotes[symbol]
        return (bid + ask) / 2

    # -- history ------------------------------------------------------------------------------

    def minute_bar(self, symbol: str, minute: int) -> dict[str, Any] | None:
        """The one-minute bar opening at ``minute`` (minutes since the epoch), None when the
        market had none (stocks outside the regular session)."""
        asset = self.by_symbol[symbol]
        if not asset.crypto and not in_session(minute):
            return None
        base = float((asset.bid + asset.ask) / 2)
        o, c = self._level(symbol, base, minute), self._level(symbol, base, minute + 1)
        u1, u2, u3 = (self._noise(symbol, minute, k) for k in (1, 2, 3))
        high = max(o, c) * (1 + 0.0006 * u1)
        low = min(o, c) * (1 - 0.0006 * u2)
        quantum = Decimal("0.01")
        out: dict[str, Any] = {
            "t": minute * NS_PER_MINUTE,
            "o": Decimal(repr(o)).quantize(quantum), "c": Decimal(repr(c)).quantize(quantum),
            "h": Decimal(repr(high)).quantize(quantum, ROUND_CEILING),
            "l": Decimal(repr(low)).quantize(quantum, ROUND_FLOOR),
            "v": Decimal(100 + int(u3 * 5000)) if not asset.crypto
            else Decimal(repr(round(0.01 + u3, 6))),
            "n": 10 + int(u3 * 90),
        }
        out["h"] = max(out["h"], out["o"], out["c"])
        out["l"] = min(out["l"], out["o"], out["c"])
        out["vw"] = ((out["h"] + out["l"] + out["c"]) / 3).quantize(Decimal("0.0001"))
        return out

    def bars(self, symbol: str, minutes: int, start_ns: int, end_ns: int
             ) -> Iterator[dict[str, Any]]:
        """Bars of ``minutes`` (1440: a day) opening in ``[start_ns, end_ns]``, oldest first."""
        asset = self.by_symbol[symbol]
        first = -(-start_ns // NS_PER_MINUTE)
        last = end_ns // NS_PER_MINUTE
        if minutes == 1:
            for minute in range(first, last + 1):
                bar = self.minute_bar(symbol, minute)
                if bar is not None:
                    yield bar
            return
        bucket: list[dict[str, Any]] = []
        label = None
        for minute in range(bucket_start(first, minutes, asset.crypto), last + minutes):
            key = bucket_start(minute, minutes, asset.crypto)
            if key != label:
                if bucket and label is not None and start_ns <= label * NS_PER_MINUTE <= end_ns:
                    yield _merge(bucket, label)
                bucket, label = [], key
                if key * NS_PER_MINUTE > end_ns:
                    return
            bar = self.minute_bar(symbol, minute)
            if bar is not None:
                bucket.append(bar)
        if bucket and label is not None and start_ns <= label * NS_PER_MINUTE <= end_ns:
            yield _merge(bucket, label)

    def _level(self, symbol: str, base: float, minute: int) -> float:
        phase = (zlib.crc32(symbol.encode()) % 1000) / 1000 * 2 * math.pi
        wave = 0.03 * math.sin(minute / 4320 * 2 * math.pi + phase) \
            + 0.004 * math.sin(minute / 37 + phase)
        return base * (1 + wave + 0.0008 * (self._noise(symbol, minute, 0) - 0.5))

    def _noise(self, symbol: str, minute: int, k: int) -> float:
        return (zlib.crc32(f"{self.seed}|{symbol}|{minute}|{k}".encode()) % 100_000) / 100_000


def in_session(minute: int) -> bool:
    """True when the minute (since the epoch) is inside a weekday's regular session."""
    moment = datetime.fromtimestamp(minute * 60, UTC).astimezone(NEW_YORK)
    of_day = moment.hour * 60 + moment.minute
    return moment.weekday() < 5 and OPEN_MINUTE <= of_day < CLOSE_MINUTE


def bucket_start(minute: int, minutes: int, crypto: bool) -> int:
    """The first minute of the bar of ``minutes`` that holds ``minute``."""
    if minutes < 1440 or crypto:
        return minute // minutes * minutes
    moment = datetime.fromtimestamp(minute * 60, UTC).astimezone(NEW_YORK)
    midnight = datetime.combine(moment.date(), datetime.min.time(), NEW_YORK)
    return int(midnight.timestamp()) // 60


def day_minutes(day: date) -> tuple[int, int]:
    """The first and last minute of the regular session of ``day``."""
    opening = datetime.combine(day, datetime.min.time(), NEW_YORK) + timedelta(
        minutes=OPEN_MINUTE)
    return int(opening.timestamp()) // 60, int(opening.timestamp()) // 60 + 389


def _merge(bars: list[dict[str, Any]], label: int) -> dict[str, Any]:
    volume = sum((b["v"] for b in bars), Decimal(0))
    return {"t": label * NS_PER_MINUTE, "o": bars[0]["o"], "c": bars[-1]["c"],
            "h": max(b["h"] for b in bars), "l": min(b["l"] for b in bars), "v": volume,
            "n": sum(b["n"] for b in bars),
            "vw": (sum((b["vw"] * b["v"] for b in bars), Decimal(0)) / volume).quantize(
                Decimal("0.0001")) if volume else bars[-1]["c"]}


__all__ = ["DEFAULT_ASSETS", "NEW_YORK", "NS_PER_MINUTE", "AssetSpec", "Market", "Tick",
           "bucket_start", "day_minutes", "in_session"]
