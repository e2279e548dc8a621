"""Fixtures starting QuickFIX's example acceptors (see ``support.quickfix``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support.quickfix import QuickFixAcceptor, quickfix_program

AcceptorFactory = Callable[..., QuickFixAcceptor]


@pytest.fixture(scope="session")
def quickfix_cache(request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the example programs are unpacked: ``$TRADELOOP_QUICKFIX_DIR`` wins, else the
    pytest cache (kept between runs), else a temporary folder."""
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("quickfix"))
    return tmp_path_factory.mktemp("quickfix")


def _factory(name: str, defaults: dict[str, Any], workdir: Path,
             cache: Path) -> Iterator[AcceptorFactory]:
    started: list[QuickFixAcceptor] = []

    def start(**settings: Any) -> QuickFixAcceptor:
        program = quickfix_program(name, cache)
        acceptor = QuickFixAcceptor(program, workdir / f"{name}-{len(started)}",
                                    **{**defaults, **settings})
        started.append(acceptor)
        acceptor.start()
        return acceptor

    yield start
    for acceptor in started:
        acceptor.stop()


@pytest.fixture
def quickfix_executor(tmp_path: Path, quickfix_cache: Path) -> Iterator[AcceptorFactory]:
    """Start QuickFIX's ``executor`` (fills every limit order at its price): call it with
    optional ``begin_string``, ``sender_comp_id`` (default EXECUTOR), ``target_comp_id``
    (default CLIENT) or ``port``; stopped after the test."""
    yield from _factory("executor", {"begin_string": "FIX.4.4", "sender_comp_id": "EXECUTOR",
                                     "target_comp_id": "CLIENT"}, tmp_path, quickfix_cache)


@pytest.fixture
def quickfix_ordermatch(tmp_path: Path, quickfix_cache: Path) -> Iterator[AcceptorFactory]:
    """Start QuickFIX's ``ordermatch`` (a FIX 4.2 matching engine; default CompIDs
    ORDERMATCH and CLIENT); stopped after the test."""
    yield from _factory("ordermatch", {"begin_string": "FIX.4.2",
                                       "sender_comp_id": "ORDERMATCH",
                                       "target_comp_id": "CLIENT"}, tmp_path, quickfix_cache)
