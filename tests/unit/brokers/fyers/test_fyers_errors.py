"""Fyers' error answers in tradeloop's error tree, from one table."""

from __future__ import annotations

import httpx
import pytest

from tradeloop.brokers.fyers.errors import (
    LOGIN_COMMAND,
    ErrorClass,
    FyersFatalError,
    FyersOutcomeUnknownError,
    FyersRetryableError,
    FyersTokenError,
    classify,
    error_for,
    in_transit,
    transport_error,
)
from tradeloop.core.errors import FatalVenueError


@pytest.mark.parametrize("code", [-8, -15, -16, -17])
def test_token_codes_tell_the_user_to_log_in(code: int) -> None:
    error = error_for({"s": "error", "code": code, "message": "whatever"}, 401, "orders")
    assert isinstance(error, FyersTokenError) and isinstance(error, FatalVenueError)
    assert LOGIN_COMMAND in str(error) and f"code {code}" in str(error)


@pytest.mark.parametrize(("code", "status", "kind"), [
    (-50, 400, ErrorClass.FATAL), (-51, 400, ErrorClass.FATAL), (-99, 400, ErrorClass.FATAL),
    (-300, 400, ErrorClass.FATAL), (-352, 403, ErrorClass.FATAL),
    (-429, 429, ErrorClass.RETRYABLE), (0, 429, ErrorClass.RETRYABLE),
    (0, 503, ErrorClass.RETRYABLE), (0, 401, ErrorClass.TOKEN), (-999, 400, ErrorClass.FATAL),
])
def test_codes_are_classified_by_the_table(code: int, status: int, kind: ErrorClass) -> None:
    assert classify(code, status) is kind


def test_an_error_names_the_call_the_message_and_the_code() -> None:
    error = error_for({"s": "error", "code": -50, "message": "Invalid qty"}, 400, "submit CF1")
    assert isinstance(error, FyersFatalError) and error.code == -50
    assert str(error) == "Fyers submit CF1: Invalid qty (code -50: invalid input)"
    limited = error_for({"s": "error", "code": -429, "message": "limit"}, 429, "orders")
    assert isinstance(limited, FyersRetryableError)


def test_a_server_error_on_an_order_leaves_its_outcome_unknown() -> None:
    assert isinstance(error_for(None, 500, "submit", state_change=True),
                      FyersOutcomeUnknownError)
    assert isinstance(error_for(None, 503, "submit", state_change=True), FyersRetryableError)
    assert isinstance(error_for(None, 500, "orders"), FyersRetryableError)
    assert isinstance(in_transit("submit CF1"), FyersOutcomeUnknownError)
    assert "code 201" in str(in_transit("submit CF1"))


def test_transport_failures_before_and_after_sending() -> None:
    request = httpx.Request("POST", "http://x")
    refused = httpx.ConnectError("refused", request=request)
    lost = httpx.ReadTimeout("timed out", request=request)
    assert isinstance(transport_error(refused, "submit", state_change=True),
                      FyersRetryableError)
    assert isinstance(transport_error(lost, "submit", state_change=True),
                      FyersOutcomeUnknownError)
    assert isinstance(transport_error(lost, "orders", state_change=False), FyersRetryableError)
