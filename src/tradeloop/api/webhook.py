"""``POST /webhook/tradingview``: TradingView alerts in, one order per alert out.

The route reads at most ``max_body_bytes`` of the body, lets
:func:`tradeloop.signals.verify_alert` check it (size, source address, passphrase, schema,
staleness), stores the alert as a signal under its de-duplication key (a key seen before, even
before a restart, is a 409), answers at once, and then hands the order to the node on its event
loop: through the risk gate and the execution path, with a client order id derived from the
alert id. The answers are documented in ``docs/tradingview.md``.

The signal is stored on the event loop, like every other write of the node: from a worker
thread it would contend with the loop's own writes for SQLite's write lock, and the busy
back-off of both sides held acknowledgements for seconds under a burst of alerts (see
``bench/webhook_load.py``). The insert is one small commit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tradeloop.api.auth import client_address
from tradeloop.config.api import WebhookConfig
from tradeloop.core.errors import TradeloopError
from tradeloop.services.control import NodeControl, OrderRequest
from tradeloop.signals import (
    AlertRejected,
    TradingViewAlert,
    WebhookSettings,
    client_order_id_for_alert,
    dedupe_key,
    duplicate_alert,
    verify_alert,
)

log = logging.getLogger(__name__)

PATH = "/webhook/tradingview"
SOURCE = "tradingview"


def settings_from_config(config: WebhookConfig) -> WebhookSettings:
    """The webhook's settings from the node's ``[api.webhook]`` table.

    Raises
    ------
    ConfigError
        Without a passphrase (from the environment variable ``passphrase_env``), or with a
        weak one.
    """
    from pydantic import SecretStr

    passphrase = config.passphrase or SecretStr("")
    return WebhookSettings(
        passphrase=passphrase, check_ip=config.check_ip, allowed_ips=tuple(config.allowed_ips),
        max_body_bytes=config.max_body_bytes, max_age_s=config.max_age_s,
        default_strategy=config.strategy)


def _refused(exc: AlertRejected) -> JSONResponse:
    return JSONResponse({"status": "rejected", "code": exc.code, "detail": exc.reason},
                        status_code=exc.status)


async def _body(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is longer than ``limit`` (never read further)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def add_webhook(app: FastAPI, settings: WebhookSettings) -> None:
    """Add the TradingView route to ``app``."""

    @app.post(PATH, tags=["webhooks"], status_code=200, responses={
        400: {"description": "malformed body"}, 401: {"description": "wrong passphrase"},
        403: {"description": "source address not allowed"},
        409: {"description": "alert id seen before"}, 413: {"description": "body too large"},
        422: {"description": "invalid, stale or from the future"},
        503: {"description": "no node runs here to trade it, or it could not be stored"}})
    async def tradingview(request: Request) -> JSONResponse:
        """A TradingView alert (JSON or TradingView's plain text; see docs/tradingview.md).
        Authenticated by its passphrase, not a token."""
        control: NodeControl = request.app.state.control
        received_ns = time.time_ns()
        source = client_address(request, request.app.state.behind_proxy)
        body = await _body(request, settings.max_body_bytes)
        if body is None:  # the first check: nothing past the limit was read
            return _refused(AlertRejected(
                "body_too_large", f"the body is larger than {settings.max_body_bytes} bytes"))
        try:
            alert = verify_alert(body, source_ip=source,
                                 content_type=request.headers.get("content-type"),
                                 received_ns=received_ns, settings=settings)
        except AlertRejected as exc:
            return _refused(exc)
        if not control.running:
            return JSONResponse({"status": "unavailable", "detail": "no node runs in this "
                                 "process to trade the alert: send it to tradeloop paper --api"},
                                status_code=503)
        key = dedupe_key(alert)
        order_id = client_order_id_for_alert(alert)
        payload = {**alert.raw, "client_order_id": order_id}
        try:
            stored = control.store.record_signal(SOURCE, payload, key, received_ns=received_ns)
        except TradeloopError as exc:  # the audit database failed: nothing was stored
            log.error("alert not stored", extra={"fields": {
                "alert_id": alert.alert_id, "reason": str(exc)}})
            return JSONResponse({"status": "unavailable", "detail": "the alert could not be "
                                 "stored; nothing was traded: send it again"}, status_code=503)
        if not stored:
            return _refused(duplicate_alert(alert.alert_id))
        asyncio.get_running_loop().call_soon(_trade, control, alert, key, order_id)
        return JSONResponse({"status": "accepted", "alert_id": alert.alert_id,
                             "client_order_id": order_id})


def _trade(control: NodeControl, alert: TradingViewAlert, key: str, order_id: str) -> None:
    """The alert's order, on the node's loop; the signal's status says what became of it."""
    status = "ordered"
    try:
        control.place_order(_order_request(alert, order_id))
    except TradeloopError as exc:
        status = f"refused: {exc}"[:200]
        log.warning("alert not traded", extra={"fields": {
            "alert_id": alert.alert_id, "strategy": alert.strategy, "reason": str(exc)}})
    except Exception as exc:  # never let one alert break the loop
        status = f"failed: {type(exc).__name__}"
        log.exception("alert failed", extra={"fields": {"alert_id": alert.alert_id}})
    try:
        control.store.set_signal_status(key, status)
    except Exception:
        log.exception("signal status not recorded", extra={"fields": {"dedupe_key": key}})


def _order_request(alert: TradingViewAlert, order_id: str) -> OrderRequest:
    limit: Any = alert.limit_price if alert.order_type == "limit" else None
    return OrderRequest(
        symbol=alert.ticker.rsplit(":", 1)[-1], side=alert.action,
        quantity=str(alert.quantity), limit_price=None if limit is None else str(limit),
        reduce_only=alert.is_exit, tag=f"tradingview:{alert.alert_id}"[:64],
        client_order_id=order_id,
        stop_loss=None if alert.stop_loss is None else str(alert.stop_loss),
        take_profit=None if alert.take_profit is None else str(alert.take_profit),
        strategy_id=alert.strategy)
