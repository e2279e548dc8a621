"""Notifications: alerts routed to Telegram, webhooks, Slack and Discord; Telegram commands."""
