"""The conformance report: after the run, which points each adapter passed, failed, or was
excluded from (by its declared capabilities or by what its counterparty can be steered to do)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

_results: dict[str, dict[str, str]] = defaultdict(dict)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "tests/contract/test_conformance.py::test_point[" not in report.nodeid:
        return
    case = report.nodeid.split("[", 1)[1][:-1]
    target, _, point = case.partition("::")
    if report.when == "call" or report.outcome != "passed":
        outcome = report.outcome if report.when == "call" else f"{report.outcome} ({report.when})"
        _results[target].setdefault(point, outcome)
        if report.outcome != "passed":
            _results[target][point] = outcome


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from test_conformance import EXCLUDED, SPECS

    if not _results:
        return
    write = terminalreporter.write_line
    terminalreporter.section("broker conformance")
    for spec in SPECS:
        ran = _results.get(spec.name, {})
        if not ran:
            continue
        passed = [p for p, o in ran.items() if o == "passed"]
        failed = [f"{p} ({o})" for p, o in ran.items() if o != "passed"]
        excluded = [(p, why) for name, p, why in EXCLUDED if name == spec.name]
        write(f"{spec.name}: {len(passed)} passed, {len(failed)} failed, "
              f"{len(excluded)} excluded")
        write(f"  passed: {', '.join(passed) or '-'}")
        if failed:
            write(f"  FAILED: {', '.join(failed)}")
        for point, why in excluded:
            write(f"  excluded {point}: {why}")
