"""Inbound signals: parsing and verifying alerts from outside (TradingView webhooks)."""

from tradeloop.signals.rejection import REJECTION_STATUS, AlertRejected, duplicate_alert
from tradeloop.signals.tradingview import (
    TradingViewAlert,
    client_order_id_for_alert,
    dedupe_key,
    verify_alert,
)
from tradeloop.signals.tradingview_settings import TRADINGVIEW_IPS, WebhookSettings

__all__ = [
    "REJECTION_STATUS",
    "TRADINGVIEW_IPS",
    "AlertRejected",
    "TradingViewAlert",
    "WebhookSettings",
    "client_order_id_for_alert",
    "dedupe_key",
    "duplicate_alert",
    "verify_alert",
]
