"""Structured logging: structlog loggers, context, rotation and the redaction of secrets."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from pydantic import SecretStr

from tradeloop.core.logging import (
    TextFormatter,
    bind_context,
    clear_context,
    clear_registered_secrets,
    current_context,
    get_logger,
    get_struct_logger,
    is_secret_key,
    log_context,
    redact,
    redact_text,
    register_secret,
    setup_logging,
    unbind_context,
)

Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[Lines]:
    """Log JSON lines at DEBUG to a captured stderr; return a reader of what was written."""
    root = logging.getLogger("tradeloop")
    saved = (list(root.handlers), root.level, root.propagate)
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    setup_logging("DEBUG", json_lines=True)

    def read() -> list[dict[str, Any]]:
        return [json.loads(line) for line in stderr.getvalue().splitlines()]

    yield read
    for handler in root.handlers:
        handler.close()
    root.handlers[:], root.level, root.propagate = saved
    clear_context()
    clear_registered_secrets()
    structlog.reset_defaults()


# -- shape --------------------------------------------------------------------------------------


def test_a_structlog_line_is_one_json_object(lines: Lines) -> None:
    get_struct_logger("tradeloop.engine").info("order sent", client_order_id="O-1", qty=3)
    (line,) = lines()
    assert list(line) == ["ts", "level", "logger", "msg", "client_order_id", "qty"]
    assert line["level"] == "info" and line["logger"] == "tradeloop.engine"
    assert line["msg"] == "order sent" and line["qty"] == 3
    moment = datetime.fromisoformat(line["ts"])
    assert moment.utcoffset() == timedelta(0)


def test_structlog_binding_arguments_levels_and_exceptions(lines: Lines) -> None:
    logging.getLogger("tradeloop").setLevel(logging.INFO)  # restored by the fixture
    log = get_struct_logger("feeds", source="replay").bind(items=10)
    log.debug("not shown")
    log.warning("%s of %s done", 5, 10)
    try:
        raise ValueError("bad bar")
    except ValueError:
        log.exception("replay failed")
    first, second = lines()
    assert first["logger"] == "tradeloop.feeds" and first["msg"] == "5 of 10 done"
    assert first["source"] == "replay" and first["items"] == 10
    assert second["level"] == "error" and "ValueError: bad bar" in second["exc"]


def test_structlog_get_logger_writes_through_the_same_handlers(lines: Lines) -> None:
    structlog.get_logger("tradeloop.plain").warning("via structlog", token="t-1")
    (line,) = lines()
    assert line["logger"] == "tradeloop.plain" and line["msg"] == "via structlog"
    assert line["token"] == "***"


def test_the_old_extra_fields_style_still_works(lines: Lines) -> None:
    with log_context(run_id="R-1"):
        get_logger("unit").warning("old style", extra={"fields": {"n": 1, "msg": "clash"}},
                                   )
    (line,) = lines()
    assert line["msg"] == "old style" and line["n"] == 1 and line["run_id"] == "R-1"
    assert line["msg_"] == "clash"  # a field never overwrites the message
    assert "fields" not in line


def test_values_are_made_json_safe(lines: Lines) -> None:
    from decimal import Decimal

    get_struct_logger("x").info("values", px=Decimal("1.5"), path=Path("/x"), nan=float("nan"),
                                items=(1, "a"), nested={"a": {"b": [1]}})
    (line,) = lines()
    assert line["px"] == "1.5" and line["path"] == "/x" and line["nan"] == "nan"
    assert line["items"] == [1, "a"] and line["nested"] == {"a": {"b": [1]}}


# -- context ------------------------------------------------------------------------------------


def test_context_joins_every_line_until_cleared(lines: Lines) -> None:
    log = get_struct_logger("ctx")
    bind_context(run_id="R-9", strategy="sma")
    log.info("one")
    with log_context(symbol="EURUSD", strategy="rsi"):
        log.info("two", client_order_id="O-2")
        assert current_context() == {"run_id": "R-9", "strategy": "rsi", "symbol": "EURUSD"}
    log.info("three")
    unbind_context("strategy")
    log.info("four")
    clear_context()
    log.info("five")
    got = [{k: v for k, v in line.items() if k not in ("ts", "level", "logger")}
           for line in lines()]
    assert got == [
        {"msg": "one", "run_id": "R-9", "strategy": "sma"},
        {"msg": "two", "run_id": "R-9", "strategy": "rsi", "symbol": "EURUSD",
         "client_order_id": "O-2"},
        {"msg": "three", "run_id": "R-9", "strategy": "sma"},
        {"msg": "four", "run_id": "R-9"},
        {"msg": "five"},
    ]


def test_context_follows_asyncio_tasks_and_stays_in_them(lines: Lines) -> None:
    log = get_struct_logger("tasks")

    async def strategy(name: str, delay: float) -> None:
        bind_context(strategy=name)
        await asyncio.sleep(delay)
        log.info("tick")

    async def main() -> None:
        bind_context(run_id="R-5")
        await asyncio.gather(strategy("a", 0.01), strategy("b", 0))
        log.info("done")

    asyncio.run(main())
    got = sorted((line["msg"], line.get("strategy"), line["run_id"]) for line in lines())
    assert got == [("done", None, "R-5"), ("tick", "a", "R-5"), ("tick", "b", "R-5")]
    assert current_context() == {}  # asyncio.run kept it inside its own context


# -- rotation -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("lines")
def test_the_log_file_rotates_by_size_and_keeps_some(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "node.log"
    setup_logging("CRITICAL", json_lines=True, log_file=log_file, file_level="INFO",
                  rotate_mb=0.001, keep=2)  # about a kilobyte
    log = get_struct_logger("rot")
    for n in range(100):
        log.info("line", n=n, pad="x" * 40)
    for handler in logging.getLogger("tradeloop").handlers:
        handler.flush()
    names = sorted(p.name for p in log_file.parent.iterdir())
    assert names == ["node.log", "node.log.1", "node.log.2"]
    kept: list[int] = []
    for name in ["node.log.2", "node.log.1", "node.log"]:
        path = log_file.parent / name
        assert path.stat().st_size <= 1100
        kept += [json.loads(line)["n"] for line in path.read_text().splitlines()]
    assert kept == list(range(kept[0], 100))  # the newest lines, in order, none lost inside


@pytest.mark.usefixtures("lines")
def test_rotation_can_be_turned_off_and_bad_settings_are_refused(tmp_path: Path) -> None:
    log_file = tmp_path / "plain.log"
    setup_logging("CRITICAL", log_file=log_file, rotate_mb=0)
    handler = logging.getLogger("tradeloop").handlers[1]
    assert type(handler) is logging.FileHandler
    with pytest.raises(ValueError, match="keep >= 1"):
        setup_logging(log_file=log_file, rotate_mb=1, keep=0)
    with pytest.raises(ValueError, match="rotate_mb >= 0"):
        setup_logging(log_file=log_file, rotate_mb=-1)


# -- redaction ----------------------------------------------------------------------------------


def test_secret_named_fields_are_masked(lines: Lines) -> None:
    get_struct_logger("r").info(
        "connect", password="p1", api_key="k1", Authorization="Bearer t1", db_token="t2",
        client_secret="s1", password_env="MT5_PASSWORD", token=None,
        settings={"login": 7, "passwd": "p2", "nested": {"private_key": "pk"}},
    )
    (line,) = lines()
    assert line["password"] == line["api_key"] == line["Authorization"] == "***"
    assert line["db_token"] == line["client_secret"] == "***"
    assert line["password_env"] == "MT5_PASSWORD"  # the NAME of a variable is no secret
    assert line["token"] is None
    assert line["settings"] == {"login": 7, "passwd": "***", "nested": {"private_key": "***"}}


def test_secret_values_and_url_passwords_are_masked(lines: Lines) -> None:
    url = "postgresql+psycopg://bot:pw-123@db:5432/tl"
    get_struct_logger("r").info(f"connecting to {url}", dsn=url, key=SecretStr("sekrit"),
                                urls=[url, "http://host:8080/path@x"])
    (line,) = lines()
    masked = "postgresql+psycopg://bot:***@db:5432/tl"
    assert line["msg"] == f"connecting to {masked}" and line["dsn"] == masked
    assert line["key"] == "***"
    assert line["urls"] == [masked, "http://host:8080/path@x"]  # a port is no password
    assert "pw-123" not in json.dumps(line)


def test_registered_secrets_are_masked_in_messages_and_tracebacks(lines: Lines) -> None:
    register_secret("Tr0ub4dor&3")
    register_secret(SecretStr("correct-horse"))
    register_secret("")  # ignored
    log = get_logger("r")
    try:
        raise PermissionError("login rejected for password Tr0ub4dor&3")
    except PermissionError:
        log.exception("broker said correct-horse is wrong", extra={"fields": {
            "detail": "echo Tr0ub4dor&3"}})
    (line,) = lines()
    text = json.dumps(line)
    assert "Tr0ub4dor" not in text and "correct-horse" not in text
    assert line["msg"] == "broker said *** is wrong" and line["detail"] == "echo ***"
    assert "PermissionError: login rejected for password ***" in line["exc"]


def test_key_value_secrets_inside_text_are_masked() -> None:
    assert redact_text("GET /v1?api_key=abc123&page=2") == "GET /v1?api_key=***&page=2"
    assert redact_text("Authorization: Bearer eyJhbGci.x.y") == "Authorization: Bearer ***"
    assert redact_text('{"password": "p@ss", "user": "bob"}') == \
        '{"password": "***", "user": "bob"}'
    assert redact_text("token_env=TRADELOOP_VENUE_TOKEN") == "token_env=TRADELOOP_VENUE_TOKEN"
    assert redact_text("nothing to hide: 42") == "nothing to hide: 42"


def test_text_lines_are_redacted_too(lines: Lines) -> None:
    record = get_logger("t").makeRecord("tradeloop.t", logging.INFO, __file__, 1,
                                        "dsn %s", ("mysql://u:pw@h/db",), None,
                                        extra={"fields": {"token": "abc"}})
    assert TextFormatter().format(record) == "INFO    tradeloop.t: dsn mysql://u:***@h/db token=***"


@pytest.mark.parametrize(
    ("key", "secret"),
    [("password", True), ("DB_PASSWORD", True), ("X-Api-Key", True), ("apikey", True),
     ("access_token", True), ("client_secret", True), ("Authorization", True),
     ("pwd", True), ("credentials", True), ("password_env", False), ("token_env", False),
     ("symbol", False), ("login", False), ("tokens_env", False), ("url", False)],
)
def test_is_secret_key(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


def test_redact_walks_plain_data() -> None:
    assert redact({"a": [{"secret": "x"}], "b": SecretStr("y"), "c": 1.5}) == {
        "a": [{"secret": "***"}], "b": "***", "c": 1.5}
