"""What tests of the Schwab adapter share: the adapter's settings on a local Schwab, the
variables its secrets come from, and the login a person would do."""

from __future__ import annotations

import os
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradeloop.brokers.base import BrokerAdapter
from tradeloop.brokers.schwab import JOURNAL_FILE, create_adapter
from tradeloop.brokers.schwab.auth import interactive_login
from tradeloop.brokers.schwab.journal import OrderJournal
from tradeloop.brokers.schwab.orders import fingerprint
from tradeloop.brokers.testing.harness import (
    COUNT_SUBMITS,
    DROP_CONNECTION,
    DUPLICATE_REPORTS,
    FILL,
    LOSE_ANSWER,
    OUT_OF_ORDER,
    PRICE,
    REJECT_FATAL,
    REJECT_RETRYABLE,
    Target,
    TargetSpec,
)
from tradeloop.model.enums import AssetClass
from tradeloop.model.instrument import Instrument

from . import approve
from .oauth import APP_KEY, APP_SECRET, CALLBACK_URL
from .orders import order_json
from .server import ACCOUNT_HASH, SchwabServer

#: What the local Schwab can be steered to do in a conformance run.
STEERING = frozenset({PRICE, FILL, REJECT_FATAL, REJECT_RETRYABLE, LOSE_ANSWER,
                      DUPLICATE_REPORTS, OUT_OF_ORDER, DROP_CONNECTION, COUNT_SUBMITS})
ORDERS_PATH = f"/trader/v1/accounts/{ACCOUNT_HASH}/orders"
_MINUTE_NS = 60 * 10**9

KEY_ENV, SECRET_ENV, TOKEN_KEY_ENV = ("TL_TEST_SCHWAB_KEY", "TL_TEST_SCHWAB_SECRET",
                                      "TL_TEST_SCHWAB_TOKEN_KEY")
TOKEN_KEY = "local-schwab-token-key-0123456789"


def adapter_settings(server: SchwabServer, **extra: Any) -> dict[str, Any]:
    """``[broker.settings]`` of the adapter on ``server`` (secrets from the variables
    :class:`SchwabEnvironment` sets), polling fast and reconnecting fast."""
    settings: dict[str, Any] = {
        "api_url": server.base_url, "callback_url": CALLBACK_URL, "app_key_env": KEY_ENV,
        "app_secret_env": SECRET_ENV, "token_key_env": TOKEN_KEY_ENV, "timeout_s": 5.0,
        "poll_interval_s": 0.2, "reconnect_initial_s": 0.05, "reconnect_max_s": 0.5,
        "symbols": ["AAPL"]}
    settings.update(extra)
    return settings


class SchwabEnvironment:
    """Sets the app's and the token key's variables; :meth:`restore` puts the old ones back."""

    def __init__(self) -> None:
        self._saved = {n: os.environ.get(n) for n in (KEY_ENV, SECRET_ENV, TOKEN_KEY_ENV)}
        os.environ[KEY_ENV], os.environ[SECRET_ENV] = APP_KEY, APP_SECRET
        os.environ[TOKEN_KEY_ENV] = TOKEN_KEY

    def restore(self) -> None:
        """Back to the variables as they were."""
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def log_in(settings: dict[str, Any], home: Path) -> list[str]:
    """The login a person does: open the address shown, approve (the local server does at
    once), paste back the address the browser was sent to. Returns what was shown."""
    shown: list[str] = []

    def ask(_question: str) -> str:
        return approve(next(line for line in reversed(shown) if "/oauth/authorize" in line))

    interactive_login(settings, home, ask, shown.append)
    return shown


class SchwabCounterparty:
    """The local Schwab, steered directly; our orders found through the adapter's journal."""

    steering = STEERING

    def __init__(self, server: SchwabServer, home: Path) -> None:
        self.server = server
        self.home = home

    def _journal(self) -> OrderJournal:
        return OrderJournal.open(self.home / JOURNAL_FILE)

    async def set_price(self, symbol: str, bid: Decimal, ask: Decimal) -> None:
        self.server.set_price(symbol, bid, ask)

    async def fill(self, client_order_id: str, quantity: Decimal) -> None:
        order_id = self._journal().current(client_order_id)
        if order_id is None:
            raise AssertionError(f"the adapter's journal has no Schwab order for "
                                 f"{client_order_id}")
        self.server.fill(order_id, quantity)

    async def arm(self, fault: str) -> None:
        if fault == REJECT_FATAL:
            self.server.fail_next("insufficient_funds")
        elif fault == REJECT_RETRYABLE:
            self.server.fail_next("rate_limit", method="POST", path=ORDERS_PATH, retry_after=1)
        elif fault == LOSE_ANSWER:
            self.server.fail_next("lost_answer")
        elif fault == DUPLICATE_REPORTS:
            self.server.arm("duplicate_reports")
        elif fault == OUT_OF_ORDER:
            self.server.arm("out_of_order")
        else:
            raise ValueError(f"the local Schwab cannot {fault}")

    async def drop_connections(self) -> None:
        self.server.stop()
        self.server.start()

    async def submits(self, client_order_id: str) -> int:
        send = self._journal().send_of(client_order_id)
        if send is None:
            return 0
        return sum(1 for root in self.server.orders()
                   if fingerprint(order_json(root)) == send.fingerprint)

    async def reset(self) -> None:
        self.server.reset()


def local_target(spec: TargetSpec, server: SchwabServer, home: Path,
                 settings: dict[str, Any]) -> Target:
    """A conformance target: adapters created with ``settings`` under ``home`` (logged in
    already), trading AAPL on ``server``."""
    instrument = Instrument("AAPL", "SCHWAB", AssetClass.EQUITY, "USD", "USD",
                            Decimal("0.01"), Decimal(1), Decimal(1))
    now = time.time_ns() // _MINUTE_NS * _MINUTE_NS

    def connect() -> BrokerAdapter:
        return create_adapter(settings, variant="", home=home)

    return Target(spec, SchwabCounterparty(server, home), connect, instrument,
                  quantity=Decimal(10), bid=Decimal("189.50"), ask=Decimal("189.52"),
                  timeframe="1m", history=(now - 5 * 1440 * _MINUTE_NS, now - 60 * _MINUTE_NS),
                  settle_s=10.0)


__all__ = ["KEY_ENV", "ORDERS_PATH", "SECRET_ENV", "STEERING", "TOKEN_KEY", "TOKEN_KEY_ENV",
           "SchwabCounterparty", "SchwabEnvironment", "adapter_settings", "local_target",
           "log_in"]
