"""API tokens: create, list and revoke them, and check the token a request presents.

A token is ``tl_`` and the URL-safe base64 of 32 random bytes from :mod:`secrets` (43
characters). It is shown once, when created; the database keeps only its sha256, so a copy
of the database gives no working token. Looking a token up by its hash leaks nothing through
timing: an attacker cannot steer the hash of what they send.

Scopes form a ladder: ``admin`` can do what ``trade`` can, which can do what ``read`` can.

:func:`authenticate` answers with the token's :class:`TokenInfo` or raises :class:`AuthError`
carrying the HTTP status: 401 for a missing, malformed, unknown, expired or revoked token,
403 for a valid token without the scope, 429 from a :class:`FailedAuthLimiter` when a source
address failed too often. Reasons and log lines never contain the token. ``last_used`` is
written at most once a minute per token, not on every request.

A server keeps one :class:`TokenAuthenticator` open (see :func:`open_token_authenticator`);
the module functions open the database for each call. The database is the home's
(``tradeloop.db``) unless ``TRADELOOP_DATABASE_URL`` names another, as for runs.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import math
import re
import secrets
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from tradeloop.config.risk import parse_duration_s
from tradeloop.core.clock import Clock, LiveClock
from tradeloop.core.errors import ConfigError, TradeloopError
from tradeloop.core.time import NANOS_PER_MINUTE, NANOS_PER_SECOND, ns_to_dt
from tradeloop.persistence import ApiToken, AuditStore, Database, PersistenceError, TokenStore
from tradeloop.services.runs import _database

logger = logging.getLogger(__name__)

#: The scopes, weakest first; each includes the ones before it.
SCOPES: tuple[str, ...] = ("read", "trade", "admin")
TOKEN_PREFIX = "tl_"
#: How often, at most, a token's ``last_used`` is written.
LAST_USED_INTERVAL_NS = NANOS_PER_MINUTE

_RANDOM_BYTES = 32
_TOKEN = re.compile(r"tl_[A-Za-z0-9_-]{43}")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,63}")
_NEVER = frozenset({"never", "none", "no"})
_RANK = {scope: rank for rank, scope in enumerate(SCOPES)}


class AuthError(TradeloopError):
    """A request's token was refused.

    Parameters
    ----------
    status : int
        The HTTP status to answer: 401, 403 or 429.
    reason : str
        Why, safe to show to the caller: it never contains the token.
    retry_after_s : int, optional
        For 429: seconds until the source may try again (the ``Retry-After`` header).
    token_name : str, optional
        The token's name when the token was known (for the server's log).
    """

    def __init__(self, status: int, reason: str, *, retry_after_s: int | None = None,
                 token_name: str | None = None) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason
        self.retry_after_s = retry_after_s
        self.token_name = token_name


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenInfo:
    """An API token as the services show it: never its secret, never its hash.

    Attributes
    ----------
    id : int
    name : str
    scopes : tuple of str
        As granted; :meth:`allows` applies the ladder.
    created_ns : int
        UTC nanoseconds, as the other ``*_ns`` attributes.
    expires_ns, revoked_ns, last_used_ns : int or None
    created_by : str
    """

    id: int
    name: str
    scopes: tuple[str, ...]
    created_ns: int
    expires_ns: int | None
    revoked_ns: int | None
    last_used_ns: int | None
    created_by: str

    def allows(self, scope: str) -> bool:
        """True when one of the token's scopes is ``scope`` or above it.

        Raises
        ------
        ValueError
            When ``scope`` is not one of :data:`SCOPES`.
        """
        needed = _rank(scope)
        return any(_RANK.get(granted, -1) >= needed for granted in self.scopes)

    def state(self, now_ns: int) -> str:
        """``"revoked"``, ``"expired"`` (from ``expires_ns`` on) or ``"active"``."""
        if self.revoked_ns is not None:
            return "revoked"
        if self.expires_ns is not None and now_ns >= self.expires_ns:
            return "expired"
        return "active"

    @property
    def created(self) -> datetime:
        """Creation time, timezone-aware UTC."""
        return ns_to_dt(self.created_ns)

    @property
    def expires(self) -> datetime | None:
        """Expiry time, timezone-aware UTC, or None for never."""
        return None if self.expires_ns is None else ns_to_dt(self.expires_ns)

    @property
    def revoked(self) -> datetime | None:
        """Revocation time, timezone-aware UTC, or None."""
        return None if self.revoked_ns is None else ns_to_dt(self.revoked_ns)

    @property
    def last_used(self) -> datetime | None:
        """Last recorded use (to the minute), timezone-aware UTC, or None."""
        return None if self.last_used_ns is None else ns_to_dt(self.last_used_ns)


@dataclass(frozen=True, slots=True)
class CreatedToken:
    """A new token: the secret, to hand over once, and what was stored.

    Attributes
    ----------
    token : str
        The secret. It is not in ``repr()``, so logging this object does not leak it.
    info : TokenInfo
    """

    token: str = field(repr=False)
    info: TokenInfo


def hash_token(token: str) -> str:
    """The sha256 of ``token`` as 64 lower-case hex digits: what the database keeps."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_scopes(values: Iterable[str]) -> tuple[str, ...]:
    """Scopes as given by a user (``"trade"``, ``"read,admin"``), checked, without repeats,
    weakest first.

    Raises
    ------
    ConfigError
        When there is none, or one is not in :data:`SCOPES`.
    """
    given = {part.strip().lower() for value in values for part in value.split(",")}
    given.discard("")
    unknown = sorted(given - set(SCOPES))
    if unknown:
        raise ConfigError(f"token scope {unknown[0]!r}: expected one of {', '.join(SCOPES)}")
    if not given:
        raise ConfigError(f"give a token scope: one of {', '.join(SCOPES)}")
    return tuple(scope for scope in SCOPES if scope in given)


