"""The kill switch: a latch that stops a node from trading and stays engaged across restarts
until a person re-arms it, and the flatten requests a running node takes from its control
folder.

The latch is a small JSON file (``<home>/state/<node>.kill.json``), written atomically (a
temporary file in the same directory, then ``os.replace``), so a crash never leaves half a
state. It can be engaged three ways: ``tradeloop kill``, the node's own circuit breakers, or a
*trigger file* (any file at ``trigger_path``: ``touch`` it from a shell, a cron job or a
monitoring system). A running node calls :meth:`KillSwitch.poll` once per item it takes in:
two ``stat`` calls and nothing read unless something changed. A state file that cannot be read
counts as engaged: the switch fails closed.

Flatten requests are JSON files ``flatten-<id>.json`` in a control folder next to the latch
(:class:`FlattenRequests`); the node carries each out and renames it ``flatten-<id>.done``
with the orders it sent.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradeloop.core.errors import ConfigError

log = logging.getLogger(__name__)

ENGAGED = "engaged"
RESUMED = "resumed"
_FORMAT = 1

_Signature = tuple[bool, int, int, int] | None


@dataclass(frozen=True, slots=True)
class KillAction:
    """One engagement or re-arming of the switch, as kept in its history."""

    action: str
    ts: int
    by: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        """The entry as stored in the state file."""
        return {"action": self.action, "ts": self.ts, "by": self.by, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class KillState:
    """What the latch says.

    Attributes
    ----------
    engaged : bool
        True while trading must stay halted.
    since : int or None
        When it was engaged, UTC nanoseconds.
    by, reason : str
        Who engaged it and why.
    flatten : bool
        Whether positions are to be closed as well.
    history : tuple of KillAction
        Every engagement and re-arming, oldest first.
    corrupt : bool
        The state file could not be read (the switch then counts as engaged).
    """

    engaged: bool = False
    since: int | None = None
    by: str = ""
    reason: str = ""
    flatten: bool = False
    history: tuple[KillAction, ...] = field(default=())
    corrupt: bool = False

    def to_json(self) -> dict[str, Any]:
        """The state as stored in the state file."""
        return {"format": _FORMAT, "engaged": self.engaged, "since": self.since, "by": self.by,
                "reason": self.reason, "flatten": self.flatten,
                "history": [entry.to_json() for entry in self.history]}


class KillSwitch:
    """The latch of one node, persisted at ``state_path``.

    Parameters
    ----------
    state_path : Path
        The JSON state file (created on first engagement; its folder too).
    trigger_path : Path, optional
        A file whose appearance engages the switch (at the next :meth:`poll`). While it
        exists the switch cannot be resumed.
    clock : callable, optional
        Current time in UTC nanoseconds (the wall clock by default).
    """

    def __init__(self, state_path: Path, trigger_path: Path | None = None,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.state_path = Path(state_path)
        self.trigger_path = None if trigger_path is None else Path(trigger_path)
        self._clock = clock
        self._state_file = os.fspath(self.state_path)
        self._trigger_file = None if trigger_path is None else os.fspath(trigger_path)
        self._signature: tuple[bool, _Signature] | None = None
        self._seen: KillState | None = None
        self._corrupt_logged: _Signature = None

    @property
    def control_dir(self) -> Path:
        """The folder of the node's control requests, next to the state file."""
        name = self.state_path.name.removesuffix(".json").removesuffix(".kill")
        return self.state_path.with_name(f"{name}.control")

    # -- reading ------------------------------------------------------------------------------

    def state(self) -> KillState:
        """The latch as stored now (not engaged when there is no state file; engaged, and an
        error logged, when the file cannot be read)."""
        try:
            text = self.state_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return KillState()
        except OSError as exc:
            return self._corrupt(f"cannot be read: {exc.strerror or exc}")
        try:
            return _parse(json.loads(text))
        except (ValueError, TypeError, KeyError) as exc:
            return self._corrupt(f"is not a valid kill switch state: {exc}")

    def _corrupt(self, problem: str) -> KillState:
        signature = self._stat_state()
        if signature != self._corrupt_logged or signature is None:
            log.error("kill switch state file unreadable: counted as engaged", extra={
                "fields": {"path": self._state_file, "problem": problem}})
            self._corrupt_logged = signature
        return KillState(engaged=True, by="kill switch",
                         reason=f"state file {self.state_path} {problem}", corrupt=True)

    def _stat_state(self) -> _Signature:
        try:
            st = os.stat(self._state_file)
        except FileNotFoundError:
            return None
        return (True, st.st_ino, st.st_mtime_ns, st.st_size)

    def trigger_present(self) -> bool:
        """Whether the trigger file exists."""
        return self._trigger_file is not None and os.access(self._trigger_file, os.F_OK)

    def poll(self) -> KillState | None:
        """Check cheaply whether the latch changed since the last poll.

        Two ``stat`` calls; the state file is read only when its inode, time or size changed.
        When the trigger file has appeared and the switch is not engaged, the switch is
        engaged (``by`` "kill file <path>", the reason the file's first line).

        Returns
        -------
        KillState or None
            The new state when it differs from the one the last poll saw (the first poll
            always returns it); None when nothing changed.
        """
        trigger = self._trigger_file is not None and os.access(self._trigger_file, os.F_OK)
        signature = (trigger, self._stat_state())
        if signature == self._signature:
            return None
        current = self.state()
        if trigger and not current.engaged:
            current = self.engage(f"kill file {self.trigger_path}", self._trigger_reason())
            signature = (trigger, self._stat_state())
        self._signature = signature
        if current == self._seen:
            return None
        self._seen = current
        return current

    def _trigger_reason(self) -> str:
        assert self.trigger_path is not None
        try:
            with self.trigger_path.open(encoding="utf-8", errors="replace") as handle:
                first = handle.readline(500).strip()
        except OSError:
            first = ""
        return first or "kill file present"

    # -- changing -----------------------------------------------------------------------------

    def engage(self, by: str, reason: str, flatten: bool = False) -> KillState:
        """Engage the latch (again: an engaged switch keeps its time and first cause; a
        later ``flatten`` request is added).

        Returns
        -------
        KillState
            The state written.
        """
        by, reason = (by or "").strip() or "unknown", (reason or "").strip() or "kill switch"
        now = self._clock()
        current = self.state()
        entry = KillAction(ENGAGED, now, by, reason)
        history = () if current.corrupt else current.history
        if current.engaged and not current.corrupt:
            new = KillState(True, current.since, current.by, current.reason,
                            current.flatten or flatten, (*history, entry))
        else:
            new = KillState(True, now, by, reason, flatten, (*history, entry))
        self._write(new)
        log.warning("kill switch engaged", extra={"fields": {
            "by": by, "reason": reason, "flatten": new.flatten, "path": self._state_file}})
        return new

    def resume(self, by: str, reason: str) -> KillState:
        """Re-arm the latch: trading may resume.

        Raises
        ------
        ConfigError
            When ``by`` or ``reason`` is empty, or while the trigger file exists.
        """
        if not (by or "").strip():
            raise ConfigError("resume needs --by: the name of whoever re-arms the kill switch")
        if not (reason or "").strip():
            raise ConfigError("resume needs --reason: why it is safe to trade again")
        if self.trigger_present():
            raise ConfigError(f"the kill file {self.trigger_path} still exists: remove "
                              f"{self.trigger_path} first")
        current = self.state()
        history = () if current.corrupt else current.history
        new = KillState(False, None, "", "", False,
                        (*history, KillAction(RESUMED, self._clock(), by.strip(),
                                              reason.strip())))
        self._write(new)
        log.warning("kill switch resumed", extra={"fields": {
            "by": by.strip(), "reason": reason.strip(), "path": self._state_file}})
        return new

    def _write(self, state: KillState) -> None:
        write_json_atomically(self.state_path, state.to_json())


