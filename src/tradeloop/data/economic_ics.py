"""Reading economic events from iCalendar (ICS, RFC 5545) files.

Part of the economic calendar (:mod:`tradeloop.data.economic`, which also re-exports
:func:`read_events_ics`). A file is read in full first: one bad event rejects the whole file
with a one-line :class:`~tradeloop.core.errors.DataError` naming the file, the line and the
reason.

ICS conventions (RFC 5545; lines unfolded, text unescaped; only VEVENTs are read):

- DTSTART in UTC (``20240105T133000Z``), local with ``TZID=`` (an IANA name, also as the tail
  of a path such as ``/mozilla.org/.../America/New_York``), floating (read in ``timezone``) or
  an all-day ``VALUE=DATE`` (00:00 in ``timezone``).
- currency: a SUMMARY prefix ``USD - Non-Farm Payrolls``, ``USD: ...``, ``[USD] ...`` or
  ``USD Non-Farm Payrolls`` (a known currency code only); else a currency code in CATEGORIES;
  else ``Currency: USD`` on a DESCRIPTION line; else the country of ``Country: ...`` in
  DESCRIPTION or of LOCATION.
- impact: a ``[High]``/``(High Impact)`` marker in SUMMARY (removed from the title); else an
  impact word in CATEGORIES (``High``, ``High Impact``); else ``Impact: High`` in DESCRIPTION;
  else PRIORITY (1-4 high, 5 medium, 6-9 low); else ``default_impact``.
- ``Actual:``, ``Forecast:`` and ``Previous:`` lines in DESCRIPTION fill those fields.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tradeloop.core.errors import DataError
from tradeloop.core.time import dt_to_ns
from tradeloop.data.economic import (
    _IMPACT_WORDS,
    CURRENCY_COUNTRIES,
    EconomicEvent,
    Impact,
    _read_text,
    currency_of_country,
)
from tradeloop.data.timeframes import zone_info

_SUMMARY_CURRENCY = re.compile(r"^\s*\[?([A-Z]{3})\]?(?:\s*[-–:|]\s*|\s+)(.+)$")
_IMPACT_MARKER = re.compile(
    r"[\[(]\s*(low|medium|med|moderate|high)(?:\s+impact)?\s*[\])]", re.IGNORECASE
)
_DESCRIPTION_FIELD = re.compile(r"^\s*(currency|impact|country|actual|forecast|previous)\s*:\s*"
                                r"(.*?)\s*$", re.IGNORECASE)
_ICS_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z)?)?$")


@dataclass(slots=True)
class _IcsProperty:
    name: str
    params: dict[str, str]
    value: str
    line: int


def _unfold(text: str) -> list[tuple[int, str]]:
    logical: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line[:1] in (" ", "\t") and logical:
            logical[-1] = (logical[-1][0], logical[-1][1] + line[1:])
        elif line.strip():
            logical.append((number, line))
    return logical


def _split_property(line: str) -> tuple[str, dict[str, str], str] | None:
    quoted = False
    for i, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            head, value = line[:i], line[i + 1:]
            name, *params = re.split(r';(?=(?:[^"]*"[^"]*")*[^"]*$)', head)
            fields = {}
            for param in params:
                key, _, val = param.partition("=")
                fields[key.strip().upper()] = val.strip().strip('"')
            return name.strip().upper(), fields, value
    return None


def _unescape(text: str) -> str:
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), text)


def _ics_zone(tzid: str) -> ZoneInfo | None:
    parts = tzid.strip("/").split("/")
    for size in (len(parts), 3, 2, 1):
        try:
            return ZoneInfo("/".join(parts[-size:]))
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return None


def _ics_time(prop: _IcsProperty, floating: ZoneInfo, where: str) -> int:
    match = _ICS_DATE.match(prop.value.strip())
    if match is None:
        raise DataError(f"{where}: cannot read DTSTART {prop.value!r}")
    year, month, day, hh, mm, ss, utc = match.groups()
    try:
        clock = time(int(hh or 0), int(mm or 0), int(ss or 0))
        moment = datetime.combine(date(int(year), int(month), int(day)), clock)
    except ValueError:
        raise DataError(f"{where}: DTSTART {prop.value!r} is not a real date") from None
    if utc:
        return dt_to_ns(moment.replace(tzinfo=UTC))
    zone = floating
    if "TZID" in prop.params and hh is not None:
        found = _ics_zone(prop.params["TZID"])
        if found is None:
            raise DataError(f"{where}: unknown TZID {prop.params['TZID']!r} (use an IANA name "
                            "such as America/New_York)")
        zone = found
    local = moment.replace(tzinfo=zone)
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != moment:
        raise DataError(f"{where}: {moment.isoformat()} does not exist in {zone.key} "
                        "(clocks go forward)")
    return dt_to_ns(local)


def _event_from_ics(
    props: list[_IcsProperty], start_line: int, source: Path, floating: ZoneInfo,
    fallback: Impact | None,
) -> EconomicEvent:
    first = {p.name: p for p in reversed(props)}
    where = f"{source}: line {start_line}"
    if "DTSTART" not in first:
        raise DataError(f"{where}: event has no DTSTART")
    ts = _ics_time(first["DTSTART"], floating, f"{source}: line {first['DTSTART'].line}")
    summary = " ".join(_unescape(first["SUMMARY"].value).split()) if "SUMMARY" in first else ""
    currency = impact = None
    marker = _IMPACT_MARKER.search(summary)
    if marker:
        impact = Impact.parse(marker.group(1))
        summary = " ".join((summary[:marker.start()] + summary[marker.end():]).split())
    prefix = _SUMMARY_CURRENCY.match(summary)
    if prefix and prefix.group(1) in CURRENCY_COUNTRIES:
        currency, summary = prefix.group(1), prefix.group(2).strip()
    for prop in props:
        if prop.name != "CATEGORIES":
            continue
        for item in re.split(r"(?<!\\),", prop.value):
            word = _unescape(item).strip()
            if currency is None and word.upper() in CURRENCY_COUNTRIES:
                currency = word.upper()
            elif impact is None and word.lower().removesuffix(" impact") in _IMPACT_WORDS:
                impact = Impact.parse(word)
    described: dict[str, str] = {}
    if "DESCRIPTION" in first:
        for line in _unescape(first["DESCRIPTION"].value).splitlines():
            found = _DESCRIPTION_FIELD.match(line)
            if found and found.group(2):
                described.setdefault(found.group(1).lower(), found.group(2))
    country = described.get("country") or (
        _unescape(first["LOCATION"].value).strip() if "LOCATION" in first else "")
    if currency is None and described.get("currency", "").upper() in CURRENCY_COUNTRIES:
        currency = described["currency"].upper()
    currency = currency or currency_of_country(country)
    if impact is None and "impact" in described:
        try:
            impact = Impact.parse(described["impact"])
        except ValueError as exc:
            raise DataError(f"{where}: {exc}") from None
    priority = first["PRIORITY"].value.strip() if "PRIORITY" in first else ""
    if impact is None and re.fullmatch(r"[1-9]", priority):
        level = int(priority)
        impact = Impact.HIGH if level <= 4 else Impact.MEDIUM if level == 5 else Impact.LOW
    impact = impact or fallback
    if not summary:
        raise DataError(f"{where}: event has no SUMMARY")
    if currency is None:
        raise DataError(f"{where}: event {summary!r} has no currency (write 'USD - title' in "
                        "SUMMARY, a currency in CATEGORIES or 'Currency: USD' in DESCRIPTION)")
    if impact is None:
        raise DataError(f"{where}: event {summary!r} has no impact (add [High] to SUMMARY or "
                        "an impact to CATEGORIES, or pass a default impact)")
    return EconomicEvent(ts, currency, country or CURRENCY_COUNTRIES.get(currency, ""), impact,
                         summary, described.get("actual"), described.get("forecast"),
                         described.get("previous"))


def read_events_ics(
    path: str | os.PathLike[str], timezone: str = "UTC",
    default_impact: Impact | str | None = None,
) -> list[EconomicEvent]:
    """Read economic events from an iCalendar file (conventions: see the module description).

    Parameters
    ----------
    path : str or PathLike
    timezone : str, default "UTC"
        IANA name for floating times and all-day dates.
    default_impact : Impact or str, optional
        For events that carry no impact.

    Returns
    -------
    list of EconomicEvent
        In file order. The first bad event raises DataError naming its line.
    """
    source = Path(path)
    floating = zone_info(timezone)
    fallback = None if default_impact is None else Impact.parse(default_impact)
    lines = _unfold(_read_text(source))
    if not lines or lines[0][1].strip().upper() != "BEGIN:VCALENDAR":
        raise DataError(f"{source}: line 1: not an iCalendar file (no BEGIN:VCALENDAR)")
    events: list[EconomicEvent] = []
    stack: list[str] = []
    props: list[_IcsProperty] = []
    start_line = 0
    for number, line in lines:
        parsed = _split_property(line)
        if parsed is None:
            raise DataError(f"{source}: line {number}: not a 'NAME:value' line")
        name, params, value = parsed
        if name == "BEGIN":
            stack.append(value.strip().upper())
            if stack[-1] == "VEVENT":
                props, start_line = [], number
        elif name == "END":
            if not stack or stack[-1] != value.strip().upper():
                raise DataError(f"{source}: line {number}: END:{value} without its BEGIN")
            if stack.pop() == "VEVENT":
                events.append(_event_from_ics(props, start_line, source, floating, fallback))
        elif stack and stack[-1] == "VEVENT":
            props.append(_IcsProperty(name, params, value, number))
    if stack:
        raise DataError(f"{source}: line {lines[-1][0]}: BEGIN:{stack[-1]} is never closed")
    return events



__all__ = ["read_events_ics"]
