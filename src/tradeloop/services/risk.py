"""The kill switch use cases: engage a node's latch, re-arm it, and ask a running node to
close its positions.

A node's latch lives under the tradeloop home at ``state/<node name>.kill.json``; its flatten
requests go to the control folder next to it (``state/<node name>.control``). These functions
work whether the node runs or not: a running node sees the latch at its next market data item
(and at least every quarter of a second), and one started later sees it before any strategy
runs.
"""

from __future__ import annotations

import getpass
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from tradeloop.config.home import home_dir
from tradeloop.config.node import NodeConfig
from tradeloop.core.errors import TradeloopError, UserError
from tradeloop.risk.kill_switch import (
    FlattenRequests,
    FlattenResult,
    KillState,
    KillSwitch,
)

log = logging.getLogger(__name__)

KILL_SWITCH_RULE = "KILL_SWITCH"


@dataclass(frozen=True)
class KillSettings:
    """The kill switch settings of one node (the ``[risk]`` table of its config)."""

    kill_file: Path | None = None
    cancel_on_kill: bool = True
    flatten_on_kill: bool = False


def kill_settings(config: NodeConfig, home: Path | None = None) -> KillSettings:
    """The node's kill switch settings from its ``[risk]`` table (defaults without one); a
    relative ``kill_file`` is taken from the tradeloop home."""
    risk = config.risk
    kill_file = risk.kill_file
    if kill_file is not None:
        kill_file = kill_file.expanduser()
        if not kill_file.is_absolute():
            kill_file = (home or home_dir()) / kill_file
    return KillSettings(kill_file, risk.cancel_on_kill, risk.flatten_on_kill)


def kill_state_path(name: str, home: Path | None = None) -> Path:
    """Where node ``name`` keeps its kill switch latch."""
    return (home or home_dir()) / "state" / f"{name}.kill.json"


def kill_switch(config: NodeConfig, home: Path | None = None,
                kill_file: Path | None = None) -> KillSwitch:
    """The kill switch of the node ``config`` describes (``kill_file`` overrides the
    config's)."""
    home = home or home_dir()
    trigger = kill_file if kill_file is not None else kill_settings(config, home).kill_file
    return KillSwitch(kill_state_path(config.name, home), trigger)


def kill_node(config: NodeConfig, *, by: str = "", reason: str = "", flatten: bool = False,
              home: Path | None = None) -> KillState:
    """Engage the node's kill switch: it stops trading at once if it runs, and will not trade
    when started, until :func:`resume_node`.

    Parameters
    ----------
    by : str
        Who (the operating system user by default).
    reason : str
    flatten : bool
        Also close every position.
    """
    switch = kill_switch(config, home)
    state = switch.engage(by.strip() or _user(), reason.strip() or "tradeloop kill", flatten)
    _audit(config, home, "ENGAGED", state.history[-1].reason, state.history[-1].by)
    return state


def resume_node(config: NodeConfig, *, by: str, reason: str,
                home: Path | None = None) -> KillState:
    """Re-arm the node's kill switch: a running node resumes trading.

    Raises
    ------
    ConfigError
        Without ``by`` or ``reason``, or while the node's kill file exists.
    """
    switch = kill_switch(config, home)
    was = switch.state()
    state = switch.resume(by, reason)
    if was.engaged:
        _audit(config, home, "RESUMED", reason.strip(), by.strip())
    return state


def kill_status(config: NodeConfig, home: Path | None = None) -> KillState:
    """The node's latch as it stands."""
    return kill_switch(config, home).state()


def flatten_node(config: NodeConfig, symbol: str | None = None, *, by: str = "",
                 timeout_s: float = 10.0, home: Path | None = None,
                 poll_s: float = 0.05) -> FlattenResult:
    """Ask the running node to close its positions (of ``symbol`` only when given) and wait
    until it has sent the orders.

    Returns
    -------
    FlattenResult
        The client order ids the node sent (none when it held no position).

    Raises
    ------
    TradeloopError
        When no node took the request within ``timeout_s`` (the request is withdrawn), or
        the node failed to carry it out.
    """
    requests = FlattenRequests(kill_switch(config, home).control_dir)
    request = requests.submit(symbol.upper() if symbol else None, by.strip() or _user())
    deadline = time.monotonic() + timeout_s
    while True:
        result = requests.result(request)
        if result is not None:
            break
        if time.monotonic() >= deadline:
            if requests.withdraw(request):
                raise TradeloopError(
                    f"node {config.name!r} did not take the flatten request within "
                    f"{timeout_s:g} s: is it running? (request withdrawn)")
            deadline = time.monotonic() + timeout_s  # taken just now: wait for its answer
        time.sleep(poll_s)
    if result.error:
        raise TradeloopError(f"node {config.name!r} could not flatten: {result.error}")
    return result


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _audit(config: NodeConfig, home: Path | None, decision: str, reason: str, by: str) -> None:
    """Record the latch action in the node's audit database; the latch itself is what
    matters, so a database that cannot be reached only costs a logged warning."""
    from tradeloop.persistence import AuditStore, open_database

    try:
        url = config.database.url.get_secret_value() or None
        database = open_database(url, home or home_dir())
        try:
            AuditStore(database).record_risk_event(KILL_SWITCH_RULE, decision, reason, by=by)
        finally:
            database.close()
    except (TradeloopError, UserError, OSError) as exc:
        log.warning("kill switch change not recorded in the audit database", extra={
            "fields": {"node": config.name, "error": str(exc)}})


__all__ = [
    "KillSettings",
    "flatten_node",
    "kill_node",
    "kill_settings",
    "kill_state_path",
    "kill_status",
    "kill_switch",
    "resume_node",
]
