"""TradingView alerts: every check with its status and code, in order; JSON and text alerts;
exact decimals and times; the settings; client order ids and de-duplication keys."""

from __future__ import annotations

import hmac
import json
import logging
import re
import string
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from tradeloop.core.errors import ConfigError
from tradeloop.model.enums import OrderSide
from tradeloop.signals import (
    REJECTION_STATUS,
    TRADINGVIEW_IPS,
    AlertRejected,
    TradingViewAlert,
    WebhookSettings,
    client_order_id_for_alert,
    dedupe_key,
    duplicate_alert,
    verify_alert,
)

PASS = "Zq8-hT3kLp0wXv9rB2yN"
SENT = "2024-05-01T12:00:05Z"
SENT_NS = 1_714_564_805 * 10**9
SECOND = 10**9
TV_IP = TRADINGVIEW_IPS[0]
DOCS = Path(__file__).resolve().parents[3] / "docs" / "tradingview.md"
DROP = object()
SENTENCE = "buy @ 1 filled on BTCUSDT. New strategy position is 1"


def make_settings(**overrides: Any) -> WebhookSettings:
    return WebhookSettings(passphrase=SecretStr(PASS), **overrides)


def payload(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "passphrase": PASS, "strategy": "tv-sma", "id": "Long-2024-05-01T12:00:05Z",
        "ticker": "BTCUSDT", "action": "buy", "contracts": "1", "price": "64000.5",
        "timenow": SENT, "market_position": "long", "order_type": "market",
    }
    for key, value in overrides.items():
        if value is DROP:
            fields.pop(key, None)
        else:
            fields[key] = value
    return fields


def post(body: bytes | str | dict[str, Any], *, ip: str | None = TV_IP,
         ctype: str | None = "application/json", received_ns: int = SENT_NS + SECOND,
         config: WebhookSettings | None = None) -> TradingViewAlert:
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    return verify_alert(body, source_ip=ip, content_type=ctype, received_ns=received_ns,
                        settings=config or make_settings())


def rejection(body: bytes | str | dict[str, Any], **kwargs: Any) -> AlertRejected:
    with pytest.raises(AlertRejected) as caught:
        post(body, **kwargs)
    exc = caught.value
    assert exc.status == REJECTION_STATUS[exc.code]
    assert PASS not in exc.reason and PASS not in str(exc) and PASS not in repr(exc)
    return exc


def text_post(text: str, **kwargs: Any) -> TradingViewAlert:
    return post(text, ctype="text/plain", **kwargs)


# -- the documented template ------------------------------------------------------------------

