"""Identifiers. Client order ids are deterministic, so a restart or a replayed signal that
re-issues the same intent produces the same id, and a venue refuses it as a duplicate instead of
opening a second order."""

from __future__ import annotations

import hashlib
from typing import Any, Final


def client_order_id(strategy_id: str, ts_ns: int, seq: int) -> str:
    """Return the client order id of the ``seq``-th order a strategy issues at time ``ts_ns``.

    Parameters
    ----------
    strategy_id : str
        The strategy instance's id, stable across restarts.
    ts_ns : int
        The time of the event the order reacts to (bar or tick time), in UTC nanoseconds.
    seq : int
        Position of the order among those the strategy issued for that same event.

    Returns
    -------
    str
        At most 32 characters of ``[A-Za-z0-9-]``, which every venue we support accepts.
    """
    return _id(_prefix(strategy_id), strategy_id, ts_ns, seq)


def _prefix(strategy_id: str) -> str:
    return "".join(ch for ch in strategy_id if ch.isascii() and ch.isalnum())[:10] or "S"


_DIGEST = 10  # bytes of hash in an id: 20 hex digits


def _id(prefix: str, strategy_id: str, ts_ns: int, seq: int) -> str:
    digest = hashlib.blake2b(f"{strategy_id}|{ts_ns}|{seq}".encode(), digest_size=_DIGEST)
    return f"{prefix}-{digest.hexdigest()}"


class ClientOrderIdGenerator:
    """Issues deterministic client order ids for one strategy.

    The sequence number counts the orders issued at each event time, so ids depend only on the
    strategy, the event time and the order's position within that event, even when the clock
    comes back to an earlier time (bars of several instruments sharing a timestamp).
    """

    _KEEP = 1024  # event times remembered at least; the clock never comes back further

    def __init__(self, strategy_id: str) -> None:
        self._strategy_id = strategy_id
        self._prefix = _prefix(strategy_id) + "-"
        # copies of the hash of "<strategy_id>|", which every id of the strategy starts from:
        # each id hashes only its own time and sequence number (the same digest as ``_id``)
        self._copy = hashlib.blake2b(f"{strategy_id}|".encode(), digest_size=_DIGEST).copy
        # sequence numbers issued per event time, oldest time first (dicts keep their order)
        self._seqs: dict[int, int] = {}

    def next_id(self, ts_ns: int) -> str:
        """Return the next id for an order issued at ``ts_ns``."""
        seqs = self._seqs
        seq = seqs.get(ts_ns, 0) + 1
        seqs[ts_ns] = seq
        if seq == 1 and len(seqs) > 2 * self._KEEP:
            # forget all but the latest ``_KEEP`` times at once, not one time per new one
            self._seqs = dict(list(seqs.items())[-self._KEEP:])
        digest = self._copy()
        _UPDATE(digest, f"{ts_ns}|{seq}".encode())
        hexdigest: str = _HEXDIGEST(digest)
        return self._prefix + hexdigest

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # a hash state does not pickle, and the compiled class has no default way to: rebuild
        # the generator from its strategy id and the sequence numbers it has issued
        return _restored, (self._strategy_id, list(self._seqs), dict(self._seqs))


# the hash's methods, looked up once rather than by name on every id
_UPDATE: Final[Any] = type(hashlib.blake2b()).update
_HEXDIGEST: Final[Any] = type(hashlib.blake2b()).hexdigest


def _restored(strategy_id: str, times: list[int], seqs: dict[int, int]) -> ClientOrderIdGenerator:
    generator = ClientOrderIdGenerator(strategy_id)
    generator._seqs.update((t, seqs[t]) for t in times)  # oldest time first
    return generator
