"""TradingView webhook alerts: settings, verification and the ids an alert is known by.

This is the pure layer of ``POST /webhook/tradingview``: the API hands :func:`verify_alert` the raw
body, the source address, the content type and the time it received the request, and gets back a
:class:`TradingViewAlert` or an :class:`AlertRejected` carrying the HTTP status to answer with.
The checks run in this order, and the first that fails decides the answer:

1. body size (413 ``body_too_large``),
2. source address against TradingView's published addresses (403 ``ip_not_allowed``),
3. syntax: JSON object or text alert (400 ``malformed``), before the passphrase can be read,
4. passphrase, compared in constant time (401 ``bad_passphrase``),
5. schema: every field, named when wrong (422 ``invalid``),
6. staleness from ``{{timenow}}`` (422 ``stale``, or ``from_future`` beyond the clock skew).

De-duplication (409 ``duplicate``) is the API's: it stores the signal under :func:`dedupe_key`
with a unique constraint, so a replay is caught even after a restart, and raises
:func:`~tradeloop.signals.rejection.duplicate_alert` when the key is taken. The order an alert
becomes carries :func:`client_order_id_for_alert`, so one alert can never make two orders.
docs/tradingview.md documents the alert template, the text format and the settings.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, cast

from tradeloop.core.time import NANOS_PER_SECOND
from tradeloop.model.enums import OrderSide
from tradeloop.signals.rejection import AlertRejected
from tradeloop.signals.tradingview_parse import (
    SENTENCE_FIELDS,
    ParsedBody,
    choice_field,
    decimal_field,
    parse_body,
    placeholder_in,
    read_sentence,
    show,
    string_field,
    timenow_ns,
)
from tradeloop.signals.tradingview_settings import (
    STRATEGY_NAME,
    TRADINGVIEW_IPS,
    WebhookSettings,
    source_refusal,
)

logger = logging.getLogger(__name__)

Action = Literal["buy", "sell"]
OrderKind = Literal["market", "limit"]
MarketPosition = Literal["long", "short", "flat"]
OrderLeg = Literal["entry", "stop_loss", "take_profit"]

_MAX_TICKER_CHARS = 64
_MAX_ALERT_ID_CHARS = 255
_MAX_NOTE_CHARS = 256
_MAX_DEDUPE_KEY_CHARS = 255
_NOTE_FIELDS = ("exchange", "interval", "comment")
_KNOWN_FIELDS = frozenset({
    "passphrase", "strategy", "id", "ticker", "action", "contracts", "price", "timenow",
    "order_type", "limit_price", "stop_loss", "take_profit", "market_position", "position_size",
    *_NOTE_FIELDS,
})
_LEGS: tuple[OrderLeg, ...] = ("entry", "stop_loss", "take_profit")


@dataclass(frozen=True, slots=True)
class TradingViewAlert:
    """A verified TradingView alert: what to trade, for which strategy, sent when.

    Attributes
    ----------
    alert_id : str
        The template's ``id``, or one derived from the alert's content when it has none.
    strategy : str
        The tradeloop strategy the alert is for.
    ticker : str
        ``{{ticker}}`` as sent (mapping it to an instrument is the caller's).
    action : {"buy", "sell"}
        ``{{strategy.order.action}}``: the side of the order.
    quantity : Decimal
        ``{{strategy.order.contracts}}``, exactly as written, positive.
    sent_ns : int
        ``{{timenow}}`` in UTC nanoseconds.
    price : Decimal or None
        ``{{close}}``, the reference price.
    order_type : {"market", "limit"}
    limit_price : Decimal or None
        Set exactly when ``order_type`` is ``"limit"``.
    stop_loss, take_profit : Decimal or None
        Prices of the protective legs (a bracket when either is set).
    market_position : {"long", "short", "flat"} or None
        ``{{strategy.market_position}}`` after the order (or the sign of the text alert's new
        position); ``"flat"`` marks an exit.
    alert_id_derived : bool
        True when ``alert_id`` was derived from the content.
    raw : dict
        The payload as received minus the passphrase, numbers as the strings written; a text
        alert's sentence under ``"message"``.
    """

    alert_id: str
    strategy: str
    ticker: str
    action: Action
    quantity: Decimal
    sent_ns: int
    price: Decimal | None = None
    order_type: OrderKind = "market"
    limit_price: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    market_position: MarketPosition | None = None
    alert_id_derived: bool = False
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def side(self) -> OrderSide:
        """The order side of :attr:`action`."""
        return OrderSide.BUY if self.action == "buy" else OrderSide.SELL

    @property
    def is_exit(self) -> bool:
        """True when the order leaves the strategy flat (an exit: reduce only)."""
        return self.market_position == "flat"


def verify_alert(body: bytes, *, source_ip: str | None, content_type: str | None,
                 received_ns: int, settings: WebhookSettings) -> TradingViewAlert:
    """Check an inbound TradingView alert and read it.

    Parameters
    ----------
    body : bytes
        The raw request body (the alert message).
    source_ip : str or None
        The client address as the API determined it (IPv4-mapped IPv6 counts as IPv4).
    content_type : str or None
        The request's ``Content-Type`` (``application/json`` or ``text/plain``; parameters
        ignored).
    received_ns : int
        When the request arrived, UTC nanoseconds.
    settings : WebhookSettings

    Returns
    -------
    TradingViewAlert

    Raises
    ------
    AlertRejected
        From the first check that fails, in the order of the module docstring. Its reason never
        holds the passphrase or the body.
    """
    try:
        alert = _verify(body, source_ip, content_type, received_ns, settings)
    except AlertRejected as exc:
        exc.reason = _redacted(exc.reason, settings)
        exc.args = (exc.reason,)
        logger.warning("tradingview alert rejected", extra={"fields": {
            "code": exc.code, "status": exc.status, "reason": exc.reason,
            "source_ip": source_ip, "body_bytes": len(body)}})
        raise
    logger.info("tradingview alert verified", extra={"fields": {
        "alert_id": alert.alert_id, "strategy": alert.strategy, "ticker": alert.ticker,
        "action": alert.action, "quantity": str(alert.quantity), "source_ip": source_ip}})
    return alert


def _verify(body: bytes, source_ip: str | None, content_type: str | None, received_ns: int,
            settings: WebhookSettings) -> TradingViewAlert:
    if len(body) > settings.max_body_bytes:
        raise AlertRejected("body_too_large", f"the body has {len(body)} bytes, more than the "
                                              f"limit of {settings.max_body_bytes}")
    if settings.check_ip:
        refused = source_refusal(settings, source_ip)
        if refused is not None:
            raise AlertRejected("ip_not_allowed", refused)
    parsed = parse_body(body, content_type)
    _check_passphrase_of(parsed, settings)
    alert = _alert_from(parsed, settings)
    _check_age(alert.sent_ns, received_ns, settings)
    return alert


def _check_passphrase_of(parsed: ParsedBody, settings: WebhookSettings) -> None:
    given = parsed.fields.get("passphrase")
    matches = settings.passphrase_matches(given if isinstance(given, str) else None)
    if given is None:
        raise AlertRejected("bad_passphrase", "the passphrase is missing")
    if not matches:
        raise AlertRejected("bad_passphrase", "the passphrase is wrong")


def _check_age(sent_ns: int, received_ns: int, settings: WebhookSettings) -> None:
    age_ns = received_ns - sent_ns
    if age_ns > round(settings.max_age_s * NANOS_PER_SECOND):
        raise AlertRejected("stale", f"timenow is {_seconds(age_ns)} s old, more than "
                                     f"max_age_s={settings.max_age_s:g}")
    if -age_ns > round(settings.max_clock_skew_s * NANOS_PER_SECOND):
        raise AlertRejected("from_future", f"timenow is {_seconds(-age_ns)} s in the future, "
                                           f"more than max_clock_skew_s="
                                           f"{settings.max_clock_skew_s:g}")


def _seconds(ns: int) -> str:
    return f"{ns / NANOS_PER_SECOND:.3f}"


def _redacted(reason: str, settings: WebhookSettings) -> str:
    secret = settings.passphrase.get_secret_value()
    return reason.replace(secret, "***") if secret in reason else reason


def _alert_from(parsed: ParsedBody, settings: WebhookSettings) -> TradingViewAlert:
    fields = {key: value for key, value in parsed.fields.items() if key != "passphrase"}
    _check_known(fields)
    secret = settings.passphrase.get_secret_value()
    for key, value in [*fields.items(), ("the sentence", parsed.sentence)]:
        if isinstance(value, str) and secret in value:
            raise AlertRejected("invalid", f"{key} holds the passphrase, which would then be "
                                           "stored and logged: keep it in passphrase only")
    for key, value in fields.items():
        held = placeholder_in(value) if isinstance(value, str) else None
        if held is not None:
            raise AlertRejected("invalid", f"{key} still holds the placeholder {held}: "
                                           "TradingView did not fill it in (is the alert on a "
                                           "strategy?)")
    raw = {key: str(value) if isinstance(value, int | Decimal) and not isinstance(value, bool)
           else value for key, value in fields.items()}
    if parsed.sentence is not None:
        twice = [name for name in SENTENCE_FIELDS if name in fields]
        if twice:
            raise AlertRejected("invalid", f"{twice[0]} is given both as a {twice[0]}= field "
                                           "and in the sentence")
        fields.update(read_sentence(parsed.sentence))
        raw["message"] = parsed.sentence
    values = {key: value for key, value in fields.items() if value is not None}

    strategy = _strategy(values.get("strategy"), settings)
    ticker = _ticker(_required(values, "ticker"))
    action = cast(Action, choice_field("action", _required(values, "action"), ("buy", "sell")))
    quantity = decimal_field("contracts", _required(values, "contracts"))
    sent_ns = timenow_ns("timenow", _required(values, "timenow"))
    price = _optional_decimal(values, "price")
    order_type = cast(OrderKind, choice_field("order_type", values.get("order_type", "market"),
                                              ("market", "limit")))
    limit_price = _optional_decimal(values, "limit_price")
    if order_type == "limit" and limit_price is None:
        raise AlertRejected("invalid", "limit_price is missing: order_type limit needs it")
    if order_type == "market" and limit_price is not None:
        raise AlertRejected("invalid", "limit_price is set but order_type is market: set "
                                       "order_type to limit or drop limit_price")
    stop_loss = _optional_decimal(values, "stop_loss")
    take_profit = _optional_decimal(values, "take_profit")
    position = _market_position(values)
    _check_note_fields(values)
    _check_protection(action, limit_price or price, stop_loss, take_profit, position)
    alert_id, derived = _alert_id(values.get("id"), strategy, ticker, action, quantity, sent_ns)
    return TradingViewAlert(
        alert_id=alert_id, strategy=strategy, ticker=ticker, action=action, quantity=quantity,
        sent_ns=sent_ns, price=price, order_type=order_type, limit_price=limit_price,
        stop_loss=stop_loss, take_profit=take_profit, market_position=position,
        alert_id_derived=derived, raw=raw,
    )


def _check_known(fields: dict[str, Any]) -> None:
    for key in fields:
        if key not in _KNOWN_FIELDS:
            close = difflib.get_close_matches(key, sorted(_KNOWN_FIELDS), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise AlertRejected("invalid", f"unknown field {show(key)}{hint}")


def _required(values: dict[str, Any], name: str) -> Any:
    if name not in values:
        raise AlertRejected("invalid", f"{name} is missing")
    return values[name]


def _optional_decimal(values: dict[str, Any], name: str) -> Decimal | None:
    return decimal_field(name, values[name]) if name in values else None


def _strategy(value: object, settings: WebhookSettings) -> str:
    if value is None:
        if settings.default_strategy is None:
            raise AlertRejected("invalid", "strategy is missing and no default_strategy is set")
        return settings.default_strategy
    name = string_field("strategy", value)
    if not STRATEGY_NAME.fullmatch(name):
        raise AlertRejected("invalid", f"strategy {show(name)}: use 1-64 letters, digits, '-', "
                                       "'_' or '.'")
    return name


def _ticker(value: object) -> str:
    ticker = string_field("ticker", value)
    if len(ticker) > _MAX_TICKER_CHARS or any(ch.isspace() or not ch.isprintable()
                                              for ch in ticker):
        raise AlertRejected("invalid", f"ticker {show(ticker)} is not a symbol (at most "
                                       f"{_MAX_TICKER_CHARS} characters, no spaces)")
    return ticker


def _market_position(values: dict[str, Any]) -> MarketPosition | None:
    stated = None
    if "market_position" in values:
        stated = cast(MarketPosition, choice_field(
            "market_position", values["market_position"], ("long", "short", "flat")))
    if "position_size" not in values:
        return stated
    size = decimal_field("position_size", values["position_size"], signed=True)
    implied: MarketPosition = "flat" if size == 0 else "long" if size > 0 else "short"
    if stated is not None and stated != implied:
        raise AlertRejected("invalid", f"market_position {stated} contradicts position_size "
                                       f"{size}")
    return implied


def _check_note_fields(values: dict[str, Any]) -> None:
    for name in _NOTE_FIELDS:
        value = values.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise AlertRejected("invalid", f"{name} must be a string or a number")
        if len(str(value)) > _MAX_NOTE_CHARS:
            raise AlertRejected("invalid", f"{name} is longer than {_MAX_NOTE_CHARS} characters")


def _check_protection(action: Action, reference: Decimal | None, stop_loss: Decimal | None,
                      take_profit: Decimal | None, position: MarketPosition | None) -> None:
    if position == "flat" and (stop_loss is not None or take_profit is not None):
        name = "stop_loss" if stop_loss is not None else "take_profit"
        raise AlertRejected("invalid", f"{name} is set on an exit (market_position flat)")
    below, above = ("stop_loss", "take_profit") if action == "buy" else ("take_profit",
                                                                         "stop_loss")
    low = stop_loss if action == "buy" else take_profit
    high = take_profit if action == "buy" else stop_loss
    if low is not None and high is not None and low >= high:
        raise AlertRejected("invalid", f"{below} {low} must be below {above} {high} for a "
                                       f"{action}")
    if reference is None:
        return
    if low is not None and low >= reference:
        raise AlertRejected("invalid", f"{below} {low} must be below the price {reference} for "
                                       f"a {action}")
    if high is not None and high <= reference:
        raise AlertRejected("invalid", f"{above} {high} must be above the price {reference} for "
                                       f"a {action}")


def _alert_id(value: object, strategy: str, ticker: str, action: str, quantity: Decimal,
              sent_ns: int) -> tuple[str, bool]:
    if value is None:
        content = "|".join((strategy, ticker, action, format(quantity.normalize(), "f"),
                            str(sent_ns)))
        return "auto-" + hashlib.blake2b(content.encode(), digest_size=12).hexdigest(), True
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    alert_id = string_field("id", value)
    if len(alert_id) > _MAX_ALERT_ID_CHARS or not alert_id.isprintable():
        raise AlertRejected("invalid", f"id must be at most {_MAX_ALERT_ID_CHARS} printable "
                                       "characters")
    return alert_id, False


def client_order_id_for_alert(alert: TradingViewAlert, leg: OrderLeg = "entry") -> str:
    """The client order id of the order an alert becomes.

    Deterministic: the same strategy and alert id give the same id, so a replayed alert that got
    past de-duplication is still refused by the execution path and the venue as a duplicate.

    Parameters
    ----------
    alert : TradingViewAlert
    leg : {"entry", "stop_loss", "take_profit"}
        Which order of the alert's bracket.

    Returns
    -------
    str
        At most 32 characters of ``[A-Za-z0-9-]`` (as :func:`tradeloop.core.client_order_id`):
        ``TV`` and up to 9 letters or digits of the strategy, ``-``, then 20 hex digits.
    """
    if leg not in _LEGS:
        raise ValueError(f"leg {leg!r}: use one of {', '.join(_LEGS)}")
    prefix = "TV" + "".join(ch for ch in alert.strategy if ch.isascii() and ch.isalnum())[:9]
    content = f"tradingview|{len(alert.strategy)}:{alert.strategy}|{leg}|{alert.alert_id}"
    return f"{prefix}-{hashlib.blake2b(content.encode(), digest_size=10).hexdigest()}"


def dedupe_key(alert: TradingViewAlert) -> str:
    """The key the API stores the alert's signal under, unique per strategy and alert id.

    Returns
    -------
    str
        ``tradingview:<strategy>:<alert_id>``; when that is longer than 255 characters, its
        first 190 characters, ``#`` and the SHA-256 of the whole key (255 in all).
    """
    key = f"tradingview:{alert.strategy}:{alert.alert_id}"
    if len(key) <= _MAX_DEDUPE_KEY_CHARS:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[:_MAX_DEDUPE_KEY_CHARS - len(digest) - 1]}#{digest}"


__all__ = [
    "TRADINGVIEW_IPS",
    "TradingViewAlert",
    "WebhookSettings",
    "client_order_id_for_alert",
    "dedupe_key",
    "verify_alert",
]
