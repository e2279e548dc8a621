"""The market data REST API of the local Alpaca: ``/v2/stocks/{bars,quotes,trades}`` and
``/v1beta3/crypto/us/{bars,quotes,trades}``, paged with ``next_page_token``.

Bars come from the generated history (:meth:`~.market.Market.bars`); quotes and trades from
what happened on the server. ``limit`` counts items over all symbols of a page (10,000 at most;
the server's ``page_limit`` caps it lower for tests of paging); the token is opaque (base64 of
the symbol and the time of the next item).
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from typing import Any

from .account import iso_ns
from .errors import AlpacaError, malformed
from .market import Market, Tick
from .orders_api import moment

_TIMEFRAME = re.compile(r"^(\d+)(Min|T|Hour|H|Day|D|Week|W)$")
_UNIT_MINUTES = {"Min": 1, "T": 1, "Hour": 60, "H": 60, "Day": 1440, "D": 1440,
                 "Week": 10080, "W": 10080}
MAX_LIMIT = 10_000


def timeframe_minutes(text: str) -> int:
    """Minutes of Alpaca's ``1Min``, ``15Min``, ``1Hour``, ``1Day``..."""
    found = _TIMEFRAME.match(text or "")
    if found is None:
        raise AlpacaError(400, 40010001, "invalid timeframe")
    amount, unit = int(found.group(1)), found.group(2)
    if (unit in ("Min", "T") and not 1 <= amount <= 59) or (unit in ("Hour", "H") and not \
            1 <= amount <= 23) or (unit in ("Day", "D", "Week", "W") and amount != 1):
        raise AlpacaError(400, 40010001, "invalid timeframe")
    return amount * _UNIT_MINUTES[unit]


def _token(symbol: str, ts: int) -> str:
    return base64.urlsafe_b64encode(f"{symbol}|{ts}".encode()).decode()


def _untoken(token: str) -> tuple[str, int]:
    try:
        symbol, _, ts = base64.urlsafe_b64decode(token.encode()).decode().rpartition("|")
        return symbol, int(ts)
    except (ValueError, UnicodeDecodeError):
        raise malformed("invalid page_token") from None


class DataApi:
    """Market data endpoints over one market.

    Parameters
    ----------
    market : Market
    page_limit : int
        Most items per page whatever ``limit`` asks (10,000 as at Alpaca).
    """

    def __init__(self, market: Market, page_limit: int = MAX_LIMIT) -> None:
        self.market = market
        self.page_limit = page_limit

    def answer(self, kind: str, crypto: bool, params: dict[str, str]) -> dict[str, Any]:
        """``kind`` is ``bars``, ``quotes`` or ``trades``."""
        symbols = [s for s in (params.get("symbols") or "").split(",") if s]
        if not symbols:
            raise AlpacaError(400, 40010001, "missing symbols")
        now = time.time_ns()
        end = moment(params["end"], "end") if params.get("end") else now
        start = moment(params["start"], "start") if params.get("start") else end - 86_400 * 10**9
        limit = min(int(params.get("limit") or 1000), MAX_LIMIT, self.page_limit)
        if limit < 1:
            raise AlpacaError(400, 40010001, "invalid limit")
        minutes = timeframe_minutes(params.get("timeframe", "")) if kind == "bars" else 0
        token = params.get("page_token")
        resume = _untoken(token) if token else None
        out: dict[str, list[dict[str, Any]]] = {}
        taken = 0
        next_token = None
        for symbol in sorted(symbols):
            asset = self.market.by_symbol.get(symbol)
            if asset is None or asset.crypto != crypto:
                continue
            if resume is not None and symbol < resume[0]:
                continue
            since = resume[1] if resume is not None and symbol == resume[0] else start
            for item_ts, item in self._items(kind, symbol, minutes, since, end):
                if taken == limit:
                    next_token = _token(symbol, item_ts)
                    break
                out.setdefault(symbol, []).append(item)
                taken += 1
            if next_token is not None:
                break
        return {kind: out, "next_page_token": next_token,
                **({"currency": "USD"} if not crypto else {})}

    def _items(self, kind: str, symbol: str, minutes: int, start: int, end: int
               ) -> Iterator[tuple[int, dict[str, Any]]]:
        crypto = self.market.by_symbol[symbol].crypto
        if kind == "bars":
            for bar in self.market.bars(symbol, minutes, start, end):
                yield bar["t"], {"t": _time(bar["t"]), "o": float(bar["o"]),
                                 "h": float(bar["h"]), "l": float(bar["l"]),
                                 "c": float(bar["c"]), "v": float(bar["v"]), "n": bar["n"],
                                 "vw": float(bar["vw"])}
            return
        log = self.market.quote_log if kind == "quotes" else self.market.trade_log
        for tick in log.get(symbol, []):
            if start <= tick.ts <= end:
                yield tick.ts, (_quote(tick, crypto) if kind == "quotes"
                                else _trade(tick, crypto))


def _time(ts: int) -> str:
    text = iso_ns(ts)
    return text[:19] + "Z" if text.endswith(".000000000Z") else text


def _quote(tick: Tick, crypto: bool) -> dict[str, Any]:
    out = {"t": iso_ns(tick.ts), "bp": float(tick.values["bp"]), "bs": 1.0,
           "ap": float(tick.values["ap"]), "as": 1.0}
    if not crypto:
        out.update(bx="V", ax="V", c=["R"], z="C")
    return out


def _trade(tick: Tick, crypto: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"t": iso_ns(tick.ts), "p": float(tick.values["p"]),
                           "s": float(tick.values["s"]), "i": tick.values["i"]}
    if crypto:
        out["tks"] = "B"
    else:
        out.update(x="V", c=["@"], z="C")
    return out


__all__ = ["MAX_LIMIT", "DataApi", "timeframe_minutes"]