def parse_expiry(text: str) -> timedelta | None:
    """How long a new token lives: ``"30d"``, ``"12h"``, ``"90m"``, or ``"never"`` (None).

    Raises
    ------
    ConfigError
        For anything else, or a duration that is not positive.
    """
    if text.strip().lower() in _NEVER:
        return None
    seconds = parse_duration_s(text, "token expiry")
    if seconds <= 0:
        raise ConfigError(f"token expiry {text!r}: give a positive duration such as 30d or "
                          "12h, or never")
    return timedelta(seconds=seconds)


def create_token(
    name: str,
    scopes: Iterable[str],
    *,
    expires_in: timedelta | None,
    by: str,
    home: Path | None = None,
    clock: Clock | None = None,
    store: AuditStore | None = None,
) -> CreatedToken:
    """Create an API token and store its hash.

    Parameters
    ----------
    name : str
        Unique: a letter, then up to 63 letters, digits, ``.``, ``_`` or ``-``.
    scopes : iterable of str
        From :data:`SCOPES` (see :func:`parse_scopes`).
    expires_in : timedelta or None
        Lifetime from now; None for a token that never expires.
    by : str
        Who creates it (empty: the operating system user).
    home : Path, optional
        The tradeloop home; ``$TRADELOOP_HOME`` by default.
    clock : Clock, optional
        The wall clock by default.
    store : AuditStore, optional
        A node's open store (its ``[database]``); by default the home's database (or
        ``TRADELOOP_DATABASE_URL``'s).

    Returns
    -------
    CreatedToken
        The only place the token itself ever appears.

    Raises
    ------
    ConfigError
        For a bad name, scope or lifetime, or a name already taken.
    """
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise ConfigError(f"token name {name!r}: use a letter, then up to 63 letters, digits, "
                          "'.', '_' or '-'")
    granted = parse_scopes(scopes)
    if expires_in is not None and expires_in <= timedelta(0):
        raise ConfigError("a token's lifetime must be positive (or never)")
    now = (clock or LiveClock()).now_ns()
    token = TOKEN_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)
    with _opened(store, home) as database:
        stored = TokenStore(database).add(
            name, hash_token(token), granted, created_ns=now, created_by=by.strip() or _user(),
            expires_ns=None if expires_in is None else now + _nanos(expires_in),
        )
    return CreatedToken(token, _info(stored))


def list_tokens(*, store: AuditStore | None = None, home: Path | None = None
                ) -> list[TokenInfo]:
    """Every token, revoked and expired ones included, oldest first.

    Parameters
    ----------
    store : AuditStore, optional
        A node's open store, whose database holds the tokens; by default the home's database
        (or ``TRADELOOP_DATABASE_URL``'s), opened for this call.
    home : Path, optional
    """
    with _opened(store, home) as database:
        return [_info(token) for token in TokenStore(database).tokens()]


def count_active_tokens(store: AuditStore | None = None, *, home: Path | None = None,
                        clock: Clock | None = None) -> int:
    """How many tokens are neither revoked nor expired now (a server refuses to listen
    beyond localhost without one)."""
    now = (clock or LiveClock()).now_ns()
    return sum(token.state(now) == "active" for token in list_tokens(store=store, home=home))


