from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tradeloop.core.errors import ConfigError, DataError
from tradeloop.core.time import NANOS_PER_MINUTE, dt_to_ns
from tradeloop.data import economic
from tradeloop.data.economic import (
    EconomicCalendar,
    EconomicEvent,
    Impact,
    currency_of_country,
    read_events_csv,
    read_events_ics,
)

FIXTURES = Path(__file__).parent / "fixtures"
MINUTE = NANOS_PER_MINUTE


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return dt_to_ns(datetime(year, month, day, hour, minute, tzinfo=UTC))


def event(ts: int, currency: str = "USD", impact: Impact = Impact.HIGH, title: str = "NFP",
          actual: str | None = None) -> EconomicEvent:
    return EconomicEvent(ts, currency, "", impact, title, actual)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- impact and currencies --------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "impact"),
    [("High", Impact.HIGH), ("h", Impact.HIGH), ("3", Impact.HIGH), (3, Impact.HIGH),
     ("High Impact Expected", Impact.HIGH), ("***", Impact.HIGH), ("medium", Impact.MEDIUM),
     ("Med", Impact.MEDIUM), ("2", Impact.MEDIUM), ("Low", Impact.LOW), ("holiday", Impact.LOW),
     ("Non-Economic", Impact.LOW), (Impact.MEDIUM, Impact.MEDIUM)],
)
def test_impact_spellings(text: str | int | Impact, impact: Impact) -> None:
    assert Impact.parse(text) is impact


def test_impact_order_and_errors() -> None:
    assert Impact.HIGH > Impact.MEDIUM > Impact.LOW
    assert str(Impact.HIGH) == "high"
    with pytest.raises(ValueError, match="unknown impact 'severe'"):
        Impact.parse("severe")


def test_country_to_currency() -> None:
    assert currency_of_country("United States") == "USD"
    assert currency_of_country("euro area") == "EUR"
    assert currency_of_country("Germany") == "EUR"
    assert currency_of_country("United  Kingdom") == "GBP"
    assert currency_of_country("JP") == "JPY"
    assert currency_of_country("Narnia") is None


# --- CSV --------------------------------------------------------------------------------------

def test_csv_with_date_and_time_columns_in_a_timezone() -> None:
    events = read_events_csv(FIXTURES / "economic_events.csv", timezone="America/New_York")
    assert [e.ts_ns for e in events] == [utc(2024, 1, 5, 13, 30), utc(2024, 1, 5, 10),
                                         utc(2024, 1, 11, 13, 30), utc(2024, 1, 12, 7)]
    nfp = events[0]
    assert nfp == EconomicEvent(utc(2024, 1, 5, 13, 30), "USD", "United States", Impact.HIGH,
                                "Non-Farm Payrolls", "216K", "170K", "173K")
    assert [e.currency for e in events] == ["USD", "EUR", "USD", "GBP"]
    assert events[1].country == "Euro Area" and events[1].impact is Impact.MEDIUM


def test_csv_in_the_forex_factory_layout() -> None:
    events = read_events_csv(FIXTURES / "economic_forexfactory_style.csv")
    holiday, trade, jobs = events
    assert (holiday.ts_ns, holiday.currency, holiday.impact) == (utc(2024, 1, 8), "JPY",
                                                                 Impact.LOW)
    assert (trade.ts_ns, trade.currency, trade.country) == (utc(2024, 1, 9, 0, 30), "AUD",
                                                            "Australia")
    assert (jobs.ts_ns, jobs.impact, jobs.forecast, jobs.previous) == (
        utc(2024, 1, 5, 13, 30), Impact.HIGH, "5.9%", "5.8%")
    assert trade.actual is None


