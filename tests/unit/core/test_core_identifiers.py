"""Client order ids: deterministic, short, venue-safe, distinct between strategies."""

from __future__ import annotations

import copy
import pickle
import re
from typing import Any

import pytest

from tradeloop.core.identifiers import ClientOrderIdGenerator, client_order_id

VALID = re.compile(r"[A-Za-z0-9-]{1,32}")
TS = 1_704_153_600_000_000_000


def test_same_inputs_give_the_same_id() -> None:
    assert client_order_id("SmaCross", TS, 1) == client_order_id("SmaCross", TS, 1)


@pytest.mark.parametrize(
    "other",
    [("SmaCross", TS, 2), ("SmaCross", TS + 1, 1), ("SmaCros", TS, 1), ("SmaCross-2", TS, 1)],
)
def test_any_different_input_gives_a_different_id(other: tuple[str, int, int]) -> None:
    assert client_order_id(*other) != client_order_id("SmaCross", TS, 1)


@pytest.mark.parametrize(
    "strategy_id",
    ["SmaCross", "a", "", "---", "my strategy #1 (fast=5, slow=20)", "x" * 200,
     "Stratégie", "戦略", "naïve_µ²", "tab\tand\nnewline"],
)
def test_ids_are_at_most_32_venue_safe_characters(strategy_id: str) -> None:
    oid = client_order_id(strategy_id, TS, 7)
    assert VALID.fullmatch(oid), oid
    gen = ClientOrderIdGenerator(strategy_id)
    assert VALID.fullmatch(gen.next_id(TS)), strategy_id


def test_ids_start_with_the_strategys_alphanumerics() -> None:
    assert client_order_id("Sma_Cross-v2", TS, 1).startswith("SmaCrossv2-")
    assert client_order_id("***", TS, 1).startswith("S-")


def test_strategies_sharing_a_long_prefix_get_different_ids() -> None:
    a, b = "MeanReversionFast", "MeanReversionSlow"  # same first 10 alphanumerics
    assert client_order_id(a, TS, 1)[:11] == client_order_id(b, TS, 1)[:11]
    assert client_order_id(a, TS, 1) != client_order_id(b, TS, 1)
    assert ClientOrderIdGenerator(a).next_id(TS) != ClientOrderIdGenerator(b).next_id(TS)


def test_generator_numbers_orders_within_one_event_and_restarts_at_the_next() -> None:
    gen = ClientOrderIdGenerator("S1")
    first = [gen.next_id(TS) for _ in range(3)]
    assert first == [client_order_id("S1", TS, seq) for seq in (1, 2, 3)]
    assert gen.next_id(TS + 5) == client_order_id("S1", TS + 5, 1)


def test_generator_is_deterministic_across_restarts() -> None:
    times = [TS, TS, TS + 1, TS + 2, TS + 2, TS + 2]
    one, two = ClientOrderIdGenerator("S"), ClientOrderIdGenerator("S")
    assert [one.next_id(t) for t in times] == [two.next_id(t) for t in times]


def test_generator_never_repeats_an_id_when_event_times_interleave() -> None:
    # With two instruments sharing bar times the clock visits a time, moves on and comes back
    # (bar A's close, then bar B's open at the earlier time): ids must stay unique.
    gen = ClientOrderIdGenerator("S")
    times = [TS, TS + 10, TS, TS + 10, TS, TS + 20, TS + 10]
    ids = [gen.next_id(t) for t in times]
    assert len(set(ids)) == len(ids)
    assert ids[2] == client_order_id("S", TS, 2)  # the second order issued at TS


@pytest.mark.parametrize("strategy_id", ["SmaCross", "sma-GOOG", "ünïcode strategy", ""])
def test_the_generator_issues_exactly_the_documented_ids(strategy_id: str) -> None:
    gen = ClientOrderIdGenerator(strategy_id)
    issued = [gen.next_id(TS), gen.next_id(TS), gen.next_id(TS + 1)]
    assert issued == [client_order_id(strategy_id, TS, 1), client_order_id(strategy_id, TS, 2),
                      client_order_id(strategy_id, TS + 1, 1)]


@pytest.mark.parametrize("copy_of", [
    lambda g: pickle.loads(pickle.dumps(g)), copy.deepcopy, copy.copy,
])
def test_a_copied_generator_goes_on_with_the_same_ids(copy_of: Any) -> None:
    gen = ClientOrderIdGenerator("S")
    gen.next_id(TS)
    twin = copy_of(gen)
    assert [twin.next_id(TS), twin.next_id(TS + 1)] == [gen.next_id(TS), gen.next_id(TS + 1)]


def test_the_generator_remembers_at_least_the_latest_1024_event_times() -> None:
    gen = ClientOrderIdGenerator("S")
    times = [TS + k for k in range(5_000)]
    for t in times:
        gen.next_id(t)
    # coming back to any of the latest 1,024 times goes on with its numbering
    for t in times[-1024:]:
        assert gen.next_id(t) == client_order_id("S", t, 2)
    twin = pickle.loads(pickle.dumps(gen))
    assert twin.next_id(times[-1]) == gen.next_id(times[-1]) == client_order_id("S", times[-1], 3)
