"""IB's error codes, each in its class, and the exception each class raises."""

from __future__ import annotations

import pytest

from tradeloop.brokers.ibkr.errors import (
    CANCEL_REFUSED,
    ERROR_CLASSES,
    ErrorClass,
    IbkrFatalError,
    IbkrOutcomeUnknownError,
    IbkrRetryableError,
    classify,
    describe,
    error_for,
    is_pacing,
)
from tradeloop.core.errors import FatalVenueError, OutcomeUnknownError, RetryableVenueError

EXPECTED = {
    # notices
    2104: ErrorClass.INFO, 2106: ErrorClass.INFO, 2158: ErrorClass.INFO, 2107: ErrorClass.INFO,
    2108: ErrorClass.INFO, 2109: ErrorClass.INFO, 165: ErrorClass.INFO, 399: ErrorClass.INFO,
    10167: ErrorClass.INFO,
    # connectivity
    1100: ErrorClass.CONNECTIVITY, 1101: ErrorClass.CONNECTIVITY,
    1102: ErrorClass.CONNECTIVITY, 1300: ErrorClass.CONNECTIVITY, 502: ErrorClass.CONNECTIVITY,
    504: ErrorClass.CONNECTIVITY, 2110: ErrorClass.CONNECTIVITY,
    # pacing and rate
    100: ErrorClass.RETRYABLE, 162: ErrorClass.RETRYABLE, 10197: ErrorClass.RETRYABLE,
    # refusals
    104: ErrorClass.FATAL, 105: ErrorClass.FATAL, 110: ErrorClass.FATAL, 111: ErrorClass.FATAL,
    135: ErrorClass.FATAL, 161: ErrorClass.FATAL, 200: ErrorClass.FATAL, 201: ErrorClass.FATAL,
    203: ErrorClass.FATAL, 354: ErrorClass.FATAL, 434: ErrorClass.FATAL,
    10147: ErrorClass.FATAL, 10148: ErrorClass.FATAL,
    # the rest
    202: ErrorClass.CANCELLED, 103: ErrorClass.OUTCOME_UNKNOWN,
}


@pytest.mark.parametrize(("code", "kind"), sorted(EXPECTED.items()))
def test_each_code_has_its_class(code: int, kind: ErrorClass) -> None:
    assert classify(code) is kind


def test_every_listed_code_says_what_it_means() -> None:
    for code, (kind, meaning) in ERROR_CLASSES.items():
        assert isinstance(kind, ErrorClass) and meaning, code
        assert describe(code, "text") == f"IB error {code} ({meaning}): text"


def test_unlisted_codes_are_notices_among_warnings_and_refusals_otherwise() -> None:
    assert classify(2199) is ErrorClass.INFO
    assert classify(9999) is ErrorClass.FATAL
    assert describe(9999) == "IB error 9999"


def test_cancel_refusals_are_fatal() -> None:
    assert all(classify(code) is ErrorClass.FATAL for code in CANCEL_REFUSED)


@pytest.mark.parametrize(("code", "message", "kind", "base"), [
    (201, "Order rejected - reason: no funds", IbkrFatalError, FatalVenueError),
    (100, "Max rate of messages per second has been exceeded", IbkrRetryableError,
     RetryableVenueError),
    (162, "Historical data request pacing violation", IbkrRetryableError, RetryableVenueError),
    (162, "HMDS query returned no data", IbkrFatalError, FatalVenueError),
    (103, "Duplicate order id", IbkrOutcomeUnknownError, OutcomeUnknownError),
    (504, "Not connected", IbkrRetryableError, RetryableVenueError),
    (202, "Order Canceled - reason:", IbkrFatalError, FatalVenueError),
])
def test_an_answer_becomes_the_exception_of_its_class(code: int, message: str, kind: type,
                                                     base: type) -> None:
    error = error_for(code, message)
    assert isinstance(error, kind) and isinstance(error, base)
    assert error.code == code and message in str(error) and f"IB error {code}" in str(error)


def test_pacing_is_told_apart_from_no_data() -> None:
    assert is_pacing(162, "Historical Market Data Service error message:Historical data "
                          "request pacing violation")
    assert not is_pacing(162, "HMDS query returned no data")
    assert not is_pacing(100, "pacing")
