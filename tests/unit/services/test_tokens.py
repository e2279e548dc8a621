"""API tokens as the services see them: created once and stored hashed, scopes as a ladder,
refused when unknown, malformed, expired (at the instant) or revoked, ``last_used`` written at
most once a minute; and the limiter of failed authentications per address.

The tests that touch the database run on the home's SQLite file and, when
``TRADELOOP_TEST_PG_URL`` names a server, on PostgreSQL (the ``database`` fixture).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tradeloop.core.clock import TestClock
from tradeloop.core.errors import ConfigError
from tradeloop.core.time import NANOS_PER_SECOND, dt_to_ns
from tradeloop.persistence import AuditStore, PersistenceError, TokenStore, open_database
from tradeloop.services.tokens import (
    SCOPES,
    AuthError,
    CreatedToken,
    FailedAuthLimiter,
    TokenAuthenticator,
    TokenInfo,
    authenticate,
    count_active_tokens,
    create_token,
    hash_token,
    list_tokens,
    open_token_authenticator,
    parse_expiry,
    parse_scopes,
    revoke_token,
)

T0 = dt_to_ns(datetime(2024, 3, 1, 12, tzinfo=UTC))
SECOND = NANOS_PER_SECOND
MINUTE = 60 * SECOND
TOKEN_SHAPE = re.compile(r"tl_[A-Za-z0-9_-]{43}")


def _create(name: str = "ci", scopes: tuple[str, ...] = ("read",), *,
            expires_in: timedelta | None = None, clock: TestClock | None = None
            ) -> CreatedToken:
    return create_token(name, scopes, expires_in=expires_in, by="alice",
                        clock=clock or TestClock(T0))


def _refusal(token: str | None, scope: str = "read", clock: TestClock | None = None
             ) -> AuthError:
    with pytest.raises(AuthError) as caught:
        authenticate(token, scope, clock=clock or TestClock(T0))
    return caught.value


def _rows(url: str) -> list[dict[str, object]]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return [dict(r) for r in connection.execute(
                sa.text("SELECT * FROM api_tokens")).mappings()]
    finally:
        engine.dispose()


# -- creating and storing ---------------------------------------------------------------------


def test_a_token_is_shown_once_and_only_its_hash_is_stored(
    database: str, tradeloop_home: Path
) -> None:
    created = _create("ci", ("trade",), expires_in=timedelta(days=30))
    assert TOKEN_SHAPE.fullmatch(created.token)
    assert created.info == TokenInfo(
        id=created.info.id, name="ci", scopes=("trade",), created_ns=T0,
        expires_ns=T0 + 30 * 24 * 60 * MINUTE, revoked_ns=None, last_used_ns=None,
        created_by="alice")
    assert created.token not in repr(created)

    rows = _rows(database)
    assert len(rows) == 1
    assert rows[0]["token_hash"] == hash_token(created.token)
    assert created.token not in repr(rows)
    assert created.token[3:] not in repr(rows)  # not even without its prefix
    if database.startswith("sqlite"):
        raw = b"".join(p.read_bytes() for p in tradeloop_home.glob("tradeloop.db*"))
        assert hash_token(created.token).encode() in raw  # the right files were read
        assert created.token.encode() not in raw
        assert created.token[3:].encode() not in raw


def test_two_tokens_never_share_a_secret(database: str) -> None:
    tokens = {_create(f"t{i}").token for i in range(20)}
    assert len(tokens) == 20


def test_the_hash_is_sha256_hex() -> None:
    assert hash_token("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


@pytest.mark.parametrize(("name", "fragment"), [
    ("", "token name"), ("1abc", "token name"), ("has space", "token name"),
    ("x" * 65, "token name"),
])
def test_bad_names_are_refused(database: str, name: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        _create(name)
    assert list_tokens() == []


def test_a_name_is_taken_for_good(database: str) -> None:
    _create("ci")
    revoke_token("ci", clock=TestClock(T0))
    with pytest.raises(ConfigError, match="already exists"):
        _create("ci")
    assert [t.name for t in list_tokens()] == ["ci"]


@pytest.mark.parametrize("lifetime", [timedelta(0), timedelta(seconds=-1)])
def test_a_lifetime_must_be_positive(database: str, lifetime: timedelta) -> None:
    with pytest.raises(ConfigError, match="positive"):
        _create(expires_in=lifetime)


def test_scopes_are_checked_and_normalised() -> None:
    assert parse_scopes(["admin", "read", "READ"]) == ("read", "admin")
    assert parse_scopes(["trade,read"]) == ("read", "trade")
    with pytest.raises(ConfigError, match="'write'"):
        parse_scopes(["write"])
    with pytest.raises(ConfigError, match="give a token scope"):
        parse_scopes([])
    with pytest.raises(ConfigError, match="give a token scope"):
        parse_scopes([" , "])


@pytest.mark.parametrize(("text", "expected"), [
    ("30d", timedelta(days=30)), ("12h", timedelta(hours=12)), ("90m", timedelta(minutes=90)),
    ("never", None), ("Never", None),
])
def test_lifetimes_parse(text: str, expected: timedelta | None) -> None:
    assert parse_expiry(text) == expected


@pytest.mark.parametrize("text", ["0d", "-1h", "soon", "", "12x"])
def test_bad_lifetimes_are_one_line_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="token expiry"):
        parse_expiry(text)


# -- authenticating ---------------------------------------------------------------------------


@pytest.mark.parametrize("granted", SCOPES)
@pytest.mark.parametrize("needed", SCOPES)
def test_scopes_form_a_ladder(database: str, granted: str, needed: str) -> None:
    created = _create(scopes=(granted,))
    if SCOPES.index(granted) >= SCOPES.index(needed):
        info = authenticate(created.token, needed, clock=TestClock(T0))
        assert info.name == "ci" and info.allows(needed)
    else:
        refused = _refusal(created.token, needed)
        assert refused.status == 403
        assert refused.reason == f"token 'ci' lacks the {needed!r} scope"
        assert refused.token_name == "ci"


def test_allows_applies_the_ladder_without_the_database() -> None:
    info = TokenInfo(id=1, name="n", scopes=("trade",), created_ns=0, expires_ns=None,
                     revoked_ns=None, last_used_ns=None, created_by="x")
    assert info.allows("read") and info.allows("trade") and not info.allows("admin")
    with pytest.raises(ValueError, match="'root'"):
        info.allows("root")


def test_a_token_expires_at_its_instant(database: str) -> None:
    created = _create(expires_in=timedelta(hours=1))
    expires = T0 + 60 * MINUTE
    assert authenticate(created.token, "read", clock=TestClock(expires - 1)).name == "ci"
    refused = _refusal(created.token, clock=TestClock(expires))
    assert (refused.status, refused.reason) == (401, "token expired")
    assert list_tokens()[0].state(expires) == "expired"
    assert list_tokens()[0].state(expires - 1) == "active"


def test_a_revoked_token_is_refused(database: str) -> None:
    created = _create()
    other = _create("other")
    revoked = revoke_token("ci", clock=TestClock(T0 + SECOND))
    assert revoked.revoked_ns == T0 + SECOND and revoked.revoked is not None
    refused = _refusal(created.token)
    assert (refused.status, refused.reason, refused.token_name) == (401, "token revoked", "ci")
    assert authenticate(other.token, "read", clock=TestClock(T0)).name == "other"


def test_revoke_takes_an_id_and_keeps_the_first_time(database: str) -> None:
    created = _create()
    first = revoke_token(str(created.info.id), clock=TestClock(T0 + SECOND))
    again = revoke_token("ci", clock=TestClock(T0 + 9 * SECOND))
    assert first.revoked_ns == again.revoked_ns == T0 + SECOND


@pytest.mark.parametrize("wanted", ["nope", "999", ""])
def test_revoking_an_unknown_token_is_a_one_line_error(database: str, wanted: str) -> None:
    _create()
    with pytest.raises(ConfigError, match="no token"):
        revoke_token(wanted)
    assert list_tokens()[0].revoked_ns is None


def test_an_unknown_token_is_refused(database: str) -> None:
    _create()
    refused = _refusal("tl_" + "A" * 43)
    assert (refused.status, refused.reason, refused.token_name) == (401, "unknown token", None)


@pytest.mark.parametrize(("token", "reason"), [
    (None, "no token given"), ("", "no token given"), ("tl_short", "malformed token"),
    ("xx_" + "A" * 43, "malformed token"), ("tl_" + "A" * 44, "malformed token"),
    ("tl_" + "A" * 42 + "=", "malformed token"), ("tl_" + "A" * 42 + " ", "malformed token"),
    ("Bearer tl_" + "A" * 43, "malformed token"),
])
def test_malformed_tokens_are_refused(database: str, token: str | None, reason: str) -> None:
    refused = _refusal(token)
    assert (refused.status, refused.reason) == (401, reason)


def test_an_unknown_scope_is_a_bug_not_a_refusal(database: str) -> None:
    created = _create()
    with pytest.raises(ValueError, match="scope 'write'"):
        authenticate(created.token, "write", clock=TestClock(T0))


def test_refusals_and_logs_never_hold_the_token(
    database: str, caplog: pytest.LogCaptureFixture
) -> None:
    created = _create(scopes=("read",), expires_in=timedelta(minutes=5))
    caplog.set_level(logging.DEBUG)
    refusals = [
        _refusal(created.token, "admin"),
        _refusal(created.token, clock=TestClock(T0 + 5 * MINUTE)),
        _refusal(created.token[:-1] + ("B" if created.token[-1] != "B" else "C")),
        _refusal(created.token + "x"),
    ]
    assert [r.status for r in refusals] == [403, 401, 401, 401]
    assert any(record.message == "api authentication failed" for record in caplog.records)
    for text in [str(r) for r in refusals] + [r.reason for r in refusals] + [
            repr(record.__dict__) for record in caplog.records]:
        assert created.token not in text
        assert created.token[3:20] not in text


def test_last_used_is_written_at_most_once_a_minute(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = _create()
    writes: list[int] = []
    touch = TokenStore.touch

    def counting(self: TokenStore, token_id: int, used_ns: int, **kwargs: int) -> bool:
        writes.append(used_ns)
        return touch(self, token_id, used_ns, **kwargs)

    monkeypatch.setattr(TokenStore, "touch", counting)
    clock = TestClock(T0)
    first = authenticate(created.token, "read", clock=clock)
    assert first.last_used_ns == T0
    for offset in (1, 30 * SECOND, MINUTE - 1):
        clock.advance_to(T0 + offset)
        assert authenticate(created.token, "read", clock=clock).last_used_ns == T0
    assert writes == [T0]
    assert list_tokens()[0].last_used_ns == T0
    clock.advance_to(T0 + MINUTE)
    assert authenticate(created.token, "read", clock=clock).last_used_ns == T0 + MINUTE
    assert writes == [T0, T0 + MINUTE]
    assert list_tokens()[0].last_used_ns == T0 + MINUTE


def test_a_failed_last_used_write_does_not_refuse_the_request(
    database: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    created = _create()

    def locked(*_args: object, **_kwargs: object) -> bool:
        raise PersistenceError("database is locked")

    monkeypatch.setattr(TokenStore, "touch", locked)
    info = authenticate(created.token, "read", clock=TestClock(T0))
    assert info.name == "ci" and info.last_used_ns is None
    assert "could not record a token's use" in caplog.text


def test_a_server_keeps_one_authenticator_open(database: str, tradeloop_home: Path) -> None:
    created = _create("dash", ("trade",))
    with open_token_authenticator(clock=TestClock(T0)) as authenticator:
        assert authenticator.authenticate(created.token, "trade").name == "dash"
        assert authenticator.authenticate(created.token, "read").scopes == ("trade",)
        revoke_token("dash", clock=TestClock(T0))  # seen at once, no cache
        with pytest.raises(AuthError, match="token revoked"):
            authenticator.authenticate(created.token, "read")


def test_a_node_passes_its_open_store(database: str, tradeloop_home: Path) -> None:
    created = _create()
    _create("gone", expires_in=timedelta(minutes=1))
    _create("revoked")
    revoke_token("revoked")
    url = None if database.startswith("sqlite") else database
    with open_database(url, tradeloop_home) as opened:
        store = AuditStore(opened)
        info = authenticate(created.token, "read", store=store, clock=TestClock(T0))
        assert info.name == "ci"
        assert [t.name for t in list_tokens(store=store)] == ["ci", "gone", "revoked"]
        assert count_active_tokens(store, clock=TestClock(T0)) == 2
        assert count_active_tokens(store, clock=TestClock(T0 + MINUTE)) == 1
        assert not opened.closed
    assert count_active_tokens(clock=TestClock(T0)) == 2


# -- the failed authentication limiter --------------------------------------------------------


def test_the_limiter_refuses_after_n_failures_until_the_window_frees() -> None:
    clock = TestClock(T0)
    limiter = FailedAuthLimiter(3, timedelta(minutes=1), clock=clock)
    for k in range(3):
        assert limiter.retry_after("10.0.0.1") is None
        clock.advance_to(T0 + k * 10 * SECOND)
        limiter.failed("10.0.0.1")  # at 0 s, 10 s, 20 s
    assert limiter.retry_after("10.0.0.1") == 40  # the first leaves the window at 60 s
    with pytest.raises(AuthError) as caught:
        limiter.check("10.0.0.1")
    assert (caught.value.status, caught.value.retry_after_s) == (429, 40)
    assert "retry in 40 s" in caught.value.reason
    clock.advance_to(T0 + 60 * SECOND - 1)
    assert limiter.retry_after("10.0.0.1") == 1  # rounded up, never 0 while refused
    clock.advance_to(T0 + 60 * SECOND)
    assert limiter.retry_after("10.0.0.1") is None
    limiter.check("10.0.0.1")
    limiter.failed("10.0.0.1")  # the window slides: 10 s, 20 s and 60 s are in it
    assert limiter.retry_after("10.0.0.1") == 10


def test_the_limiter_counts_per_address() -> None:
    clock = TestClock(T0)
    limiter = FailedAuthLimiter(2, clock=clock)
    limiter.failed("a")
    limiter.failed("a")
    limiter.failed("b")
    assert limiter.retry_after("a") == 60
    assert limiter.retry_after("b") is None
    assert limiter.retry_after("c") is None


def test_the_limiter_default_is_ten_a_minute() -> None:
    clock = TestClock(T0)
    limiter = FailedAuthLimiter(clock=clock)
    for _ in range(9):
        limiter.failed("a")
    assert limiter.retry_after("a") is None
    limiter.failed("a")
    assert limiter.retry_after("a") == 60


def test_the_limiter_forgets_quiet_addresses() -> None:
    clock = TestClock(T0)
    limiter = FailedAuthLimiter(1, clock=clock)
    for k in range(3000):
        clock.advance_to(T0 + k * MINUTE)  # each address fails once, then goes quiet
        limiter.failed(f"10.0.{k // 256}.{k % 256}")
    assert limiter.retry_after("10.0.11.183") == 60  # the newest is still refused
    assert limiter.retry_after("10.0.0.0") is None
    assert len(limiter._failures) < 2100


@pytest.mark.parametrize(("count", "window"), [(0, timedelta(minutes=1)),
                                                (3, timedelta(0))])
def test_the_limiter_refuses_bad_settings(count: int, window: timedelta) -> None:
    with pytest.raises(ConfigError):
        FailedAuthLimiter(count, window)


def test_only_failed_authentications_count(database: str, tradeloop_home: Path) -> None:
    good = _create("reader", ("read",))
    clock = TestClock(T0)
    limiter = FailedAuthLimiter(2, clock=clock)
    url = None if database.startswith("sqlite") else database
    with open_database(url, tradeloop_home) as opened:
        gate = TokenAuthenticator(opened, clock=clock, limiter=limiter)
        for _ in range(5):  # successes and 403s are not failed authentications
            gate.authenticate(good.token, "read", source="a")
            with pytest.raises(AuthError, match="lacks"):
                gate.authenticate(good.token, "admin", source="a")
        assert limiter.retry_after("a") is None
        for _ in range(2):
            with pytest.raises(AuthError, match="unknown token"):
                gate.authenticate("tl_" + "Z" * 43, "read", source="a")
        with pytest.raises(AuthError) as caught:  # a good token does not get through now
            gate.authenticate(good.token, "read", source="a")
        assert (caught.value.status, caught.value.retry_after_s) == (429, 60)
        assert gate.authenticate(good.token, "read", source="b").name == "reader"
        clock.advance_to(T0 + 30 * SECOND)
        with pytest.raises(AuthError):  # refused attempts do not extend the block
            gate.authenticate(good.token, "read", source="a")
        clock.advance_to(T0 + MINUTE)
        assert gate.authenticate(good.token, "read", source="a").name == "reader"
