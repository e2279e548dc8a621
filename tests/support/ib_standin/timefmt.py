"""TWS's date-time strings: what requests carry (end times, good-till dates, execution filter
times) and what answers carry (bar dates, completed times)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .contracts import EASTERN, TIME_ZONE_ID


def parse_tws_time(text: str, default_tz: ZoneInfo = EASTERN) -> datetime:
    """A UTC datetime from ``yyyymmdd hh:mm:ss [zone]``, ``yyyymmdd-hh:mm:ss`` (UTC) or
    ``yyyymmdd`` (end of that day); a time without zone is in TWS's zone (US/Eastern)."""
    s = text.strip()
    try:
        if len(s) == 8 and s.isdigit():
            day = datetime.strptime(s, "%Y%m%d").date()
            return datetime.combine(day, time(23, 59, 59), tzinfo=default_tz).astimezone(UTC)
        if len(s) >= 17 and s[8] == "-":
            return datetime.strptime(s[:17], "%Y%m%d-%H:%M:%S").replace(tzinfo=UTC)
        parts = s.split()
        naive = datetime.strptime(" ".join(parts[:2]), "%Y%m%d %H:%M:%S")
        zone = ZoneInfo(parts[2]) if len(parts) > 2 else default_tz
        if len(parts) > 3:
            raise ValueError(text)
        return naive.replace(tzinfo=zone).astimezone(UTC)
    except (ValueError, IndexError, ZoneInfoNotFoundError) as exc:
        raise ValueError(f"not a TWS date-time: {text!r}") from exc


def tws_stamp(moment: datetime) -> str:
    """``yyyymmdd hh:mm:ss US/Eastern`` as TWS writes times."""
    return f"{moment.astimezone(EASTERN):%Y%m%d %H:%M:%S} {TIME_ZONE_ID}"