def revoke_token(
    name_or_id: str, *, home: Path | None = None, clock: Clock | None = None,
    store: AuditStore | None = None,
) -> TokenInfo:
    """Revoke a token by name or id; it is refused from then on. Revoking twice keeps the
    first time.

    Raises
    ------
    ConfigError
        When no token has this name or id.
    """
    wanted = name_or_id.strip()
    now = (clock or LiveClock()).now_ns()
    with _opened(store, home) as database:
        tokens = TokenStore(database)
        by_id = wanted.isascii() and wanted.isdigit()
        found = tokens.by_id(int(wanted)) if by_id else tokens.by_name(wanted)
        revoked = tokens.revoke(found.id, now) if found is not None else None
    if revoked is None:
        raise ConfigError(f"no token {wanted!r} (tradeloop token list shows the tokens)")
    return _info(revoked)


def authenticate(
    token: str | None,
    needed_scope: str,
    *,
    source: str | None = None,
    store: AuditStore | None = None,
    home: Path | None = None,
    clock: Clock | None = None,
) -> TokenInfo:
    """Check a presented token: the same check as :meth:`TokenAuthenticator.authenticate`.

    Parameters
    ----------
    token : str or None
    needed_scope : str
        One of :data:`SCOPES`.
    source : str, optional
        The caller's address, for the log.
    store : AuditStore, optional
        A node's open store, whose database holds the tokens. Without it the home's database
        (or ``TRADELOOP_DATABASE_URL``'s) is opened for this call only, which a server should
        not do per request (see :func:`open_token_authenticator`).
    home : Path, optional
    clock : Clock, optional

    Raises
    ------
    AuthError
        401 or 403.
    """
    with _opened(store, home) as database:
        return TokenAuthenticator(database, clock=clock).authenticate(
            token, needed_scope, source=source)


class TokenAuthenticator:
    """Checks presented tokens against the tokens stored in one open database.

    Parameters
    ----------
    database : Database
        Kept open by the caller for as long as this is used.
    clock : Clock, optional
        The wall clock by default.
    limiter : FailedAuthLimiter, optional
        When given, a source address that failed too often is refused with 429 before its
        token is looked at, and each 401 counts against its address.
    last_used_interval_ns : int
        A token's ``last_used`` is written when it is older than this (one minute).
    """

    def __init__(
        self,
        database: Database,
        *,
        clock: Clock | None = None,
        limiter: FailedAuthLimiter | None = None,
        last_used_interval_ns: int = LAST_USED_INTERVAL_NS,
    ) -> None:
        self._store = TokenStore(database)
        self._clock: Clock = clock or LiveClock()
        self._limiter = limiter
        self._interval_ns = last_used_interval_ns

    def authenticate(
        self, token: str | None, needed_scope: str, *, source: str | None = None
    ) -> TokenInfo:
        """The token's information when it is valid now and allows ``needed_scope``.

        Parameters
        ----------
        token : str or None
            As presented (None or empty when the request carried none).
        needed_scope : str
            The scope the route needs, one of :data:`SCOPES`.
        source : str, optional
            The caller's address, for the limiter and the log.

        Raises
        ------
        AuthError
            429 when the limiter refuses ``source``; 401 for a missing, malformed, unknown,
            expired (from its expiry instant on) or revoked token; 403 when the token lacks
            the scope.
        ValueError
            When ``needed_scope`` is not one of :data:`SCOPES` (a bug in the route).
        PersistenceError
            When the database cannot be read.
        """
        _rank(needed_scope)
        if self._limiter is not None and source is not None:
            try:
                self._limiter.check(source)
            except AuthError as refused:
                logger.info("api authentication refused: too many failures", extra={
                    "fields": {"source": source, "retry_after_s": refused.retry_after_s}})
                raise
        try:
            return self._check(token, needed_scope)
        except AuthError as failed:
            if failed.status == 401 and self._limiter is not None and source is not None:
                self._limiter.failed(source)
            logger.warning("api authentication failed", extra={"fields": {
                "status": failed.status, "reason": failed.reason, "source": source,
                "token_name": failed.token_name, "scope": needed_scope}})
            raise

    def _check(self, token: str | None, needed_scope: str) -> TokenInfo:
        if not token:
            raise AuthError(401, "no token given")
        if not _TOKEN.fullmatch(token):
            raise AuthError(401, "malformed token")
        stored = self._store.by_hash(hash_token(token))
        if stored is None:
            raise AuthError(401, "unknown token")
        info = _info(stored)
        now = self._clock.now_ns()
        state = info.state(now)
        if state != "active":
            raise AuthError(401, f"token {state}", token_name=info.name)
        if not info.allows(needed_scope):
            raise AuthError(403, f"token {info.name!r} lacks the {needed_scope!r} scope",
                            token_name=info.name)
        return self._touched(info, now)

    def _touched(self, info: TokenInfo, now: int) -> TokenInfo:
        if info.last_used_ns is not None and now - info.last_used_ns < self._interval_ns:
            return info
        try:
            written = self._store.touch(info.id, now, min_interval_ns=self._interval_ns)
        except PersistenceError as exc:  # the request is still authentic
            logger.warning("could not record a token's use", extra={"fields": {
                "token_name": info.name, "error": str(exc)}})
            return info
        return replace(info, last_used_ns=now) if written else info


