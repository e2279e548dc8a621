"""The client side of the MetaTrader 5 RPC bridge: a module-like object whose functions run on
a terminal on another machine (Windows, or Linux under Wine), through
``deploy/mt5/mt5_bridge.py``.

The protocol is JSON lines over TCP, one request and one answer at a time:

* with a token, a connection starts with ``{"auth": "<token>"}``, answered ``{"ok": true}``; a
  wrong or missing token is answered with an error (``"kind": "auth"``) and the connection is
  closed;
* request ``{"fn": "symbol_info", "args": ["EURUSD"], "kwargs": {}}``;
* answer ``{"result": <value>, "last_error": [code, "message"]}``: ``last_error`` is read on the
  terminal side right after the call, so it belongs to that call;
* or an error answer ``{"error": "request N (fn): why", "kind": K}``: ``"request"`` when nothing
  was called (not JSON, unknown or private function), ``"call"`` when the function raised or
  its result could not be sent (it may have run);
* values: JSON scalars and lists; a named tuple as ``{"__nt__": "SymbolInfo", "fields": {...}}``;
  a numpy record array (rates, ticks) as ``{"__rows__": [names], "data": [[...], ...]}``; a
  datetime argument as ``{"__dt__": seconds}`` (read as the server's wall clock, as MetaTrader
  does); a request dict is sent as a plain object;
* ``{"fn": "__constants__"}`` answers every upper-case integer constant of the module by name.
"""

from __future__ import annotations

import json
import select
import socket
import threading
from collections import namedtuple
from datetime import UTC, datetime
from typing import Any

#: The functions that wait for the terminal up to their ``timeout`` argument (milliseconds).
_SLOW = frozenset({"initialize", "login"})


class BridgeError(Exception):
    """The bridge answered a request with an error.

    Attributes
    ----------
    kind : str
        ``"auth"`` (the token was refused), ``"request"`` (nothing was called) or ``"call"``
        (the function raised on the far side, or its result could not be sent: it may have
        taken effect).
    """

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class BridgeUnreachableError(ConnectionError):
    """No connection to the bridge could be opened: the request was not sent."""


def encode(value: Any) -> Any:
    """A Python value as the bridge's JSON."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return {"__dt__": moment.timestamp()}
    if hasattr(value, "_asdict"):
        return {"__nt__": type(value).__name__,
                "fields": {k: encode(v) for k, v in value._asdict().items()}}
    if getattr(value, "dtype", None) is not None and getattr(value.dtype, "names", None):
        names = list(value.dtype.names)
        return {"__rows__": names, "data": [[_plain(row[n]) for n in names] for row in value]}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return _plain(value)


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) else value


_TYPES: dict[tuple[str, tuple[str, ...]], Any] = {}


def decode(value: Any) -> Any:
    """The bridge's JSON as Python values (named tuples rebuilt, rows as dicts)."""
    if isinstance(value, list):
        return tuple(decode(v) for v in value)
    if not isinstance(value, dict):
        return value
    if "__dt__" in value:
        return datetime.fromtimestamp(float(value["__dt__"]), UTC)
    if "__nt__" in value:
        fields = {k: decode(v) for k, v in value["fields"].items()}
        key = (str(value["__nt__"]), tuple(fields))
        cls = _TYPES.get(key)
        if cls is None:
            cls = _TYPES[key] = namedtuple(key[0], key[1])
        return cls(**fields)
    if "__rows__" in value:
        names = value["__rows__"]
        return [dict(zip(names, [decode(v) for v in row], strict=True))
                for row in value["data"]]
    return {k: decode(v) for k, v in value.items()}


