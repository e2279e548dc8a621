"""Fyers' instruments, from its symbol master files (:class:`SymbolBook`).

Fyers publishes one JSON file per segment (``NSE_CM``, ``NSE_FO``, ``BSE_CM``, ``BSE_FO``,
``MCX_COM``, ``NSE_CD``...), keyed by symbol (``NSE:SBIN-EQ``), with the lot size
(``minLotSize``: F&O quantities are multiples of it), the tick size and, for MCX, the quantity
multiplier. A file is read once a day and kept under the adapter's home, so a restart does
not download tens of megabytes again.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradeloop.brokers.fyers.client import FyersClient
from tradeloop.brokers.fyers.parse import IST, decimal
from tradeloop.core.errors import ConfigError
from tradeloop.model.enums import AssetClass
from tradeloop.model.instrument import Instrument

logger = logging.getLogger(__name__)

_DERIVATIVE = re.compile(r"(FUT|\d+(CE|PE))$")
#: Every symbol master file of an exchange.
EXCHANGE_FILES = {"NSE": ["NSE_CM", "NSE_FO", "NSE_CD", "NSE_COM"], "BSE": ["BSE_CM", "BSE_FO"],
                  "MCX": ["MCX_COM"]}


def segment_files(symbol: str) -> list[str]:
    """The symbol master files that may list ``symbol``, most likely first.

    Raises
    ------
    ConfigError
        Not a Fyers symbol (``EXCHANGE:NAME`` on NSE, BSE or MCX).
    """
    exchange, sep, name = symbol.partition(":")
    if not sep or not name:
        raise ConfigError(f"{symbol!r} is not a Fyers symbol such as \"NSE:SBIN-EQ\"")
    derivative = bool(_DERIVATIVE.search(name))
    if exchange == "NSE":
        return ["NSE_FO", "NSE_CD", "NSE_COM"] if derivative else ["NSE_CM"]
    if exchange == "BSE":
        return ["BSE_FO"] if derivative else ["BSE_CM"]
    if exchange == "MCX":
        return ["MCX_COM"]
    raise ConfigError(f"{symbol!r}: Fyers trades NSE, BSE and MCX symbols only")


def instrument_of(entry: dict[str, Any], venue: str) -> Instrument:
    """The instrument of a symbol master entry."""
    symbol = str(entry.get("symTicker") or "")
    segment = int(entry.get("segment") or 10)
    exchange = str(entry.get("exchangeName") or symbol.partition(":")[0])
    lot = decimal(entry.get("minLotSize")) or Decimal(1)
    multiplier = decimal(entry.get("qtyMultiplier")) if exchange == "MCX" else Decimal(1)
    if segment == 10:
        asset = AssetClass.EQUITY
    elif segment == 20 or exchange == "MCX":
        asset = AssetClass.COMMODITY
    else:
        asset = AssetClass.FUTURE
    currency = str(entry.get("currencyCode") or "INR")
    return Instrument(symbol, venue, asset, currency, currency,
                      decimal(entry.get("tickSize")) or Decimal("0.05"), lot, lot,
                      multiplier if multiplier > 0 else Decimal(1))


class SymbolBook:
    """Symbol master entries, loaded by segment on demand.

    Parameters
    ----------
    client : FyersClient
    cache_dir : Path or None
        Where the day's files are kept (None: not kept).
    """

    def __init__(self, client: FyersClient, cache_dir: Path | None) -> None:
        self.client = client
        self.cache_dir = cache_dir
        self._files: dict[str, dict[str, Any]] = {}
        #: Files downloaded (not read from the cache) so far.
        self.downloads = 0

    async def entry(self, symbol: str) -> dict[str, Any]:
        """The symbol master entry of ``symbol``.

        Raises
        ------
        ConfigError
            Fyers does not list it (with the closest symbol it does list).
        """
        files = segment_files(symbol)
        for name in files:
            found = (await self._file(name)).get(symbol)
            if isinstance(found, dict):
                return found
        others = [f for f in EXCHANGE_FILES[symbol.partition(":")[0]] if f not in files]
        for name in others:  # a misspelt symbol may point to the wrong segment
            elsewhere = (await self._file(name)).get(symbol)
            if isinstance(elsewhere, dict):
                return elsewhere
        listed = [s for name in files + others for s in self._files.get(name, {})]
        hint = difflib.get_close_matches(symbol, listed, n=1, cutoff=0.6)
        also = f"; did you mean {hint[0]!r}?" if hint else ""
        raise ConfigError(f"Fyers does not list {symbol!r}{also}")

    async def instrument(self, symbol: str) -> Instrument:
        """The instrument of ``symbol`` (ConfigError when unknown)."""
        return instrument_of(await self.entry(symbol), self.client.config.venue)

    async def instruments(self, symbols: Sequence[str]) -> list[Instrument]:
        """The instruments of ``symbols``, in order."""
        return [await self.instrument(s) for s in symbols]

    async def _file(self, name: str) -> dict[str, Any]:
        known = self._files.get(name)
        if known is not None:
            return known
        day = dt.datetime.now(IST).date().isoformat()
        cached = self.cache_dir / f"{name}-{day}.json" if self.cache_dir else None
        data: dict[str, Any] | None = None
        if cached is not None and cached.exists():
            try:
                loaded: Any = json.loads(cached.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                loaded = None
            data = loaded if isinstance(loaded, dict) else None
        if data is None:
            url = f"{self.client.config.symbol_master_url.rstrip('/')}/{name}_sym_master.json"
            fetched = await self.client.public_json(url, f"symbol master {name}")
            data = fetched if isinstance(fetched, dict) else {}
            self.downloads += 1
            if cached is not None:
                self._keep(cached, data)
        self._files[name] = data
        return data

    def _keep(self, path: Path, data: dict[str, Any]) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            for old in path.parent.glob(path.name.rsplit("-", 3)[0] + "-*.json"):
                if old != path:
                    old.unlink(missing_ok=True)
            fd, temp = tempfile.mkstemp(prefix=".sym-", dir=path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            os.replace(temp, path)
        except OSError as exc:
            logger.warning("fyers: could not keep the symbol master", extra={"fields": {
                "path": str(path), "error": str(exc)}})


__all__ = ["SymbolBook", "instrument_of", "segment_files"]