def test_csv_with_country_names_offsets_and_semicolons(tmp_path: Path) -> None:
    path = write(tmp_path / "events.csv",
                 "Date Time;Country;Importance;Event\n"
                 "2024-01-04T08:55:00Z;Germany;2;Unemployment Change\n"
                 "2024-01-04T09:30:00+00:00;United Kingdom;3;Services PMI\n"
                 "2024-01-04T14:00:00-05:00;United States;1;Factory Orders\n")
    events = read_events_csv(path, timezone="Asia/Tokyo")  # offsets win over the timezone
    assert [(e.ts_ns, e.currency, e.country, e.impact) for e in events] == [
        (utc(2024, 1, 4, 8, 55), "EUR", "Germany", Impact.MEDIUM),
        (utc(2024, 1, 4, 9, 30), "GBP", "United Kingdom", Impact.HIGH),
        (utc(2024, 1, 4, 19), "USD", "United States", Impact.LOW),
    ]


def test_csv_default_impact(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", "time,currency,title\n2024-01-05 13:30,usd,NFP\n")
    with pytest.raises(DataError, match="no impact column"):
        read_events_csv(path)
    (only,) = read_events_csv(path, default_impact="high")
    assert (only.currency, only.impact) == ("USD", Impact.HIGH)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("time,currency,impact,title\n2024-01-05 13:30,USD,High,A\n2024-01-05 14:00,USD,Severe,B\n",
         "row 3: unknown impact 'Severe'"),
        ("time,country,impact,title\n2024-01-05 13:30,Narnia,High,A\n",
         "row 2: unknown country 'Narnia'"),
        ("time,currency,impact,title\n2024-01-05 13:30,USD,High,A\nsoon,USD,High,B\n",
         "row 3: cannot read time 'soon'"),
        ("time,currency,impact,title\n2024-01-05 13:30,USD,High,A\n,USD,High,B\n",
         "row 3: no time"),
        ("time,currency,impact,title\n2024-01-05 13:30,US Dollar,High,A\n",
         "row 2: currency 'US DOLLAR' is not a three-letter code"),
        ("time,currency,impact,title\n2024-01-05 13:30,USD,High,\n", "row 2: no title"),
        ("when,currency,impact,title\n2024-01-05 13:30,USD,High,A\n", "no time column"),
        ("time,impact,title\n2024-01-05 13:30,High,A\n", "no currency or country column"),
        ("", "the file is empty"),
    ],
)
def test_csv_errors_name_file_row_and_reason(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path / "bad.csv", body)
    with pytest.raises(DataError, match=message) as info:
        read_events_csv(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_csv_nonexistent_local_time(tmp_path: Path) -> None:
    path = write(tmp_path / "gap.csv", "time,currency,impact,title\n2024-03-10 02:30,USD,High,A\n")
    with pytest.raises(DataError, match="row 2: time '2024-03-10 02:30' does not exist"):
        read_events_csv(path, timezone="America/New_York")


def test_csv_bad_options(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", "time,currency,impact,title\n2024-01-05 13:30,USD,High,A\n")
    with pytest.raises(ConfigError, match="unknown timezone"):
        read_events_csv(path, timezone="Mars/Olympus")
    with pytest.raises(DataError, match="no such file"):
        read_events_csv(tmp_path / "missing.csv")


# --- ICS --------------------------------------------------------------------------------------

def test_ics_conventions() -> None:
    events = read_events_ics(FIXTURES / "economic_events.ics")
    nfp, ecb, ism, holiday, spending = events
    assert nfp == EconomicEvent(utc(2024, 1, 5, 13, 30), "USD", "United States", Impact.HIGH,
                                "Non-Farm Payrolls", "216K", "170K", "173K")
    assert (ecb.ts_ns, ecb.currency, ecb.impact, ecb.title) == (
        utc(2024, 1, 25, 13, 15), "EUR", Impact.HIGH, "ECB Interest Rate Decision")
    # folded SUMMARY, escaped comma, quoted TZID, impact from DESCRIPTION
    assert (ism.ts_ns, ism.currency, ism.impact, ism.title) == (
        utc(2024, 1, 3, 15), "USD", Impact.MEDIUM, "ISM Manufacturing PMI, December")
    # all-day date at 00:00 in the timezone option; currency from the country in DESCRIPTION
    assert (holiday.ts_ns, holiday.currency, holiday.country, holiday.impact) == (
        utc(2024, 1, 1), "GBP", "United Kingdom", Impact.LOW)
    # LOCATION gives the country, PRIORITY 5 is medium, the VALARM's DESCRIPTION is ignored
    assert (spending.currency, spending.impact, spending.ts_ns) == (
        "JPY", Impact.MEDIUM, utc(2024, 1, 9, 23, 30))


def test_ics_all_day_dates_follow_the_timezone_option_and_crlf(tmp_path: Path) -> None:
    text = ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20240101\r\n"
            "SUMMARY:JPY Bank Holiday\r\nCATEGORIES:Low\r\nEND:VEVENT\r\n"
            "BEGIN:VEVENT\r\nDTSTART:20240105T083000\r\nSUMMARY:USD Payrolls (High Impact)\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")
    path = tmp_path / "tokyo.ics"
    path.write_bytes(text.encode())
    holiday, payrolls = read_events_ics(path, timezone="Asia/Tokyo")
    assert (holiday.ts_ns, holiday.currency, holiday.impact) == (utc(2023, 12, 31, 15), "JPY",
                                                                 Impact.LOW)
    assert (payrolls.ts_ns, payrolls.title, payrolls.impact) == (
        utc(2024, 1, 4, 23, 30), "Payrolls", Impact.HIGH)


def test_ics_tzid_as_a_path_and_default_impact(tmp_path: Path) -> None:
    path = write(tmp_path / "e.ics",
                 "BEGIN:VCALENDAR\nBEGIN:VEVENT\n"
                 "DTSTART;TZID=/mozilla.org/20050126_1/America/New_York:20240705T083000\n"
                 "SUMMARY:Non-Farm Payrolls\nCATEGORIES:USD\nEND:VEVENT\nEND:VCALENDAR\n")
    with pytest.raises(DataError, match="line 2: event 'Non-Farm Payrolls' has no impact"):
        read_events_ics(path)
    (nfp,) = read_events_ics(path, default_impact=Impact.HIGH)
    assert (nfp.ts_ns, nfp.currency, nfp.impact) == (utc(2024, 7, 5, 12, 30), "USD", Impact.HIGH)


def test_summary_words_that_look_like_currencies_are_titles(tmp_path: Path) -> None:
    path = write(tmp_path / "e.ics",
                 "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20240105T133000Z\n"
                 "SUMMARY:GDP Growth Rate [Medium]\nDESCRIPTION:Currency: cad\n"
                 "END:VEVENT\nEND:VCALENDAR\n")
    (gdp,) = read_events_ics(path)
    assert (gdp.title, gdp.currency, gdp.impact) == ("GDP Growth Rate", "CAD", Impact.MEDIUM)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20240105T133000Z\nSUMMARY:Payrolls [High]\n"
         "END:VEVENT\nEND:VCALENDAR\n", "line 2: event 'Payrolls' has no currency"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:USD Payrolls [High]\nDTSTART:2024-01-05\n"
         "END:VEVENT\nEND:VCALENDAR\n", "line 4: cannot read DTSTART '2024-01-05'"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20240230T133000Z\nSUMMARY:USD A [High]\n"
         "END:VEVENT\nEND:VCALENDAR\n", "line 3: DTSTART '20240230T133000Z' is not a real date"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;TZID=Eastern:20240105T083000\n"
         "SUMMARY:USD A [High]\nEND:VEVENT\nEND:VCALENDAR\n", "line 3: unknown TZID 'Eastern'"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;TZID=America/New_York:20240310T023000\n"
         "SUMMARY:USD A [High]\nEND:VEVENT\nEND:VCALENDAR\n", "line 3: .* does not exist"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:USD A [High]\nEND:VEVENT\nEND:VCALENDAR\n",
         "line 2: event has no DTSTART"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20240105T133000Z\nEND:VEVENT\nEND:VCALENDAR\n",
         "line 2: event has no SUMMARY"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20240105T133000Z\nSUMMARY:USD A\n"
         "DESCRIPTION:Impact: Severe\nEND:VEVENT\nEND:VCALENDAR\n", "unknown impact 'Severe'"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20240105T133000Z\nSUMMARY:USD A [High]\n",
         "line 4: BEGIN:VEVENT is never closed"),
        ("BEGIN:VCALENDAR\nEND:VEVENT\n", "line 2: END:VEVENT without its BEGIN"),
        ("BEGIN:VCALENDAR\nthis is not a property\nEND:VCALENDAR\n",
         "line 2: not a 'NAME:value' line"),
        ("Subject,Start\nA,B\n", "line 1: not an iCalendar file"),
    ],
)
def test_ics_errors_name_file_line_and_reason(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path / "bad.ics", body)
    with pytest.raises(DataError, match=message) as info:
        read_events_ics(path)
    assert str(path) in str(info.value)