def test_the_documented_template_filled_in_by_tradingview_is_accepted() -> None:
    template = re.search(r"```json\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert template is not None
    filled = {
        "{{strategy.order.id}}": "Long", "{{timenow}}": SENT, "{{ticker}}": "BTCUSDT",
        "{{strategy.order.action}}": "buy", "{{strategy.order.contracts}}": "0.015",
        "{{close}}": "64000.5", "{{strategy.market_position}}": "long",
    }
    text = template.group(1).replace("PASTE-YOUR-WEBHOOK-PASSPHRASE", PASS)
    for placeholder, value in filled.items():
        text = text.replace(placeholder, value)
    assert "{{" not in text
    alert = post(text)
    assert alert == TradingViewAlert(
        alert_id=f"Long-{SENT}", strategy="tv-breakout", ticker="BTCUSDT", action="buy",
        quantity=Decimal("0.015"), sent_ns=SENT_NS, price=Decimal("64000.5"),
        order_type="market", market_position="long", raw=alert.raw,
    )
    assert "passphrase" not in alert.raw
    assert alert.raw["contracts"] == "0.015" and alert.raw["ticker"] == "BTCUSDT"
    assert alert.side is OrderSide.BUY and not alert.is_exit and not alert.alert_id_derived


def test_unquoted_numbers_and_a_bracket_are_read_exactly() -> None:
    body = (f'{{"passphrase": "{PASS}", "strategy": "s1", "ticker": "EURUSD", "action": '
            f'"SELL", "contracts": 0.1, "price": 1.08, "timenow": "{SENT}", "stop_loss": 1.0850, '
            '"take_profit": "1.0700", "id": 42}')
    alert = post(body)
    assert alert.quantity == Decimal("0.1") and str(alert.quantity) == "0.1"
    assert str(alert.stop_loss) == "1.0850" and str(alert.take_profit) == "1.0700"
    assert alert.action == "sell" and alert.side is OrderSide.SELL and alert.alert_id == "42"
    assert alert.raw["contracts"] == "0.1" and alert.raw["id"] == "42"


@given(st.decimals(min_value=Decimal("1e-8"), max_value=Decimal("1e9"), places=8,
                   allow_nan=False, allow_infinity=False), st.booleans())
@settings(max_examples=150, deadline=None)
def test_quantities_are_the_decimal_written_never_a_float(quantity: Decimal,
                                                         quoted: bool) -> None:
    assume(quantity > 0)
    written = str(quantity)
    body = json.dumps(payload(contracts="@@")).replace('"@@"', f'"{written}"' if quoted
                                                       else written)
    alert = post(body)
    assert alert.quantity == Decimal(written)
    assert str(alert.quantity) == written


def test_limit_orders_need_a_limit_price() -> None:
    alert = post(payload(order_type="LIMIT", limit_price="63990.25"))
    assert alert.order_type == "limit" and alert.limit_price == Decimal("63990.25")
    missing = rejection(payload(order_type="limit"))
    assert missing.code == "invalid" and "limit_price" in missing.reason
    on_market = rejection(payload(limit_price="63990"))
    assert on_market.code == "invalid" and "limit_price" in on_market.reason


def test_exits_and_nulls() -> None:
    alert = post(payload(action="sell", market_position="flat", stop_loss=None, exchange=None))
    assert alert.is_exit and alert.stop_loss is None and alert.market_position == "flat"


# -- the checks, in order ---------------------------------------------------------------------

def test_each_check_fails_with_its_status_and_code_in_the_documented_order() -> None:
    config = make_settings(max_body_bytes=400)
    broken_json = b'{"passphrase": "nope", "ticker": '
    padded = broken_json + b" " * 400
    steps: list[tuple[int, str, dict[str, Any]]] = [
        (413, "body_too_large", {"body": padded, "ip": "8.8.8.8"}),
        (403, "ip_not_allowed", {"body": broken_json, "ip": "8.8.8.8"}),
        (400, "malformed", {"body": broken_json}),
        (401, "bad_passphrase", {"body": payload(passphrase="nope", action="hold",
                                                  timenow="2020-01-01T00:00:00Z")}),
        (422, "invalid", {"body": payload(action="hold", timenow="2020-01-01T00:00:00Z")}),
        (422, "stale", {"body": payload(timenow="2020-01-01T00:00:00Z")}),
        (422, "from_future", {"body": payload(timenow="2030-01-01T00:00:00Z")}),
    ]
    for status, code, call in steps:
        exc = rejection(call.pop("body"), config=config, **call)
        assert (exc.status, exc.code) == (status, code)
    assert post(payload(), config=config).alert_id


def test_statuses_of_the_codes() -> None:
    assert dict(REJECTION_STATUS) == {
        "body_too_large": 413, "ip_not_allowed": 403, "malformed": 400, "bad_passphrase": 401,
        "invalid": 422, "stale": 422, "from_future": 422, "duplicate": 409,
    }
    with pytest.raises(ValueError, match="unknown rejection code"):
        AlertRejected("teapot", "no")  # type: ignore[arg-type]


def test_body_size_limit_is_inclusive() -> None:
    body = json.dumps(payload()).encode()
    assert post(body, config=make_settings(max_body_bytes=len(body)))
    exc = rejection(body, config=make_settings(max_body_bytes=len(body) - 1))
    assert exc.code == "body_too_large" and str(len(body)) in exc.reason


@pytest.mark.parametrize("ip", [None, "", "not-an-ip", "8.8.8.8", "52.89.214.239",
                                "2001:db8::1", "::1", "::ffff:8.8.8.8"])
def test_sources_outside_tradingview_are_refused(ip: str | None) -> None:
    exc = rejection(payload(), ip=ip)
    assert (exc.status, exc.code) == (403, "ip_not_allowed")


@pytest.mark.parametrize("ip", [*TRADINGVIEW_IPS, "::ffff:52.32.178.7", " 34.212.75.30 "])
def test_tradingview_addresses_are_allowed(ip: str) -> None:
    assert post(payload(), ip=ip).ticker == "BTCUSDT"


def test_cidr_allow_lists_and_ipv6_networks() -> None:
    config = make_settings(allowed_ips=("10.0.0.0/8", "2001:db8::/32", "192.0.2.7"))
    for ip in ("10.1.2.3", "10.255.255.255", "2001:db8:1::5", "192.0.2.7", "::ffff:10.0.0.1"):
        assert config.allows(ip)
        assert post(payload(), ip=ip, config=config)
    for ip in ("11.0.0.1", "192.0.2.8", "2001:db9::1", TV_IP):
        assert not config.allows(ip)
        exc = rejection(payload(), ip=ip, config=config)
        assert exc.code == "ip_not_allowed" and "allowed_ips" in exc.reason
    single = make_settings(allowed_ips="192.0.2.0/24")
    assert single.allowed_ips == ("192.0.2.0/24",) and single.allows("192.0.2.200")
    assert "TradingView's" in rejection(payload(), ip="8.8.4.4").reason


def test_the_address_check_can_be_turned_off() -> None:
    config = make_settings(check_ip=False, allowed_ips=())
    assert post(payload(), ip=None, config=config)
    assert post(payload(), ip="2001:db8::1", config=config)


@pytest.mark.parametrize(("body", "ctype", "words"), [
    (b'{"passphrase": "x", ', "application/json", "line 1"),
    (b"[1, 2]", "application/json", "an array"),
    (b'"text"', "application/json", "a string"),
    (b"buy @ 1 filled on X. New strategy position is 1", "application/json", "JSON"),
    (b'{"a": NaN}', "application/json", "NaN"),
    (b'{"a": Infinity}', None, "Infinity"),
    (b'{"ticker": "A", "ticker": "B"}', "application/json", "twice"),
    (b'{"ticker": "\xff"}', "application/json", "UTF-8"),
    (b"   \n ", "text/plain", "empty"),
    (b'{"passphrase": broken', "text/plain", "JSON"),
    (b"a=1 a=2", "text/plain", "twice"),
    (b"[" * 5000 + b"]" * 5000, "application/json", "JSON"),
    (b"x=1", "application/x-www-form-urlencoded", "content type"),
])
def test_malformed_bodies_are_400_before_the_passphrase(body: bytes, ctype: str | None,
                                                         words: str) -> None:
    exc = rejection(body, ctype=ctype)
    assert (exc.status, exc.code) == (400, "malformed")
    assert words in exc.reason


def test_content_type_parameters_and_missing_content_type() -> None:
    assert post(payload(), ctype="application/json; charset=UTF-8")
    assert post(payload(), ctype=None)
    assert post(json.dumps(payload()), ctype="text/plain; charset=utf-8")


@pytest.mark.parametrize("given", [
    "Zq8-hT3kLp0wXv9rB2yM",       # same length, last character differs
    "Zq8-hT3kLp0wXv9rB2y",        # a prefix
    PASS + "x",                   # longer
    "short",
    "",
    PASS.lower(),
])
def test_a_wrong_passphrase_is_401_whatever_its_length(given: str) -> None:
    exc = rejection(payload(passphrase=given))
    assert (exc.status, exc.code) == (401, "bad_passphrase")
    assert given not in exc.reason or not given


@pytest.mark.parametrize("given", [DROP, None, 12345, ["x"], {"p": PASS}])
def test_a_missing_or_non_string_passphrase_is_401(given: object) -> None:
    exc = rejection(payload(passphrase=given))
    assert exc.code == "bad_passphrase"


def test_the_passphrase_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    config = make_settings()
    assert config.passphrase_matches(PASS) and not config.passphrase_matches(PASS[:-1])
    assert not config.passphrase_matches(None)
    calls.clear()
    post(payload())
    rejection(payload(passphrase="wrong"))
    rejection(payload(passphrase=PASS + "-longer-than-the-real-one"))
    assert len(calls) == 3
    assert all(isinstance(a, bytes) and len(a) == len(b) == 32 for a, b in calls)


def test_the_passphrase_never_reaches_a_reason_or_the_log(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="tradeloop.signals")
    for field in ("strategy", "ticker", "action", "contracts", "timenow", "id", "comment"):
        exc = rejection(payload(**{field: f"{PASS} {PASS}"}))
        assert exc.code == "invalid" and f"{field} holds the passphrase" in exc.reason
    text = rejection(f"passphrase={PASS} strategy=s timenow={SENT} {SENTENCE} {PASS}",
                     ctype="text/plain")
    assert "the sentence holds the passphrase" in text.reason
    as_key = rejection(payload(**{PASS: "1"}))
    assert as_key.code == "invalid" and "unknown field '***'" in as_key.reason
    repeated = rejection(f'{{"{PASS}": 1, "{PASS}": 2}}')
    assert repeated.code == "malformed" and "***" in repeated.reason
    post(payload())
    assert caplog.records
    for record in caplog.records:
        assert PASS not in record.getMessage() and PASS not in repr(vars(record))


@given(st.sampled_from(["strategy", "ticker", "action", "contracts", "price", "timenow", "id",
                        "stop_loss", "market_position", "comment", "passphrase", "bogus"]),
       st.text(max_size=30), st.booleans())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_rejection_reason_holds_the_passphrase(field: str, junk: str, embed: bool) -> None:
    value = f"{junk}{PASS}{junk}" if embed else junk
    try:
        post(payload(**{field: value}))
    except AlertRejected as exc:
        assert PASS not in exc.reason and PASS not in str(exc)


# -- schema -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("overrides", "words"), [
    ({"ticker": DROP}, "ticker is missing"),
    ({"ticker": ""}, "ticker is empty"),
    ({"ticker": "BTC USDT"}, "ticker"),
    ({"ticker": 5}, "ticker must be a string"),
    ({"action": "hold"}, "action 'hold'"),
    ({"action": DROP}, "action is missing"),
    ({"contracts": "0"}, "contracts must be positive"),
    ({"contracts": "-1"}, "contracts must be positive"),
    ({"contracts": "abc"}, "contracts 'abc' is not a number"),
    ({"contracts": "NaN"}, "contracts 'NaN' is not a number"),
    ({"contracts": "1_000"}, "is not a number"),
    ({"contracts": "1,5"}, "is not a number"),
    ({"contracts": True}, "contracts must be a number"),
    ({"contracts": [1]}, "contracts must be a number"),
    ({"contracts": DROP}, "contracts is missing"),
    ({"price": "0"}, "price must be positive"),
    ({"timenow": DROP}, "timenow is missing"),
    ({"timenow": "2024-05-01T12:00:05"}, "no time zone"),
    ({"timenow": "2024-05-01 noon"}, "not an ISO 8601 time"),
    ({"timenow": "2024-02-30T12:00:05Z"}, "not a valid time"),
    ({"timenow": "2024-05-01T12:00:05+25:00"}, "not a valid time"),
    ({"timenow": 1_714_564_805}, "epoch seconds"),
    ({"timenow": "1714564805000000"}, "too large"),
    ({"stoploss": "100"}, "did you mean stop_loss"),
    ({"action": "{{strategy.order.action}}"}, "placeholder {{strategy.order.action}}"),
    ({"contracts": "{{ strategy.order.contracts }}"}, "placeholder"),
    ({"strategy": "has space"}, "strategy 'has space'"),
    ({"strategy": DROP}, "no default_strategy"),
    ({"id": "x" * 256}, "id must be at most 255"),
    ({"id": "bad\nid"}, "printable"),
    ({"id": ""}, "id is empty"),
    ({"id": True}, "id must be a string"),
    ({"market_position": "sideways"}, "market_position"),
    ({"market_position": "long", "position_size": "-2"}, "contradicts"),
    ({"position_size": "lots"}, "position_size"),
    ({"order_type": "stop"}, "order_type 'stop'"),
    ({"stop_loss": "65000"}, "stop_loss 65000 must be below the price 64000.5"),
    ({"take_profit": "63000"}, "take_profit 63000 must be above the price 64000.5"),
    ({"stop_loss": "63000", "take_profit": "62000", "price": DROP}, "must be below take_profit"),
    ({"action": "sell", "market_position": "short", "stop_loss": "63000"},
     "stop_loss 63000 must be above the price"),
    ({"action": "sell", "market_position": "short", "take_profit": "65000"},
     "take_profit 65000 must be below the price"),
    ({"market_position": "flat", "stop_loss": "60000"}, "stop_loss is set on an exit"),
    ({"comment": "x" * 257}, "comment is longer than 256"),
    ({"interval": {"a": 1}}, "interval must be a string or a number"),
])
def test_schema_errors_are_422_and_name_the_field(overrides: dict[str, Any],
                                                  words: str) -> None:
    exc = rejection(payload(**overrides))
    assert (exc.status, exc.code) == (422, "invalid")
    assert words in exc.reason


