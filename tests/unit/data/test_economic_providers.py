import json
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from tradeloop.core.errors import (
    ConfigError,
    DataError,
    FatalVenueError,
    RetryableVenueError,
    TradeloopError,
)
from tradeloop.core.time import dt_to_ns
from tradeloop.data.economic import EconomicCalendar, EconomicEvent, Impact
from tradeloop.data.economic_providers import (
    EconomicCalendarProvider,
    ProviderAuthError,
    ProviderRateLimitError,
    TradingEconomicsProvider,
)

FIXTURES = Path(__file__).parent / "fixtures"
KEY = "k3y-guest:s3cr3t/42"
Handler = Callable[[httpx.Request], httpx.Response]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return dt_to_ns(datetime(year, month, day, hour, minute, tzinfo=UTC))


def provider(handler: Handler, **options: object) -> TradingEconomicsProvider:
    return TradingEconomicsProvider(SecretStr(KEY), httpx.MockTransport(handler),
                                    **options)  # type: ignore[arg-type]


def serve(status: int, body: bytes | str, headers: dict[str, str] | None = None) -> Handler:
    content = body.encode() if isinstance(body, str) else body
    return lambda request: httpx.Response(status, content=content, headers=headers)


def recorded(requests: list[httpx.Request]) -> Handler:
    payload = (FIXTURES / "tradingeconomics_calendar.json").read_bytes()

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, content=payload,
                              headers={"Content-Type": "application/json"})

    return handler


