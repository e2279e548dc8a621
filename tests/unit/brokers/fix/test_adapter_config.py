"""``[broker.settings]`` of the FIX adapter: defaults, what each setting requires, and one clear
line naming the setting when something is wrong."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tradeloop.brokers.base import create_adapter
from tradeloop.brokers.fix import book_path
from tradeloop.brokers.fix.config import adapter_config
from tradeloop.brokers.fix.execution import FixExecutionClient
from tradeloop.core.errors import ConfigError
from tradeloop.model.enums import OrderType, TimeInForce

SESSION = {"port": 5001, "sender_comp_id": "CLIENT", "target_comp_id": "ORDERMATCH",
           "begin_string": "FIX.4.2"}


def settings(**extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"session": dict(SESSION), "account_balance": "100000",
                              "instruments": [{"symbol": "GOOG", "tick_size": "0.01"}]}
    values.update(extra)
    return values


def test_defaults_and_the_store_under_home(tmp_path):
    config = adapter_config(settings(), tmp_path)
    assert config.session.store_dir == tmp_path / "fix"
    assert config.market_orders == "native" and config.market_protection_pct == Decimal(1)
    assert config.capabilities.status_requests and not config.capabilities.quotes
    assert config.instruments[0].symbol == "GOOG" and config.instruments[0].lot_step == 1
    assert book_path(config.session) == tmp_path / "fix" / f"{config.session.store_name}.fixlog"
    assert config.session.store_sync == "normal"  # as QuickFIX's file store (decision 0010)
    session = dict(SESSION, store_sync="full")
    assert adapter_config(settings(session=session), tmp_path).session.store_sync == "full"


def test_the_registered_factory_builds_the_adapter(tmp_path):
    adapter = create_adapter("fix", settings(
        market_orders="limit", capabilities={"order_types": ["LIMIT"],
                                             "time_in_force": ["DAY"], "modify": False,
                                             "status_requests": False}), tmp_path)
    assert adapter.name == "fix" and adapter.market_data is None
    assert isinstance(adapter.execution, FixExecutionClient)
    caps = adapter.capabilities
    assert caps.order_types == {OrderType.LIMIT, OrderType.MARKET}
    assert caps.time_in_force == {TimeInForce.DAY} and not caps.modify
    assert caps.describe()["order types"] == "LIMIT, MARKET"


def test_quotes_make_a_market_data_client(tmp_path):
    adapter = create_adapter("fix", settings(capabilities={"quotes": True}), tmp_path)
    assert adapter.market_data is not None and adapter.capabilities.quotes


@pytest.mark.parametrize(("extra", "message"), [
    ({"account_balance": None}, "broker.settings: account_balance is needed"),
    ({"instruments": []}, "broker.settings: name the venue's instruments"),
    ({"capabilities": {"order_types": ["TRAILING_STOP"]}},
     "broker.settings.capabilities.order_types: the FIX adapter cannot send TRAILING_STOP"),
    ({"market_orders": "limit", "capabilities": {"order_types": ["STOP"]}},
     'broker.settings: market_orders = "limit" needs LIMIT'),
    ({"time_in_force_fallback": {"GTC": "IOC"}, "capabilities": {"time_in_force": ["DAY"]}},
     "broker.settings: time_in_force_fallback: GTC -> IOC"),
    ({"market_protection_pct": "75"}, "broker.settings.market_protection_pct"),
    ({"session": {**SESSION, "port": 0}}, "broker.settings.session.port"),
    ({"session": {**SESSION, "password_env": "not a name"}},
     "broker.settings.session.password_env"),
    ({"colour": "blue"}, "broker.settings.colour: Extra inputs are not permitted"),
])
def test_bad_settings_are_named(tmp_path, extra, message):
    values = settings(**extra)
    if values.get("account_balance") is None:
        values.pop("account_balance")
    with pytest.raises(ConfigError) as caught:
        adapter_config(values, tmp_path)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_a_variant_is_refused(tmp_path: Path):
    with pytest.raises(ConfigError, match="no variants"):
        create_adapter("fix:ordermatch", settings(), tmp_path)


def test_the_password_is_read_from_the_environment_and_never_shown(tmp_path, monkeypatch):
    monkeypatch.setenv("FIX_TEST_PASSWORD", "s3cret-value")
    config = adapter_config(settings(session={**SESSION, "password_env": "FIX_TEST_PASSWORD"}),
                            tmp_path)
    password = config.session.resolved_password()
    assert password is not None and password.get_secret_value() == "s3cret-value"
    assert "s3cret-value" not in repr(config) and "s3cret-value" not in str(password)