def test_default_strategy_fills_in() -> None:
    alert = post(payload(strategy=DROP), config=make_settings(default_strategy="tv-default"))
    assert alert.strategy == "tv-default"


def test_position_size_implies_market_position() -> None:
    assert post(payload(market_position=DROP, position_size="-3", action="sell")
                ).market_position == "short"
    assert post(payload(market_position="flat", position_size=0, action="sell")).is_exit


# -- time -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("timenow", "sent_ns"), [
    (SENT, SENT_NS),
    ("2024-05-01T12:00:05.250Z", SENT_NS + 250_000_000),
    ("2024-05-01T12:00:05.123456789Z", SENT_NS + 123_456_789),
    ("2024-05-01t12:00:05z", SENT_NS),
    ("2024-05-01T14:00:05+02:00", SENT_NS),
    ("2024-05-01T07:30:05-0430", SENT_NS),
    (1_714_564_805_000, SENT_NS),
    ("1714564805250", SENT_NS + 250_000_000),
])
def test_timenow_forms(timenow: object, sent_ns: int) -> None:
    assert post(payload(timenow=timenow)).sent_ns == sent_ns


@given(st.integers(min_value=0, max_value=4_000_000_000 * SECOND))
@settings(max_examples=200, deadline=None)
def test_iso_timenow_is_exact_to_the_nanosecond(ns: int) -> None:
    from datetime import UTC, datetime
    whole = datetime.fromtimestamp(ns // SECOND, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    text = f"{whole}.{ns % SECOND:09d}Z"
    alert = post(payload(timenow=text), received_ns=ns)
    assert alert.sent_ns == ns


def test_staleness_boundaries_are_inclusive() -> None:
    config = make_settings(max_age_s=120, max_clock_skew_s=30)
    assert post(payload(), received_ns=SENT_NS + 120 * SECOND, config=config)
    stale = rejection(payload(), received_ns=SENT_NS + 120 * SECOND + 1, config=config)
    assert (stale.status, stale.code) == (422, "stale") and "max_age_s=120" in stale.reason
    assert post(payload(), received_ns=SENT_NS - 30 * SECOND, config=config)
    future = rejection(payload(), received_ns=SENT_NS - 30 * SECOND - 1, config=config)
    assert (future.status, future.code) == (422, "from_future")
    assert "max_clock_skew_s=30" in future.reason


@given(st.integers(min_value=-100 * SECOND, max_value=300 * SECOND),
       st.floats(min_value=0.5, max_value=200), st.floats(min_value=0, max_value=60))
@settings(max_examples=200, deadline=None)
def test_age_window_property(age_ns: int, max_age_s: float, skew_s: float) -> None:
    config = make_settings(max_age_s=max_age_s, max_clock_skew_s=skew_s)
    received = SENT_NS + age_ns
    if -round(skew_s * SECOND) <= age_ns <= round(max_age_s * SECOND):
        assert post(payload(), received_ns=received, config=config).sent_ns == SENT_NS
    else:
        code = rejection(payload(), received_ns=received, config=config).code
        assert code == ("stale" if age_ns > 0 else "from_future")


# -- text alerts ------------------------------------------------------------------------------

@pytest.mark.parametrize("sentence", [
    SENTENCE,
    "BUY @ 1 FILLED ON BTCUSDT. NEW STRATEGY POSITION IS 1",
    "order buy @ 1 filled on BTCUSDT. New strategy position is 1.",
    "buy @1 filled on BTCUSDT New strategy position is 1",
])
def test_the_default_sentence_in_any_case(sentence: str) -> None:
    alert = text_post(f"passphrase={PASS}\nstrategy=tv-sma\ntimenow={SENT}\n{sentence}")
    assert (alert.action, alert.quantity, alert.ticker) == ("buy", Decimal("1"), "BTCUSDT")
    assert alert.market_position == "long" and alert.alert_id_derived
    assert "passphrase" not in alert.raw and PASS not in json.dumps(alert.raw)
    assert alert.raw["message"] == sentence


def test_inline_tokens_and_extra_fields() -> None:
    alert = text_post(f"Passphrase={PASS} STRATEGY=tv-sma id=Short-1 timenow={SENT} "
                      "price=64000.5 stop_loss=64500 take_profit=63000.25 "
                      "sell @ 0.25 filled on BINANCE:BTC.P. New strategy position is -0.25")
    assert alert.alert_id == "Short-1" and alert.ticker == "BINANCE:BTC.P"
    assert alert.quantity == Decimal("0.25") and alert.market_position == "short"
    assert alert.stop_loss == Decimal("64500") and alert.take_profit == Decimal("63000.25")


def test_text_exit_and_key_value_only_alerts() -> None:
    exit_alert = text_post(f"passphrase={PASS} strategy=s timenow={SENT} "
                           "sell @ 1 filled on ES1!. New strategy position is 0")
    assert exit_alert.is_exit and exit_alert.ticker == "ES1!"
    plain = text_post(f"passphrase={PASS} strategy=s timenow={SENT} action=buy contracts=3 "
                      "ticker=EURUSD order_type=limit limit_price=1.07")
    assert plain.limit_price == Decimal("1.07") and plain.raw["contracts"] == "3"


def test_text_alert_errors() -> None:
    head = f"passphrase={PASS} strategy=s timenow={SENT}"
    assert rejection(f"strategy=s timenow={SENT} {SENTENCE}", ctype="text/plain"
                     ).code == "bad_passphrase"
    assert rejection(f"passphrase=wrong-{PASS} {SENTENCE}", ctype="text/plain"
                     ).code == "bad_passphrase"
    twice = rejection(f"{head} ticker=ETHUSDT {SENTENCE}", ctype="text/plain")
    assert twice.code == "invalid" and "ticker is given both" in twice.reason
    garbage = rejection(f"{head} please buy some bitcoin", ctype="text/plain")
    assert garbage.code == "invalid" and "sentence" in garbage.reason
    assert "bitcoin" not in garbage.reason
    unfilled = rejection(f"{head} {{{{strategy.order.action}}}} @ 1 filled on X. New strategy "
                         "position is 1", ctype="text/plain")
    assert "placeholder {{strategy.order.action}}" in unfilled.reason
    assert rejection(f"{head} sell @ 0 filled on X. New strategy position is 0",
                     ctype="text/plain").code == "invalid"


@given(st.permutations([f"passphrase={PASS}", "strategy=tv-sma", f"timenow={SENT}", "id=A1"]),
       st.sampled_from([" ", "\n", "\r\n", "\t", "  \n"]), st.booleans())
@settings(max_examples=60, deadline=None)
def test_text_fields_in_any_order_and_layout(tokens: list[str], gap: str,
                                             sentence_first: bool) -> None:
    parts = [SENTENCE, *tokens] if sentence_first else [*tokens, SENTENCE]
    alert = text_post(gap.join(parts))
    assert (alert.alert_id, alert.strategy, alert.sent_ns) == ("A1", "tv-sma", SENT_NS)


# -- derived ids, client order ids and de-duplication keys --------------------------------------

def test_derived_alert_ids_follow_the_content() -> None:
    first = post(payload(id=DROP))
    assert first.alert_id_derived and re.fullmatch(r"auto-[0-9a-f]{24}", first.alert_id)
    assert post(payload(id=DROP, contracts="1.000", timenow=1_714_564_805_000)
                ).alert_id == first.alert_id
    for change in ({"contracts": "2"}, {"ticker": "ETHUSDT"}, {"strategy": "other"},
                   {"timenow": "2024-05-01T12:00:06Z"}, {"action": "sell",
                                                         "market_position": "short"}):
        assert post(payload(id=DROP, **change)).alert_id != first.alert_id


def alert_for(strategy: str, alert_id: str, **extra: Any) -> TradingViewAlert:
    fields: dict[str, Any] = {"ticker": "X", "action": "buy", "quantity": Decimal(1),
                              "sent_ns": SENT_NS}
    fields.update(extra)
    return TradingViewAlert(alert_id=alert_id, strategy=strategy, **fields)


STRATEGIES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}", fullmatch=True)
ALERT_IDS = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=255)
COID = re.compile(r"[A-Za-z0-9-]{1,32}")


