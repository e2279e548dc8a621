"""Runs in the database: every backtest recorded with its facts, listed, shown by a prefix of
its id, compared; a database that cannot be written costs a warning, never the results.

The tests that touch the database run on the home's SQLite file and, when
``TRADELOOP_TEST_PG_URL`` names a server, on PostgreSQL through ``TRADELOOP_DATABASE_URL``
(required when ``TRADELOOP_REQUIRE_PG`` is set, as in the persistence tests).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from tradeloop.core.errors import ConfigError, UserError
from tradeloop.core.time import dt_to_ns
from tradeloop.data import bundled_path, load_bars
from tradeloop.model.data import BarSeries
from tradeloop.persistence import AuditStore, open_database
from tradeloop.services import BacktestRequest, run_backtest
from tradeloop.services.code_version import CodeVersion, code_version, detect_code_version
from tradeloop.services.runs import (
    OPTIMIZE,
    DataFacts,
    RunFacts,
    RunSummary,
    compare_runs,
    fingerprint,
    get_run,
    list_runs,
    metric_rows,
    record_run,
)

DATABASE_URL_VARIABLE = "TRADELOOP_DATABASE_URL"
VERSION = re.compile(r"^\d+\.\d+\.\d+(\+g[0-9a-f]{12}(\+dirty)?)?$")
RESULT_FILES = {"trades.csv", "orders.csv", "denials.csv", "fills.csv", "equity.csv",
                "metrics.json", "run.json"}


def ns(*args: int) -> int:
    return dt_to_ns(datetime(*args, tzinfo=UTC))


def _facts(started_ns: int, **changes: object) -> RunFacts:
    """A recorded run without running a backtest."""
    facts = RunFacts(
        kind="backtest", status="finished", strategy="sma_cross", strategy_name="SmaCross",
        params={"fast": 10, "slow": 30}, data=(DataFacts(
            "GOOG", ns(2010, 1, 4), ns(2012, 12, 31), 754, "sha256:" + "ab" * 32, 86_400 * 10**9),),
        metrics={"total_return": 0.05, "sharpe": 1.2, "max_drawdown": -0.1, "num_trades": 12.0,
                 "profit_factor": float("inf"), "win_rate": float("nan")},
        started_ns=started_ns, ended_ns=started_ns + 10**9,
        strategy_class="tradeloop.examples.sma_cross:SmaCross",
        settings={"account": {"cash": "100000", "commission": None}},
    )
    return replace(facts, **changes)


def _goog_copy(path: Path, bump_row: int | None = None) -> Path:
    lines = bundled_path("GOOG").read_text().splitlines()
    if bump_row is not None:  # Date,Open,High,Low,Close,Volume: a cent on the close
        parts = lines[bump_row].split(",")
        parts[4] = f"{float(parts[4]) + 0.01:.2f}"
        parts[2] = f"{max(float(parts[2]), float(parts[4])):.2f}"  # the high stays the high
        lines[bump_row] = ",".join(parts)
    path.write_text("\n".join(lines) + "\n")
    return path


# -- recording a backtest -----------------------------------------------------------------------


def test_a_backtest_is_recorded_with_its_facts(database: str, tmp_path: Path) -> None:
    before = time.time_ns()
    out = tmp_path / "out"
    outcome = run_backtest(BacktestRequest(
        "sma_cross", start="2010-01-01", end="2012-12-31", params={"fast": "5"},
        commission="0.1%", out_dir=out,
    ))
    after = time.time_ns()
    assert outcome.run_id is not None and outcome.run_warning is None
    assert {p.name for p in outcome.files} == RESULT_FILES
    run = get_run(outcome.run_id)
    assert (run.kind, run.mode, run.status) == ("backtest", "backtest", "finished")
    assert run.strategy == "SmaCross" and run.strategy_spec == "sma_cross"
    assert run.strategy_class == "tradeloop.examples.sma_cross:SmaCross"
    assert run.params == {"fast": 5, "size": 1, "slow": 30}
    goog = load_bars(bundled_path("GOOG")).bars
    used = goog.slice_time(ns(2010, 1, 1), ns(2013, 1, 1) - 1)
    (data,) = run.data
    assert data.symbol == "GOOG" and data.source.endswith("GOOG.csv")
    assert (data.first_ns, data.last_ns) == (int(used.ts[0]), int(used.ts[-1]))
    assert data.first_ns >= ns(2010, 1, 1) and data.last_ns <= ns(2012, 12, 31)
    assert data.bars == len(used) == outcome.result.run.bars
    assert data.timeframe_ns == 86_400 * 10**9
    assert data.fingerprint == fingerprint(used)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", data.fingerprint)
    assert run.settings["range"] == {"from": "2010-01-01", "to": "2012-12-31"}
    assert run.settings["account"]["cash"] == "100000"
    assert run.settings["account"]["commission"] == "0.1%"
    assert run.settings["account"]["type"] == "margin"
    assert run.settings["risk"] is None
    assert VERSION.fullmatch(run.code_version)
    assert run.code_version == code_version().label
    assert before <= run.started_ns <= run.ended_ns <= after
    assert run.metric("total_return") == pytest.approx(outcome.result.metrics["total_return"])
    assert run.metrics["num_trades"] == outcome.result.metrics["num_trades"]
    assert run.artefacts["out_dir"] == str(out.resolve())
    assert {name for name in run.artefacts if name != "out_dir"} == RESULT_FILES
    assert all(Path(path).is_file() for name, path in run.artefacts.items() if name != "out_dir")
    document = json.loads((out / "run.json").read_text())
    assert document["run_id"] == run.run_id
    assert document["strategy"]["params"] == {"fast": 5, "size": 1, "slow": 30}
    assert document["data"][0]["fingerprint"] == data.fingerprint
    assert document["data"][0]["first"] == "2010-01-04T00:00:00Z"
    assert document["code_version"] == run.code_version
    assert document["metrics"]["num_trades"] == run.metrics["num_trades"]
    assert not list(out.glob(".*tmp"))  # no temporary file left behind


def test_the_fingerprint_changes_when_the_data_changes(database: str, tmp_path: Path) -> None:
    same = _goog_copy(tmp_path / "same.csv")
    edited = _goog_copy(tmp_path / "edited.csv", bump_row=100)
    runs = [run_backtest(BacktestRequest("sma_cross", data=(str(path),), symbols=("GOOG",),
                                         out_dir=tmp_path / path.stem)).run_id
            for path in (bundled_path("GOOG"), same, edited)]
    original, copy, changed = (get_run(str(run_id)).data[0] for run_id in runs)
    assert copy.fingerprint == original.fingerprint  # same values, another file
    assert changed.fingerprint != original.fingerprint
    assert (changed.first_ns, changed.last_ns, changed.bars) == (
        original.first_ns, original.last_ns, original.bars)
    names = {d.name for d in compare_runs([str(runs[0]), str(runs[2])]).data}
    assert "GOOG fingerprint" in names and "GOOG range" not in names and "GOOG bars" not in names


def test_fingerprint_covers_times_and_values_not_the_symbol() -> None:
    ts = np.array([ns(2024, 1, 1), ns(2024, 1, 2)], dtype=np.int64)
    values = np.array([1.0, 2.0])
    bars = BarSeries("A", ts, values, values + 1, values - 1, values, values * 100)
    assert fingerprint(bars) == fingerprint(replace(bars, symbol="B", source="x.csv"))
    assert fingerprint(bars) != fingerprint(replace(bars, close=values + 1e-9))
    assert fingerprint(bars) != fingerprint(replace(bars, ts=ts + 1))
    assert fingerprint(bars) != fingerprint(replace(bars, volume=values))


def test_a_failed_strategy_is_a_failed_run(database: str, tmp_path: Path) -> None:
    script = tmp_path / "breaks.py"
    script.write_text(
        "from tradeloop.strategy import Strategy\n\n\n"
        "class Breaks(Strategy):\n"
        "    def on_bar(self, bar):\n"
        "        raise RuntimeError('boom')\n"
    )
    outcome = run_backtest(BacktestRequest(str(script), data=("GOOG",), out_dir=tmp_path / "o"))
    run = get_run(str(outcome.run_id))
    assert run.status == "failed"
    assert run.strategy_class.endswith(":Breaks") and run.strategy_spec == str(script)
    assert len(run.failures) == 1 and "boom" in run.failures[0]


def test_risk_file_is_recorded_with_its_hash(database: str, tmp_path: Path) -> None:
    risk = tmp_path / "risk.toml"
    risk.write_text("[risk]\ndaily_loss_limit = \"1000000\"\n")
    outcome = run_backtest(BacktestRequest("sma_cross", risk=risk, out_dir=tmp_path / "o"))
    recorded = get_run(str(outcome.run_id)).settings["risk"]
    assert recorded["file"] == str(risk.resolve())
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", recorded["sha256"])


# -- a database that cannot be written -----------------------------------------------------------


def test_an_unwritable_database_keeps_the_results_and_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(DATABASE_URL_VARIABLE, f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="tradeloop.services.backtest"):
        outcome = run_backtest(BacktestRequest("sma_cross", out_dir=out))
    assert outcome.run_id is None
    assert outcome.run_warning is not None
    assert outcome.run_warning.startswith("not recorded in the audit database: cannot open")
    assert "\n" not in outcome.run_warning
    assert {p.name for p in out.iterdir()} == RESULT_FILES
    assert json.loads((out / "run.json").read_text())["run_id"] is None
    assert json.loads((out / "metrics.json").read_text())["num_trades"] > 0
    assert any("not fully recorded" in r.getMessage() for r in caplog.records)


def test_a_refused_write_keeps_the_results_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tradeloop.persistence import PersistenceError

    def refuse(*_args: object, **_kwargs: object) -> str:
        raise PersistenceError("could not write to the audit database: disk I/O error")

    monkeypatch.setattr(AuditStore, "start_run", refuse)
    outcome = run_backtest(BacktestRequest("sma_cross", out_dir=tmp_path / "o"))
    assert outcome.run_id is None and "disk I/O error" in str(outcome.run_warning)
    assert (tmp_path / "o" / "trades.csv").is_file()


# -- listing, showing, comparing -----------------------------------------------------------------


def test_list_is_newest_first_with_limit_and_kind(database: str) -> None:
    ids = [record_run(_facts(ns(2024, 1, day), params={"fast": day})) for day in (3, 1, 2)]
    optimised = record_run(_facts(ns(2024, 1, 4), kind=OPTIMIZE, study={
        "objective": "sharpe", "trials": 50, "space": {"fast": [5, 20]}}))
    listed = list_runs()
    assert [r.run_id for r in listed] == [optimised, ids[0], ids[2], ids[1]]
    assert [r.run_id for r in list_runs(limit=2)] == [optimised, ids[0]]
    assert [r.run_id for r in list_runs(kind="backtest", limit=2)] == [ids[0], ids[2]]
    assert [r.run_id for r in list_runs(kind="optimize")] == [optimised]
    assert list_runs(kind="paper") == []
    first = listed[1]
    assert first.kind == "backtest" and first.strategy == "SmaCross"
    assert first.params == {"fast": 3}
    assert first.data[0].range_text == "2010-01-04 .. 2012-12-31"
    assert first.metric("profit_factor") == float("inf")
    assert first.metric("win_rate") is None  # NaN is stored as null
    assert get_run(optimised).study == {"objective": "sharpe", "trials": 50,
                                        "space": {"fast": [5, 20]}}


@pytest.mark.parametrize(("limit", "kind", "message"), [
    (0, None, "--limit must be at least 1"),
    (5, "sweep", "--kind 'sweep': expected one of backtest, optimize, walkforward, paper, live"),
])
def test_list_refuses_bad_options(database: str, limit: int, kind: str | None,
                                  message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        list_runs(limit, kind)


def test_paper_sessions_are_listed_with_their_node_parameters(
    database: str, tradeloop_home: Path
) -> None:
    url = os.environ.get(DATABASE_URL_VARIABLE)
    with open_database(url, tradeloop_home) as db:
        store = AuditStore(db)
        session = store.start_run("paper", strategy_ids=["sma-eurusd"], config={
            "mode": "paper", "data": {"source": "replay"},
            "strategies": [{"strategy": "sma_cross", "id": "sma-eurusd",
                            "params": {"fast": 3}}]})
    (listed,) = list_runs(kind="paper")
    assert listed.run_id == session and listed.status == "running"
    assert listed.strategy == "sma-eurusd" and listed.params == {"fast": 3}
    assert listed.data == () and listed.metrics == {}
    shown = get_run(session)
    assert ("data.source", "replay") in shown.setting_items()


def test_show_by_prefix_suffix_ambiguous_and_unknown(database: str) -> None:
    first = record_run(_facts(ns(2024, 2, 1, 9)))
    second = record_run(_facts(ns(2024, 2, 1, 9)))  # the same second: only the suffix differs
    assert get_run(first).run_id == first
    assert get_run(f"  {first}  ").run_id == first
    assert get_run(first[:-2]).run_id == first
    assert get_run(first.rpartition("-")[2][:6]).run_id == first
    with pytest.raises(UserError) as ambiguous:
        get_run("20240201T09")
    message = str(ambiguous.value)
    assert "run id '20240201T09' is ambiguous: it matches 2 runs" in message
    assert first in message and second in message
    with pytest.raises(UserError, match=r"no run 'nope' in the audit database"):
        get_run("nope")
    with pytest.raises(UserError, match="give a run id"):
        get_run(" ")


def test_compare_shows_metrics_and_what_differs(database: str) -> None:
    a = record_run(_facts(ns(2024, 3, 1), params={"fast": 5, "slow": 30}, metrics={
        "total_return": 0.1, "sharpe": 0.5, "max_drawdown": -0.2, "num_trades": 10.0}))
    b = record_run(_facts(ns(2024, 3, 2), params={"fast": 8, "slow": 30}, metrics={
        "total_return": 0.3, "sharpe": 0.5, "max_drawdown": -0.05, "num_trades": 14.0},
        settings={"account": {"cash": "50000", "commission": None}}))
    comparison = compare_runs([a, b[:10]])  # 20240302T0: a unique start
    assert [r.run_id for r in comparison.runs] == [a, b]
    rows = {row.key: row for row in comparison.metrics}
    assert list(rows) == ["total_return", "sharpe", "max_drawdown", "num_trades"]
    assert rows["total_return"].values == (0.1, 0.3) and rows["total_return"].best == (1,)
    assert rows["max_drawdown"].best == (1,)  # -5 % beats -20 %
    assert rows["sharpe"].best == ()  # a tie is no winner
    assert rows["num_trades"].best == ()  # more trades is neither better nor worse
    assert [(d.name, d.values) for d in comparison.params] == [("fast", (5, 8))]
    assert comparison.data == ()
    assert [(d.name, d.values) for d in comparison.settings] == [
        ("account.cash", ("100000", "50000"))]


def test_compare_needs_two_distinct_runs(database: str) -> None:
    a = record_run(_facts(ns(2024, 4, 1)))
    with pytest.raises(ConfigError, match="at least two run ids"):
        compare_runs([a])
    with pytest.raises(ConfigError, match=f"run {a} is given twice"):
        compare_runs([a, a[:22]])


def test_metric_rows_lower_is_better_where_it_should_be() -> None:
    runs = [RunSummary("r", "backtest", "backtest", "finished", 0, 1, "S", {}, (), metrics, "0")
            for metrics in ({"annual_volatility": 0.2, "commissions": 5.0, "odd": "x"},
                            {"annual_volatility": 0.1, "commissions": 9.0, "odd": "y"})]
    rows = {row.key: row for row in metric_rows(runs)}
    assert list(rows) == ["annual_volatility", "commissions"]  # text is not a metric
    assert rows["annual_volatility"].best == (1,) and rows["commissions"].best == (0,)


# -- the code version ---------------------------------------------------------------------------


def test_code_version_label_shapes() -> None:
    assert CodeVersion("0.1.0").label == "0.1.0"
    assert CodeVersion("0.1.0", "0123456789abcdef" * 2, False).label == "0.1.0+g0123456789ab"
    assert CodeVersion("0.1.0", "0123456789abcdef" * 2, True).label == (
        "0.1.0+g0123456789ab+dirty")
    assert VERSION.fullmatch(code_version().label)


def test_without_git_or_outside_a_checkout_it_is_the_bare_version(tmp_path: Path) -> None:
    import tradeloop

    assert detect_code_version(git=str(tmp_path / "no-git")) == CodeVersion(
        tradeloop.__version__)
    fake_git = tmp_path / "git"
    fake_git.write_text("#!/bin/sh\necho 'fatal: not a git repository' >&2\nexit 128\n")
    fake_git.chmod(0o755)
    assert detect_code_version(git=str(fake_git)) == CodeVersion(tradeloop.__version__)
    (tmp_path / "pkg").mkdir()
    assert detect_code_version(tmp_path / "pkg").commit is None
