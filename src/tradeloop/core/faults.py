"""Crash points: named places in the order path where a test can make the process die.

``TRADELOOP_CRASH_AT=name[:n]`` in the environment kills the process with SIGKILL the ``n``-th time
(default the first) execution reaches ``crash_point(name)``. The crash tests use it to stop a node
between writing an order's intent and sending it, between sending and the acknowledgement, and
between a fill and its commit. Unset, a crash point costs one comparison.
"""

from __future__ import annotations

import os
import signal

_SPEC = os.environ.get("TRADELOOP_CRASH_AT", "")
_NAME, _, _COUNT = _SPEC.partition(":")
_left = [int(_COUNT) if _COUNT.isdigit() else 1]  # passes still to go before the crash

CRASH_POINTS = ("after_intent", "before_send", "after_send", "after_fill_before_commit")
"""The crash points the order path has."""


def crash_point(name: str) -> None:
    """Die here if the environment asks for it (see the module notes)."""
    if name != _NAME:
        return
    _left[0] -= 1
    if _left[0] <= 0:
        os.kill(os.getpid(), signal.SIGKILL)


__all__ = ["CRASH_POINTS", "crash_point"]