@contextmanager
def open_token_authenticator(
    home: Path | None = None,
    *,
    clock: Clock | None = None,
    limiter: FailedAuthLimiter | None = None,
) -> Iterator[TokenAuthenticator]:
    """A :class:`TokenAuthenticator` on the home's database (or ``TRADELOOP_DATABASE_URL``'s),
    open until the block ends: for a server's lifetime."""
    with _database(home) as database:
        yield TokenAuthenticator(database, clock=clock, limiter=limiter)


class FailedAuthLimiter:
    """Failed authentications per source address in a sliding window.

    Pure bookkeeping in memory (no I/O), safe to share between threads. Successes do not
    count; a refused (429) attempt does not count either.

    Parameters
    ----------
    max_failures : int
        Failures an address may have within ``window``; the next attempt is refused.
    window : timedelta
        One minute by default.
    clock : Clock, optional
        The wall clock by default.
    """

    def __init__(self, max_failures: int = 10, window: timedelta = timedelta(minutes=1), *,
                 clock: Clock | None = None) -> None:
        if max_failures < 1:
            raise ConfigError(f"failed authentication limit {max_failures}: must be at least 1")
        if window <= timedelta(0):
            raise ConfigError("failed authentication window must be positive")
        self._max = max_failures
        self._window_ns = _nanos(window)
        self._clock: Clock = clock or LiveClock()
        self._failures: dict[str, deque[int]] = {}
        self._sweep_at = _SWEEP_MIN
        self._lock = threading.Lock()

    def retry_after(self, source: str) -> int | None:
        """Seconds (at least 1) until ``source`` may try again, or None when it may now."""
        with self._lock:
            now = self._clock.now_ns()
            failures = self._failures.get(source)
            if failures is None or len(self._trim(failures, now)) < self._max:
                return None
            frees_at = failures[0] + self._window_ns
            return max(1, math.ceil((frees_at - now) / NANOS_PER_SECOND))

    def check(self, source: str) -> None:
        """Pass when ``source`` may try to authenticate now.

        Raises
        ------
        AuthError
            429, with ``retry_after_s``, when it failed ``max_failures`` times in the window.
        """
        wait = self.retry_after(source)
        if wait is not None:
            raise AuthError(429, f"too many failed authentications: retry in {wait} s",
                            retry_after_s=wait)

    def failed(self, source: str) -> None:
        """Count a failed authentication of ``source`` now."""
        with self._lock:
            now = self._clock.now_ns()
            failures = self._failures.setdefault(source, deque())
            failures.append(now)
            self._trim(failures, now)
            if len(self._failures) >= self._sweep_at:
                for known in list(self._failures):
                    if not self._trim(self._failures[known], now):
                        del self._failures[known]
                self._sweep_at = max(_SWEEP_MIN, 2 * len(self._failures))

    def _trim(self, failures: deque[int], now: int) -> deque[int]:
        """Drop failures that left the window, and all but the newest ``max_failures``."""
        while failures and (failures[0] <= now - self._window_ns or len(failures) > self._max):
            failures.popleft()
        return failures


_SWEEP_MIN = 1024  # addresses kept before the ones without recent failures are forgotten


@contextmanager
def _opened(store: AuditStore | None, home: Path | None) -> Iterator[Database]:
    if store is not None:
        yield store.database
        return
    with _database(home) as database:
        yield database


def _rank(scope: str) -> int:
    try:
        return _RANK[scope]
    except KeyError:
        raise ValueError(f"scope {scope!r}: expected one of {', '.join(SCOPES)}") from None


def _nanos(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * NANOS_PER_SECOND + delta.microseconds * 1_000


def _info(token: ApiToken) -> TokenInfo:
    return TokenInfo(
        id=token.id, name=token.name, scopes=token.scopes, created_ns=token.created_ns,
        expires_ns=token.expires_ns, revoked_ns=token.revoked_ns,
        last_used_ns=token.last_used_ns, created_by=token.created_by,
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
