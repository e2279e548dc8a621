"""The trading day: which day a moment belongs to, for limits that reset daily.

Traders do not reset their daily figures at UTC midnight. An FX desk's day ends at 17:00 New
York, a US equity trader's at midnight New York, a Tokyo trader's at midnight Tokyo. A
:class:`TradingDay` is a timezone and a local reset time; the day a moment belongs to is the
local date of the next reset at or after it, minus a day when the reset is at midnight. So with
a 17:00 New York reset, Monday 16:59 New York is Monday's trading day and Monday 17:00 starts
Tuesday's. Daylight saving is the timezone database's: the reset stays at 17:00 local, which is
21:00 UTC in summer and 22:00 UTC in winter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tradeloop.core.errors import ConfigError

_NS = 1_000_000_000
_RESET = re.compile(r"^(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class TradingDay:
    """A timezone and the local time at which the trading day rolls over.

    Parameters
    ----------
    timezone : str
        An IANA name, e.g. ``"America/New_York"``.
    reset : str
        Local ``HH:MM`` at which a new trading day starts (``"00:00"`` by default).

    Raises
    ------
    ConfigError
        For an unknown timezone or a reset time that is not ``HH:MM``.
    """

    timezone: str = "UTC"
    reset: str = "00:00"
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _reset: time = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"trading day timezone {self.timezone!r} is not a known IANA "
                              "timezone (e.g. America/New_York)") from None
        match = _RESET.match(self.reset.strip())
        if match is None or int(match[1]) > 23 or int(match[2]) > 59:
            raise ConfigError(f"trading day reset {self.reset!r}: expected HH:MM, e.g. 17:00")
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_reset", time(int(match[1]), int(match[2])))

    def day_of(self, ts_ns: int) -> date:
        """The trading day ``ts_ns`` (UTC nanoseconds) belongs to."""
        local = datetime.fromtimestamp(ts_ns / _NS, UTC).astimezone(self._zone)
        day = local.date()
        if self._reset != time(0) and local.time() >= self._reset:
            day += timedelta(days=1)
        return day

    def start_of(self, day: date) -> int:
        """When trading day ``day`` starts, UTC nanoseconds (the reset before it)."""
        start_date = day if self._reset == time(0) else day - timedelta(days=1)
        local = datetime.combine(start_date, self._reset, tzinfo=self._zone)
        # a reset inside a daylight-saving gap happens at the first instant after the gap
        round_trip = local.astimezone(UTC).astimezone(self._zone)
        if round_trip.replace(tzinfo=None) != local.replace(tzinfo=None):
            local = round_trip
        return int(local.astimezone(UTC).timestamp()) * _NS

    def next_start(self, ts_ns: int) -> int:
        """When the trading day after the one holding ``ts_ns`` starts."""
        return self.start_of(self.day_of(ts_ns) + timedelta(days=1))


UTC_DAY = TradingDay()
