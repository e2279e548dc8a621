"""The MT5 retcode table: every documented trade server return code, each in its class; and
the server clock converted to UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tradeloop.brokers.mt5.config import server_ms_to_utc_ns, server_zone, utc_ns_to_server
from tradeloop.brokers.mt5.errors import (
    Mt5FatalError,
    Mt5OutcomeUnknownError,
    Mt5RetryableError,
    retcode_error,
)
from tradeloop.brokers.mt5.parse import tag
from tradeloop.brokers.mt5.retcodes import RETCODES, RetcodeClass, classify

DOCUMENTED = [10004, *range(10006, 10037), *range(10038, 10047)]
EXPECTED = {
    RetcodeClass.SUCCESS: {10008, 10009, 10010, 10025},
    RetcodeClass.REQUOTE: {10004, 10020, 10021},
    RetcodeClass.BACKOFF: {10011, 10023, 10024, 10028},
    RetcodeClass.UNKNOWN: {10012, 10031},
    RetcodeClass.HALT_SYMBOL: {10017, 10018, 10042, 10043, 10044},
}


def test_the_table_holds_every_documented_code_and_nothing_else() -> None:
    assert sorted(RETCODES) == DOCUMENTED


@pytest.mark.parametrize("code", DOCUMENTED)
def test_each_code_has_its_class(code: int) -> None:
    expected = next((k for k, codes in EXPECTED.items() if code in codes), RetcodeClass.FATAL)
    assert classify(code) is expected
    error = retcode_error(code, "order_send X")
    wanted = {RetcodeClass.SUCCESS: type(None), RetcodeClass.REQUOTE: Mt5RetryableError,
              RetcodeClass.BACKOFF: Mt5RetryableError,
              RetcodeClass.UNKNOWN: Mt5OutcomeUnknownError}.get(expected, Mt5FatalError)
    assert isinstance(error, wanted)
    if isinstance(error, Mt5FatalError):
        assert error.halt_symbol == (expected is RetcodeClass.HALT_SYMBOL)


def test_an_undocumented_code_is_fatal() -> None:
    assert classify(99999) is RetcodeClass.FATAL


def test_server_time_in_winter_and_summer_eet() -> None:
    zone = server_zone("Europe/Athens")
    winter = int(datetime(2024, 1, 15, 12, tzinfo=UTC).timestamp() * 1000)  # wall 12:00 EET
    assert server_ms_to_utc_ns(winter, zone) == int(
        datetime(2024, 1, 15, 10, tzinfo=UTC).timestamp()) * 10**9
    summer = int(datetime(2024, 7, 15, 12, tzinfo=UTC).timestamp() * 1000)  # 12:00 EEST
    assert server_ms_to_utc_ns(summer, zone) == int(
        datetime(2024, 7, 15, 9, tzinfo=UTC).timestamp()) * 10**9
    back = utc_ns_to_server(int(datetime(2024, 7, 15, 9, tzinfo=UTC).timestamp()) * 10**9, zone)
    assert back == datetime(2024, 7, 15, 12, tzinfo=UTC)


def test_fixed_offsets_and_long_ids_become_stable_tags() -> None:
    assert server_zone("UTC+2").utcoffset(None).total_seconds() == 7200  # type: ignore[union-attr]
    long_id = "strategy-with-a-long-name-0000000001"
    assert tag("CF1") == "CF1" and len(tag(long_id)) == 31 and tag(long_id) == tag(long_id)
