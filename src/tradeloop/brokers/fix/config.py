"""Settings of a FIX session: where the counterparty is, who we are, timers, the store.

The password is a ``SecretStr`` and comes from the environment: ``password_env`` names the
variable and :meth:`FixSessionConfig.resolved_password` reads it (the value is then masked in
every log line). A ``password`` given directly (by code, never by a settings file) wins.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from tradeloop.core.errors import ConfigError
from tradeloop.core.logging import register_secret

#: The FIX versions the session speaks (QuickFIX's ``ordermatch`` example knows only 4.2).
BeginString = Literal["FIX.4.4", "FIX.4.2"]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FILE_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _check_fix_text(value: str | None) -> str | None:
    if value is None:
        return None
    if not value or not value.isprintable() or not value.isascii():
        raise ValueError("must be printable ASCII text, not empty")
    return value


class ReconnectPolicy(BaseModel):
    """How a dropped session comes back.

    Attributes
    ----------
    enabled : bool
        Reconnect by itself after the connection drops (never after :meth:`FixSession.stop`).
    initial_backoff_s, max_backoff_s : float
        The wait before the first attempt, doubled after each failed one up to the maximum.
    jitter : float
        Each wait is shortened by a random fraction up to this (0: exact waits), so that
        many clients do not reconnect in step.
    max_attempts : int or None
        Attempts before giving up (the session then fails); None retries forever.
    max_logon_disconnects : int
        Consecutive attempts where the peer closed the connection in answer to our Logon
        before the session gives up: a counterparty that drops unknown CompIDs or bad
        credentials looks like this, and retrying forever would only hammer it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    initial_backoff_s: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    max_backoff_s: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    jitter: float = Field(default=0.25, ge=0, lt=1)
    max_attempts: int | None = Field(default=None, ge=1)
    max_logon_disconnects: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> ReconnectPolicy:
        if self.max_backoff_s < self.initial_backoff_s:
            raise ValueError("max_backoff_s must be at least initial_backoff_s")
        return self

    def backoff_s(self, attempt: int, random_fraction: float = 0.0) -> float:
        """The wait before attempt number ``attempt`` (1 for the first).

        Parameters
        ----------
        attempt : int
            1 for the first attempt after a drop.
        random_fraction : float
            A number in [0, 1), scaled by :attr:`jitter` and taken off the wait.

        Returns
        -------
        float
            ``min(max_backoff_s, initial_backoff_s * 2**(attempt - 1))`` less its jitter.
        """
        base = min(self.max_backoff_s, self.initial_backoff_s * 2.0 ** min(attempt - 1, 62))
        return base * (1.0 - self.jitter * random_fraction)


class FixSessionConfig(BaseModel):
    """One FIX session as the initiator (we connect, the counterparty accepts).

    Attributes
    ----------
    host, port : str, int
        The counterparty's acceptor.
    begin_string : {"FIX.4.4", "FIX.4.2"}
    sender_comp_id, target_comp_id : str
        Our CompID (49 on what we send) and the counterparty's (56).
    sender_sub_id, target_sub_id : str or None
        Tags 50 and 57, when the counterparty wants them.
    username : str or None
        Tag 553 of the Logon.
    password : SecretStr or None
        Tag 554 of the Logon; normally left out and read from ``password_env``.
    password_env : str or None
        The environment variable holding the password.
    heartbeat_s : int
        HeartBtInt (108): we send a Heartbeat after this many idle seconds.
    heartbeat_grace_s : float or None
        How much longer than ``heartbeat_s`` the peer may stay silent before we send a
        TestRequest, and then how long it has to answer before we drop the connection.
        None: 20% of ``heartbeat_s``, at least half a second.
    reset_seq_on_logon : bool
        Start every logon from sequence number 1 (ResetSeqNumFlag 141=Y), forgetting what
        was sent before: only when the counterparty asks for it.
    store_dir : Path
        Where the sequence numbers and sent messages of the session persist, one SQLite
        file per session.
    reconnect : ReconnectPolicy
    connect_timeout_s, logon_timeout_s, logout_timeout_s : float
        How long opening the connection, the Logon answer and the Logout answer may take.
    resend_max_age_s : float or None
        Application messages older than this are not resent when the counterparty asks
        for them: a SequenceReset-GapFill covers them instead, so a stale order never
        reaches the market late. None resends everything stored.
    check_comp_ids : bool
        Drop the session when an inbound message carries CompIDs other than ours.
    max_message_bytes : int
        The largest inbound message accepted; more unparsed bytes drop the connection.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)
    begin_string: BeginString = "FIX.4.4"
    sender_comp_id: str
    target_comp_id: str
    sender_sub_id: str | None = None
    target_sub_id: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    password_env: str | None = None
    heartbeat_s: int = Field(default=30, ge=1, le=3600)
    heartbeat_grace_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    reset_seq_on_logon: bool = False
    store_dir: Path
    reconnect: ReconnectPolicy = ReconnectPolicy()
    connect_timeout_s: float = Field(default=5.0, gt=0, allow_inf_nan=False)
    logon_timeout_s: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    logout_timeout_s: float = Field(default=5.0, gt=0, allow_inf_nan=False)
    resend_max_age_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    check_comp_ids: bool = True
    max_message_bytes: int = Field(default=1 << 20, ge=1024)

    @field_validator("sender_comp_id", "target_comp_id", "sender_sub_id", "target_sub_id",
                     "username")
    @classmethod
    def _fix_text(cls, value: str | None) -> str | None:
        return _check_fix_text(value)

    @field_validator("password_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(f"{value!r} is not an environment variable name: use letters, "
                             "digits and _, such as FIX_PASSWORD")
        return value

    @field_validator("password", mode="before")
    @classmethod
    def _blank_password(cls, value: SecretStr | str | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value if isinstance(value, SecretStr) else SecretStr(value)
        return secret if secret.get_secret_value() else None

    @property
    def session_id(self) -> str:
        """``BEGIN:SENDER->TARGET``, as in the counterparty's logs."""
        return f"{self.begin_string}:{self.sender_comp_id}->{self.target_comp_id}"

    @property
    def store_name(self) -> str:
        """The session's file name under :attr:`store_dir` (no extension)."""
        return _FILE_UNSAFE.sub("_", f"{self.begin_string}-{self.sender_comp_id}-"
                                     f"{self.target_comp_id}")

    @property
    def grace_s(self) -> float:
        """The heartbeat grace in seconds (see :attr:`heartbeat_grace_s`)."""
        if self.heartbeat_grace_s is not None:
            return self.heartbeat_grace_s
        return max(0.5, 0.2 * self.heartbeat_s)

    def resolved_password(self, environ: Mapping[str, str] | None = None) -> SecretStr | None:
        """The Logon password: :attr:`password`, else the variable named by ``password_env``.

        Parameters
        ----------
        environ : mapping, optional
            The environment; ``os.environ`` by default.

        Returns
        -------
        SecretStr or None
            None when neither is set. The value is registered for masking in logs.

        Raises
        ------
        ConfigError
            ``password_env`` names a variable that is unset or empty.
        """
        if self.password is not None:
            register_secret(self.password)
            return self.password
        if self.password_env is None:
            return None
        env = os.environ if environ is None else environ
        value = env.get(self.password_env)
        if not value:
            state = "is not set" if value is None else "is empty"
            raise ConfigError(f"environment variable {self.password_env} {state} (needed for "
                              f"the password of FIX session {self.session_id})")
        register_secret(value)
        return SecretStr(value)


__all__ = ["BeginString", "FixSessionConfig", "ReconnectPolicy"]
