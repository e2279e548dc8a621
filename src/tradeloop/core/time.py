"""Time helpers: UTC everywhere, int nanoseconds inside."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

NANOS_PER_SECOND = 1_000_000_000
NANOS_PER_MINUTE = 60 * NANOS_PER_SECOND
NANOS_PER_HOUR = 60 * NANOS_PER_MINUTE
NANOS_PER_DAY = 24 * NANOS_PER_HOUR
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def dt_to_ns(moment: datetime) -> int:
    """Convert a timezone-aware datetime to integer nanoseconds since the Unix epoch.

    Parameters
    ----------
    moment : datetime
        Must be timezone-aware.

    Returns
    -------
    int
        Nanoseconds since 1970-01-01T00:00:00Z.
    """
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: pass a timezone-aware datetime")
    delta = moment.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * NANOS_PER_SECOND + delta.microseconds * 1_000


def ns_to_dt(ns: int) -> datetime:
    """Convert integer nanoseconds since the epoch to a UTC datetime (microsecond precision)."""
    return _EPOCH + timedelta(microseconds=ns // 1_000)  # exact: no float seconds


def ns_to_iso(ns: int) -> str:
    """Format nanoseconds since the epoch as an ISO 8601 UTC string."""
    return ns_to_dt(ns).isoformat().replace("+00:00", "Z")


_LABEL_UNITS = (
    ("w", 7 * NANOS_PER_DAY), ("d", NANOS_PER_DAY), ("h", NANOS_PER_HOUR),
    ("m", NANOS_PER_MINUTE), ("s", NANOS_PER_SECOND),
)


def timeframe_label(ns: int) -> str:
    """Spell a bar length in its largest whole unit: ``"90m"``, ``"4h"``, ``"1d"``; ``""`` for 0."""
    if ns <= 0:
        return ""
    for unit, size in _LABEL_UNITS:
        if ns % size == 0:
            return f"{ns // size}{unit}"
    return f"{ns}ns"
