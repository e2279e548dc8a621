"""The read-only requests of the local cTrader proxy: reference data, the trader, open
positions and orders, deal and order history, unrealised PnL and trendbars."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from tradeloop.brokers.ctrader import messages as m
from tradeloop.brokers.ctrader.messages import PT, TRENDBAR_MAX_SPAN_MS, TrendbarPeriod
from tradeloop.brokers.ctrader.wire import Envelope, encode, frame

from . import history
from .model import ACCOUNT_ID, ASSETS, Account, Refused, now_ms


@dataclass(eq=False)
class Session:
    """One client connection."""

    writer: asyncio.StreamWriter
    app: bool = False
    accounts: set[int] = field(default_factory=set)
    spots: set[int] = field(default_factory=set)
    heartbeats: int = 0
    muted: bool = False

    async def send(self, payload_type: int, body: dict[str, Any], client_msg_id: str = ""
                   ) -> None:
        if self.muted or self.writer.is_closing():
            return
        found = m.schema(payload_type)
        assert found is not None, payload_type
        inner = encode(found, {"payloadType": payload_type,
                               **{k: v for k, v in body.items() if v is not None}})
        self.writer.write(frame(Envelope(payload_type, inner, client_msg_id).to_bytes()))
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()


class Queries:
    """What the proxy answers without changing anything (mixed into the server)."""

    account: Account
    trendbar_cap: int
    history_days: int
    seed: int

    async def _on_asset_list_req(self, session: Session, body: dict[str, Any],
                                 msg_id: str) -> None:
        await session.send(PT.ASSET_LIST_RES, {
            "ctidTraderAccountId": ACCOUNT_ID,
            "asset": [{"assetId": k, "name": v, "displayName": v, "digits": 2}
                      for k, v in ASSETS.items()]}, msg_id)

    async def _on_symbols_list_req(self, session: Session, body: dict[str, Any],
                                   msg_id: str) -> None:
        await session.send(PT.SYMBOLS_LIST_RES, {
            "ctidTraderAccountId": ACCOUNT_ID,
            "symbol": [{"symbolId": s.symbol_id, "symbolName": s.name, "enabled": True,
                        "baseAssetId": s.base_asset, "quoteAssetId": s.quote_asset,
                        "symbolCategoryId": 1, "description": s.name}
                       for s in self.account.specs.values()]}, msg_id)

    async def _on_symbol_by_id_req(self, session: Session, body: dict[str, Any],
                                   msg_id: str) -> None:
        specs = [self.account.specs[i] for i in body.get("symbolId", [])
                 if i in self.account.specs]
        if not specs:
            raise Refused("SYMBOL_NOT_FOUND", "no such symbol")
        await session.send(PT.SYMBOL_BY_ID_RES, {
            "ctidTraderAccountId": ACCOUNT_ID,
            "symbol": [{"symbolId": s.symbol_id, "digits": s.digits,
                        "pipPosition": s.pip_position, "enableShortSelling": True,
                        "maxVolume": s.max_volume, "minVolume": s.min_volume,
                        "stepVolume": s.step_volume, "scheduleTimeZone": "UTC",
                        "tradingMode": 0, "lotSize": s.lot_size} for s in specs]}, msg_id)

    async def _on_trader_req(self, session: Session, body: dict[str, Any], msg_id: str) -> None:
        await session.send(PT.TRADER_RES, {"ctidTraderAccountId": ACCOUNT_ID,
                                           "trader": self.account.trader_body()}, msg_id)

    async def _on_reconcile_req(self, session: Session, body: dict[str, Any],
                                msg_id: str) -> None:
        orders = self.account.pending_orders()
        for order in orders:
            order.faults.discard("silent")
        await session.send(PT.RECONCILE_RES, {
            "ctidTraderAccountId": ACCOUNT_ID,
            "position": [self.account.position_body(p) for p in self.account.open_positions()],
            "order": [self.account.order_body(o) for o in orders]}, msg_id)

    async def _on_get_position_unrealized_pnl_req(self, session: Session,
                                                  body: dict[str, Any], msg_id: str) -> None:
        await session.send(PT.GET_POSITION_UNREALIZED_PNL_RES, {
            "ctidTraderAccountId": ACCOUNT_ID, "moneyDigits": 2,
            "positionUnrealizedPnL": [
                {"positionId": p.position_id,
                 "grossUnrealizedPnL": int(self.account.unrealised(p) * 100),
                 "netUnrealizedPnL": int(self.account.unrealised(p) * 100)}
                for p in self.account.open_positions()]}, msg_id)

    async def _on_deal_list_req(self, session: Session, body: dict[str, Any],
                                msg_id: str) -> None:
        lo, hi = int(body.get("fromTimestamp", 0)), int(body.get("toTimestamp", 0))
        rows = int(body.get("maxRows", 0) or 0) or 10_000
        deals = sorted((d for d in self.account.deals if lo <= d.ms <= hi),
                       key=lambda d: (d.ms, d.deal_id))
        await session.send(PT.DEAL_LIST_RES, {
            "ctidTraderAccountId": ACCOUNT_ID,
            "deal": [self.account.deal_body(d) for d in deals[:rows]],
            "hasMore": len(deals) > rows}, msg_id)

    async def _on_order_list_req(self, session: Session, body: dict[str, Any],
                                 msg_id: str) -> None:
        lo, hi = int(body.get("fromTimestamp", 0)), int(body.get("toTimestamp", 0))
        found = [o for o in self.account.orders.values() if lo <= o.update_ms <= hi]
        for order in found:
            order.faults.discard("silent")
        await session.send(PT.ORDER_LIST_RES, {
            "ctidTraderAccountId": ACCOUNT_ID,
            "order": [self.account.order_body(o) for o in found], "hasMore": False}, msg_id)

    async def _on_order_details_req(self, session: Session, body: dict[str, Any],
                                    msg_id: str) -> None:
        order = self.account.orders.get(int(body.get("orderId", 0)))
        if order is None:
            raise Refused("ENTITY_NOT_FOUND", "order not found")
        order.faults.discard("silent")
        await session.send(PT.ORDER_DETAILS_RES, {
            "ctidTraderAccountId": ACCOUNT_ID, "order": self.account.order_body(order),
            "deal": [self.account.deal_body(d) for d in self.account.deals
                     if d.order_id == order.order_id]}, msg_id)

    async def _on_get_trendbars_req(self, session: Session, body: dict[str, Any],
                                    msg_id: str) -> None:
        spec = self.account.specs.get(int(body.get("symbolId", 0)))
        if spec is None:
            raise Refused("SYMBOL_NOT_FOUND", "no such symbol")
        period = TrendbarPeriod(int(body.get("period", 1)))
        lo, hi = int(body.get("fromTimestamp", 0)), int(body.get("toTimestamp", 0))
        if hi < lo or hi - lo > TRENDBAR_MAX_SPAN_MS[period]:
            raise Refused("INCORRECT_BOUNDARIES", f"{period.name}: at most "
                          f"{TRENDBAR_MAX_SPAN_MS[period]} ms per request")
        last = now_ms() // 60_000
        found = history.bars(spec, period, lo, hi, self.seed,
                             last - self.history_days * 1440, last)
        cap = min(int(body.get("count", 0) or 0) or self.trendbar_cap, self.trendbar_cap)
        await session.send(PT.GET_TRENDBARS_RES, {
            "ctidTraderAccountId": ACCOUNT_ID, "period": period, "symbolId": spec.symbol_id,
            "trendbar": found[-cap:], "hasMore": len(found) > cap}, msg_id)


__all__ = ["Queries", "Session"]
