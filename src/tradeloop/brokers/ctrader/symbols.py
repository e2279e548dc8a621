"""The account's reference data (:class:`SymbolBook`): assets, symbols and the trader.

cTrader names symbols per broker and gives each an id; orders, spots and trendbars speak ids.
The book loads the asset list and the light symbol list once (``ProtoOAAssetListReq``,
``ProtoOASymbolsListReq``), and the full entry of a symbol (digits, volume steps) when it is
first needed (``ProtoOASymbolByIdReq``). Ids are stable for a server, so the book survives
reconnections.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from tradeloop.brokers.ctrader import parse
from tradeloop.brokers.ctrader.client import CtraderClient
from tradeloop.brokers.ctrader.messages import PT, AccountType
from tradeloop.brokers.ctrader.parse import SymbolInfo
from tradeloop.core.errors import ConfigError
from tradeloop.model.instrument import Instrument


class SymbolBook:
    """Symbols by name and id, assets by id, and the trader's settings.

    Parameters
    ----------
    client : CtraderClient
    venue : str
        The venue name on instruments.
    """

    def __init__(self, client: CtraderClient, venue: str) -> None:
        self.client = client
        self.venue = venue
        self._assets: dict[int, str] = {}
        self._light: dict[str, dict[str, Any]] = {}
        self._light_by_id: dict[int, dict[str, Any]] = {}
        self._full: dict[int, SymbolInfo] = {}
        self._trader: dict[str, Any] | None = None

    async def _lists(self) -> None:
        if self._light:
            return
        assets = await self.client.request(PT.ASSET_LIST_REQ, {})
        self._assets = {int(a["assetId"]): str(a.get("name", ""))
                        for a in assets.body.get("asset", [])}
        listed = await self.client.request(PT.SYMBOLS_LIST_REQ, {})
        for light in listed.body.get("symbol", []):
            if light.get("enabled", True) is False:
                continue
            self._light[str(light.get("symbolName", ""))] = light
            self._light_by_id[int(light["symbolId"])] = light

    async def info(self, name: str) -> SymbolInfo:
        """The symbol called ``name``.

        Raises
        ------
        ConfigError
            The account lists no such symbol (with the closest one it does).
        """
        await self._lists()
        light = self._light.get(name)
        if light is None:
            hint = difflib.get_close_matches(name, sorted(self._light), n=1, cutoff=0.6)
            also = f"; did you mean {hint[0]!r}?" if hint else ""
            raise ConfigError(f"cTrader does not list {name!r} for this account{also}")
        return (await self._load([int(light["symbolId"])]))[0]

    async def info_by_id(self, symbol_id: int) -> SymbolInfo | None:
        """The symbol with this id (None when the account does not list it)."""
        await self._lists()
        if symbol_id not in self._light_by_id:
            return None
        return (await self._load([symbol_id]))[0]

    def known(self, symbol_id: int) -> SymbolInfo | None:
        """A symbol already loaded (no request)."""
        return self._full.get(symbol_id)

    async def infos(self, symbol_ids: Sequence[int]) -> dict[int, SymbolInfo]:
        """The symbols of these ids that the account lists."""
        await self._lists()
        wanted = [i for i in dict.fromkeys(symbol_ids) if i in self._light_by_id]
        return {i.symbol_id: i for i in await self._load(wanted)} if wanted else {}

    async def _load(self, symbol_ids: list[int]) -> list[SymbolInfo]:
        missing = [i for i in symbol_ids if i not in self._full]
        if missing:
            answer = await self.client.request(PT.SYMBOL_BY_ID_REQ, {"symbolId": missing})
            for full in answer.body.get("symbol", []):
                symbol_id = int(full["symbolId"])
                light = self._light_by_id.get(symbol_id)
                if light is not None:
                    self._full[symbol_id] = parse.symbol_info(light, full, self._assets)
        for symbol_id in symbol_ids:
            if symbol_id not in self._full:
                raise ConfigError(f"cTrader gave no details of symbol id {symbol_id}")
        return [self._full[i] for i in symbol_ids]

    # -- the trader -------------------------------------------------------------------------

    async def trader(self, refresh: bool = False) -> dict[str, Any]:
        """The trader entity (balance, deposit asset, leverage, account type)."""
        if self._trader is None or refresh:
            answer = await self.client.request(PT.TRADER_REQ, {})
            self._trader = dict(answer.body.get("trader", {}))
        return self._trader

    async def currency(self) -> str:
        """The account's deposit currency."""
        trader = await self.trader()
        await self._lists()
        return self._assets.get(int(trader.get("depositAssetId", 0)), "")

    def cached_currency(self) -> str:
        """The deposit currency as loaded so far ("" before the trader is)."""
        if self._trader is None:
            return ""
        return self._assets.get(int(self._trader.get("depositAssetId", 0)), "")

    async def hedging(self) -> bool:
        """True for a hedging account (several positions per symbol)."""
        trader = await self.trader()
        return int(trader.get("accountType", AccountType.HEDGED)) == AccountType.HEDGED

    async def registered_ms(self) -> int:
        """When the account was registered (the earliest time history requests need)."""
        trader = await self.trader()
        return int(trader.get("registrationTimestamp", 0) or 0) or \
            int(time.time() * 1000) - 365 * 86_400_000

    async def instruments(self, symbols: Sequence[str] | None = None) -> list[Instrument]:
        """The account's symbols as instruments (only ``symbols`` when given, in that order).

        Raises
        ------
        ConfigError
            A symbol the account does not list.
        """
        trader = await self.trader()
        rate = parse.margin_rate(int(trader.get("leverageInCents", 0) or 0))
        if symbols is None:
            await self._lists()
            every = await self.infos(list(self._light_by_id))
            return [parse.instrument(i, self.venue, rate)
                    for i in sorted(every.values(), key=lambda i: i.name)]
        return [parse.instrument(await self.info(n), self.venue, rate) for n in symbols]

    def margin_rate(self) -> Decimal:
        """The account's margin rate (1 until the trader is loaded)."""
        if self._trader is None:
            return Decimal(1)
        return parse.margin_rate(int(self._trader.get("leverageInCents", 0) or 0))


__all__ = ["SymbolBook"]
