"""The broker conformance suite (``tradeloop.brokers.testing``) against every adapter.

Each adapter runs every point its capabilities and its counterparty allow; the rest are listed
with the reason at the end of the run (``conftest.py``), never skipped silently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alpaca_target import SPEC as ALPACA
from alpaca_target import local_target as alpaca_local_target
from ccxt_target import SPOT as CCXT_SPOT
from ccxt_target import USDM as CCXT_USDM
from ccxt_target import spot_target, usdm_target
from ctrader_target import SPEC as CTRADER
from ctrader_target import local_target as ctrader_local_target
from fix_target import ORDERMATCH, SCRIPTED, ordermatch_target, scripted_target
from fyers_target import SPEC as FYERS
from fyers_target import fyers_target
from ibkr_target import SPEC as IBKR
from ibkr_target import standin_target as ibkr_standin_target
from mt5_target import BRIDGE as MT5_BRIDGE
from mt5_target import SPEC as MT5
from mt5_target import bridge_target, standin_target
from paper_target import SPEC as PAPER
from paper_target import paper_target
from schwab_target import SPEC as SCHWAB
from schwab_target import standin_target as schwab_standin_target

from tradeloop.brokers.testing.harness import Target, TargetSpec
from tradeloop.brokers.testing.points import POINTS, exclusion

SPECS: list[TargetSpec] = [PAPER, SCRIPTED, ORDERMATCH, CCXT_SPOT, CCXT_USDM, MT5, MT5_BRIDGE,
                           IBKR, CTRADER, SCHWAB, FYERS, ALPACA]
_FACTORIES: dict[str, Callable[[Path], Iterator[Target]]] = {
    PAPER.name: paper_target, SCRIPTED.name: scripted_target,
    ORDERMATCH.name: ordermatch_target, CCXT_SPOT.name: spot_target,
    CCXT_USDM.name: usdm_target, MT5.name: standin_target, MT5_BRIDGE.name: bridge_target,
    IBKR.name: ibkr_standin_target,
    CTRADER.name: ctrader_local_target,
    SCHWAB.name: schwab_standin_target,
    FYERS.name: fyers_target,
    ALPACA.name: alpaca_local_target}
_BY_NAME = {p.name: p for p in POINTS}

CASES = [(spec.name, point.name) for spec in SPECS for point in POINTS
         if exclusion(point, spec) is None]
EXCLUDED = [(spec.name, point.name, why) for spec in SPECS for point in POINTS
            if (why := exclusion(point, spec)) is not None]


@pytest.mark.parametrize(("target_name", "point_name"), CASES,
                         ids=[f"{t}::{p}" for t, p in CASES])
def test_point(target_name: str, point_name: str, tmp_path: Path) -> None:
    factory = _FACTORIES[target_name]
    targets = factory(tmp_path)
    target = next(targets)
    try:
        asyncio.run(_BY_NAME[point_name].check(target))
    finally:
        targets.close()


def test_every_point_is_run_or_excluded_with_a_reason() -> None:
    for spec in SPECS:
        ran = {p for t, p in CASES if t == spec.name}
        excluded = {p for t, p, why in EXCLUDED if t == spec.name and why}
        assert ran | excluded == {p.name for p in POINTS}
        assert not ran & excluded
