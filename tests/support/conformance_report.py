"""The broker conformance report at the end of a run: which points each adapter passed, failed,
or was excluded from (by its declared capabilities or by what its counterparty can be steered
to do). A pytest plugin that ``tests/conftest.py`` loads in every process.

It works in one process and under pytest-xdist. The process that prints the summary records the
outcome of every ``test_point`` from the reports it sees (under xdist the main process sees
every worker's reports, but collects nothing itself). What was excluded, and the order of the
adapters and points, come from ``tests/contract/test_conformance.py`` through
:func:`publish_catalogue`, which ``tests/contract/conftest.py`` calls at the end of a session
that ran a point; a worker hands it to the main process with its output.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest

POINT_TEST = "tests/contract/test_conformance.py::test_point["
_WORKEROUTPUT_KEY = "broker_conformance_catalogue"


@dataclass
class Catalogue:
    """What the conformance module declares: its adapters, its points, what each excludes."""

    targets: list[str]
    points: list[str]
    excluded: list[tuple[str, str, str]]
    """``(target, point, why)``."""


@dataclass
class _Report:
    outcomes: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    catalogue: Catalogue | None = None


_report = _Report()


def has_outcomes() -> bool:
    """Whether this process saw a conformance point run."""
    return bool(_report.outcomes)


def publish_catalogue(config: pytest.Config, catalogue: Catalogue) -> None:
    """Keep the catalogue for this process's summary; a worker also sends it to the main one."""
    _report.catalogue = catalogue
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_WORKEROUTPUT_KEY] = {
            "targets": catalogue.targets, "points": catalogue.points,
            "excluded": [list(entry) for entry in catalogue.excluded]}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Record the outcome of each point (a failed setup or teardown counts as a failure)."""
    if POINT_TEST not in report.nodeid:
        return
    # "...::test_point[<target>::<point>]", with "@<group>" after it under --dist loadgroup
    case = report.nodeid.split("[", 1)[1].rpartition("]")[0]
    target, _, point = case.partition("::")
    if report.when == "call" or report.outcome != "passed":
        outcome = report.outcome if report.when == "call" else f"{report.outcome} ({report.when})"
        _report.outcomes[target].setdefault(point, outcome)
        if report.outcome != "passed":
            _report.outcomes[target][point] = outcome


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """(main process) Take the catalogue a worker sent, if it ran a point."""
    sent = getattr(node, "workeroutput", {}).get(_WORKEROUTPUT_KEY)
    if sent is not None and _report.catalogue is None:
        _report.catalogue = Catalogue(list(sent["targets"]), list(sent["points"]),
                                      [(t, p, why) for t, p, why in sent["excluded"]])


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Write the report section (not in a worker: its output is not shown)."""
    catalogue = _report.catalogue
    if not _report.outcomes or catalogue is None or hasattr(config, "workerinput"):
        return
    write = terminalreporter.write_line
    terminalreporter.section("broker conformance")
    order = {point: index for index, point in enumerate(catalogue.points)}
    for target in catalogue.targets:
        ran = _report.outcomes.get(target, {})
        if not ran:
            continue
        points = sorted(ran, key=lambda point: order.get(point, len(order)))
        passed = [p for p in points if ran[p] == "passed"]
        failed = [f"{p} ({ran[p]})" for p in points if ran[p] != "passed"]
        excluded = [(p, why) for name, p, why in catalogue.excluded if name == target]
        write(f"{target}: {len(passed)} passed, {len(failed)} failed, "
              f"{len(excluded)} excluded")
        write(f"  passed: {', '.join(passed) or '-'}")
        if failed:
            write(f"  FAILED: {', '.join(failed)}")
        for point, why in excluded:
            write(f"  excluded {point}: {why}")
