"""The adapter's settings: defaults, contracts, and one clear error per bad setting."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradeloop.brokers.ibkr.config import ContractSpec, load_config
from tradeloop.core.errors import ConfigError


def test_defaults_reach_a_paper_gateway_on_this_machine() -> None:
    config = load_config({})
    assert (config.host, config.port, config.client_id) == ("127.0.0.1", 4002, 1)
    assert config.account == "" and not config.readonly and config.market_data_type == 1
    assert config.client_factory == "" and config.contracts == {}
    assert config.history_per_contract == 5  # IB: six or more within 2 s is a violation


def test_contracts_by_our_symbol() -> None:
    config = load_config({"contracts": {
        "AAPL": {"primary_exchange": "NASDAQ"},
        "EURUSD": {"sec_type": "CASH"},
        "ES": {"sec_type": "FUT", "exchange": "CME", "roll_days": 8},
        "AAPL-C": {"sec_type": "OPT", "symbol": "AAPL", "expiry": "20261218",
                   "strike": "200", "right": "C"},
    }})
    aapl = config.spec("AAPL")
    assert (aapl.sec_type, aapl.ib_exchange, aapl.ib_currency("AAPL")) == ("STK", "SMART", "USD")
    fx = config.spec("EURUSD")
    assert (fx.ib_symbol("EURUSD"), fx.ib_currency("EURUSD"), fx.ib_exchange) == (
        "EUR", "USD", "IDEALPRO")
    assert fx.bar_source == "MIDPOINT" and aapl.bar_source == "TRADES"
    assert config.spec("ES").roll_days == 8
    option = config.spec("AAPL-C")
    assert option.ib_symbol("AAPL-C") == "AAPL" and option.strike == Decimal("200")


def test_an_unconfigured_symbol_is_named_with_the_closest_one() -> None:
    config = load_config({"contracts": {"AAPL": {}}})
    with pytest.raises(ConfigError, match=r"no contract for 'AAPLE'; did you mean 'AAPL'\?"):
        config.spec("AAPLE")


@pytest.mark.parametrize(("settings", "message"), [
    ({"prot": 4001}, r"broker\.settings\.prot: unknown setting; did you mean 'port'\?"),
    ({"port": 0}, r"broker\.settings\.port: Input should be greater than 0"),
    ({"market_data_type": 5}, r"broker\.settings\.market_data_type"),
    ({"client_factory": "no-colon"}, r"client_factory 'no-colon' is not \"module:callable\""),
    ({"reconnect_initial_s": 5, "reconnect_max_s": 1},
     r"reconnect_max_s must be at least reconnect_initial_s"),
    ({"contracts": {"ES": {"sec_type": "FUT"}}},
     r"broker\.settings\.contracts\.ES: a future needs its exchange"),
    ({"contracts": {"X": {"sec_type": "OPT", "expiry": "20261218"}}},
     r"contracts\.X: an option needs expiry, strike and right"),
    ({"contracts": {"X": {"expiry": "2026-12"}}}, r"expiry '2026-12' is not YYYYMM or YYYYMMDD"),
    ({"contracts": {"X": {"strike": "5"}}}, r"strike and right are for options"),
    ({"contracts": {"X": {"sec_typ": "STK"}}},
     r"broker\.settings\.contracts\.X\.sec_typ: unknown setting; did you mean 'sec_type'\?"),
    ({"contracts": {"X": {"sec_type": "BOND"}}}, r"broker\.settings\.contracts\.X\.sec_type"),
])
def test_bad_settings_are_one_clear_line(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(settings)


def test_settings_are_frozen() -> None:
    spec = ContractSpec()
    with pytest.raises(Exception, match="frozen"):
        spec.exchange = "NYSE"  # type: ignore[misc]
