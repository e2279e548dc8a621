"""The MetaTrader 5 RPC bridge: serves the ``MetaTrader5`` module of this machine to a tradeloop
node elsewhere (``bridge = "host:port"`` in the node's ``[broker.settings]``).

Run it beside the terminal, on Windows or under Wine's Python, with the standard library and the
``MetaTrader5`` package only::

    python mt5_bridge.py --port 18812 --token-env MT5_BRIDGE_TOKEN

The protocol is the one of ``tradeloop.brokers.mt5.bridge`` (JSON lines over TCP, one request
and one answer at a time on a connection):

* with a token, a connection starts with ``{"auth": "<token>"}``, answered ``{"ok": true}``; a
  wrong or missing token gets one error line and the connection is closed;
* a request ``{"fn": "symbol_info", "args": ["EURUSD"], "kwargs": {}}`` is answered
  ``{"result": <value>, "last_error": [code, "message"]}``, ``last_error()`` read right after
  the call, on the thread that made it;
* named tuples travel as ``{"__nt__": name, "fields": {...}}``, numpy record arrays as
  ``{"__rows__": [names], "data": [[...], ...]}``, datetimes as ``{"__dt__": seconds}``;
* ``{"fn": "__constants__"}`` answers the module's integer constants by name;
* a request that cannot be served is answered ``{"error": "request N (fn): why", "kind": K}``:
  ``"request"`` when nothing was called (not JSON, unknown or private function), ``"call"``
  when the function raised or its result could not be sent (``last_error`` comes too).

Every terminal call runs on one worker thread, whatever the connection. Only the module's public
functions can be called. The bridge listens on 127.0.0.1 unless told otherwise and refuses any
other address without a token; across machines, an SSH tunnel is the recommended way.
"""

from __future__ import annotations

import argparse
import hmac
import importlib
import inspect
import ipaddress
import json
import logging
import os
import signal
import socket
import socketserver
import sys
import threading
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from types import ModuleType
from typing import Any

log = logging.getLogger("mt5_bridge")

DEFAULT_PORT = 18812
#: The longest request line accepted (requests are small; this only stops a runaway client).
MAX_LINE = 1 << 20
#: How long a new connection has to send its auth line.
AUTH_TIMEOUT_S = 10.0
# timezone.utc, not datetime.UTC: the bridge runs on the Python beside the terminal (3.8+)
_UTC = timezone.utc  # noqa: UP017


class RequestError(Exception):
    """A request refused before anything was called."""


# -- values ---------------------------------------------------------------------------------------

def encode(value: Any) -> Any:
    """A module result as the protocol's JSON value."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=_UTC)
        return {"__dt__": moment.timestamp()}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return {"__nt__": type(value).__name__,
                "fields": {k: encode(v) for k, v in value._asdict().items()}}
    dtype = getattr(value, "dtype", None)
    if dtype is not None and getattr(dtype, "names", None) and getattr(value, "ndim", 0) == 1:
        names = list(dtype.names)
        return {"__rows__": names,
                "data": [[encode(_item(row[n])) for n in names] for row in value]}
    if dtype is not None and hasattr(value, "tolist"):
        return encode(value.tolist())  # a numpy scalar or plain array
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    raise TypeError(f"cannot send a {type(value).__name__} value")


def _item(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) else value


_TUPLES: dict[tuple[str, tuple[str, ...]], Any] = {}


def decode(value: Any) -> Any:
    """An argument of the protocol as the Python value the module takes."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"__dt__"}:
        return datetime.fromtimestamp(float(value["__dt__"]), _UTC)
    if set(value) == {"__nt__", "fields"}:
        fields = {str(k): decode(v) for k, v in dict(value["fields"]).items()}
        key = (str(value["__nt__"]), tuple(fields))
        cls = _TUPLES.get(key)
        if cls is None:
            cls = _TUPLES[key] = namedtuple(key[0], key[1])
        return cls(**fields)
    return {str(k): decode(v) for k, v in value.items()}


# -- the terminal ---------------------------------------------------------------------------------

