"""The HTTP surface: REST and WebSocket API, webhooks, the dashboard and metrics (FastAPI)."""