@pytest.fixture
def every_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_no_key_logged(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        text = f"{record.getMessage()} {record.args!r} {vars(record)!r}"
        assert KEY not in text and "s3cr3t" not in text


def test_fetch_reads_the_documented_calendar_format(
        every_log: pytest.LogCaptureFixture) -> None:
    requests: list[httpx.Request] = []
    with provider(recorded(requests)) as te:
        events = te.fetch(date(2024, 1, 5), date(2024, 1, 12))
    (request,) = requests
    assert request.method == "GET"
    assert request.url.host == "api.tradingeconomics.com"
    assert request.url.path == "/calendar/country/All/2024-01-05/2024-01-12"
    assert request.url.params["c"] == KEY  # the key reaches the server...
    assert request.url.params["f"] == "json"
    assert_no_key_logged(every_log)  # ...and nothing else
    assert any("HTTP Request" in r.getMessage() for r in every_log.records)  # httpx did log
    assert len(events) == 4  # Kenya has no currency in the map: skipped
    nfp = events[0]
    assert nfp == EconomicEvent(utc(2024, 1, 5, 13, 30), "USD", "United States", Impact.HIGH,
                                "Non Farm Payrolls", "216K", "170K", "173K")
    assert [(e.currency, e.impact) for e in events[1:]] == [
        ("EUR", Impact.MEDIUM), ("JPY", Impact.LOW), ("GBP", Impact.MEDIUM)]
    assert events[2].actual is None  # not released yet: an empty string in the response
    fetched = [r for r in every_log.records if r.getMessage() == "economic calendar fetched"]
    assert fetched[0].fields["skipped_countries"] == 1  # type: ignore[attr-defined]


def test_countries_and_importance_go_into_the_request() -> None:
    requests: list[httpx.Request] = []
    te = provider(recorded(requests), countries=["united states", "euro area"],
                  importance="high")
    te.fetch(datetime(2024, 1, 5, 23, tzinfo=UTC), "2024-01-06")  # type: ignore[arg-type]
    url = requests[0].url
    assert url.path == "/calendar/country/united states,euro area/2024-01-05/2024-01-06"
    assert url.params["importance"] == "3"


def test_fetched_events_store_in_the_calendar(tmp_path: Path) -> None:
    te = provider(recorded([]))
    calendar = EconomicCalendar(tmp_path / "calendar.parquet")
    assert calendar.add(te.fetch(date(2024, 1, 5), date(2024, 1, 12))) == 4
    assert calendar.add(te.fetch(date(2024, 1, 5), date(2024, 1, 12))) == 0  # re-fetch: same keys
    assert len(calendar.blackouts(["USD"], 0, 1, utc(2024, 1, 1), utc(2024, 2, 1))) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_key_is_a_clear_error_without_the_key(
        status: int, every_log: pytest.LogCaptureFixture) -> None:
    body = json.dumps({"Message": f"Invalid credentials for c={KEY}"})
    with pytest.raises(ProviderAuthError, match=f"refused the API key \\(HTTP {status}\\)") as info:
        provider(serve(status, body)).fetch(date(2024, 1, 5), date(2024, 1, 6))
    assert isinstance(info.value, FatalVenueError) and not info.value.retryable
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    assert_no_key_logged(every_log)


def test_rate_limit_is_retryable() -> None:
    handler = serve(429, "Too Many Requests", {"Retry-After": "30"})
    with pytest.raises(ProviderRateLimitError, match="retry after 30 s") as info:
        provider(handler).fetch(date(2024, 1, 5), date(2024, 1, 6))
    assert isinstance(info.value, RetryableVenueError) and info.value.retryable
    assert info.value.retry_after_s == 30.0
    with pytest.raises(ProviderRateLimitError) as info:
        provider(serve(429, "")).fetch(date(2024, 1, 5), date(2024, 1, 6))
    assert info.value.retry_after_s is None


def test_server_errors_are_retryable_and_other_refusals_fatal() -> None:
    with pytest.raises(RetryableVenueError, match="server error \\(HTTP 503\\)"):
        provider(serve(503, "busy")).fetch(date(2024, 1, 5), date(2024, 1, 6))
    with pytest.raises(FatalVenueError, match="HTTP 404") as info:
        provider(serve(404, f"no route for /calendar?c={KEY}")).fetch(date(2024, 1, 5),
                                                                     date(2024, 1, 6))
    assert not info.value.retryable
    assert KEY not in str(info.value) and "c=***" in str(info.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ((FIXTURES / "tradingeconomics_truncated.json").read_bytes(), "not valid JSON"),
        (b"<html>maintenance</html>", "not valid JSON"),
        (b'{"Message": "No Access to this feature"}', "expected a JSON list of events, got dict"),
        (b'[{"Date": "tomorrow", "Country": "Japan", "Event": "X", "Importance": 1}]',
         "event 0: cannot read Date 'tomorrow'"),
        (b'[{"Date": "2024-01-05T13:30:00", "Country": "Japan", "Event": "X", "Importance": 5}]',
         "event 0: Importance 5 is not 1, 2 or 3"),
        (b'[{"Date": "2024-01-05T13:30:00", "Country": "Japan", "Event": "X"}]',
         "event 0: Importance None"),
        (b'[{"Date": "2024-01-05T13:30:00", "Country": "Japan", "Importance": 1}]',
         "event 0: no Event or Category"),
        (b'[["2024-01-05T13:30:00", "Japan"]]', "event 0: expected an object, got list"),
    ],
)
def test_malformed_responses_are_data_errors(body: bytes, message: str) -> None:
    with pytest.raises(DataError, match=message):
        provider(serve(200, body)).fetch(date(2024, 1, 5), date(2024, 1, 6))


def test_connection_failures_are_retryable_and_never_show_the_key(
        every_log: pytest.LogCaptureFixture) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"connection refused for {request.url}", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(RetryableVenueError, match="cannot reach Trading Economics") as info:
        provider(refuse).fetch(date(2024, 1, 5), date(2024, 1, 6))
    assert KEY not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(RetryableVenueError, match="did not answer within 5 s"):
        provider(slow, timeout_s=5).fetch(date(2024, 1, 5), date(2024, 1, 6))
    assert_no_key_logged(every_log)


def test_key_is_never_in_repr_and_must_be_secret() -> None:
    te = provider(recorded([]))
    assert KEY not in repr(te) and "**********" in repr(te)
    assert isinstance(te, EconomicCalendarProvider)
    with pytest.raises(ConfigError, match="SecretStr"):
        TradingEconomicsProvider(KEY)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="empty"):
        TradingEconomicsProvider(SecretStr("  "))


def test_bad_date_range() -> None:
    with pytest.raises(ConfigError, match="before the start"):
        provider(recorded([])).fetch(date(2024, 1, 6), date(2024, 1, 5))


def test_errors_belong_to_the_error_tree() -> None:
    assert issubclass(ProviderAuthError, TradeloopError)
    assert issubclass(ProviderRateLimitError, RetryableVenueError)
