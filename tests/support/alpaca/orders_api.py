"""The trading API of the local Alpaca (``/v2``): orders, positions, account, activities,
assets and the clock, with Alpaca's validation of new orders and replacements.

Each handler takes the query parameters and the JSON body (numbers read as ``Decimal``) and
returns ``(status, payload)`` or raises :class:`~.errors.AlpacaError`.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from .account import Account, iso_ns, plain
from .errors import (
    PDT_MESSAGE,
    AlpacaError,
    duplicate_client_id,
    forbidden,
    malformed,
    not_found,
    unprocessable,
)
from .market import NEW_YORK, OPEN_MINUTE, AssetSpec, Market
from .trading import FINAL_STATUSES, ZERO, Order, Venue

TYPES = frozenset({"market", "limit", "stop", "stop_limit", "trailing_stop"})
STOCK_TIF = frozenset({"day", "gtc", "opg", "cls", "ioc", "fok"})
CRYPTO_TIF = frozenset({"gtc", "ioc"})
CRYPTO_TYPES = frozenset({"market", "limit", "stop_limit"})
CLASSES = frozenset({"simple", "bracket", "oco", "oto"})
_CENT, _HUNDREDTH_CENT = Decimal("0.01"), Decimal("0.0001")


def dec(value: Any, name: str) -> Decimal:
    """A decimal field of a request (a JSON number or a numeric string)."""
    try:
        out = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise unprocessable(f"invalid {name}: {value!r}") from None
    if not out.is_finite():
        raise unprocessable(f"invalid {name}: {value!r}")
    return out


def moment(value: str, name: str) -> int:
    """UTC ns of an RFC 3339 time or a date."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise malformed(f"invalid {name}: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp()) * 10**9 + parsed.microsecond * 1000


