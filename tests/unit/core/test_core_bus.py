"""MessageBus: exact and prefix subscriptions, handler order, unsubscribe, endpoints."""

from __future__ import annotations

from typing import Any

import pytest

from tradeloop.core.bus import MessageBus, StrategyPublisher


def collector(log: list[tuple[str, Any]], name: str):
    def handler(message: Any) -> None:
        log.append((name, message))

    return handler


def test_exact_subscription_receives_only_its_topic() -> None:
    bus = MessageBus()
    log: list[tuple[str, Any]] = []
    bus.subscribe("events.order.A", collector(log, "a"))
    bus.publish("events.order.A", 1)
    bus.publish("events.order.B", 2)
    bus.publish("events.order", 3)
    assert log == [("a", 1)]


def test_wildcard_receives_every_topic_with_the_prefix() -> None:
    bus = MessageBus()
    log: list[tuple[str, Any]] = []
    bus.subscribe("events.order.*", collector(log, "w"))
    bus.publish("events.order.A", 1)
    bus.publish("events.order.B", 2)
    bus.publish("events.position.A", 3)
    assert log == [("w", 1), ("w", 2)]


def test_handlers_run_in_subscription_order_across_exact_and_wildcard() -> None:
    bus = MessageBus()
    log: list[tuple[str, Any]] = []
    bus.subscribe("events.*", collector(log, "first"))
    bus.subscribe("events.order.A", collector(log, "second"))
    bus.subscribe("events.order.*", collector(log, "third"))
    bus.publish("events.order.A", "m")
    assert [name for name, _ in log] == ["first", "second", "third"]
    assert len(bus.handlers_for("events.order.A")) == 3
    assert len(bus.handlers_for("events.position.A")) == 1  # only "events.*"


def test_a_handler_subscribed_twice_is_called_once() -> None:
    bus = MessageBus()
    log: list[tuple[str, Any]] = []
    handler = collector(log, "h")
    bus.subscribe("t", handler)
    bus.subscribe("t", handler)
    bus.subscribe("*", handler)  # the same handler through a wildcard too
    bus.publish("t", 1)
    assert log == [("h", 1)]


def test_unsubscribe_stops_delivery_and_ignores_unknown() -> None:
    bus = MessageBus()
    log: list[tuple[str, Any]] = []
    keep, drop = collector(log, "keep"), collector(log, "drop")
    bus.subscribe("t", keep)
    bus.subscribe("t", drop)
    bus.publish("t", 1)  # resolve and cache the handler list first
    bus.unsubscribe("t", drop)
    bus.unsubscribe("t", drop)  # twice: ignored
    bus.unsubscribe("other", keep)  # never subscribed there: ignored
    bus.publish("t", 2)
    assert log == [("keep", 1), ("drop", 1), ("keep", 2)]


def test_subscribing_after_a_publish_is_seen_by_the_next_publish() -> None:
    bus = MessageBus()
    log: list[tuple[str, Any]] = []
    bus.publish("x.y", 0)  # caches an empty handler list
    bus.subscribe("x.*", collector(log, "late"))
    bus.publish("x.y", 1)
    assert log == [("late", 1)]


def test_publish_without_subscribers_does_nothing() -> None:
    bus = MessageBus()
    bus.publish("nobody.listens", object())
    assert bus.handlers_for("nobody.listens") == ()


def test_endpoint_send_returns_the_handlers_answer() -> None:
    bus = MessageBus()
    bus.register("double", lambda x: x * 2)
    assert bus.send("double", 21) == 42


def test_registering_an_endpoint_twice_is_an_error() -> None:
    bus = MessageBus()
    bus.register("ep", lambda x: x)
    with pytest.raises(ValueError, match="'ep' is already registered"):
        bus.register("ep", lambda x: x)
    assert bus.send("ep", 5) == 5  # the first handler stays


def test_sending_to_an_unknown_endpoint_names_it() -> None:
    bus = MessageBus()
    with pytest.raises(KeyError, match="no handler registered at endpoint 'missing'"):
        bus.send("missing", 1)


def test_endpoint_errors_propagate_to_the_sender() -> None:
    bus = MessageBus()

    def boom(_: object) -> None:
        raise RuntimeError("handler failed")

    bus.register("boom", boom)
    with pytest.raises(RuntimeError, match="handler failed"):
        bus.send("boom", None)


class _Note:
    def __init__(self, strategy_id: str, text: str) -> None:
        self.strategy_id = strategy_id
        self.text = text


def test_a_strategy_publisher_reaches_each_strategys_own_subscribers() -> None:
    bus = MessageBus()
    seen: dict[str, list[str]] = {"a": [], "b": [], "all": []}
    bus.subscribe("events.order.a", lambda m: seen["a"].append(m.text))
    bus.subscribe("events.order.b", lambda m: seen["b"].append(m.text))
    bus.subscribe("events.order.*", lambda m: seen["all"].append(m.text))
    bus.subscribe("events.position.a", lambda m: seen["a"].append("wrong prefix"))
    publish = StrategyPublisher(bus, "events.order.")
    for note in (_Note("a", "1"), _Note("b", "2"), _Note("a", "3"), _Note("c", "4")):
        publish(note)
    assert seen == {"a": ["1", "3"], "b": ["2"], "all": ["1", "2", "3", "4"]}
    assert publish.topic("b") == "events.order.b"
