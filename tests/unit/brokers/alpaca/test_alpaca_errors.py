"""Alpaca's answers and transport failures in tradeloop's error tree: retryable, fatal (auth
as a one-line configuration error) or outcome-unknown, decided by one table."""

from __future__ import annotations

import json

import pytest
import requests
from alpaca.common.exceptions import APIError
from urllib3.exceptions import NewConnectionError, ProtocolError

from tradeloop.brokers.alpaca.errors import (
    AlpacaAuthenticationError,
    AlpacaFatalError,
    AlpacaOutcomeUnknownError,
    AlpacaRetryableError,
    translate,
)
from tradeloop.core.errors import ConfigError


def api_error(status: int, body: dict[str, object] | str, headers: dict[str, str] | None = None
              ) -> APIError:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers or {})
    text = body if isinstance(body, str) else json.dumps(body)
    return APIError(text, requests.HTTPError(response=response))


@pytest.mark.parametrize(("status", "code", "message", "ours"), [
    (403, 40310000, "insufficient buying power", "INSUFFICIENT_BUYING_POWER"),
    (403, 40310000, "insufficient qty available for order (requested: 10, available: 0)",
     "INSUFFICIENT_QTY"),
    (403, 40310000, "insufficient balance for BTC (requested: 1, available: 0)",
     "INSUFFICIENT_QTY"),
    (403, 40310000, "potential wash trade detected. use complex orders", "WASH_TRADE"),
    (404, 40410000, "order not found", "NOT_FOUND"),
    (422, 40010001, "client_order_id must be unique", "DUPLICATE_CLIENT_ORDER_ID"),
    (422, 42210000, "order is already in \"filled\" state", "NOT_CANCELABLE"),
    (422, 42210000, "fractional orders must be DAY orders", "INVALID_ORDER"),
    (400, 40010000, "request body format is invalid", "BAD_REQUEST"),
])
def test_refusals_are_fatal_with_alpacas_code_and_text(status: int, code: int, message: str,
                                                       ours: str) -> None:
    error = translate(api_error(status, {"code": code, "message": message}),
                      request="submit CF1", state_change=True)
    assert isinstance(error, AlpacaFatalError) and not isinstance(error, ConfigError)
    assert (error.code, error.status) == (ours, status)
    assert error.reason == f"{message} ({code})"


def test_the_pdt_protection_says_what_it_is() -> None:
    error = translate(api_error(403, {"code": 40310000, "message": "trade denied due to "
                                      "pattern day trading protection"}),
                      request="submit CF1", state_change=True)
    assert isinstance(error, AlpacaFatalError) and error.code == "PDT_PROTECTION"
    assert str(error).startswith("PDT_PROTECTION: Alpaca's pattern day trader protection: the "
                                 "order would be the account's fourth day trade")
    assert "(40310000)" in str(error)


def test_refused_keys_are_a_configuration_error() -> None:
    error = translate(api_error(401, {"code": 40110000, "message": "request is not authorized"}),
                      request="account", state_change=False)
    assert isinstance(error, AlpacaAuthenticationError) and isinstance(error, ConfigError)
    assert "check api_key_env, secret_env and paper" in str(error)


def test_a_rate_limit_is_retryable_after_the_wait_alpaca_asks() -> None:
    error = translate(api_error(429, {"code": 42910000, "message": "rate limit exceeded"},
                                {"Retry-After": "2"}), request="submit CF1", state_change=True)
    assert isinstance(error, AlpacaRetryableError) and error.retry_after_s == 2.0


def test_server_errors_leave_a_state_change_unknown_and_a_query_retryable() -> None:
    answer = api_error(500, {"code": 50010000, "message": "internal server error occurred"})
    assert isinstance(translate(answer, request="submit CF1", state_change=True),
                      AlpacaOutcomeUnknownError)
    assert isinstance(translate(answer, request="orders", state_change=False),
                      AlpacaRetryableError)
    unreadable = api_error(502, "<html>bad gateway</html>")
    error = translate(unreadable, request="submit CF1", state_change=True)
    assert isinstance(error, AlpacaOutcomeUnknownError) and "HTTP 502" in str(error)


def test_a_connection_never_made_is_retryable_a_lost_answer_unknown() -> None:
    refused = requests.exceptions.ConnectionError(NewConnectionError(
        None, "Failed to establish a new connection: [Errno 111] Connection refused"))
    assert isinstance(translate(refused, request="submit CF1", state_change=True),
                      AlpacaRetryableError)
    assert isinstance(translate(requests.exceptions.ConnectTimeout("slow"),
                                request="submit CF1", state_change=True), AlpacaRetryableError)
    dropped = requests.exceptions.ConnectionError(ProtocolError(
        "Connection aborted.", ConnectionResetError("reset")))
    assert isinstance(translate(dropped, request="submit CF1", state_change=True),
                      AlpacaOutcomeUnknownError)
    timed_out = requests.exceptions.ReadTimeout("read timed out")
    assert isinstance(translate(timed_out, request="submit CF1", state_change=True),
                      AlpacaOutcomeUnknownError)
    assert isinstance(translate(timed_out, request="orders", state_change=False),
                      AlpacaRetryableError)


def test_a_request_the_sdk_refuses_to_build_is_fatal() -> None:
    error = translate(ValueError("limit_price is required"), request="submit CF1",
                      state_change=True)
    assert isinstance(error, AlpacaFatalError) and error.code == "INVALID_ORDER"
    assert "limit_price is required" in str(error)
