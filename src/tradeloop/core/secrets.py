"""Secrets come from the environment only, never from a settings file, and never reach a log.

A setting that needs a secret holds the *name* of an environment variable
(``password_env = "MT5_PASSWORD"``), and :func:`resolve_secret` reads the variable: from the
process environment, else from the secrets file whose path is in ``TRADELOOP_SECRETS_FILE``.
That file holds ``NAME=value`` lines (blank lines and ``#`` comments skipped, an ``export``
prefix and quotes around the value allowed), as container platforms mount them; it should be
readable by its owner only.

Every secret read is registered with :func:`tradeloop.core.logging.register_secret`, so it is
masked in every later log line, and comes back as a :class:`pydantic.SecretStr`, whose ``repr``
and ``str`` show asterisks. Error messages name variables and files, never values.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

from tradeloop.core.errors import ConfigError
from tradeloop.core.logging import register_secret

logger = logging.getLogger(__name__)

#: The environment variable holding the path of the secrets file.
SECRETS_FILE_ENV = "TRADELOOP_SECRETS_FILE"

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LINE = re.compile(r"^(?:export\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<value>.*)$")


def is_env_name(text: object) -> bool:
    """Tell whether ``text`` can name an environment variable (letters, digits, ``_``)."""
    return isinstance(text, str) and bool(_ENV_NAME.match(text))


def read_secrets_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a ``NAME=value`` secrets file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    dict of str to str

    Raises
    ------
    ConfigError
        The file is missing or unreadable, or a line is not ``NAME=value`` (the message gives
        the line number, never the line).
    """
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
        mode = file.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"secrets file {file} (from {SECRETS_FILE_ENV}) does not exist"
                          ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise ConfigError(f"cannot read secrets file {file} (from {SECRETS_FILE_ENV}): "
                          f"{reason}") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning("the secrets file is readable by other users: chmod 600 it",
                       extra={"fields": {"path": str(file)}})
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.match(stripped)
        if match is None:
            raise ConfigError(f"secrets file {file}: line {number} is not NAME=value")
        value = match.group("value").strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[match.group("name")] = value
    return values


def lookup_secret(env_name: str, environ: Mapping[str, str] | None = None, *,
                  register: bool = True) -> SecretStr | None:
    """Read a secret if it is set.

    Parameters
    ----------
    env_name : str
        The environment variable's name.
    environ : mapping, optional
        The environment; ``os.environ`` by default.
    register : bool, default True
        Mask the value in logs from now on (a caller that masks only part of it, such as the
        password of a URL, passes False and registers that part).

    Returns
    -------
    SecretStr or None
        None when neither the environment nor the secrets file defines ``env_name``.

    Raises
    ------
    ConfigError
        ``env_name`` is not a variable name, or the secrets file is unreadable.
    """
    env = os.environ if environ is None else environ
    if not is_env_name(env_name):
        raise ConfigError(f"{env_name!r} is not an environment variable name: use letters, "
                          "digits and _, such as MT5_PASSWORD")
    value = env.get(env_name)
    if value is None:
        secrets_file = env.get(SECRETS_FILE_ENV, "").strip()
        if secrets_file:
            value = read_secrets_file(secrets_file).get(env_name)
    if value is None:
        return None
    if register:
        register_secret(value)
    return SecretStr(value)


def resolve_secret(env_name: str, environ: Mapping[str, str] | None = None, *,
                   purpose: str | None = None) -> SecretStr:
    """Read a secret that must be set.

    Parameters
    ----------
    env_name : str
        The environment variable's name.
    environ : mapping, optional
        The environment; ``os.environ`` by default.
    purpose : str, optional
        What the secret is for (``"broker.settings.password"``), for the error message.

    Returns
    -------
    SecretStr

    Raises
    ------
    ConfigError
        The variable is unset or empty (the message names it, never a value).
    """
    secret = lookup_secret(env_name, environ)
    needed = f" (needed for {purpose})" if purpose else ""
    if secret is None:
        raise ConfigError(f"environment variable {env_name} is not set{needed}: export it, or "
                          f"add it to the file named by {SECRETS_FILE_ENV}")
    if not secret.get_secret_value():
        raise ConfigError(f"environment variable {env_name} is empty{needed}")
    return secret


__all__ = [
    "SECRETS_FILE_ENV",
    "is_env_name",
    "lookup_secret",
    "read_secrets_file",
    "resolve_secret",
]
