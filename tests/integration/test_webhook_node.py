"""The TradingView webhook of a real paper node (``tradeloop paper node.toml --api`` in a
subprocess, see ``api_node.py``): each refusal gets its documented status and code and leaves
no order and no signal behind; a replayed alert id is refused, also after a restart; a valid
alert becomes exactly one order.

Orders are counted by their ``tradingview:<alert id>`` tag: the node's own strategy may trade
on its own, and those orders are none of the webhook's business. Checking the order list right
after the webhook answers is sound: the route schedules the order on the node's loop before it
answers, and the order enters the node's cache as that callback runs, before the loop can read
the next request.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from api_node import PASSPHRASE, RunningNode, restart_node, start_node

WEBHOOK = "/webhook/tradingview"
MAX_BODY_BYTES = 16_384  # the node's max_body_bytes (the default)
TAG = "tradingview:"
SETTLE_S = 20.0  # how long an order may take to fill, or a signal to get its status


class NodeHolder:
    """The module's node; a test may restart it and the next tests use the new one."""

    def __init__(self, node: RunningNode) -> None:
        self.node = node

    def restart(self) -> RunningNode:
        self.node = restart_node(self.node)
        return self.node


@pytest.fixture(scope="module")
def holder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeHolder]:
    held = NodeHolder(start_node(tmp_path_factory.mktemp("webhook-node")))
    try:
        yield held
    finally:
        held.node.stop()


@pytest.fixture
def node(holder: NodeHolder) -> RunningNode:
    return holder.node


def timenow(offset_s: float = 0.0) -> str:
    """``{{timenow}}`` as TradingView writes it (to the second, UTC), ``offset_s`` from now."""
    moment = datetime.now(UTC) + timedelta(seconds=offset_s)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    return f"t-{uuid.uuid4().hex[:16]}"


def alert(**fields: Any) -> dict[str, Any]:
    """A valid JSON alert (a market buy of 1000 EURUSD) with a fresh id, then ``fields``."""
    body: dict[str, Any] = {
        "passphrase": PASSPHRASE, "id": new_id(), "ticker": "EURUSD", "action": "buy",
        "contracts": "1000", "price": "1.1", "timenow": timenow(), "order_type": "market"}
    body.update(fields)
    return body


def post(node: RunningNode, body: dict[str, Any] | bytes | str,
         content_type: str = "application/json", **headers: str) -> httpx.Response:
    if isinstance(body, dict):
        body = json.dumps(body)
    content = body.encode() if isinstance(body, str) else body
    return httpx.post(node.url + WEBHOOK, content=content, timeout=10,
                      headers={"Content-Type": content_type, **headers})


def webhook_orders(node: RunningNode) -> list[dict[str, Any]]:
    """Every order the webhook made (tagged ``tradingview:<alert id>``)."""
    with node.client("read") as client:
        found = client.get("/api/v1/orders", params={"limit": 10_000})
    found.raise_for_status()
    return [o for o in found.json() if any(t.startswith(TAG) for t in o["tags"])]


def order_ids(node: RunningNode) -> list[str]:
    """The client order ids of the webhook's orders."""
    return sorted(o["client_order_id"] for o in webhook_orders(node))


def orders_of(node: RunningNode, alert_id: str) -> list[dict[str, Any]]:
    return [o for o in webhook_orders(node) if TAG + alert_id in o["tags"]]


def signals(node: RunningNode) -> list[dict[str, Any]]:
    with node.client("read") as client:
        found = client.get("/api/v1/signals", params={"limit": 10_000})
    found.raise_for_status()
    result: list[dict[str, Any]] = found.json()
    return result


def signal_keys(node: RunningNode) -> list[str]:
    """The de-duplication keys of the recorded signals."""
    return sorted(s["dedupe_key"] for s in signals(node))


def signal_of(node: RunningNode, alert_id: str) -> dict[str, Any] | None:
    matches = [s for s in signals(node) if s["payload"].get("id") == alert_id]
    assert len(matches) <= 1
    return matches[0] if matches else None


def settled(read: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
    """``read()`` once ``done`` holds for it (or the last value after SETTLE_S)."""
    deadline = time.monotonic() + SETTLE_S
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.05)
        value = read()
    return value


