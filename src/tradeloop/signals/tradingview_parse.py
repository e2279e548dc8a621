"""Reading a TradingView alert body: JSON or plain text into fields, and field values into
exact types (``Decimal`` from the text as written, UTC nanoseconds from ``{{timenow}}``).

Syntax errors here are ``malformed`` (400) and come before the passphrase check; value errors
are ``invalid`` (422) and come after it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from tradeloop.core.time import NANOS_PER_SECOND, dt_to_ns
from tradeloop.signals.rejection import AlertRejected

#: The fields TradingView's default strategy sentence carries.
SENTENCE_FIELDS = ("action", "contracts", "ticker", "position_size")

_JSON_TYPES = frozenset({"application/json", "text/json"})
_TEXT_TYPES = frozenset({"text/plain"})
_TOKEN_FIELD = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", re.DOTALL)
_SENTENCE = re.compile(
    r"(?:order\s+)?(?P<action>buy|sell)\s*@\s*(?P<contracts>\S+)\s+filled\s+on\s+"
    r"(?P<ticker>\S+?)\.?\s+new\s+strategy\s+position\s+is\s+(?P<position_size>\S+?)\.?",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_ISO_TIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})"
    r"(?:[.,](?P<frac>\d{1,9}))?(?P<zone>[Zz]|[+-]\d{2}:?\d{2})?"
)
_EPOCH_MS = re.compile(r"\d{1,20}")
_MIN_EPOCH_MS = 10**11  # 1973-03-03: anything smaller is epoch seconds sent by mistake
_MAX_EPOCH_MS = 10**14  # year 5138: anything larger is micro- or nanoseconds
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]{0,60}?)\s*\}\}")
_SHOWN_CHARS = 40


@dataclass(frozen=True, slots=True)
class ParsedBody:
    """A body split into fields; nothing checked beyond syntax yet."""

    fields: dict[str, Any]
    sentence: str | None
    format: Literal["json", "text"]


def parse_body(body: bytes, content_type: str | None) -> ParsedBody:
    """Split ``body`` into fields by its content type (JSON object or text alert).

    TradingView sends ``application/json`` when the alert message is valid JSON and
    ``text/plain`` otherwise, so a ``text/plain`` body that starts with ``{`` is JSON that does not
    parse, and is refused as such.
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media and media not in _JSON_TYPES and media not in _TEXT_TYPES:
        raise AlertRejected("malformed", f"content type {show(media)} is not application/json "
                                         "or text/plain")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AlertRejected("malformed", f"the body is not UTF-8 text (byte {exc.start})"
                            ) from None
    stripped = text.strip()
    if not stripped:
        raise AlertRejected("malformed", "the body is empty")
    if media in _JSON_TYPES or stripped.startswith("{"):
        return ParsedBody(_parse_json(stripped), None, "json")
    return _parse_text(stripped)


def _parse_json(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant,
                              object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise AlertRejected("malformed", f"malformed JSON at line {exc.lineno} column "
                                         f"{exc.colno}: {exc.msg}") from None
    except _JsonRefused as exc:
        raise AlertRejected("malformed", f"malformed JSON: {exc}") from None
    except (ValueError, RecursionError):
        raise AlertRejected("malformed", "malformed JSON: a number is too long or the nesting "
                                         "too deep") from None
    if not isinstance(document, dict):
        raise AlertRejected("malformed", f"the JSON alert must be an object, not "
                                         f"{_json_kind(document)}")
    return document


class _JsonRefused(Exception):
    """Valid JSON that an alert may not contain (a repeated key, NaN or Infinity)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _JsonRefused(f"key {show(key)} appears twice")
        document[key] = value
    return document


def _refuse_constant(name: str) -> Any:
    raise _JsonRefused(f"{name} is not a number")


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _parse_text(text: str) -> ParsedBody:
    fields: dict[str, Any] = {}
    words: list[str] = []
    for token in text.split():
        match = _TOKEN_FIELD.fullmatch(token)
        if match is None:
            words.append(token)
            continue
        key = match.group(1).lower()
        if key in fields:
            raise AlertRejected("malformed", f"text alert: {key}= appears twice")
        fields[key] = match.group(2)
    return ParsedBody(fields, " ".join(words) or None, "text")


def read_sentence(sentence: str) -> dict[str, str]:
    """The fields of TradingView's default strategy sentence, ``"buy @ 1 filled on BTCUSDT. New
    strategy position is 1"`` (any case, an optional leading ``order``, a final period)."""
    match = _SENTENCE.fullmatch(sentence)
    if match is None:
        held = placeholder_in(sentence)
        if held is not None:
            raise AlertRejected("invalid", f"the text alert still holds the placeholder "
                                           f"{held}: TradingView did not fill it in")
        raise AlertRejected("invalid", "the text alert is neither key=value fields nor "
                                       "TradingView's sentence '<buy|sell> @ <contracts> filled "
                                       "on <ticker>. New strategy position is <size>'")
    return {name: match.group(name) for name in SENTENCE_FIELDS}


def placeholder_in(text: str) -> str | None:
    """The first ``{{...}}`` placeholder TradingView left unfilled in ``text``, or None."""
    match = _PLACEHOLDER.search(text)
    return None if match is None else "{{" + match.group(1) + "}}"


def string_field(name: str, value: object) -> str:
    """A text field's value, stripped; numbers are not text here."""
    if not isinstance(value, str):
        raise AlertRejected("invalid", f"{name} must be a string, not {_json_kind(value)}")
    stripped = value.strip()
    if not stripped:
        raise AlertRejected("invalid", f"{name} is empty")
    return stripped


def decimal_field(name: str, value: object, *, signed: bool = False) -> Decimal:
    """A number as written (JSON number or string), exact: never through a float.

    Positive unless ``signed``; always finite.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise AlertRejected("invalid", f"{name} must be a number, not {_json_kind(value)}")
    if isinstance(value, str):
        text = value.strip()
        if not _NUMBER.fullmatch(text):
            raise AlertRejected("invalid", f"{name} {show(value)} is not a number")
        try:
            number = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid numbers
            raise AlertRejected("invalid", f"{name} {show(value)} is not a number") from None
    else:
        number = Decimal(value)
    if not number.is_finite():
        raise AlertRejected("invalid", f"{name} is not a finite number")
    if not signed and number <= 0:
        raise AlertRejected("invalid", f"{name} must be positive, got {show(str(value))}")
    return number


def choice_field(name: str, value: object, choices: tuple[str, ...]) -> str:
    """One of ``choices``, compared without case."""
    chosen = string_field(name, value).lower()
    if chosen not in choices:
        raise AlertRejected("invalid", f"{name} {show(value)} is not one of "
                                       f"{', '.join(choices)}")
    return chosen


def timenow_ns(name: str, value: object) -> int:
    """UTC nanoseconds from ``{{timenow}}``: ISO 8601 with a zone (``Z`` or an offset, fractional
    seconds up to nanoseconds) or an integer count of epoch milliseconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _epoch_ms(name, value)
    text = string_field(name, value)
    if _EPOCH_MS.fullmatch(text):
        return _epoch_ms(name, int(text))
    match = _ISO_TIME.fullmatch(text)
    if match is None:
        raise AlertRejected("invalid", f"{name} {show(text)} is not an ISO 8601 time such as "
                                       "2024-05-01T12:00:05Z nor epoch milliseconds")
    zone = match.group("zone")
    if zone is None:
        raise AlertRejected("invalid", f"{name} {show(text)} has no time zone: end it with Z "
                                       "(TradingView's {{timenow}} is UTC)")
    try:
        moment = datetime.fromisoformat(match.group("date")).replace(
            hour=int(match.group("h")), minute=int(match.group("m")),
            second=int(match.group("s")), tzinfo=_zone(zone))
    except ValueError as exc:
        raise AlertRejected("invalid", f"{name} {show(text)} is not a valid time: {exc}"
                            ) from None
    fraction = match.group("frac") or ""
    return dt_to_ns(moment) + int(fraction.ljust(9, "0") or 0)


def _zone(text: str) -> timezone:
    if text in ("Z", "z"):
        return UTC
    digits = text[1:].replace(":", "")
    if int(digits[2:]) >= 60:
        raise ValueError(f"offset minutes {digits[2:]} out of range")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return timezone(-offset if text[0] == "-" else offset)


def _epoch_ms(name: str, millis: int) -> int:
    if millis < _MIN_EPOCH_MS:
        raise AlertRejected("invalid", f"{name} {millis} is too small for epoch milliseconds "
                                       "(epoch seconds? send milliseconds or ISO 8601)")
    if millis >= _MAX_EPOCH_MS:
        raise AlertRejected("invalid", f"{name} {millis} is too large for epoch milliseconds")
    return millis * (NANOS_PER_SECOND // 1000)


def show(value: object) -> str:
    """A field value quoted for an error message, cut to a few dozen characters."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > _SHOWN_CHARS:
        text = text[:_SHOWN_CHARS] + "..."
    return repr(text)