# --- storage ----------------------------------------------------------------------------------

@pytest.fixture
def calendar(tmp_path: Path) -> EconomicCalendar:
    return EconomicCalendar(tmp_path / "economic" / "calendar.parquet")


def test_import_stores_and_persists(calendar: EconomicCalendar) -> None:
    assert len(calendar) == 0
    assert calendar.import_file(FIXTURES / "economic_events.csv", "America/New_York") == 4
    assert calendar.import_file(FIXTURES / "economic_events.ics") == 4  # payrolls replaced
    assert len(calendar) == 8  # the ICS payrolls: same time, currency and title as the CSV one
    again = EconomicCalendar(calendar.path)
    assert again.events(utc(2024, 1, 1), utc(2024, 2, 1)) == calendar.events(
        utc(2024, 1, 1), utc(2024, 2, 1))
    assert pq.read_table(calendar.path).schema.field("ts").type.tz == "UTC"
    assert [p.name for p in calendar.path.parent.iterdir()] == ["calendar.parquet"]


def test_reimport_replaces_the_stored_row(calendar: EconomicCalendar) -> None:
    ts = utc(2024, 1, 5, 13, 30)
    assert calendar.add([event(ts, title="Non-Farm Payrolls")]) == 1
    updated = event(ts, currency="usd", title="non-farm  payrolls", actual="216K")
    assert calendar.add([updated, event(ts, currency="CAD", title="Unemployment Rate")]) == 1
    stored = calendar.events(ts, ts + 1)
    assert len(stored) == 2
    nfp = next(e for e in stored if e.currency == "USD")
    assert (nfp.actual, nfp.title) == ("216K", "non-farm payrolls")


