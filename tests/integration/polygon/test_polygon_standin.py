"""The local Polygon itself answers as Polygon documents: auth, error bodies, paging."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from support.polygon import API_KEY, NOT_ENTITLED, PolygonServer, utc_ns

MS = 1_000_000


@pytest.fixture
def http(polygon: PolygonServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=polygon.base_url) as client:
        yield client


def test_the_key_is_taken_from_the_header_or_the_query(polygon: PolygonServer,
                                                       http: httpx.Client) -> None:
    path = "/v3/reference/tickers/AAPL"
    assert http.get(path, headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 200
    assert http.get(path, params={"apiKey": API_KEY}).status_code == 200
    missing = http.get(path)
    assert missing.status_code == 401
    assert missing.json()["error"] == "API Key was not provided"
    wrong = http.get(path, params={"apiKey": "nope"}).json()
    assert (wrong["status"], wrong["error"]) == ("ERROR", "Unknown API Key")
    assert len(wrong["request_id"]) == 32
    assert [r.auth for r in polygon.requests()] == ["header", "query", None, "query"]


def test_entitlements_and_unknown_tickers(polygon: PolygonServer, http: httpx.Client) -> None:
    polygon.add_key("pk_fx_only", {"fx"})
    refused = http.get("/v2/aggs/ticker/AAPL/range/1/day/2024-04-01/2024-04-05",
                       params={"apiKey": "pk_fx_only"})
    assert refused.status_code == 403
    assert refused.json()["status"] == "NOT_AUTHORIZED"
    assert refused.json()["message"] == NOT_ENTITLED
    unknown = http.get("/v2/aggs/ticker/ZZZZ/range/1/day/2024-04-01/2024-04-05",
                       params={"apiKey": API_KEY}).json()
    assert (unknown["status"], unknown["resultsCount"], "results" in unknown) == ("OK", 0,
                                                                                   False)
    details = http.get("/v3/reference/tickers/ZZZZ", params={"apiKey": API_KEY})
    assert details.status_code == 404 and details.json()["status"] == "NOT_FOUND"


@pytest.mark.parametrize(("path", "error"), [
    ("/v2/aggs/ticker/AAPL/range/1/fortnight/2024-04-01/2024-04-05", "invalid timespan"),
    ("/v2/aggs/ticker/AAPL/range/0/day/2024-04-01/2024-04-05", "multiplier must be"),
    ("/v2/aggs/ticker/AAPL/range/1/day/April/2024-04-05", "Could not parse"),
    ("/v2/aggs/ticker/AAPL/range/1/day/2024-04-01/2024-04-05?limit=50001", "limit must be"),
    ("/v3/trades/AAPL?order=sideways", "order must be"),
    ("/v3/trades/C:EURUSD", "not available for forex"),
])
def test_bad_requests_get_polygon_errors(http: httpx.Client, path: str, error: str) -> None:
    reply = http.get(path + ("&" if "?" in path else "?") + f"apiKey={API_KEY}")
    assert reply.status_code == 400
    assert reply.json()["status"] == "ERROR" and error in reply.json()["error"]


@pytest.mark.parametrize("sort", ["asc", "desc"])
def test_aggregate_pages_join_up_in_either_order(polygon: PolygonServer, http: httpx.Client,
                                                 sort: str) -> None:
    start, end = utc_ns("2024-04-01") // MS, utc_ns("2024-04-02") // MS - 1
    path = f"/v2/aggs/ticker/X:BTCUSD/range/1/minute/{start}/{end}"
    whole = http.get(path, params={"apiKey": API_KEY, "sort": sort, "limit": 50000}).json()
    polygon.page_size = 250
    url: str | None = f"{path}?sort={sort}&limit=50000"
    times: list[int] = []
    while url:
        body = http.get(url, headers={"Authorization": f"Bearer {API_KEY}"}).json()
        times += [row["t"] for row in body["results"]]
        url = body.get("next_url")
        assert url is None or "apiKey" not in url
    assert times == [row["t"] for row in whole["results"]] and len(times) == 1440


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_trade_pages_join_up_in_either_order(polygon: PolygonServer, http: httpx.Client,
                                             order: str) -> None:
    query = {"timestamp.gte": utc_ns("2024-04-01T14:00"), "timestamp.lt":
             utc_ns("2024-04-01T15:00"), "order": order, "limit": 50000, "apiKey": API_KEY}
    whole = http.get("/v3/trades/AAPL", params=query).json()["results"]
    polygon.page_size = 7
    url: str | None = str(http.build_request("GET", "/v3/trades/AAPL", params=query).url)
    ids: list[str] = []
    while url:
        body = http.get(url, headers={"Authorization": f"Bearer {API_KEY}"}).json()
        ids += [row["id"] for row in body["results"]]
        url = body.get("next_url")
    assert ids == [row["id"] for row in whole] and len(ids) > 100
