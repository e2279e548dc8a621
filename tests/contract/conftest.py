"""The conformance report: after the run, which points each adapter passed, failed, or was
excluded from (by its declared capabilities or by what its counterparty can be steered to do).

``support.conformance_report`` records the outcomes and writes the report, in one process and
under pytest-xdist; this hands it what ``test_conformance.py`` declares.
"""

from __future__ import annotations

import pytest

from support.conformance_report import Catalogue, has_outcomes, publish_catalogue


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not has_outcomes():
        return
    from test_conformance import EXCLUDED, SPECS

    from tradeloop.brokers.testing.points import POINTS

    publish_catalogue(session.config, Catalogue(
        targets=[spec.name for spec in SPECS], points=[point.name for point in POINTS],
        excluded=list(EXCLUDED)))