@given(STRATEGIES, ALERT_IDS)
@settings(max_examples=200, deadline=None)
def test_client_order_ids_are_deterministic_and_broker_safe(strategy: str, alert_id: str) -> None:
    alert = alert_for(strategy, alert_id)
    same = alert_for(strategy, alert_id, ticker="Y", quantity=Decimal(5), sent_ns=1)
    ids = {leg: client_order_id_for_alert(alert, leg) for leg in
           ("entry", "stop_loss", "take_profit")}
    assert client_order_id_for_alert(alert) == ids["entry"] == client_order_id_for_alert(same)
    assert len(set(ids.values())) == 3
    assert all(COID.fullmatch(value) for value in ids.values())


@given(st.tuples(STRATEGIES, ALERT_IDS), st.tuples(STRATEGIES, ALERT_IDS))
@settings(max_examples=300, deadline=None)
def test_client_order_ids_differ_for_different_alerts(
        one: tuple[str, str], other: tuple[str, str]) -> None:
    assume(one != other)
    assert client_order_id_for_alert(alert_for(*one)) != client_order_id_for_alert(
        alert_for(*other))
    assert dedupe_key(alert_for(*one)) != dedupe_key(alert_for(*other))


def test_client_order_id_shape_and_legs() -> None:
    value = client_order_id_for_alert(alert_for("tv-breakout.v2", "Long-1"))
    assert re.fullmatch(r"TVtvbreakou-[0-9a-f]{20}", value)
    assert client_order_id_for_alert(alert_for("tv-sma", "Long-1")) != client_order_id_for_alert(
        alert_for("tv-sma", "Long-2"))
    with pytest.raises(ValueError, match="leg"):
        client_order_id_for_alert(alert_for("s", "a"), "trailing")  # type: ignore[arg-type]