def test_rejected_file_stores_nothing(calendar: EconomicCalendar, tmp_path: Path) -> None:
    calendar.import_file(FIXTURES / "economic_events.csv")
    before = calendar.path.read_bytes()
    bad = write(tmp_path / "bad.csv", "time,currency,impact,title\n"
                "2024-02-01 13:30,USD,High,Good row\n2024-02-02 13:30,USD,Huge,Bad row\n")
    with pytest.raises(DataError, match="row 3"):
        calendar.import_file(bad)
    assert calendar.path.read_bytes() == before
    assert len(calendar) == 4


def test_failed_write_leaves_the_old_file(calendar: EconomicCalendar,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    calendar.add([event(utc(2024, 1, 5, 13, 30))])
    before = calendar.path.read_bytes()

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(economic.pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        calendar.add([event(utc(2024, 1, 6))])
    assert calendar.path.read_bytes() == before
    assert [p.name for p in calendar.path.parent.iterdir()] == ["calendar.parquet"]
    assert len(calendar) == 1


def test_another_writer_is_seen(calendar: EconomicCalendar) -> None:
    assert calendar.events(0, utc(2030, 1, 1)) == []
    EconomicCalendar(calendar.path).add([event(utc(2024, 1, 5))])
    assert len(calendar.events(0, utc(2030, 1, 1))) == 1


def test_corrupt_file_is_a_data_error(tmp_path: Path) -> None:
    path = write(tmp_path / "calendar.parquet", "not parquet")
    with pytest.raises(DataError, match="cannot read the economic calendar"):
        len(EconomicCalendar(path))


def test_event_queries(calendar: EconomicCalendar) -> None:
    calendar.import_file(FIXTURES / "economic_events.csv", "America/New_York")
    jan5 = calendar.events(utc(2024, 1, 5), utc(2024, 1, 6))
    assert [e.currency for e in jan5] == ["EUR", "USD"]  # time order
    assert calendar.events(utc(2024, 1, 5, 10), utc(2024, 1, 5, 13, 30))[0].currency == "EUR"
    assert calendar.events(utc(2024, 1, 5, 10, 1), utc(2024, 1, 5, 13, 30)) == []  # half-open
    usd = calendar.events(utc(2024, 1, 1), utc(2024, 2, 1), currencies="usd")
    assert [e.title for e in usd] == ["Non-Farm Payrolls", "CPI m/m"]
    both = calendar.events(utc(2024, 1, 1), utc(2024, 2, 1), currencies=["GBP", "EUR"])
    assert {e.currency for e in both} == {"GBP", "EUR"}
    high = calendar.events(utc(2024, 1, 1), utc(2024, 2, 1), min_impact="high")
    assert {e.impact for e in high} == {Impact.HIGH} and len(high) == 2
    assert len(calendar.events(utc(2024, 1, 1), utc(2024, 2, 1), min_impact=Impact.MEDIUM)) == 4
    with pytest.raises(ConfigError, match="min_impact"):
        calendar.events(0, 1, min_impact="severe")


def test_blackouts_merge_overlapping_windows(calendar: EconomicCalendar) -> None:
    t = utc(2024, 1, 5, 13, 30)
    calendar.add([
        event(t, title="NFP"),
        event(t + 20 * MINUTE, title="Fed speech"),                  # overlaps the first
        event(t + 60 * MINUTE, title="ISM"),                         # touches the merged one
        event(t + 5 * 60 * MINUTE, title="Late"),                    # separate
        event(t + 30 * MINUTE, currency="EUR", title="ECB"),        # other currency
        event(t + 3 * 60 * MINUTE, impact=Impact.MEDIUM, title="Mid"),  # below the default
    ])
    windows = calendar.blackouts(["USD"], 15 * MINUTE, 25 * MINUTE, utc(2024, 1, 5),
                                 utc(2024, 1, 6))
    assert windows == [(t - 15 * MINUTE, t + 85 * MINUTE),
                       (t + 285 * MINUTE, t + 325 * MINUTE)]
    medium = calendar.blackouts("usd", 15 * MINUTE, 25 * MINUTE, utc(2024, 1, 5),
                                utc(2024, 1, 6), min_impact="medium")
    assert (t + 165 * MINUTE, t + 205 * MINUTE) in medium and len(medium) == 3
    every = calendar.blackouts(None, 0, 10 * MINUTE, utc(2024, 1, 5), utc(2024, 1, 6),
                               min_impact=None)
    # the EUR event's window starts where the speech's ends: they merge
    assert every == [(t + m * MINUTE, t + n * MINUTE)
                     for m, n in ((0, 10), (20, 40), (60, 70), (180, 190), (300, 310))]


def test_blackouts_include_windows_reaching_into_the_range(calendar: EconomicCalendar) -> None:
    t = utc(2024, 1, 5, 13, 30)
    calendar.add([event(t)])
    # the event is before the range, but its after-window reaches into it
    assert calendar.blackouts(["USD"], 0, 30 * MINUTE, t + 10 * MINUTE, t + 60 * MINUTE) == [
        (t, t + 30 * MINUTE)]
    # the event is after the range, but its before-window starts inside it
    assert calendar.blackouts(["USD"], 30 * MINUTE, 0, t - 60 * MINUTE, t - 10 * MINUTE) == [
        (t - 30 * MINUTE, t)]
    assert calendar.blackouts(["USD"], 30 * MINUTE, 30 * MINUTE, t + 30 * MINUTE,
                              t + 60 * MINUTE) == []
    assert calendar.blackouts(["EUR"], 30 * MINUTE, 30 * MINUTE, t - MINUTE, t + MINUTE) == []
    with pytest.raises(ConfigError, match="negative"):
        calendar.blackouts(["USD"], -1, 0, 0, 1)
