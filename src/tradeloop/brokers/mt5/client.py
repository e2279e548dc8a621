"""The one thread that talks to the MetaTrader 5 terminal (:class:`Mt5Client`), and the seam
where the terminal's module comes from.

The ``MetaTrader5`` package keeps one IPC link per process and reports failures through
``last_error()``, which only means something right after the failing call, on the same link.
So every terminal call runs on one worker thread, and ``last_error()`` is read in the same job,
before any other call can run. A call that returns ``None`` raises (see :mod:`.errors`); when
the link itself broke (an IPC error), a read reconnects (``initialize`` again) and is tried
once more, a state change never is (its outcome is unknown), unless it provably never left
(the bridge could not be reached). An error answer of the bridge maps like a ``None`` answer
(:func:`bridge_failure`).

The module is ``import MetaTrader5`` normally, any importable module with the same functions
when ``module`` is set (the test stand-in), or a :class:`~.bridge.BridgeModule` speaking to a
terminal on another machine when ``bridge`` is set. Nothing else in the adapter imports it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import logging
from collections.abc import Callable
from typing import Any

from tradeloop.brokers.mt5.bridge import BridgeError, BridgeModule, BridgeUnreachableError
from tradeloop.brokers.mt5.config import Mt5Config
from tradeloop.brokers.mt5.errors import (
    IPC_ERRORS,
    Mt5FatalError,
    Mt5OutcomeUnknownError,
    Mt5RetryableError,
    call_error,
)
from tradeloop.core.errors import ConfigError, VenueError

logger = logging.getLogger(__name__)


def load_module(config: Mt5Config) -> Any:
    """The terminal's module as configured (imported here and nowhere else).

    Raises
    ------
    ConfigError
        The module cannot be imported (``MetaTrader5`` exists only on Windows: use a bridge).
    """
    if config.bridge:
        host, _, port = config.bridge.rpartition(":")
        token = config.bridge_token.get_secret_value() if config.bridge_token else None
        return BridgeModule(host.strip("[]"), int(port), config.bridge_timeout_s, token)
    try:
        return importlib.import_module(config.module)
    except ImportError as exc:
        if config.module == "MetaTrader5":
            raise ConfigError("broker.settings: the MetaTrader5 package is not installed (it "
                              "runs on Windows only: pip install 'tradeloop[mt5]' there, or "
                              "set bridge = \"host:port\" to reach a terminal elsewhere)"
                              ) from None
        raise ConfigError(f"broker.settings.module: cannot import {config.module!r}: {exc}"
                          ) from None


def bridge_failure(what: str, exc: BridgeError, *, state_change: bool
                   ) -> Mt5FatalError | Mt5OutcomeUnknownError:
    """The error of a bridge's error answer: a refused token or request is fatal (nothing was
    called); a call that raised on the far side is fatal for a read, outcome-unknown for a
    state change (it may have taken effect)."""
    text = f"{what} through the MetaTrader 5 bridge failed: {exc}"
    if exc.kind == "call" and state_change:
        return Mt5OutcomeUnknownError(text)
    return Mt5FatalError(text)


class Mt5Client:
    """Every call to the terminal, on one thread.

    Parameters
    ----------
    config : Mt5Config
    module : object, optional
        The terminal's module (default: :func:`load_module`).
    """

    def __init__(self, config: Mt5Config, module: Any = None) -> None:
        self.config = config
        self._module = module
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._users = 0
        self.connected = False
        #: Reconnects after a broken link.
        self.reconnects = 0
        self._selected: set[str] = set()  # Market Watch as we set it: restored on reconnect

    @property
    def mt5(self) -> Any:
        """The module (loaded on first use)."""
        if self._module is None:
            self._module = load_module(self.config)
        return self._module

    def constant(self, name: str) -> int:
        """One of the module's constants (``ORDER_TYPE_BUY``...)."""
        return int(getattr(self.mt5, name))

    # -- the thread ----------------------------------------------------------------------------

    async def _run(self, job: Callable[[], Any]) -> Any:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, "mt5-terminal")
        return await asyncio.wrap_future(self._executor.submit(job))

    def _initialize(self) -> tuple[bool, tuple[int, str]]:
        mt5 = self.mt5
        cfg = self.config
        kwargs: dict[str, Any] = {"timeout": cfg.timeout_ms}
        if cfg.portable:
            kwargs["portable"] = True
        if cfg.login is not None and cfg.password is not None:
            kwargs.update(login=cfg.login, password=cfg.password.get_secret_value(),
                          server=cfg.server)
        ok = mt5.initialize(cfg.path, **kwargs) if cfg.path else mt5.initialize(**kwargs)
        error = tuple(mt5.last_error())
        return bool(ok), (int(error[0]), str(error[1]))

    async def open(self) -> None:
        """Initialize the link to the terminal (once per user; shared by execution and data).

        Raises
        ------
        Mt5RetryableError
            The terminal is not reachable.
        Mt5FatalError
            It refused the login.
        """
        self._users += 1
        if self.connected:
            return
        try:
            ok, (code, message) = await self._run(self._initialize)
        except VenueError:
            self._users -= 1
            raise
        except BridgeError as exc:
            self._users -= 1
            raise bridge_failure("initialize", exc, state_change=False) from None
        except OSError as exc:
            self._users -= 1
            raise Mt5RetryableError(f"the MetaTrader 5 bridge is unreachable: {exc}") from None
        if not ok:
            self._users -= 1
            if code == -6:
                raise Mt5FatalError(f"MetaTrader 5 refused the login: {code} {message}", code)
            raise Mt5RetryableError(f"MetaTrader 5 initialize failed: {code} {message}", code)
        self.connected = True
        logger.info("connected to MetaTrader 5", extra={"fields": {
            "mode": self.config.mode, "bridge": self.config.bridge or "-"}})

    async def close(self) -> None:
        """Release one user; the last one shuts the link and the thread down."""
        self._users = max(0, self._users - 1)
        if self._users or self._executor is None:
            return
        if self.connected:
            self.connected = False
            try:
                await self._run(self.mt5.shutdown)
            except Exception as exc:  # shutting down: nothing left to do about it
                logger.warning("MetaTrader 5 shutdown failed", extra={"fields": {
                    "error": str(exc)}})
        if isinstance(self._module, BridgeModule):
            await self._run(self._module.close)
        executor, self._executor = self._executor, None
        executor.shutdown(wait=True)

    @property
    def is_open(self) -> bool:
        """True while connected."""
        return self.connected

    async def call(self, function: str, *args: Any, state_change: bool = False,
                   **kwargs: Any) -> Any:
        """``module.<function>(*args, **kwargs)`` on the terminal thread.

        Raises
        ------
        Mt5RetryableError
            The link broke before a read (after one reconnect), or the bridge is unreachable
            (nothing was sent).
        Mt5OutcomeUnknownError
            A state change returned None, or the bridge's link broke after sending it, or it
            raised on the far side (its outcome is unknown).
        Mt5FatalError
            Any other None answer, with ``last_error()``; a request the bridge refused.
        """
        for attempt in (1, 2):
            sent = True
            try:
                result, code, message = await self._run(
                    lambda: self._invoke(function, args, kwargs))
            except BridgeError as exc:
                raise bridge_failure(function, exc, state_change=state_change) from None
            except OSError as exc:
                sent = not isinstance(exc, BridgeUnreachableError)
                code, message, result = -10004, f"bridge: {exc}", None
            if result is not None:
                return result
            changing = state_change and sent  # a request never sent changed nothing
            error = call_error(function, code, message, state_change=changing)
            if (code in IPC_ERRORS and not changing and attempt == 1
                    and await self._reconnect()):
                continue
            if code in IPC_ERRORS:
                self.connected = False
            raise error
        raise AssertionError("unreachable")

    def _invoke(self, function: str, args: tuple[Any, ...], kwargs: dict[str, Any]
                ) -> tuple[Any, int, str]:
        mt5 = self.mt5
        result = getattr(mt5, function)(*args, **kwargs)
        code, message = mt5.last_error()  # read at once, on this thread
        if function == "symbol_select" and result and args:
            enable = args[1] if len(args) > 1 else kwargs.get("enable", True)
            (self._selected.add if enable else self._selected.discard)(str(args[0]))
        return result, int(code), str(message)

    def _initialize_again(self) -> tuple[bool, tuple[int, str]]:
        ok, error = self._initialize()
        if ok:  # a restarted terminal (or bridge) may have lost its Market Watch
            for symbol in sorted(self._selected):
                self.mt5.symbol_select(symbol, True)
        return ok, error

    async def _reconnect(self) -> bool:
        try:
            ok, (code, message) = await self._run(self._initialize_again)
        except OSError:
            return False
        except BridgeError as exc:
            logger.error("MetaTrader 5 bridge refused the reconnect", extra={"fields": {
                "error": str(exc)}})
            return False
        if ok:
            self.reconnects += 1
            self.connected = True
            logger.warning("reconnected to MetaTrader 5", extra={"fields": {
                "reconnects": self.reconnects}})
        else:
            logger.warning("MetaTrader 5 reconnect failed", extra={"fields": {
                "error": f"{code} {message}"}})
        return bool(ok)

    async def select(self, symbol: str) -> bool:
        """Select ``symbol`` into Market Watch: False when the terminal does not list it."""
        return bool(await self.call("symbol_select", symbol, True))

    async def ensure(self) -> None:
        """Reconnect when a state change found the link broken."""
        if not self.connected and self._executor is not None:
            await self._reconnect()


__all__ = ["Mt5Client", "bridge_failure", "load_module"]
