"""Inbound signals: parsing and verifying alerts from outside (TradingView webhooks)."""