class BridgeModule:
    """A stand-in for the ``MetaTrader5`` module that forwards every call to a bridge server.

    ``last_error()`` answers the error of the previous call made by the calling thread, as the
    far side read it right after that call.

    Parameters
    ----------
    host, port : str, int
    timeout_s : float
        Longest wait for one answer (``initialize`` and ``login`` wait their own ``timeout``
        too); a broken link raises ``OSError`` (the client maps it).
    token : str, optional
        The bridge's shared token, sent first on each connection.
    """

    def __init__(self, host: str, port: int, timeout_s: float = 10.0,
                 token: str | None = None) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self._token = token or None
        self._sock: socket.socket | None = None
        self._reader: Any = None
        self._lock = threading.Lock()
        self._errors = threading.local()
        self._constants: dict[str, int] | None = None

    def __repr__(self) -> str:
        return f"BridgeModule({self.host!r}, {self.port})"

    def _connect(self) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), self.timeout_s)
        except OSError as exc:
            raise BridgeUnreachableError(f"cannot reach the bridge at {self.host}:{self.port}: "
                                         f"{exc}") from None
        sock.settimeout(self.timeout_s)
        self._sock, self._reader = sock, sock.makefile("r", encoding="utf-8")
        if self._token is None:
            return
        try:
            answer = self._exchange({"auth": self._token})
        except OSError as exc:  # the request itself was not sent yet
            self.close()
            raise BridgeUnreachableError(f"the bridge at {self.host}:{self.port} dropped the "
                                         f"connection at login: {exc}") from None
        if answer.get("ok") is not True:
            self.close()
            raise BridgeError(str(answer.get("error") or "the bridge refused the token"),
                              str(answer.get("kind") or "auth"))

    def _stale(self) -> bool:
        """True when the server closed the connection since the last answer (nothing else can
        be waiting on it between requests)."""
        assert self._sock is not None
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def _exchange(self, payload: dict[str, Any], timeout_s: float | None = None
                  ) -> dict[str, Any]:
        assert self._sock is not None
        self._sock.settimeout(timeout_s or self.timeout_s)
        self._sock.sendall(json.dumps(payload).encode("utf-8") + b"\n")
        line = self._reader.readline()
        if not line:
            raise ConnectionError("the bridge closed the connection")
        try:
            answer = json.loads(line)
        except ValueError:
            raise ConnectionError("the bridge sent an unreadable answer") from None
        if not isinstance(answer, dict):
            raise ConnectionError("the bridge sent an unreadable answer")
        return answer

    def request(self, fn: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``fn`` on the far side; its ``last_error`` is kept for :meth:`last_error`.

        Raises
        ------
        BridgeUnreachableError
            No connection could be opened (nothing was sent).
        OSError
            The link broke after the request may have been sent.
        BridgeError
            The bridge answered with an error.
        """
        payload = {"fn": fn, "args": encode(list(args)), "kwargs": encode(kwargs)}
        timeout_s = self.timeout_s
        if fn in _SLOW:
            timeout_s = max(timeout_s, float(kwargs.get("timeout", 60_000)) / 1000 + 5)
        with self._lock:
            if self._sock is not None and self._stale():
                self.close()
            if self._sock is None:
                self._connect()
            try:
                answer = self._exchange(payload, timeout_s)
            except OSError:
                self.close()
                raise
        if "error" in answer:
            raise BridgeError(str(answer["error"]), str(answer.get("kind") or "request"))
        if fn != "__constants__":
            code, message = answer.get("last_error") or (1, "Success")
            self._errors.last = (int(code), str(message))
        return decode(answer.get("result"))

    def close(self) -> None:
        """Drop the TCP connection (the next call opens a new one)."""
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._reader = None

    def last_error(self) -> tuple[int, str]:
        """The far side's ``last_error()`` of this thread's previous call."""
        error: tuple[int, str] = getattr(self._errors, "last", (1, "Success"))
        return error

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name.isupper():
            if self._constants is None:
                self._constants = dict(self.request("__constants__"))
            try:
                return self._constants[name]
            except KeyError:
                raise AttributeError(name) from None
        return lambda *args, **kwargs: self.request(name, *args, **kwargs)


__all__ = ["BridgeError", "BridgeModule", "BridgeUnreachableError", "decode", "encode"]