@given(STRATEGIES, ALERT_IDS)
@settings(max_examples=200, deadline=None)
def test_dedupe_keys_are_bounded(strategy: str, alert_id: str) -> None:
    key = dedupe_key(alert_for(strategy, alert_id))
    assert len(key) <= 255 and key.startswith(f"tradingview:{strategy}:")
    full = f"tradingview:{strategy}:{alert_id}"
    assert key == full if len(full) <= 255 else re.search(r"#[0-9a-f]{64}$", key)


def test_long_dedupe_keys_are_hashed_and_still_distinct() -> None:
    base = "x" * 300
    short = dedupe_key(alert_for("tv-sma", "Long-1"))
    assert short == "tradingview:tv-sma:Long-1"
    one, other = dedupe_key(alert_for("s", base + "1")), dedupe_key(alert_for("s", base + "2"))
    assert len(one) == len(other) == 255 and one != other


def test_duplicate_alert_is_409() -> None:
    exc = duplicate_alert("Long-2024")
    assert (exc.status, exc.code) == (409, "duplicate") and "'Long-2024'" in exc.reason
    long_id = duplicate_alert("y" * 300)
    assert len(long_id.reason) < 150 and isinstance(long_id, AlertRejected)


# -- settings ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("passphrase", "words"), [
    ("", "is empty"),
    ("Zq8-hT3kLp0", "shorter than 16"),
    ("changeme", "shorter than 16"),
    ("changeme-changeme-2024", "example value"),
    ("your-passphrase-here-1", "example value"),
    ("MySecret-Value-42xyz", "example value"),
    ("an-EXAMPLE-token-9876", "example value"),
    ("aaaaaaaaaaaaaaaaaaaaaaaa", "example value"),
    ("ababab121212ababab121212", "example value"),
    ("Zq8-hT3k Lp0wXv9rB2yN", "whitespace"),
])
def test_weak_passphrases_are_refused_without_being_shown(passphrase: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        WebhookSettings(passphrase=SecretStr(passphrase))
    message = str(caught.value)
    assert words in message and "passphrase" in message
    assert not passphrase or passphrase not in message


@given(st.text(string.ascii_letters + string.digits + "-_", min_size=16, max_size=64))
@settings(max_examples=100, deadline=None)
def test_settings_never_echo_a_refused_passphrase(passphrase: str) -> None:
    try:
        WebhookSettings(passphrase=SecretStr(passphrase))
    except ConfigError as exc:
        assert passphrase not in str(exc)


def test_settings_defaults_and_plain_string_passphrase() -> None:
    config = WebhookSettings(passphrase=PASS)  # type: ignore[arg-type]
    assert isinstance(config.passphrase, SecretStr) and PASS not in repr(config)
    assert config.check_ip and config.allowed_ips == TRADINGVIEW_IPS
    assert (config.max_body_bytes, config.max_age_s, config.max_clock_skew_s) == (
        16_384, 120.0, 30.0)
    assert config.default_strategy is None
    assert set(TRADINGVIEW_IPS) == {"52.89.214.238", "34.212.75.30", "54.218.53.128",
                                    "52.32.178.7"}
    with pytest.raises(AttributeError):
        config.check_ip = False  # type: ignore[misc]


@pytest.mark.parametrize(("overrides", "words"), [
    ({"allowed_ips": ("10.0.0.0/33",)}, "allowed_ips: '10.0.0.0/33'"),
    ({"allowed_ips": ("10.0.0.1/8",)}, "allowed_ips"),
    ({"allowed_ips": ("tradingview.com",)}, "allowed_ips"),
    ({"allowed_ips": ()}, "allowed_ips is empty"),
    ({"max_body_bytes": 0}, "max_body_bytes"),
    ({"max_body_bytes": True}, "max_body_bytes"),
    ({"max_age_s": 0}, "max_age_s must be a positive"),
    ({"max_age_s": float("nan")}, "max_age_s"),
    ({"max_clock_skew_s": -1}, "max_clock_skew_s must be a zero or more"),
    ({"default_strategy": "bad name"}, "default_strategy"),
])
def test_bad_settings_name_the_setting(overrides: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(words)):
        make_settings(**overrides)