def accepted(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert answer["status"] == "accepted"
    assert answer["client_order_id"].startswith("TV")
    return answer


def assert_refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    answer = response.json()
    assert (answer["status"], answer["code"]) == ("rejected", code)
    assert answer["detail"]
    assert PASSPHRASE not in response.text


def order(node: RunningNode, client_order_id: str) -> dict[str, Any] | None:
    with node.client("read") as client:
        found = client.get(f"/api/v1/orders/{client_order_id}")
    if found.status_code == 404:
        return None
    found.raise_for_status()
    result: dict[str, Any] = found.json()
    return result


def filled(node: RunningNode, client_order_id: str) -> dict[str, Any]:
    """The order ``client_order_id``, once it has filled."""
    found = settled(lambda: order(node, client_order_id),
                    lambda o: o is not None and o["status"] == "FILLED")
    assert found is not None and found["status"] == "FILLED", found
    result: dict[str, Any] = found
    return result


def only_order(node: RunningNode, alert_id: str, client_order_id: str) -> dict[str, Any]:
    """The order of an alert that makes one order, once it has filled: the only one of
    ``alert_id``, with the client order id the webhook answered."""
    entry = filled(node, client_order_id)
    assert [o["client_order_id"] for o in orders_of(node, alert_id)] == [client_order_id]
    return entry


# -- accepted alerts ------------------------------------------------------------------------


def test_a_valid_json_alert_makes_exactly_one_filled_order(node: RunningNode) -> None:
    body = alert()
    before = len(webhook_orders(node))

    answer = accepted(post(node, body))

    assert answer["alert_id"] == body["id"]
    made = only_order(node, body["id"], answer["client_order_id"])
    assert (made["strategy_id"], made["symbol"], made["side"], made["type"]) == (
        "tv", "EURUSD", "BUY", "MARKET")
    assert made["quantity"] == made["filled_quantity"] == "1000"
    assert len(webhook_orders(node)) == before + 1
    signal = settled(lambda: signal_of(node, body["id"]),
                     lambda s: s is not None and s["status"] != "received")
    assert signal["status"] == "ordered"
    assert signal["dedupe_key"] == f"tradingview:tv:{body['id']}"
    assert signal["payload"]["client_order_id"] == answer["client_order_id"]
    assert "passphrase" not in signal["payload"]


def test_a_valid_plain_text_alert_makes_its_order(node: RunningNode) -> None:
    alert_id = new_id()
    text = (f"passphrase={PASSPHRASE} strategy=tv id={alert_id} timenow={timenow()}\n"
            "sell @ 2000 filled on EURUSD. New strategy position is -2000")

    answer = accepted(post(node, text, "text/plain"))

    made = only_order(node, alert_id, answer["client_order_id"])
    assert (made["side"], made["quantity"], made["strategy_id"]) == ("SELL", "2000", "tv")


def test_a_body_of_exactly_the_limit_is_accepted(node: RunningNode) -> None:
    body = alert()
    text = json.dumps(body)
    padded = text[:-1] + " " * (MAX_BODY_BYTES - len(text)) + "}"
    assert len(padded.encode()) == MAX_BODY_BYTES

    answer = accepted(post(node, padded))

    only_order(node, body["id"], answer["client_order_id"])


def test_a_bracket_alert_makes_the_entry_and_its_two_legs(node: RunningNode) -> None:
    body = alert(stop_loss="1.05", take_profit="1.2")

    answer = accepted(post(node, body))

    entry = filled(node, answer["client_order_id"])
    made = orders_of(node, body["id"])
    legs = {leg: o for o in made for leg in ("stop_loss", "take_profit") if leg in o["tags"]}
    assert len(made) == 3 and set(legs) == {"stop_loss", "take_profit"}
    stop, take = legs["stop_loss"], legs["take_profit"]
    assert (stop["side"], stop["type"], stop["trigger_price"]) == ("SELL", "STOP", "1.05")
    assert (take["side"], take["type"], take["price"]) == ("SELL", "LIMIT", "1.2")
    for leg in (stop, take):
        assert leg["quantity"] == "1000" and leg["strategy_id"] == "tv"
        assert leg["client_order_id"] != entry["client_order_id"]
        assert leg["status"] in ("ACCEPTED", "SUBMITTED")


def test_an_alert_for_an_unknown_ticker_is_accepted_then_refused(node: RunningNode) -> None:
    body = alert(ticker="XAUUSD", price="2300")
    before = len(webhook_orders(node))

    answer = accepted(post(node, body))

    signal = settled(lambda: signal_of(node, body["id"]),
                     lambda s: s is not None and s["status"] != "received")
    assert signal["status"].startswith("refused: "), signal
    assert "XAUUSD" in signal["status"]
    assert orders_of(node, body["id"]) == []
    assert len(webhook_orders(node)) == before
    assert order(node, answer["client_order_id"]) is None


# -- refused alerts -------------------------------------------------------------------------


Sender = Callable[[RunningNode, dict[str, Any]], httpx.Response]


def _malformed(node: RunningNode, body: dict[str, Any]) -> httpx.Response:
    return post(node, json.dumps(body)[:-1])  # no closing brace


def _oversized(node: RunningNode, body: dict[str, Any]) -> httpx.Response:
    text = json.dumps(body)  # still a valid alert: only its size is wrong
    return post(node, text[:-1] + " " * (MAX_BODY_BYTES + 1 - len(text)) + "}")


def _oversized_streamed(node: RunningNode, body: dict[str, Any]) -> httpx.Response:
    chunk = json.dumps(body)[:-1].encode() + b" " * 4096
    chunks = [chunk] * 5 + [b"}"]  # chunked: no Content-Length to refuse it by
    return httpx.post(node.url + WEBHOOK, content=iter(chunks), timeout=10,
                      headers={"Content-Type": "application/json"})


def _wrong_passphrase(node: RunningNode, body: dict[str, Any]) -> httpx.Response:
    return post(node, {**body, "passphrase": PASSPHRASE[::-1]})


def _stale(node: RunningNode, body: dict[str, Any]) -> httpx.Response:
    return post(node, {**body, "timenow": timenow(-180)})  # max_age_s is 120


def _from_the_future(node: RunningNode, body: dict[str, Any]) -> httpx.Response:
    return post(node, {**body, "timenow": timenow(+180)})  # max_clock_skew_s is 30


def _invalid(node: RunningNode, body: dict[str, Any]) -> httpx.Response:
    return post(node, {**body, "stoploss": "1.05"})  # a typo of stop_loss


@pytest.mark.parametrize(("send", "status", "code"), [
    (_malformed, 400, "malformed"),
    (_oversized, 413, "body_too_large"),
    (_oversized_streamed, 413, "body_too_large"),
    (_wrong_passphrase, 401, "bad_passphrase"),
    (_stale, 422, "stale"),
    (_from_the_future, 422, "from_future"),
    (_invalid, 422, "invalid"),
], ids=lambda p: p.__name__.strip("_") if callable(p) else str(p))
def test_a_refused_alert_gets_its_status_and_makes_nothing(
        node: RunningNode, send: Sender, status: int, code: str) -> None:
    body = alert()
    orders_before, signals_before = order_ids(node), signal_keys(node)

    assert_refused(send(node, body), status, code)

    assert order_ids(node) == orders_before
    assert signal_keys(node) == signals_before
    assert signal_of(node, body["id"]) is None


def test_a_replayed_alert_id_is_refused_and_makes_no_second_order(node: RunningNode) -> None:
    body = alert()
    first = accepted(post(node, body))
    only_order(node, body["id"], first["client_order_id"])
    orders_before, signals_before = order_ids(node), signal_keys(node)

    # the same alert again, and the same id with other content (a later bar's alert)
    assert_refused(post(node, body), 409, "duplicate")
    assert_refused(post(node, {**body, "action": "sell", "timenow": timenow()}), 409,
                   "duplicate")

    assert order_ids(node) == orders_before
    assert signal_keys(node) == signals_before
    assert [o["client_order_id"] for o in orders_of(node, body["id"])] == [
        first["client_order_id"]]


def test_a_replayed_alert_id_is_refused_after_a_restart(holder: NodeHolder) -> None:
    body = alert()
    first = accepted(post(holder.node, body))
    only_order(holder.node, body["id"], first["client_order_id"])

    node = holder.restart()

    orders_before, signals_before = order_ids(node), signal_keys(node)
    assert signal_of(node, body["id"]) is not None  # the audit database kept both
    assert [o["client_order_id"] for o in orders_of(node, body["id"])] == [
        first["client_order_id"]]

    assert_refused(post(node, body), 409, "duplicate")

    assert order_ids(node) == orders_before
    assert signal_keys(node) == signals_before
    # the restarted node does trade: a new id still makes its order
    fresh = alert()
    only_order(node, fresh["id"], accepted(post(node, fresh))["client_order_id"])


# -- the source address -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def private_network_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """A node whose webhook takes alerts from 10.0.0.0/8 only (so not from this test)."""
    node = start_node(tmp_path_factory.mktemp("webhook-10-net"), allowed_ips=["10.0.0.0/8"])
    try:
        yield node
    finally:
        node.stop()


@pytest.mark.parametrize("forwarded", [None, "10.1.2.3"], ids=["direct", "forwarded-for"])
def test_a_source_outside_allowed_ips_is_refused(private_network_node: RunningNode,
                                                 forwarded: str | None) -> None:
    node = private_network_node
    headers = {} if forwarded is None else {"X-Forwarded-For": forwarded}  # not behind a proxy
    body = alert()

    assert_refused(post(node, body, **headers), 403, "ip_not_allowed")

    assert webhook_orders(node) == []
    assert signals(node) == []