class TradingApi:
    """The ``/v2`` trading endpoints over one venue."""

    def __init__(self, venue: Venue, market: Market, account: Account) -> None:
        self.venue = venue
        self.market = market
        self.account = account

    # -- orders -------------------------------------------------------------------------------

    def build(self, body: dict[str, Any]) -> Order:
        """The order a ``POST /v2/orders`` body asks for, validated as Alpaca does."""
        symbol = str(body.get("symbol") or "")
        asset = self.market.asset(symbol)
        if asset is None:
            raise unprocessable(f"asset \"{symbol}\" not found")
        side = body.get("side")
        if side not in ("buy", "sell"):
            raise unprocessable(f"invalid side: {side!r}")
        kind = body.get("type") or body.get("order_type")
        if kind not in TYPES:
            raise unprocessable(f"invalid order type: {kind!r}")
        tif = body.get("time_in_force")
        order_class = body.get("order_class") or "simple"
        if order_class not in CLASSES:
            raise unprocessable(f"invalid order class: {order_class!r}")
        if body.get("notional") is not None:
            raise unprocessable("notional orders are not supported by this stand-in")
        if body.get("qty") is None:
            raise unprocessable("qty is required")
        qty = dec(body["qty"], "qty")
        if qty <= 0:
            raise unprocessable("qty must be > 0")
        if asset.crypto:
            self._check_crypto(asset, kind, tif, order_class, qty)
        else:
            self._check_stock(asset, kind, tif, order_class, qty, bool(body.get("extended_hours")))
        prices = {name: dec(body[name], name) for name in ("limit_price", "stop_price",
                                                           "trail_price", "trail_percent")
                  if body.get(name) is not None}
        for name, value in prices.items():
            if value <= 0:
                raise unprocessable(f"{name} must be > 0")
            if name in ("limit_price", "stop_price") and not asset.crypto:
                _check_tick(value)
        if kind in ("limit", "stop_limit") and "limit_price" not in prices \
                and order_class != "oco":
            raise unprocessable("limit_price is required for limit orders")
        if kind in ("stop", "stop_limit") and "stop_price" not in prices:
            raise unprocessable("stop_price is required for stop orders")
        if kind == "trailing_stop" and len({"trail_price", "trail_percent"} & set(prices)) != 1:
            raise unprocessable("trailing stop orders must specify one of trail_price or "
                                "trail_percent")
        cid = str(body.get("client_order_id") or uuid.uuid4())
        if len(cid) > 128:
            raise unprocessable("client_order_id must be no more than 128 characters")
        if cid in self.venue.by_client_id:
            raise duplicate_client_id()
        order = Order(asset, cid, side, kind, str(tif), qty, prices.get("limit_price"),
                      prices.get("stop_price"), prices.get("trail_price"),
                      prices.get("trail_percent"), bool(body.get("extended_hours")),
                      order_class)
        if order_class != "simple":
            self._legs(order, body)
        self._check_account(order)
        return order

    def _check_crypto(self, asset: AssetSpec, kind: str, tif: Any, order_class: str,
                      qty: Decimal) -> None:
        if kind not in CRYPTO_TYPES:
            raise unprocessable("invalid order type for crypto order")
        if tif not in CRYPTO_TIF:
            raise unprocessable("invalid crypto time_in_force")
        if order_class != "simple":
            raise unprocessable("crypto orders must be simple orders")
        if qty < Decimal(asset.min_order_size):
            raise unprocessable(f"qty must be >= {asset.min_order_size}")

    def _check_stock(self, asset: AssetSpec, kind: str, tif: Any, order_class: str,
                     qty: Decimal, extended: bool) -> None:
        if tif not in STOCK_TIF:
            raise unprocessable(f"invalid time_in_force: {tif!r}")
        if qty != qty.to_integral_value():
            if not asset.fractionable:
                raise unprocessable(f"asset {asset.symbol} is not fractionable")
            if qty.as_tuple().exponent < -9:  # type: ignore[operator]
                raise unprocessable("qty must have at most 9 decimal places")
            if kind == "trailing_stop" or tif != "day":
                raise unprocessable("fractional orders must be DAY orders")
            if order_class != "simple":
                raise unprocessable("fractional orders must be simple orders")
        if extended and (kind != "limit" or tif != "day"):
            raise unprocessable("extended hours order must be DAY limit orders")

    def _legs(self, order: Order, body: dict[str, Any]) -> None:
        kind, side = order.order_class, order.side
        exit_side = "sell" if side == "buy" else "buy"
        tp, sl = body.get("take_profit") or None, body.get("stop_loss") or None
        if kind in ("bracket", "oco") and (tp is None or sl is None):
            raise unprocessable(f"{kind} orders require take_profit and stop_loss")
        if kind == "oto" and (tp is None) == (sl is None):
            raise unprocessable("oto orders require one of take_profit or stop_loss")
        if kind in ("bracket", "oto") and order.type not in ("market", "limit"):
            raise unprocessable(f"{kind} orders must be market or limit orders")
        if order.time_in_force not in ("day", "gtc"):
            raise unprocessable(f"{kind} orders must be DAY or GTC orders")
        tp_price = dec(tp.get("limit_price"), "take_profit.limit_price") if tp else None
        sl_stop = dec(sl.get("stop_price"), "stop_loss.stop_price") if sl else None
        sl_limit = dec(sl["limit_price"], "stop_loss.limit_price") \
            if sl and sl.get("limit_price") is not None else None
        for value in (tp_price, sl_stop, sl_limit):
            if value is not None:
                _check_tick(value)
        base = order.limit_price or self.market.quotes[order.symbol][1 if side == "buy" else 0]
        sign = 1 if side == "buy" else -1
        if kind == "oco":
            if order.type != "limit":
                raise unprocessable("oco orders must be limit orders")
            assert tp_price is not None and sl_stop is not None
            if (tp_price - sl_stop) * sign >= 0:  # an exit of a short: tp below, sl above
                raise unprocessable("take_profit.limit_price must be on the other side of "
                                    "stop_loss.stop_price")
            order.limit_price = tp_price
            stop = Order(order.asset, str(uuid.uuid4()), side, "stop_limit" if sl_limit
                         else "stop", order.time_in_force, order.qty, sl_limit, sl_stop,
                         order_class="oco", parent=order)
            order.legs, order.sibling, stop.sibling = [stop], stop, order
            return
        if tp_price is not None and (tp_price - base) * sign < _CENT:
            raise unprocessable(f"take_profit.limit_price must be {'>=' if sign > 0 else '<='} "
                                f"base_price {'+' if sign > 0 else '-'} 0.01")
        if sl_stop is not None and (base - sl_stop) * sign < _CENT:
            raise unprocessable(f"stop_loss.stop_price must be {'<=' if sign > 0 else '>='} "
                                f"base_price {'-' if sign > 0 else '+'} 0.01")
        legs = []
        if tp_price is not None:
            legs.append(Order(order.asset, str(uuid.uuid4()), exit_side, "limit",
                              order.time_in_force, order.qty, tp_price, order_class=kind,
                              parent=order))
        if sl_stop is not None:
            legs.append(Order(order.asset, str(uuid.uuid4()), exit_side,
                              "stop_limit" if sl_limit else "stop", order.time_in_force,
                              order.qty, sl_limit, sl_stop, order_class=kind, parent=order))
        if len(legs) == 2:
            legs[0].sibling, legs[1].sibling = legs[1], legs[0]
        order.legs = legs

    def _check_account(self, order: Order) -> None:
        account, asset = self.account, order.asset
        if account.pdt_protected(asset, order.side):
            raise forbidden(PDT_MESSAGE)
        ask = self.market.quotes[order.symbol][1]
        held = account.position(order.symbol)
        if order.side == "buy" and held >= 0:
            price = order.limit_price or order.stop_price or ask
            values = account.values(self.market)
            margin = (values["long"] - values["short"]) / account.multiplier
            multiplier = Decimal(1) if asset.crypto else account.multiplier
            power = (values["equity"] - margin) * multiplier - self.venue.reserved()
            if order.qty * price > power:
                raise forbidden("insufficient buying power",
                                buying_power=plain(power.quantize(_CENT)),
                                cost_basis=plain((order.qty * price).quantize(_CENT)))
        if order.side == "sell":
            selling = sum((o.remaining for o in self.venue.orders.values()
                           if o.is_open and o.symbol == order.symbol and o.side == "sell"
                           and o.status != "held" and o.parent is None), ZERO)
            available = max(ZERO, held - selling)
            short_ok = not asset.crypto and asset.shortable and account.multiplier > 1
            if order.qty > available and (asset.crypto or not short_ok or held > 0):
                if asset.crypto:
                    base = asset.symbol.split("/")[0]
                    raise forbidden(f"insufficient balance for {base} (requested: "
                                    f"{order.qty}, available: {available})")
                raise forbidden(f"insufficient qty available for order (requested: "
                                f"{order.qty}, available: {available})", symbol=order.symbol,
                                available=str(available), existing_qty=str(held),
                                held_for_orders=str(selling))

    def replace(self, order: Order, body: dict[str, Any]) -> Order:
        """``PATCH /v2/orders/{id}``: the replacing order."""
        if order.status in FINAL_STATUSES:
            raise unprocessable(f"order is already in \"{order.status}\" state")
        if order.status not in ("new", "partially_filled", "held"):
            raise unprocessable(f"order in \"{order.status}\" status cannot be replaced")
        changes: dict[str, Any] = {}
        if body.get("qty") is not None:
            qty = dec(body["qty"], "qty")
            if qty <= 0 or qty != qty.to_integral_value():
                raise unprocessable("qty must be a whole number of shares above 0")
            changes["qty"] = qty
        for name in ("limit_price", "stop_price", "trail"):
            if body.get(name) is not None:
                changes[name] = dec(body[name], name)
        if "limit_price" in changes and order.type not in ("limit", "stop_limit"):
            raise unprocessable("limit_price can only be changed on limit orders")
        if "stop_price" in changes and order.type not in ("stop", "stop_limit"):
            raise unprocessable("stop_price can only be changed on stop orders")
        if body.get("time_in_force"):
            changes["time_in_force"] = body["time_in_force"]
        if body.get("client_order_id"):
            cid = str(body["client_order_id"])
            if cid in self.venue.by_client_id:
                raise duplicate_client_id()
            changes["client_order_id"] = cid
        if not changes:
            raise unprocessable("nothing to replace")
        return self.venue.replace(order, changes)

    def order(self, key: str, by_client_id: bool = False) -> Order:
        """An order by id (or client order id); 404 when unknown."""
        found = self.venue.by_client_id.get(key) if by_client_id else self.venue.orders.get(key)
        if found is None:
            raise not_found()
        return found

    def cancel(self, key: str) -> None:
        """``DELETE /v2/orders/{id}``."""
        order = self.order(key)
        if not order.is_open:
            raise unprocessable(f"order is already in \"{order.status}\" state")
        self.venue.cancel(order)

    def cancel_all(self) -> list[dict[str, Any]]:
        """``DELETE /v2/orders``: one entry per order it tried to cancel."""
        out = []
        for order in self.venue.all_orders():
            if order.is_open and order.parent is None:
                self.venue.cancel(order)
                out.append({"id": order.id, "status": 200, "body": order.as_json()})
        return out

    def list_orders(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """``GET /v2/orders``."""
        status = params.get("status", "open")
        limit = min(int(params.get("limit") or 50), 500)
        nested = params.get("nested", "false").lower() == "true"
        symbols = {s for s in params.get("symbols", "").split(",") if s}
        after = moment(params["after"], "after") if params.get("after") else None
        until = moment(params["until"], "until") if params.get("until") else None
        out = []
        for order in self.venue.all_orders():
            if nested and order.parent is not None:
                continue
            if (status == "open" and not order.is_open) or (status == "closed" and order.is_open):
                continue
            if symbols and order.symbol not in symbols:
                continue
            if (after is not None and order.created_at <= after) or \
                    (until is not None and order.created_at > until):
                continue
            out.append(order)
        if params.get("direction", "desc") == "desc":
            out.reverse()
        return [o.as_json(nested=nested) for o in out[:limit]]

    # -- account ------------------------------------------------------------------------------

    def activities(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """``GET /v2/account/activities/FILL``: fills, paged by activity id."""
        size = min(int(params.get("page_size") or 100), 100)
        ascending = params.get("direction", "desc") == "asc"
        after = moment(params["after"], "after") if params.get("after") else None
        until = moment(params["until"], "until") if params.get("until") else None
        items = [a for a in self.account.activities
                 if (after is None or a.ts > after) and (until is None or a.ts <= until)]
        items.sort(key=lambda a: a.id, reverse=not ascending)
        token = params.get("page_token")
        if token:
            items = [a for a in items if (a.id > token if ascending else a.id < token)]
        return [a.as_json() for a in items[:size]]

    def positions(self) -> list[dict[str, Any]]:
        """``GET /v2/positions``."""
        return [self.account.position_json(p, self.market)
                for p in sorted(self.account.positions.values(), key=lambda p: p.asset.symbol)]

    def position(self, symbol: str) -> dict[str, Any]:
        """``GET /v2/positions/{symbol}``."""
        asset = self.market.asset(symbol)
        pos = self.account.positions.get(asset.symbol) if asset is not None else None
        if pos is None:
            raise AlpacaError(404, 40410000, "position does not exist")
        return self.account.position_json(pos, self.market)

    def assets(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """``GET /v2/assets``."""
        wanted = params.get("asset_class")
        return [a.as_json() for a in self.market.assets
                if wanted is None or a.asset_class == wanted]

    def asset(self, symbol: str) -> dict[str, Any]:
        """``GET /v2/assets/{symbol}``."""
        found = self.market.asset(symbol)
        if found is None:
            raise not_found("asset")
        return found.as_json()

    def clock(self) -> dict[str, Any]:
        """``GET /v2/clock`` (the session state the tests set, times in New York)."""
        now = datetime.now(UTC).astimezone(NEW_YORK)
        day = now.date()
        opening = datetime.combine(day, datetime.min.time(), NEW_YORK) + timedelta(
            minutes=OPEN_MINUTE)
        if now >= opening:
            opening += timedelta(days=1)
        while opening.weekday() >= 5:
            opening += timedelta(days=1)
        closing = datetime.combine(day, datetime.min.time(), NEW_YORK) + timedelta(hours=16)
        if now >= closing:
            closing = opening.replace(hour=16, minute=0)
        return {"timestamp": now.isoformat(), "is_open": self.venue.session.state == "regular",
                "next_open": opening.isoformat(), "next_close": closing.isoformat()}

    def now(self) -> str:
        """The server's time as Alpaca writes it."""
        return iso_ns(time.time_ns())


def _check_tick(price: Decimal) -> None:
    step = _CENT if price >= 1 else _HUNDREDTH_CENT
    if price % step != 0:
        raise unprocessable("sub-penny increment does not fulfill minimum pricing criteria")


__all__ = ["CRYPTO_TIF", "CRYPTO_TYPES", "STOCK_TIF", "TYPES", "TradingApi", "dec", "moment"]
