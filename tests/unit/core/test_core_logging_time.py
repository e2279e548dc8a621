"""Logging formatters and setup; UTC nanosecond time helpers."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tradeloop.core.logging import JsonFormatter, TextFormatter, get_logger, setup_logging
from tradeloop.core.time import (
    NANOS_PER_DAY,
    NANOS_PER_HOUR,
    NANOS_PER_SECOND,
    dt_to_ns,
    ns_to_dt,
    ns_to_iso,
)


def record(msg: str = "hello %s", args: tuple[object, ...] = ("world",), **extra: object):
    logger = logging.getLogger("tradeloop.test")
    return logger.makeRecord(
        "tradeloop.test", logging.WARNING, __file__, 10, msg, args, None, extra=extra
    )


# -- formatters ---------------------------------------------------------------------------------


def test_json_formatter_emits_one_valid_json_object_with_fields() -> None:
    rec = record(fields={"strategy": "S", "qty": 3}, order_id="O-1")
    line = JsonFormatter().format(rec)
    assert "\n" not in line
    payload = json.loads(line)
    assert payload["msg"] == "hello world"
    assert payload["level"] == "warning"
    assert payload["logger"] == "tradeloop.test"
    assert payload["strategy"] == "S"
    assert payload["qty"] == 3
    assert payload["order_id"] == "O-1"
    assert "fields" not in payload
    assert datetime.fromisoformat(payload["ts"]).tzinfo is not None


def test_json_formatter_serialises_unusual_values_as_text() -> None:
    from decimal import Decimal

    payload = json.loads(JsonFormatter().format(record(fields={"px": Decimal("1.5"),
                                                                "path": Path("/x")})))
    assert payload["px"] == "1.5"
    assert payload["path"] == "/x"


def test_json_formatter_includes_the_traceback() -> None:
    try:
        raise ZeroDivisionError("boom")
    except ZeroDivisionError:
        rec = logging.getLogger("tradeloop.t").makeRecord(
            "tradeloop.t", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    payload = json.loads(JsonFormatter().format(rec))
    assert "ZeroDivisionError: boom" in payload["exc"]


def test_text_formatter_is_one_readable_line() -> None:
    line = TextFormatter().format(record(fields={"strategy": "S"}))
    assert line == "WARNING tradeloop.test: hello world strategy=S"
    assert TextFormatter().format(record()) == "WARNING tradeloop.test: hello world"


def test_get_logger_puts_names_under_tradeloop() -> None:
    assert get_logger("mine").name == "tradeloop.mine"
    assert get_logger("tradeloop.engine").name == "tradeloop.engine"


# -- setup_logging ------------------------------------------------------------------------------


@pytest.fixture
def restore_tradeloop_logger() -> Iterator[None]:
    root = logging.getLogger("tradeloop")
    saved = (list(root.handlers), root.level, root.propagate)
    yield
    for handler in root.handlers:
        handler.close()
    root.handlers[:], root.level, root.propagate = saved


@pytest.mark.usefixtures("restore_tradeloop_logger")
def test_setup_logging_writes_json_lines_to_stderr_and_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    log_file = tmp_path / "logs" / "run.log"
    setup_logging("WARNING", json_lines=True, log_file=log_file, file_level="DEBUG")
    log = get_logger("unit")
    log.debug("only in the file", extra={"fields": {"n": 1}})
    log.warning("everywhere")
    for handler in logging.getLogger("tradeloop").handlers:
        handler.flush()
    console = [json.loads(line) for line in stderr.getvalue().splitlines()]
    assert [c["msg"] for c in console] == ["everywhere"]
    in_file = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [f["msg"] for f in in_file] == ["only in the file", "everywhere"]
    assert in_file[0]["n"] == 1
    assert logging.getLogger("tradeloop").propagate is False


@pytest.mark.usefixtures("restore_tradeloop_logger")
def test_setup_logging_replaces_its_handlers_and_can_write_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    setup_logging("INFO", json_lines=True)
    setup_logging("INFO", json_lines=False)
    assert len(logging.getLogger("tradeloop").handlers) == 1
    get_logger("unit").info("plain", extra={"fields": {"k": "v"}})
    assert stderr.getvalue().splitlines() == ["INFO    tradeloop.unit: plain k=v"]


# -- time ---------------------------------------------------------------------------------------


def test_dt_to_ns_of_known_instants() -> None:
    assert dt_to_ns(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    assert dt_to_ns(datetime(2024, 1, 2, tzinfo=UTC)) == 1_704_153_600 * NANOS_PER_SECOND
    tokyo = timezone(timedelta(hours=9))
    assert dt_to_ns(datetime(2024, 1, 2, 9, tzinfo=tokyo)) == dt_to_ns(
        datetime(2024, 1, 2, tzinfo=UTC)
    )
    before_epoch = datetime(1969, 12, 31, 23, tzinfo=UTC)
    assert dt_to_ns(before_epoch) == -NANOS_PER_HOUR


def test_dt_to_ns_keeps_microseconds_exactly() -> None:
    moment = datetime(2030, 6, 15, 12, 34, 56, 789_012, tzinfo=UTC)
    ns = dt_to_ns(moment)
    assert ns % 1_000 == 0
    assert (ns // 1_000) % 1_000_000 == 789_012
    assert ns_to_dt(ns) == moment


@pytest.mark.parametrize(
    "moment",
    [datetime(2004, 8, 19, tzinfo=UTC), datetime(2017, 4, 19, 13, 5, 7, 1, tzinfo=UTC),
     datetime(2261, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)],
)
def test_round_trip(moment: datetime) -> None:
    back = ns_to_dt(dt_to_ns(moment))
    assert back == moment
    assert back.tzinfo is not None and back.utcoffset() == timedelta(0)


def test_ns_to_dt_truncates_below_a_microsecond() -> None:
    assert ns_to_dt(NANOS_PER_DAY + 999) == datetime(1970, 1, 2, tzinfo=UTC)


def test_naive_datetime_is_rejected() -> None:
    with pytest.raises(ValueError, match="naive datetime 2024-01-02T00:00:00"):
        dt_to_ns(datetime(2024, 1, 2))


def test_ns_to_iso_uses_z() -> None:
    assert ns_to_iso(0) == "1970-01-01T00:00:00Z"
    assert ns_to_iso(NANOS_PER_HOUR + 500_000) == "1970-01-01T01:00:00.000500Z"
