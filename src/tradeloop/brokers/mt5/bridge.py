"""The client side of the MetaTrader 5 RPC bridge: a module-like object whose functions run on
a terminal on another machine (Windows, or Linux under Wine), through
``deploy/mt5/mt5_bridge.py``.

The protocol is JSON lines over TCP, one request and one answer at a time:

* request ``{"fn": "symbol_info", "args": ["EURUSD"], "kwargs": {}}``;
* answer ``{"result": <value>, "last_error": [code, "message"]}``: ``last_error`` is read on the
  terminal side right after the call, so it belongs to that call;
* values: JSON scalars and lists; a named tuple as ``{"__nt__": "SymbolInfo", "fields": {...}}``;
  a numpy record array (rates, ticks) as ``{"__rows__": [names], "data": [[...], ...]}``; a
  datetime argument as ``{"__dt__": seconds}`` (read as the server's wall clock, as MetaTrader
  does); a request dict is sent as a plain object;
* ``{"fn": "__constants__"}`` answers every upper-case constant of the module by name.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import namedtuple
from datetime import UTC, datetime
from typing import Any


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
        return [dict(zip(names, row, strict=True)) for row in value["data"]]
    return {k: decode(v) for k, v in value.items()}


class BridgeModule:
    """A stand-in for the ``MetaTrader5`` module that forwards every call to a bridge server.

    Parameters
    ----------
    host, port : str, int
    timeout_s : float
        Longest wait for one answer; a broken link raises ``OSError`` (the client maps it).
    """

    def __init__(self, host: str, port: int, timeout_s: float = 10.0) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self._sock: socket.socket | None = None
        self._reader: Any = None
        self._lock = threading.Lock()
        self._last_error: tuple[int, str] = (1, "Success")
        self._constants: dict[str, int] | None = None

    def _connect(self) -> None:
        self._sock = socket.create_connection((self.host, self.port), self.timeout_s)
        self._sock.settimeout(self.timeout_s)
        self._reader = self._sock.makefile("r", encoding="utf-8")

    def request(self, fn: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``fn`` on the far side; its ``last_error`` is kept for :meth:`last_error`."""
        line = json.dumps({"fn": fn, "args": encode(list(args)), "kwargs": encode(kwargs)})
        with self._lock:
            try:
                if self._sock is None:
                    self._connect()
                assert self._sock is not None
                self._sock.sendall(line.encode("utf-8") + b"\n")
                answer = self._reader.readline()
                if not answer:
                    raise ConnectionError("the bridge closed the connection")
            except OSError:
                self.close()
                raise
        payload = json.loads(answer)
        code, message = payload.get("last_error") or (1, "Success")
        self._last_error = (int(code), str(message))
        return decode(payload.get("result"))

    def close(self) -> None:
        """Drop the TCP connection (the next call opens a new one)."""
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._reader = None

    def last_error(self) -> tuple[int, str]:
        """The far side's ``last_error()`` of the previous call."""
        return self._last_error

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


__all__ = ["BridgeModule", "decode", "encode"]
