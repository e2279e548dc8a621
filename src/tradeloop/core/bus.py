"""The message bus: publish/subscribe on topics, and point-to-point endpoints.

Topics are dotted strings (``events.order.filled``). A subscription may end in ``*`` to receive
every topic with that prefix. Handler lists are resolved once per topic and cached, so a hot path
can fetch :meth:`MessageBus.handlers_for` once and call the handlers directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[[Any], None]


class MessageBus:
    """Routes messages between components without them importing each other."""

    def __init__(self) -> None:
        self._subscriptions: dict[str, list[Handler]] = {}
        self._resolved: dict[str, tuple[Handler, ...]] = {}
        self._endpoints: dict[str, Callable[[Any], Any]] = {}

    def subscribe(self, topic: str, handler: Handler) -> None:
        """Call ``handler(message)`` for every message published on ``topic``.

        Parameters
        ----------
        topic : str
            An exact topic, or a prefix ending in ``*``.
        handler : callable
            Called synchronously, in subscription order.
        """
        handlers = self._subscriptions.setdefault(topic, [])
        if handler not in handlers:
            handlers.append(handler)
        self._resolved.clear()

    def unsubscribe(self, topic: str, handler: Handler) -> None:
        """Remove a subscription; unknown ones are ignored."""
        handlers = self._subscriptions.get(topic)
        if handlers and handler in handlers:
            handlers.remove(handler)
            self._resolved.clear()

    def handlers_for(self, topic: str) -> tuple[Handler, ...]:
        """Return the handlers a message on ``topic`` reaches, in subscription order."""
        resolved = self._resolved.get(topic)
        if resolved is None:
            found: list[Handler] = []
            for pattern, handlers in self._subscriptions.items():
                if pattern == topic or (pattern.endswith("*") and topic.startswith(pattern[:-1])):
                    found.extend(h for h in handlers if h not in found)
            resolved = tuple(found)
            self._resolved[topic] = resolved
        return resolved

    def publish(self, topic: str, message: Any) -> None:
        """Deliver ``message`` to every subscriber of ``topic``."""
        handlers = self._resolved.get(topic)
        if handlers is None:
            handlers = self.handlers_for(topic)
        for handler in handlers:
            handler(message)

    def register(self, endpoint: str, handler: Callable[[Any], Any]) -> None:
        """Register the single handler of a point-to-point ``endpoint``.

        Raises
        ------
        ValueError
            If the endpoint already has a handler.
        """
        if endpoint in self._endpoints:
            raise ValueError(f"endpoint {endpoint!r} is already registered")
        self._endpoints[endpoint] = handler

    def send(self, endpoint: str, message: Any) -> Any:
        """Deliver ``message`` to the handler of ``endpoint`` and return its answer.

        Raises
        ------
        KeyError
            If nothing is registered at ``endpoint``.
        """
        try:
            handler = self._endpoints[endpoint]
        except KeyError:
            raise KeyError(f"no handler registered at endpoint {endpoint!r}") from None
        return handler(message)


class StrategyPublisher:
    """Publishes each message on its strategy's topic, ``<prefix><message.strategy_id>``.

    A component that reports events to the strategy they belong to (order events on
    ``events.order.<id>``, position events on ``events.position.<id>``) calls this instead of
    building the topic for every message: each strategy's topic is spelled once.

    Parameters
    ----------
    bus : MessageBus
    prefix : str
        The topic up to the strategy id, dot included (``"events.order."``).
    """

    def __init__(self, bus: MessageBus, prefix: str) -> None:
        self.bus = bus
        self.prefix = prefix
        self._topics: dict[str, str] = {}

    def topic(self, strategy_id: str) -> str:
        """The topic of ``strategy_id``'s messages."""
        found = self._topics.get(strategy_id)
        if found is None:
            found = self._topics[strategy_id] = self.prefix + strategy_id
        return found

    def wanted(self, strategy_id: str) -> bool:
        """Whether anything subscribes to ``strategy_id``'s topic: a message nobody would
        receive need not be made."""
        return bool(self.bus.handlers_for(self.topic(strategy_id)))

    def __call__(self, message: Any) -> None:
        """Publish ``message`` on the topic of ``message.strategy_id``."""
        self.bus.publish(self.topic(message.strategy_id), message)
