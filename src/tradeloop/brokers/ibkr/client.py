"""The one connection to IB Gateway or TWS (:class:`IbkrClient`), shared by the execution and
market data clients, and the seam where the socket client comes from.

It owns one ``ib_async.IB``. Connecting includes ib_async's start-up synchronisation (open and
completed orders, executions, positions, account values). When the socket drops (a network
fault, or the Gateway's nightly restart, during which connects are refused for minutes) it
reconnects by itself with exponential backoff, and after every reconnection, and after IB's
1101/1102 "connectivity restored" notices, it calls the listeners registered with
:meth:`IbkrClient.on_connected`: the execution client then brings its orders up to date (the
same path as the other adapters' sweeps after a stream comes back) and the market data client
subscribes again.

``client_factory`` replaces ib_async's socket client by another one built from the IB wrapper,
wired as ``IB.__init__`` wires its own (tests use a stand-in Gateway that way).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ib_async import IB
from ib_async.wrapper import RequestError

from tradeloop.brokers.ibkr.config import IbkrConfig
from tradeloop.brokers.ibkr.errors import (
    LOST,
    RESTORED,
    ErrorClass,
    IbkrFatalError,
    IbkrRetryableError,
    classify,
    describe,
    error_for,
)
from tradeloop.core.errors import ConfigError, VenueError

logger = logging.getLogger(__name__)
T = TypeVar("T")
#: Called after every (re)connection or restored link: ``reconnected`` is False the first
#: time; ``data_lost`` is True when subscriptions must be made again.
ConnectedListener = Callable[[bool, bool], Awaitable[None]]
LostListener = Callable[[], None]


def load_factory(path: str) -> Callable[[Any], Any]:
    """The ``module:callable`` client factory named in the settings.

    Raises
    ------
    ConfigError
        It cannot be imported or is not callable.
    """
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"broker.settings.client_factory: cannot import {module_name!r}: "
                          f"{exc}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigError(f"broker.settings.client_factory: {path!r} is not a callable")
    return factory  # type: ignore[no-any-return]


def new_ib(config: IbkrConfig) -> IB:
    """An ``IB`` whose request errors raise, with the configured socket client."""
    ib = IB()
    ib.RaiseRequestErrors = True
    if config.client_factory:
        factory = load_factory(config.client_factory)
        ib.client = factory(ib.wrapper)
        ib.client.apiEnd += ib.disconnectedEvent
    return ib


class IbkrClient:
    """The adapter's connection to IB.

    Parameters
    ----------
    config : IbkrConfig
    ib : IB, optional
        Default: :func:`new_ib`.
    """

    def __init__(self, config: IbkrConfig, ib: IB | None = None) -> None:
        self.config = config
        self.ib = ib if ib is not None else new_ib(config)
        self.account = config.account
        #: Reconnections after a drop, and links restored after an IB outage.
        self.reconnects = 0
        self.restorations = 0
        #: True while ib_async synchronises after connecting (its events are replays then).
        self.syncing = False
        #: The last reconnection failure once ``reconnect_attempts`` were used up.
        self.gave_up: VenueError | None = None
        self._users = 0
        self._established = False
        self._closing = False
        self._ready = asyncio.Event()
        self._locks: dict[str, asyncio.Lock] = {}
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._connected: list[ConnectedListener] = []
        self._lost: list[LostListener] = []
        self.ib.disconnectedEvent += self._on_disconnected
        self.ib.errorEvent += self._on_error

    # -- listeners --------------------------------------------------------------------------

    def on_connected(self, listener: ConnectedListener) -> None:
        """Call ``listener(reconnected, data_lost)`` after every connection."""
        self._connected.append(listener)

    def on_lost(self, listener: LostListener) -> None:
        """Call ``listener()`` as soon as the connection drops."""
        self._lost.append(listener)

    # -- connection ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the API connection is up and synchronised."""
        return self._established and self.ib.isConnected()

    @property
    def is_open(self) -> bool:
        """True while some client uses the connection."""
        return self._users > 0

    async def open(self) -> None:
        """Connect (once for all users: the execution and market data clients share it).

        Raises
        ------
        IbkrRetryableError
            The Gateway is unreachable or did not answer in time.
        IbkrFatalError
            The login does not manage the configured account.
        """
        self._users += 1
        if self._users > 1:
            await self.ready()
            return
        self._closing = False
        self.gave_up = None
        try:
            await self._connect()
        except BaseException:
            self._users -= 1
            self._closing = True
            self._disconnect_socket()
            raise
        await self._notify(reconnected=False, data_lost=False)

    async def _connect(self) -> None:
        cfg = self.config
        self.syncing = True
        try:
            await asyncio.wait_for(
                self.ib.connectAsync(cfg.host, cfg.port, cfg.client_id,
                                     timeout=cfg.connect_timeout_s, readonly=cfg.readonly,
                                     account=cfg.account),
                cfg.connect_timeout_s * 2)
        except (OSError, ConnectionError) as exc:  # refused, timed out, dropped while syncing
            raise IbkrRetryableError(f"IB Gateway at {cfg.host}:{cfg.port} is unreachable: "
                                     f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
        except RequestError as exc:
            raise error_for(exc.code, exc.message) from None
        finally:
            self.syncing = False
        accounts = self.ib.managedAccounts()
        if cfg.account and accounts and cfg.account not in accounts:
            self._disconnect_socket()
            raise IbkrFatalError(f"broker.settings.account: {cfg.account!r} is not managed by "
                                 f"this login (it manages {', '.join(accounts)})")
        if not cfg.account:
            if len(accounts) > 1:
                self._disconnect_socket()
                raise IbkrFatalError("broker.settings.account: this login manages "
                                     f"{', '.join(accounts)}: name the one to trade")
            self.account = accounts[0] if accounts else ""
        self.ib.reqMarketDataType(cfg.market_data_type)
        self._established = True
        self._ready.set()
        logger.info("connected to IB", extra={"fields": {
            "host": cfg.host, "port": cfg.port, "client_id": cfg.client_id,
            "account": self.account}})

    async def close(self) -> None:
        """Release one user; the last one disconnects and stops reconnecting."""
        self._users = max(0, self._users - 1)
        if self._users:
            return
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for pending in list(self._background):
            pending.cancel()
        self._established = False
        self._ready.clear()
        self._disconnect_socket()

    def _disconnect_socket(self) -> None:
        self._established = False
        self._ready.clear()
        with contextlib.suppress(Exception):  # closing: nothing left to do about it
            self.ib.disconnect()

    async def ready(self, timeout: float | None = None) -> None:
        """Wait until connected (a reconnection may be under way).

        Raises
        ------
        IbkrRetryableError
            Not connected within ``timeout`` (default ``connect_timeout_s``), or never opened.
        """
        if self.connected:
            return
        if not self._users or self._closing:
            raise IbkrRetryableError("not connected to IB (connect first)")
        if self.gave_up is not None:
            raise IbkrRetryableError(f"not connected to IB: reconnection gave up: "
                                     f"{self.gave_up}")
        wait = self.config.connect_timeout_s if timeout is None else timeout
        try:
            await asyncio.wait_for(self._ready.wait(), wait)
        except TimeoutError:
            raise IbkrRetryableError(f"not connected to IB (reconnecting for {wait:g} s)"
                                     ) from None

    # -- requests -----------------------------------------------------------------------------

    def lock(self, name: str) -> asyncio.Lock:
        """A lock for requests ib_async keys by name (open orders, completed orders,
        positions): two at once would share one answer."""
        found = self._locks.get(name)
        if found is None:
            found = self._locks[name] = asyncio.Lock()
        return found

    async def request(self, what: str, make: Callable[[], Awaitable[T]], *,
                      lock: str = "", timeout: float | None = None) -> T:
        """Run one ib_async request once connected, with IB's errors translated.

        Raises
        ------
        IbkrRetryableError
            Not connected, the connection dropped, or no answer within the timeout.
        IbkrFatalError
            IB refused the request.
        """
        await self.ready()
        wait = self.config.request_timeout_s if timeout is None else timeout
        try:
            if lock:
                async with self.lock(lock):
                    return await asyncio.wait_for(make(), wait)
            return await asyncio.wait_for(make(), wait)
        except RequestError as exc:
            raise error_for(exc.code, f"{what}: {exc.message}") from None
        except TimeoutError:
            raise IbkrRetryableError(f"{what}: no answer from IB within {wait:g} s") from None
        except ConnectionError as exc:
            raise IbkrRetryableError(f"{what}: the connection to IB dropped ({exc})") from None

    def global_cancel(self) -> None:
        """Ask IB to cancel every working order of the account (all clients' too)."""
        self.ib.reqGlobalCancel()  # type: ignore[no-untyped-call]

    # -- events -------------------------------------------------------------------------------

    def _spawn(self, work: Awaitable[None]) -> None:
        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:  # a listener's bug must not vanish in a task
                logger.exception("IB connection listener failed")

        task = asyncio.get_running_loop().create_task(guarded())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _notify(self, *, reconnected: bool, data_lost: bool) -> None:
        for listener in list(self._connected):
            try:
                await listener(reconnected, data_lost)
            except VenueError as exc:
                logger.warning("re-synchronisation after connecting failed", extra={"fields": {
                    "error": str(exc)}})

    def _on_disconnected(self) -> None:
        if not self._established or self._closing:
            return
        self._established = False
        self._ready.clear()
        logger.warning("IB connection lost: reconnecting", extra={"fields": {
            "host": self.config.host, "port": self.config.port}})
        for listener in list(self._lost):
            try:
                listener()
            except Exception:
                logger.exception("IB connection-lost listener failed")
        if self._task is None or self._task.done():
            with contextlib.suppress(RuntimeError):  # no running loop: nobody to reconnect
                self._task = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        cfg = self.config
        delay = cfg.reconnect_initial_s
        failures = 0
        while not self._closing:
            try:
                await self._connect()
            except VenueError as exc:
                failures += 1
                logger.warning("IB reconnection failed", extra={"fields": {
                    "attempt": failures, "retry_in_s": delay, "error": str(exc)}})
                if cfg.reconnect_attempts and failures >= cfg.reconnect_attempts:
                    self.gave_up = exc
                    logger.error("IB reconnection gave up", extra={"fields": {
                        "attempts": failures}})
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, cfg.reconnect_max_s)
                continue
            self.reconnects += 1
            self.gave_up = None
            logger.warning("reconnected to IB", extra={"fields": {
                "reconnects": self.reconnects, "failed_attempts": failures}})
            await self._notify(reconnected=True, data_lost=True)
            return

    def _on_error(self, req_id: int, code: int, message: str, contract: Any) -> None:
        kind = classify(code)
        if kind is not ErrorClass.CONNECTIVITY or req_id not in (-1, 0):
            return
        if code in LOST:
            logger.warning("IB Gateway lost its link to IB", extra={"fields": {
                "error": describe(code, message)}})
        elif code in RESTORED and self._established:
            self.restorations += 1
            logger.warning("IB Gateway's link to IB restored: re-synchronising", extra={
                "fields": {"error": describe(code, message)}})
            self._spawn(self._notify(reconnected=True, data_lost=code == 1101))


__all__ = ["ConnectedListener", "IbkrClient", "LostListener", "load_factory", "new_ib"]
