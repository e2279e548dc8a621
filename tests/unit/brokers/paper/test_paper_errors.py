"""HTTP answers and transport failures map to the error tree: retryable, fatal, outcome-unknown.
The HTTP transport is injected (``httpx.MockTransport``): no server, no network."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from paper_harness import run
from pydantic import SecretStr, ValidationError

from tradeloop.brokers.paper.client import PaperHttpClient
from tradeloop.brokers.paper.config import PaperClientConfig
from tradeloop.brokers.paper.errors import (
    PaperFatalError,
    PaperOutcomeUnknownError,
    PaperRetryableError,
)
from tradeloop.core.errors import (
    FatalVenueError,
    OutcomeUnknownError,
    RetryableVenueError,
    VenueError,
)

Handler = Callable[[httpx.Request], httpx.Response]


def _error_body(code: str, retryable: bool = False) -> dict[str, object]:
    return {"error": {"code": code, "reason": f"because {code}", "retryable": retryable}}


def _call(handler: Handler, method: str = "POST", path: str = "/orders",
          config: PaperClientConfig | None = None) -> VenueError | bytes | None:
    async def main() -> VenueError | bytes | None:
        client = PaperHttpClient(config or PaperClientConfig(),
                                 transport=httpx.MockTransport(handler))
        try:
            return await client.request(method, path, body=b"{}" if method != "GET" else None)
        except VenueError as exc:
            return exc
        finally:
            await client.aclose()

    return run(main())


@pytest.mark.parametrize(("status", "body", "method", "expected", "code"), [
    (429, _error_body("RATE_LIMITED", True), "POST", PaperRetryableError, "RATE_LIMITED"),
    (503, _error_body("REQUOTE", True), "POST", PaperRetryableError, "REQUOTE"),
    (503, _error_body("BUSY", True), "DELETE", PaperRetryableError, "BUSY"),
    (422, _error_body("INVALID_VOLUME"), "POST", PaperFatalError, "INVALID_VOLUME"),
    (422, _error_body("INSUFFICIENT_FUNDS"), "POST", PaperFatalError, "INSUFFICIENT_FUNDS"),
    (422, _error_body("MARKET_CLOSED"), "POST", PaperFatalError, "MARKET_CLOSED"),
    (409, _error_body("ORDER_NOT_OPEN"), "DELETE", PaperFatalError, "ORDER_NOT_OPEN"),
    (401, _error_body("UNAUTHORIZED"), "GET", PaperFatalError, "UNAUTHORIZED"),
    (500, _error_body("INTERNAL"), "POST", PaperOutcomeUnknownError, None),
    (500, _error_body("INTERNAL"), "PATCH", PaperOutcomeUnknownError, None),
    (500, _error_body("INTERNAL"), "GET", PaperRetryableError, "INTERNAL"),
    (502, "<html>bad gateway</html>", "POST", PaperOutcomeUnknownError, None),
    (502, "<html>bad gateway</html>", "GET", PaperRetryableError, "HTTP_502"),
    (400, "not json", "POST", PaperFatalError, "HTTP_400"),
])
def test_answers_map_to_the_error_tree(status: int, body: object, method: str,
                                       expected: type[VenueError], code: str | None) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body, headers={"Retry-After": "2"})
        return httpx.Response(status, json=body, headers={"Retry-After": "2"})

    error = _call(handler, method)
    assert type(error) is expected
    if code is not None:
        assert error.code == code  # type: ignore[union-attr]
    if expected is PaperRetryableError and status in (429, 503):
        assert error.retry_after_s == 2.0  # type: ignore[union-attr]
    assert "\n" not in str(error)


def test_the_error_classes_are_those_of_the_port() -> None:
    assert issubclass(PaperRetryableError, RetryableVenueError)
    assert issubclass(PaperFatalError, FatalVenueError)
    assert issubclass(PaperOutcomeUnknownError, OutcomeUnknownError)
    assert PaperRetryableError("X", "y").retryable and not PaperFatalError("X", "y").retryable


@pytest.mark.parametrize(("failure", "method", "expected"), [
    (httpx.ConnectError("connection refused"), "POST", PaperRetryableError),
    (httpx.ConnectTimeout("connect timed out"), "DELETE", PaperRetryableError),
    (httpx.PoolTimeout("no connection free"), "POST", PaperRetryableError),
    (httpx.ReadTimeout("read timed out"), "POST", PaperOutcomeUnknownError),
    (httpx.WriteTimeout("write timed out"), "PATCH", PaperOutcomeUnknownError),
    (httpx.RemoteProtocolError("server disconnected"), "DELETE", PaperOutcomeUnknownError),
    (httpx.ReadError("connection reset"), "POST", PaperOutcomeUnknownError),
    (httpx.ReadTimeout("read timed out"), "GET", PaperRetryableError),
    (httpx.RemoteProtocolError("server disconnected"), "GET", PaperRetryableError),
])
def test_transport_failures_map_by_whether_the_request_was_sent(
    failure: httpx.TransportError, method: str, expected: type[VenueError]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure

    error = _call(handler, method)
    assert type(error) is expected
    if expected is PaperOutcomeUnknownError:
        assert f"{method} /v1/orders" in str(error)


def test_the_token_travels_as_a_bearer_header_and_paths_are_versioned() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404 if "missing" in request.url.path else 200, json=[])

    config = PaperClientConfig(url="http://127.0.0.1:9/", token=SecretStr("s3cr3t-value"))
    assert _call(handler, "GET", "/positions", config) == b"[]"

    async def missing() -> bytes | None:
        client = PaperHttpClient(config, transport=httpx.MockTransport(handler))
        try:
            return await client.request("GET", "/orders/missing", missing_ok=True)
        finally:
            await client.aclose()

    assert run(missing()) is None
    assert [r.url.path for r in seen] == ["/v1/positions", "/v1/orders/missing"]
    assert seen[0].headers["authorization"] == "Bearer s3cr3t-value"
    assert "s3cr3t" not in repr(config) and "s3cr3t" not in str(config.model_dump())


def test_client_config_from_the_environment() -> None:
    config = PaperClientConfig.from_env({
        "TRADELOOP_PAPER_URL": "http://127.0.0.1:9999/", "TRADELOOP_PAPER_TOKEN": "abc",
        "TRADELOOP_PAPER_OWNER": "node-7", "TRADELOOP_PAPER_REQUEST_TIMEOUT_S": "1.5",
    }, venue="PAPER2")
    assert (config.url, config.owner, config.request_timeout_s, config.venue) == (
        "http://127.0.0.1:9999", "node-7", 1.5, "PAPER2")
    assert config.token is not None and config.token.get_secret_value() == "abc"
    assert PaperClientConfig.from_env({"TRADELOOP_PAPER_TOKEN": ""}).token is None
    assert PaperClientConfig(token="  ").token is None  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="http:// or https://"):
        PaperClientConfig(url="127.0.0.1:8765")
    with pytest.raises(ValidationError):
        PaperClientConfig(request_timeout_s=0)