def public_functions(module: ModuleType) -> dict[str, Any]:
    """The functions a client may call: public routines of the module (of its ``__all__`` when
    it has one); no classes, no other attributes."""
    listed = getattr(module, "__all__", None)
    names = [str(n) for n in listed] if listed is not None else dir(module)
    found = {}
    for name in names:
        if name.startswith("_") or not name.isidentifier():
            continue
        value = getattr(module, name, None)
        if inspect.isroutine(value):
            found[name] = value
    return found


def integer_constants(module: ModuleType) -> dict[str, int]:
    """The module's upper-case integer constants (``ORDER_TYPE_BUY``...)."""
    return {name: int(value) for name, value in vars(module).items()
            if name.isupper() and not name.startswith("_") and isinstance(value, int)
            and not isinstance(value, bool)}


class Terminal:
    """The module, every call of it on one worker thread, ``last_error()`` read right after."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.name = module.__name__
        self.functions = public_functions(module)
        self.constants = integer_constants(module)
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="mt5-terminal")

    def call(self, fn: str, args: list[Any], kwargs: dict[str, Any]
             ) -> tuple[Any, BaseException | None, list[Any]]:
        """``(result, exception or None, [code, message])`` of one call."""
        try:
            job = self._worker.submit(self._run, self.functions[fn], args, kwargs)
        except RuntimeError:  # stopping: the worker takes no more calls
            return None, RuntimeError("the bridge is stopping"), [-10000, "bridge stopping"]
        return job.result()

    def _run(self, function: Any, args: list[Any], kwargs: dict[str, Any]
             ) -> tuple[Any, BaseException | None, list[Any]]:
        result, failure = None, None
        try:
            result = function(*args, **kwargs)
        except Exception as exc:  # the client gets it as an error answer
            failure = exc
        error = self.module.last_error()
        return result, failure, [int(error[0]), str(error[1])]

    def close(self) -> None:
        """Stop the worker (after the call it runs, if any)."""
        self._worker.shutdown(wait=False)


def answer(terminal: Terminal, line: bytes, number: int) -> dict[str, Any]:
    """The answer to one request line (never raises)."""
    try:
        fn, args, kwargs = parse_request(line, terminal, number)
    except RequestError as exc:
        log.warning("refused a request: %s", exc)
        return {"error": str(exc), "kind": "request"}
    if fn == "__constants__":
        return {"result": terminal.constants}
    result, failure, error = terminal.call(fn, args, kwargs)
    if failure is not None:
        why = f"request {number} ({fn}): {type(failure).__name__}: {failure}"
        log.warning("call failed: %s", why)
        return {"error": why, "kind": "call", "last_error": error}
    try:
        return {"result": encode(result), "last_error": error}
    except (TypeError, ValueError) as exc:
        why = f"request {number} ({fn}): {exc}"
        log.warning("cannot send a result: %s", why)
        return {"error": why, "kind": "call", "last_error": error}


def parse_request(line: bytes, terminal: Terminal, number: int
                  ) -> tuple[str, list[Any], dict[str, Any]]:
    """``(function name, args, kwargs)`` of a request line.

    Raises
    ------
    RequestError
        Not a request, or not a function the client may call (the message names the request,
        never its arguments).
    """
    try:
        payload = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise RequestError(f"request {number}: not JSON ({exc})") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("fn"), str):
        raise RequestError(f"request {number}: not an object with a \"fn\" name")
    fn = payload["fn"]
    if fn == "__constants__":
        return fn, [], {}
    if fn not in terminal.functions:
        raise RequestError(f"request {number} ({fn[:64]}): {terminal.name} has no public "
                           f"function of that name")
    args, kwargs = payload.get("args", []), payload.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise RequestError(f"request {number} ({fn}): \"args\" must be a list and \"kwargs\" "
                           f"an object")
    try:
        return fn, decode(args), decode(kwargs)
    except (TypeError, ValueError, OverflowError) as exc:
        raise RequestError(f"request {number} ({fn}): bad argument ({exc})") from None


# -- the server -----------------------------------------------------------------------------------

class Connection(socketserver.StreamRequestHandler):
    """One client: its auth line first (when the bridge has a token), then its requests."""

    server: BridgeServer

    def handle(self) -> None:
        peer = f"{self.client_address[0]}:{self.client_address[1]}"
        log.info("client connected: %s", peer)
        try:
            if self.authenticate(peer):
                self.serve_requests()
        except OSError as exc:
            log.info("client %s: connection lost (%s)", peer, exc)
        log.info("client disconnected: %s", peer)

    def send(self, payload: dict[str, Any]) -> None:
        self.wfile.write(json.dumps(payload).encode("utf-8") + b"\n")
        self.wfile.flush()

    def authenticate(self, peer: str) -> bool:
        token = self.server.token
        if token is None:
            return True
        self.connection.settimeout(AUTH_TIMEOUT_S)
        try:
            line = self.rfile.readline(MAX_LINE + 1)
        except OSError:  # a timeout (socket.timeout before 3.10) or a reset
            line = b""
        given = auth_token(line)
        if not given or not hmac.compare_digest(given, token):
            log.warning("refused %s: wrong or missing token", peer)
            self.send({"error": "authentication failed: wrong or missing token",
                       "kind": "auth"})
            return False
        self.connection.settimeout(None)
        self.send({"ok": True})
        return True

    def serve_requests(self) -> None:
        number = 0
        while True:
            line = self.rfile.readline(MAX_LINE + 1)
            if not line:
                return
            number += 1
            if len(line) > MAX_LINE:
                self.send({"error": f"request {number}: longer than {MAX_LINE} bytes",
                           "kind": "request"})
                return
            if not line.strip():
                number -= 1
                continue
            if number == 1 and self.server.token is None and auth_token(line) is not None:
                log.info("a client sent a token; this bridge needs none (loopback only)")
                self.send({"ok": True})
                continue
            self.send(answer(self.server.terminal, line, number))


def auth_token(line: bytes) -> bytes | None:
    """The token of an auth line ``{"auth": "..."}`` (None when the line is not one)."""
    try:
        payload = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if isinstance(payload, dict) and set(payload) == {"auth"} \
            and isinstance(payload["auth"], str):
        return payload["auth"].encode("utf-8")
    return None


class BridgeServer(socketserver.ThreadingTCPServer):
    """A thread per connection, one terminal thread for all."""

    daemon_threads = True
    # on Windows SO_REUSEADDR would let another process take the port
    allow_reuse_address = os.name != "nt"

    def __init__(self, address: tuple[str, int], terminal: Terminal, token: bytes | None
                 ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.terminal = terminal
        self.token = token
        super().__init__(address, Connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("unexpected failure serving %s", client_address)


def is_loopback(host: str) -> bool:
    """True when every address ``host`` stands for is a loopback address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(i[4][0]).split("%")[0]).is_loopback
                               for i in infos)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="mt5_bridge",
        description="Serve this machine's MetaTrader5 module to a tradeloop node (JSON lines "
                    "over TCP).")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; any other needs a token)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"TCP port (default {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument("--module", default="MetaTrader5",
                        help="the module to serve (default MetaTrader5)")
    parser.add_argument("--token-env", default="", metavar="NAME",
                        help="environment variable holding the shared token clients must send")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the bridge until interrupted; the exit code (2: refused to start)."""
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token: bytes | None = None
    if args.token_env:
        value = os.environ.get(args.token_env, "")
        if not value:
            log.error("refusing to start: the environment variable %s (--token-env) is not "
                      "set or empty", args.token_env)
            return 2
        token = value.encode("utf-8")
    if token is None and not is_loopback(args.host):
        log.error("refusing to start: listening on %s, which is not a loopback address, "
                  "needs a token (--token-env NAME); or listen on 127.0.0.1 and reach it "
                  "through an SSH tunnel", args.host)
        return 2
    try:
        module = importlib.import_module(args.module)
    except ImportError as exc:
        log.error("cannot import %s: %s", args.module, exc)
        return 1
    terminal = Terminal(module)
    try:
        server = BridgeServer((args.host.strip("[]"), args.port), terminal, token)
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", args.host, args.port, exc)
        return 1
    host, port = server.server_address[:2]
    log.info("MetaTrader 5 bridge listening on %s:%s (module %s, %d functions, token %s)",
             host, port, terminal.name, len(terminal.functions),
             "required" if token else "not required: loopback only")

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        terminal.close()
        log.info("MetaTrader 5 bridge stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
