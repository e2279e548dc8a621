"""The conformance target of the Schwab adapter: ``schwab/local``, the adapter on a fresh local
Schwab (``tests/support/schwab``) per point, logged in through the real OAuth flow first.

Schwab orders carry no client order id, so the counterparty finds ours as the adapter does:
through the adapter's order journal under the target's home (``fill``), and by the fingerprint
of what was sent (``submits``: the order trees Schwab booked with that fingerprint; a request
refused with 429 or 400 booked nothing).

Steering: PRICE sets the quote (working orders react, the streamer pushes it), FILL executes
part of a working order at its limit, REJECT_FATAL arms a 400 (buying power) on the next order
POST, REJECT_RETRYABLE a 429 on it, LOSE_ANSWER books the next order and answers 504,
DUPLICATE_REPORTS lists each execution of the next order twice, OUT_OF_ORDER reports its
executions in two parts, newest first, DROP_CONNECTION stops the server and starts it on the
same port (HTTP and streamer connections are cut), COUNT_SUBMITS counts as above.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from support.schwab import SchwabServer
from support.schwab.harness import (
    STEERING,
    SchwabEnvironment,
    adapter_settings,
    local_target,
    log_in,
)
from tradeloop.brokers.schwab import capabilities
from tradeloop.brokers.testing.harness import Target, TargetSpec

SPEC = TargetSpec("schwab/local", capabilities(), STEERING)


def standin_target(tmp: Path) -> Iterator[Target]:
    """The adapter on a fresh local Schwab, logged in."""
    environment = SchwabEnvironment()
    server = SchwabServer(seed=3)
    server.start()
    try:
        settings = adapter_settings(server)
        log_in(settings, tmp)
        yield local_target(SPEC, server, tmp, settings)
    finally:
        server.stop()
        environment.restore()