def write_json_atomically(path: Path, document: Any) -> None:
    """Write ``document`` as JSON to ``path``: a temporary file in the same folder, flushed
    to disk, then renamed over ``path`` (readers see the old file or the new one, never
    half of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=1)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _text(document: dict[str, Any], key: str) -> str:
    value = document.get(key, "")
    if not isinstance(value, str):
        raise TypeError(f"{key} must be text, got {type(value).__name__}")
    return value


def _parse(document: Any) -> KillState:
    if not isinstance(document, dict):
        raise TypeError("expected a JSON object")
    engaged = document["engaged"]
    if not isinstance(engaged, bool):
        raise TypeError("engaged must be true or false")
    since = document.get("since")
    if since is not None and not isinstance(since, int):
        raise TypeError("since must be an integer (UTC nanoseconds)")
    history = []
    for entry in document.get("history", []):
        if not isinstance(entry, dict) or entry.get("action") not in (ENGAGED, RESUMED):
            raise ValueError(f"history entry {entry!r} is not an engagement or a resumption")
        history.append(KillAction(entry["action"], int(entry.get("ts", 0)),
                                  _text(entry, "by"), _text(entry, "reason")))
    return KillState(engaged, since, _text(document, "by"), _text(document, "reason"),
                     bool(document.get("flatten", False)), tuple(history))


# -- flatten requests -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlattenRequest:
    """A request to close positions (all, or one symbol's), waiting in the control folder."""

    request_id: str
    symbol: str | None
    by: str
    path: Path


@dataclass(frozen=True, slots=True)
class FlattenResult:
    """What the node did with a flatten request: the client order ids it sent."""

    request_id: str
    orders: tuple[str, ...]
    error: str = ""


class FlattenRequests:
    """The flatten requests in one node's control folder.

    Parameters
    ----------
    folder : Path
        :attr:`KillSwitch.control_dir`.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def submit(self, symbol: str | None = None, by: str = "") -> FlattenRequest:
        """Write a new request (atomically) and return it."""
        request_id = uuid.uuid4().hex[:12]
        path = self.folder / f"flatten-{request_id}.json"
        write_json_atomically(path, {"symbol": symbol, "by": by})
        return FlattenRequest(request_id, symbol, by, path)

    def pending(self) -> list[FlattenRequest]:
        """Requests not yet carried out, by name (unreadable ones are completed with an error
        and skipped)."""
        try:
            entries = sorted(os.scandir(self.folder), key=lambda e: e.name)
        except FileNotFoundError:
            return []
        found = []
        for entry in entries:
            name = entry.name
            if not (name.startswith("flatten-") and name.endswith(".json")):
                continue
            request_id = name[len("flatten-"):-len(".json")]
            path = Path(entry.path)
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
                symbol = document.get("symbol") if isinstance(document, dict) else None
                if symbol is not None and not isinstance(symbol, str):
                    raise TypeError("symbol must be text")
                by = document.get("by", "") if isinstance(document, dict) else ""
            except FileNotFoundError:
                continue
            except (OSError, ValueError, TypeError) as exc:
                self.complete(FlattenRequest(request_id, None, "", path),
                              FlattenResult(request_id, (), f"unreadable request: {exc}"))
                continue
            found.append(FlattenRequest(request_id, symbol or None, str(by), path))
        return found

    def take(self, request: FlattenRequest) -> bool:
        """Claim ``request`` before carrying it out (renamed ``.taken``); False when it was
        withdrawn meanwhile."""
        try:
            os.replace(request.path, request.path.with_suffix(".taken"))
        except FileNotFoundError:
            return False
        return True

    def complete(self, request: FlattenRequest, result: FlattenResult) -> Path:
        """Record ``result`` as ``flatten-<id>.done`` and drop the claimed request."""
        done = request.path.with_suffix(".done")
        write_json_atomically(done, {
            "symbol": request.symbol, "by": request.by, "orders": list(result.orders),
            "error": result.error})
        request.path.with_suffix(".taken").unlink(missing_ok=True)
        request.path.unlink(missing_ok=True)
        return done

    def result(self, request: FlattenRequest) -> FlattenResult | None:
        """The result of ``request`` once the node has carried it out, else None."""
        done = request.path.with_suffix(".done")
        try:
            document = json.loads(done.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return FlattenResult(request.request_id, (), "unreadable result")
        orders: Sequence[str] = document.get("orders", [])
        return FlattenResult(request.request_id, tuple(str(o) for o in orders),
                             str(document.get("error", "")))

    def withdraw(self, request: FlattenRequest) -> bool:
        """Remove a request no node took; False when a node has taken it."""
        try:
            request.path.unlink()
        except FileNotFoundError:
            return False
        return True


__all__ = [
    "FlattenRequest",
    "FlattenRequests",
    "FlattenResult",
    "KillAction",
    "KillState",
    "KillSwitch",
    "write_json_atomically",
]
