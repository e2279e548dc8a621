"""Every route but /health (and the webhook, which has its passphrase) answers 401 without a
token, with an expired, revoked or malformed one, and with a token lacking the route's scope;
repeated failures from one address are refused with 429 and Retry-After; nothing echoes a
token."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pytest
from api_harness import Served
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse

from tradeloop.api.app import create_app
from tradeloop.core.clock import TestClock
from tradeloop.services.tokens import FailedAuthLimiter, create_token

PUBLIC = {"/health"}
SCOPE_OF = {"GET": "read"}
TRADE_ROUTES = {
    ("POST", "/api/v1/orders"), ("DELETE", "/api/v1/orders/{client_order_id}"),
    ("PATCH", "/api/v1/orders/{client_order_id}"), ("POST", "/api/v1/control/pause"),
    ("POST", "/api/v1/control/resume"), ("POST", "/api/v1/control/kill"),
    ("POST", "/api/v1/control/flatten"),
}
ADMIN_ROUTES = {("POST", "/api/v1/control/rearm"), ("POST", "/api/v1/control/stop"),
                ("GET", "/api/v1/config")}


def _routes(served: Served) -> list[tuple[str, str]]:
    """Every documented route (the OpenAPI document lists them all) but the public ones."""
    paths = served.client.get("/openapi.json").json()["paths"]
    return sorted((method.upper(), path) for path, operations in paths.items()
                  for method in operations
                  if path not in PUBLIC and not path.startswith("/webhook/"))


def _call(client: TestClient, method: str, path: str, token: str | None) -> Any:
    url = path.replace("{client_order_id}", "API-0000")
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    body = {"reason": "x", "symbol": "EURUSD", "side": "buy", "quantity": "1"} \
        if method in ("POST", "PATCH") else None
    return client.request(method, url, headers=headers, json=body)


def _needed(method: str, path: str) -> str:
    if (method, path) in ADMIN_ROUTES:
        return "admin"
    if (method, path) in TRADE_ROUTES:
        return "trade"
    return "read"


def test_every_route_is_listed_with_its_scope(served: Served) -> None:
    routes = set(_routes(served))
    assert routes >= TRADE_ROUTES and routes >= ADMIN_ROUTES
    assert ("GET", "/metrics") in routes and ("GET", "/api/v1/status") in routes
    assert len(routes) >= 22


def test_every_route_refuses_a_missing_or_bad_token(served: Served) -> None:
    expired = create_token("old", ["admin"], expires_in=timedelta(hours=1), by="test",
                           clock=TestClock(time.time_ns() - 2 * 3600 * 10**9)).token
    bad = {"none": None, "revoked": served.tokens["revoked"], "expired": expired,
           "malformed": "tl_not-a-token", "other scheme": None}
    calls = 0
    for method, path in _routes(served):
        for why, token in bad.items():
            calls += 1  # each from its own address, so the login limiter stays out of it
            client = TestClient(served.client.app,
                                client=(f"198.51.{calls // 250}.{calls % 250}", 1))
            if why == "other scheme":
                answer = client.request(method, path.replace("{client_order_id}", "x"),
                                        headers={"Authorization": f"Basic {expired}"})
            else:
                answer = _call(client, method, path, token)
            assert answer.status_code == 401, (method, path, why, answer.text)
            assert answer.headers["www-authenticate"].startswith("Bearer")
            assert expired not in answer.text and served.tokens["revoked"] not in answer.text


def test_trade_and_admin_routes_refuse_a_token_without_their_scope(served: Served) -> None:
    rank = {"read": 0, "trade": 1, "admin": 2}
    tokens = {"read": served.tokens["reader"], "trade": served.tokens["trader"],
              "admin": served.tokens["admin"]}
    for method, path in _routes(served):
        needed = _needed(method, path)
        for scope, token in tokens.items():
            answer = _call(served.client, method, path, token)
            if rank[scope] < rank[needed]:
                assert answer.status_code == 401, (method, path, scope, answer.text)
                assert 'error="insufficient_scope"' in answer.headers["www-authenticate"]
                assert f"lacks the '{needed}' scope" in answer.json()["detail"]
            else:
                assert answer.status_code != 401, (method, path, scope, answer.text)


def test_health_needs_no_token_and_says_nothing_more(served: Served) -> None:
    answer = served.client.get("/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "running": False}


def test_failed_logins_from_one_address_are_limited(served: Served) -> None:
    clock = TestClock(time.time_ns())
    app = create_app(served.control, limiter=FailedAuthLimiter(3, timedelta(minutes=1),
                                                               clock=clock))
    attacker = TestClient(app, client=("192.0.2.66", 1))
    other = TestClient(app, client=("192.0.2.77", 1))
    for _ in range(3):
        assert attacker.get("/api/v1/status", headers={
            "Authorization": "Bearer tl_wrong"}).status_code == 401
    refused = attacker.get("/api/v1/status", headers={
        "Authorization": f"Bearer {served.tokens['admin']}"})
    assert refused.status_code == 429  # even a good token waits out the window
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    good = {"Authorization": f"Bearer {served.tokens['reader']}"}
    assert other.get("/api/v1/status", headers=good).status_code == 200
    clock.advance_to(clock.now_ns() + 61 * 10**9)
    assert attacker.get("/api/v1/status", headers=good).status_code == 200


def test_the_event_stream_refuses_a_bad_token_before_accepting(served: Served) -> None:
    client = served.client
    for headers in ({}, {"Authorization": "Bearer tl_wrong"},
                    {"sec-websocket-protocol": "tradeloop, bearer.tl_wrong"}):
        with pytest.raises(WebSocketDenialResponse) as refused, \
                client.websocket_connect("/api/v1/ws", headers=headers):
            pass
        assert refused.value.status_code == 401  # an HTTP answer: never upgraded
    good = served.tokens["reader"]
    with client.websocket_connect("/api/v1/ws",
                                  subprotocols=["tradeloop", f"bearer.{good}"]) as socket:
        assert socket.accepted_subprotocol == "tradeloop"
    with client.websocket_connect("/api/v1/ws",
                                  headers={"Authorization": f"Bearer {good}"}):
        pass


def test_the_openapi_document_declares_bearer_tokens(served: Served) -> None:
    schema = served.client.get("/openapi.json").json()
    paths = schema["paths"]
    assert "/health" in paths and "/api/v1/orders" in paths
    assert not any(re.search(r"tl_[A-Za-z0-9_-]{20}", str(v)) for v in paths.values())
