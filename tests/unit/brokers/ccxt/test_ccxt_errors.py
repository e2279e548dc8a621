"""The table of ccxt exceptions -> our error tree, and what a message may contain."""

from __future__ import annotations

import aiohttp
import ccxt
import pytest

from tradeloop.brokers.ccxt.errors import (
    TABLE,
    CcxtAuthenticationError,
    CcxtFatalError,
    CcxtOutcomeUnknownError,
    CcxtRetryableError,
    clean_message,
    retry_after_of,
    rule_for,
    translate,
)
from tradeloop.core.errors import (
    ConfigError,
    FatalVenueError,
    OutcomeUnknownError,
    RetryableVenueError,
)
from tradeloop.core.logging import clear_registered_secrets, register_secret

URL = "https://api.binance.com/api/v3/order?symbol=BTCUSDT&timestamp=1&signature=abcdef0123"


def _caused(error: ccxt.BaseError, cause: BaseException) -> ccxt.BaseError:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise error from inner
    except ccxt.BaseError as outer:
        return outer


@pytest.mark.parametrize(("error", "expected", "code"), [
    (ccxt.InsufficientFunds('binance {"code":-2010,"msg":"Account has insufficient balance '
                            'for requested action."}'), CcxtFatalError, "INSUFFICIENT_FUNDS"),
    (ccxt.InvalidOrder('binance {"code":-2010,"msg":"Duplicate order sent."}'), CcxtFatalError,
     "INVALID_ORDER"),
    (ccxt.BadSymbol('binance {"code":-1121,"msg":"Invalid symbol."}'), CcxtFatalError,
     "BAD_SYMBOL"),
    (ccxt.OrderNotFound('binance {"code":-2011,"msg":"Unknown order sent."}'), CcxtFatalError,
     "ORDER_NOT_FOUND"),
    (ccxt.OrderNotFillable("binanceusdm -5021"), CcxtFatalError, "NOT_FILLABLE"),
    (ccxt.BadRequest("binanceusdm -4014"), CcxtFatalError, "BAD_REQUEST"),
    (ccxt.ExchangeError('binanceusdm {"code":-2019,"msg":"Margin is insufficient."}'),
     CcxtFatalError, "EXCHANGE_ERROR"),
    (ccxt.DDoSProtection("binance 429 Too Many Requests"), CcxtRetryableError, "RATE_LIMITED"),
    (ccxt.RateLimitExceeded("binance 429"), CcxtRetryableError, "RATE_LIMITED"),
    (ccxt.OnMaintenance("binance maintenance"), CcxtRetryableError, "MAINTENANCE"),
    (ccxt.InvalidNonce("binance -1021"), CcxtRetryableError, "CLOCK"),
    (ccxt.AuthenticationError('binance {"code":-2015,"msg":"Invalid API-key, IP, or '
                              'permissions for action."}'), CcxtAuthenticationError,
     "AUTHENTICATION"),
])
def test_each_class_maps_to_its_row(error: ccxt.BaseError, expected: type, code: str) -> None:
    mapped = translate(error, request="submit X", state_change=True)
    assert type(mapped) is expected
    assert mapped.code == code  # type: ignore[attr-defined]


def test_the_table_lists_subclasses_before_their_bases() -> None:
    for i, earlier in enumerate(TABLE):
        for later in TABLE[i + 1:]:
            assert not issubclass(later.error, earlier.error) or later.error is earlier.error, (
                f"{later.error.__name__} is shadowed by {earlier.error.__name__}")
    assert rule_for(ValueError("not ccxt")).code == "ERROR"


def test_authentication_is_a_fatal_config_error() -> None:
    mapped = translate(ccxt.AuthenticationError("binance -2014"), request="fetch_balance",
                       state_change=False)
    assert isinstance(mapped, FatalVenueError) and isinstance(mapped, ConfigError)


def test_timeouts_leave_a_state_change_unknown_and_a_query_retryable() -> None:
    timeout = ccxt.RequestTimeout("binance POST https://api.binance.com/api/v3/order")
    assert isinstance(translate(timeout, request="submit A", state_change=True),
                      OutcomeUnknownError)
    assert isinstance(translate(timeout, request="fetch_order A", state_change=False),
                      RetryableVenueError)


def test_503_service_unavailable_was_not_executed_but_unknown_error_may_have_been() -> None:
    not_executed = ccxt.ExchangeNotAvailable(
        'binance POST http://x/api/v3/order 503 Service Unavailable {"timestamp":1,'
        '"path":"/api/v3/order","msg":"Service Unavailable."}')
    unknown = ccxt.ExchangeNotAvailable(
        'binance POST http://x/api/v3/order 503 Service Unavailable {"timestamp":1,'
        '"path":"/api/v3/order","msg":"Unknown error, please check your request or try '
        'again later."}')
    assert isinstance(translate(not_executed, request="submit A", state_change=True),
                      RetryableVenueError)
    mapped = translate(unknown, request="submit A", state_change=True)
    assert isinstance(mapped, CcxtOutcomeUnknownError)
    assert "Unknown error" in str(mapped)


def test_a_refused_connection_is_retryable_a_dropped_one_is_unknown() -> None:
    refused = _caused(ccxt.ExchangeNotAvailable("binance POST http://127.0.0.1:1/api/v3/order"),
                      aiohttp.ClientConnectorError(
                          aiohttp.client_reqrep.ConnectionKey(
                              "127.0.0.1", 1, False, True, None, None, None),
                          ConnectionRefusedError(111, "refused")))
    dropped = _caused(ccxt.ExchangeNotAvailable("binance POST http://127.0.0.1:1/api/v3/order"),
                      aiohttp.ServerDisconnectedError())
    assert isinstance(translate(refused, request="submit A", state_change=True),
                      RetryableVenueError)
    assert isinstance(translate(dropped, request="submit A", state_change=True),
                      OutcomeUnknownError)
    assert isinstance(translate(dropped, request="fetch_order A", state_change=False),
                      RetryableVenueError)


def test_a_rate_limit_carries_the_wait_the_exchange_asked_for() -> None:
    mapped = translate(ccxt.DDoSProtection("binance 429"), request="submit A",
                       state_change=True, retry_after_s=retry_after_of({"Retry-After": "3"}))
    assert isinstance(mapped, CcxtRetryableError) and mapped.retry_after_s == 3.0
    assert retry_after_of({"retry-after": "soon"}) is None
    assert retry_after_of(None) is None


def test_messages_keep_the_exchange_reason_and_drop_signatures_and_secrets() -> None:
    register_secret("my-api-key-123")
    try:
        error = ccxt.ExchangeError(f"binance GET {URL} 400 Bad Request my-api-key-123")
        mapped = translate(error, request="fetch_order A", state_change=False)
        assert "signature" not in str(mapped) and "abcdef0123" not in str(mapped)
        assert "my-api-key-123" not in str(mapped)
        assert "https://api.binance.com/api/v3/order" in str(mapped)
        reason = translate(ccxt.InsufficientFunds(
            'binance {"code":-2010,"msg":"Account has insufficient balance for requested '
            'action."}'), request="submit A", state_change=True)
        assert str(reason) == ("INSUFFICIENT_FUNDS: -2010 Account has insufficient balance for "
                               "requested action.")
    finally:
        clear_registered_secrets()


def test_clean_message_is_one_bounded_line() -> None:
    text = clean_message("a\nb  " + "x" * 1000)
    assert "\n" not in text and len(text) <= 303


def test_our_own_errors_pass_through() -> None:
    mine = CcxtFatalError("BAD_SYMBOL", "no such market")
    assert translate(mine, request="submit A", state_change=True) is mine
