"""Our client order ids as Fyers order tags, and the journal of cover and bracket orders."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tradeloop.brokers.fyers.ids import TAG, NativeIntent, OrderIds, plain_tag, tag_of
from tradeloop.core.identifiers import client_order_id


def test_ids_fyers_takes_go_as_they_are() -> None:
    assert tag_of("CFab12cd34001") == "CFab12cd34001"
    assert tag_of("A" * 30) == "A" * 30


@given(st.text(min_size=1, max_size=60))
def test_every_id_has_a_tag_fyers_takes_and_always_the_same(cid: str) -> None:
    tag = tag_of(cid)
    assert TAG.match(tag) and tag != "Untagged"
    assert tag_of(cid) == tag


def test_a_nodes_ids_are_hashed_and_mapped_back_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "ids.json"
    cid = client_order_id("sma-cross", 1_700_000_000_000_000_000, 1)
    ids = OrderIds(path)
    tag = ids.tag(cid)
    assert tag != cid and tag.startswith("T") and len(tag) == 30
    again = OrderIds(path)  # a restart
    assert again.ours(f"1:{tag}") == cid
    assert again.ours("1:Plain1") == "Plain1" and again.ours("2:Untagged") == ""
    assert tag_of("Untagged") != "Untagged"


def test_fyers_shows_user_tags_with_a_prefix() -> None:
    assert plain_tag("1:abc") == "abc" and plain_tag("2:Untagged") == "" and plain_tag("x") == "x"


def _intent(cid: str, **changes: object) -> NativeIntent:
    values: dict[str, object] = dict(symbol="NSE:SBIN-EQ", product="BO", side=1, qty=5,
                                     order_type=1, limit="790", stop="0", stop_loss="2",
                                     take_profit="4", ts=100.0)
    values.update(changes)
    return NativeIntent(cid, **values)  # type: ignore[arg-type]


def _entry(order_id: str, **changes: object) -> dict[str, object]:
    entry: dict[str, object] = {"id": order_id, "symbol": "NSE:SBIN-EQ", "productType": "BO",
                                "side": 1, "qty": 5, "type": 1, "limitPrice": 790.0,
                                "stopPrice": 0, "orderTag": "2:Untagged"}
    entry.update(changes)
    return entry


def test_an_untagged_bracket_is_matched_by_its_details_once(tmp_path: Path) -> None:
    ids = OrderIds(tmp_path / "ids.json")
    first, second = _intent("A"), _intent("B")
    ids.intend(first)
    ids.intend(second)
    book = [_entry("1", orderTag="1:Other"), _entry("2", qty=6), _entry("3", parentId="9"),
            _entry("4"), _entry("5")]
    assert ids.match(first, book) == book[3]
    ids.placed("A", "4")
    assert ids.match(second, book) == book[4]  # "4" is A's now
    reloaded = OrderIds(tmp_path / "ids.json")
    intent = reloaded.native("A")
    assert intent is not None and intent.venue_order_id == "4"
    assert reloaded.native_by_venue_id("4") is intent


def test_legs_taken_over_are_remembered(tmp_path: Path) -> None:
    ids = OrderIds(tmp_path / "ids.json")
    ids.take_leg("77", "CF2")
    again = OrderIds(tmp_path / "ids.json")
    assert again.leg_owner("77") == "CF2" and again.leg_of("CF2") == "77"
    assert again.leg_of("nobody") == "" and again.leg_owner("0") == ""
    assert json.loads((tmp_path / "ids.json").read_text())["legs"] == {"77": "CF2"}
