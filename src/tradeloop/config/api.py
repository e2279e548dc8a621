"""The ``[api]`` table of a node: its HTTP server (REST, WebSocket, dashboard, metrics) and the
TradingView webhook.

```toml
[api]
enabled = true          # or: tradeloop paper node.toml --api
host = "127.0.0.1"      # another address needs tls_cert and tls_key, or behind_proxy = true
port = 8080

[api.webhook]
enabled = true
passphrase_env = "TRADELOOP_WEBHOOK_PASSPHRASE"   # the variable holding the passphrase
strategy = "tv"          # the strategy id alerts trade under when they name none
max_age_s = 120
```
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

TRADINGVIEW_ADDRESSES = ["52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7"]


class WebhookConfig(BaseModel):
    """The TradingView webhook at ``POST /webhook/tradingview``."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    passphrase_env: str = "TRADELOOP_WEBHOOK_PASSPHRASE"
    passphrase: SecretStr | None = None  # from the environment only
    check_ip: bool = True
    allowed_ips: list[str] = Field(default_factory=lambda: list(TRADINGVIEW_ADDRESSES))
    max_body_bytes: int = Field(default=16_384, ge=256, le=1_048_576)
    max_age_s: float = Field(default=120.0, gt=0, allow_inf_nan=False)
    strategy: str | None = Field(default=None, min_length=1, max_length=64)


class ApiConfig(BaseModel):
    """The node's HTTP server."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65_535)
    behind_proxy: bool = False
    #: proxies whose X-Forwarded-For is believed (behind_proxy only): the client's address
    #: for the login limiter and the webhook's address check comes from them
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    tls_cert: str | None = None
    tls_key: str | None = None
    stream_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "WARNING"
    webhook: WebhookConfig = Field(default_factory=WebhookConfig)
