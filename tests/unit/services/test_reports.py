"""Reports of recorded runs: a backtest is run again on its recorded data, checked unchanged,
and its report holds what the run did; changed data or risk files are refused, an
optimisation's report shows its best backtest with its trials, sessions are not re-run, and a
backtest just run gets its report without a re-run."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tradeloop.core.errors import ConfigError
from tradeloop.core.time import dt_to_ns
from tradeloop.data import bundled_path
from tradeloop.persistence import AuditStore, open_database
from tradeloop.services import reports
from tradeloop.services.backtest import BacktestOutcome, BacktestRequest, run_backtest
from tradeloop.services.code_version import CodeVersion
from tradeloop.services.reports import ReportOutcome, backtest_report, report_for_run, run_info
from tradeloop.services.runs import OPTIMIZE, DataFacts, RunFacts, get_run, record_run

DATA_BLOCK = re.compile(
    r'<script type="application/json" id="tradeloop-data">(.*?)</script>', re.S)
RUN_TABLE = re.compile(r'<table class="kv" id="run-info">(.*?)</table>', re.S)


@pytest.fixture(autouse=True)
def _home_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADELOOP_DATABASE_URL", raising=False)


def _backtest(out: Path, strategy: str = "sma_cross", **kwargs: Any) -> BacktestOutcome:
    outcome = run_backtest(BacktestRequest(strategy, out_dir=out, **kwargs))
    assert outcome.run_id is not None, outcome.run_warning
    return outcome


def _payload(path: Path) -> dict[str, Any]:
    found = DATA_BLOCK.search(path.read_text(encoding="utf-8"))
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def _entries(path: Path) -> int:
    return sum(m["role"] == "entry" for s in _payload(path)["symbols"] for m in s["markers"])


def _run_rows(path: Path) -> dict[str, str]:
    found = RUN_TABLE.search(path.read_text(encoding="utf-8"))
    assert found is not None
    return dict(re.findall(r'<th scope="row">(.*?)</th><td>(.*?)</td>', found.group(1)))


def _goog_copy(path: Path) -> Path:
    path.write_text(bundled_path("GOOG").read_text(encoding="utf-8"), encoding="utf-8")
    return path


def _edit_close(path: Path, row: int) -> None:
    """Move one close a cent towards the middle of its bar: still valid, different."""
    lines = path.read_text(encoding="utf-8").splitlines()
    parts = lines[row].split(",")
    high, low, close = float(parts[2]), float(parts[3]), float(parts[4])
    parts[4] = f"{close + (0.01 if close < (high + low) / 2 else -0.01):.2f}"
    lines[row] = ",".join(parts)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- re-running a recorded backtest --------------------------------------------------------------


def test_a_recorded_backtest_is_reported_by_id_and_by_prefix(tmp_path: Path) -> None:
    outcome = _backtest(tmp_path / "out")
    run_id = outcome.run_id
    assert run_id is not None
    recorded_trades = get_run(run_id).metric("num_trades")
    assert recorded_trades is not None and recorded_trades > 0

    by_id = report_for_run(run_id)
    assert by_id == ReportOutcome(tmp_path / "out" / "report.html", run_id, ())
    assert _entries(by_id.path) == recorded_trades == len(outcome.result.trades)

    suffix = run_id.rpartition("-")[2]
    by_prefix = report_for_run(suffix[:5], tmp_path / "again.html")
    assert by_prefix.run_id == run_id and by_prefix.path == tmp_path / "again.html"
    assert _entries(by_prefix.path) == recorded_trades
    page = by_prefix.path.read_text(encoding="utf-8")
    table = re.search(r'<table class="data" id="trades-table">(.*?)</table>', page, re.S)
    assert table is not None and table.group(1).count("<tr") == recorded_trades + 1
    assert not list(tmp_path.glob(".*.tmp"))


def test_the_report_holds_the_run_id_params_and_data_range(tmp_path: Path) -> None:
    outcome = _backtest(tmp_path / "out", params={"fast": "5"}, start="2010-01-01")
    assert outcome.run_id is not None
    path = report_for_run(outcome.run_id).path
    rows = _run_rows(path)
    assert rows["Run id"] == outcome.run_id
    assert rows["Strategy"] == "sma_cross (tradeloop.examples.sma_cross:SmaCross)"
    assert rows["Parameters"] == "fast=5 slow=30 size=1"
    assert rows["Data GOOG"].startswith(f"2010-01-04 .. 2013-03-01, 795 1d bars, "
                                        f"{bundled_path('GOOG')}, sha256:")
    assert rows["Range asked"] == "from 2010-01-01 to the end"
    assert rows["Account"] == "margin, 100000 USD, leverage 1"
    assert "Warning" not in rows
    page = path.read_text(encoding="utf-8")
    assert f"· run {outcome.run_id}</title>" in page


def test_typed_parameters_and_settings_come_back_the_same(tmp_path: Path) -> None:
    outcome = _backtest(
        tmp_path / "out", "ma_rsi_atr",
        params={"rsi_min": "52.5", "exit_on_cross": "false", "ma_type": "sma"},
        commission="0.1%", slippage="1tick", cash="50000", end="2012-06-30",
    )
    assert outcome.run_id is not None
    report = report_for_run(outcome.run_id)
    assert report.warnings == ()  # same trades and final equity as recorded
    assert _entries(report.path) == len(outcome.result.trades) > 0
    rows = _run_rows(report.path)
    assert "rsi_min=52.5" in rows["Parameters"] and "exit_on_cross=false" in rows["Parameters"]
    assert rows["Costs"] == "commission 0.1%, slippage 1tick"
    assert rows["Range asked"] == "from the start to 2012-06-30"


def test_without_its_result_folder_the_report_goes_to_the_home(
        tmp_path: Path, tradeloop_home: Path) -> None:
    outcome = _backtest(tmp_path / "out")
    for file in (tmp_path / "out").iterdir():
        file.unlink()
    (tmp_path / "out").rmdir()
    report = report_for_run(str(outcome.run_id))
    assert report.path == tradeloop_home / "reports" / f"{outcome.run_id}.html"
    assert report.path.is_file()


def test_an_output_folder_gets_report_html(tmp_path: Path) -> None:
    outcome = _backtest(tmp_path / "out")
    folder = tmp_path / "reports"
    folder.mkdir()
    assert report_for_run(str(outcome.run_id), folder).path == folder / "report.html"


def test_a_different_code_version_is_a_warning_and_a_line_in_the_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = _backtest(tmp_path / "out")
    monkeypatch.setattr(reports, "code_version", lambda: CodeVersion("99.0.0"))
    report = report_for_run(str(outcome.run_id))
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith("code version differs: the run used ")
    assert report.warnings[0].endswith("this report ran it again with 99.0.0")
    assert _run_rows(report.path)["Warning"] == report.warnings[0]


# -- refusals ------------------------------------------------------------------------------------


def test_changed_data_is_refused_naming_the_file(tmp_path: Path) -> None:
    csv = _goog_copy(tmp_path / "GOOG.csv")
    outcome = _backtest(tmp_path / "out", data=(str(csv),))
    _edit_close(csv, 500)
    with pytest.raises(ConfigError) as caught:
        report_for_run(str(outcome.run_id))
    message = str(caught.value)
    assert f"the data of GOOG ({csv}) changed since the run" in message
    assert "same bar count and range: some value changed" in message
    assert "fingerprint sha256:" in message
    assert "\n" not in message
    assert not (tmp_path / "out" / "report.html").exists()


def test_fewer_bars_are_refused_saying_what_differs(tmp_path: Path) -> None:
    csv = _goog_copy(tmp_path / "GOOG.csv")
    outcome = _backtest(tmp_path / "out", data=(str(csv),))
    lines = csv.read_text(encoding="utf-8").splitlines()
    csv.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(
            "2,148 bars recorded, 2,147 now; range 2004-08-19 .. 2013-03-01 recorded, "
            "2004-08-19 .. 2013-02-28 now")):
        report_for_run(str(outcome.run_id))


def test_missing_data_is_refused_naming_the_file(tmp_path: Path) -> None:
    csv = _goog_copy(tmp_path / "GOOG.csv")
    outcome = _backtest(tmp_path / "out", data=(str(csv),))
    csv.unlink()
    expected = (f"run {outcome.run_id} cannot be run again for its report: data file {csv} "
                "does not exist")
    with pytest.raises(ConfigError, match=re.escape(expected)):
        report_for_run(str(outcome.run_id))


def test_a_changed_risk_file_is_refused(tmp_path: Path) -> None:
    risk = tmp_path / "risk.toml"
    risk.write_text('[risk.account]\nmax_order_quantity = "1000"\n', encoding="utf-8")
    outcome = _backtest(tmp_path / "out", risk=risk)
    assert report_for_run(str(outcome.run_id)).path.is_file()  # unchanged: fine
    risk.write_text('[risk.account]\nmax_order_quantity = "1"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"its risk file {re.escape(str(risk))} changed "
                                          r"since the run \(sha256:[0-9a-f]{16}… recorded"):
        report_for_run(str(outcome.run_id), tmp_path / "second.html")
    assert not (tmp_path / "second.html").exists()


def test_an_unknown_run_id_is_refused() -> None:
    with pytest.raises(ConfigError, match="no run 'nope' in the audit database"):
        report_for_run("nope")


def test_an_optimisation_run_without_its_trials_file_is_refused() -> None:
    started = dt_to_ns(datetime(2024, 1, 2, tzinfo=UTC))
    run_id = record_run(RunFacts(
        kind=OPTIMIZE, status="finished", strategy="sma_cross", strategy_name="SmaCross",
        params={"fast": 5}, data=(DataFacts("GOOG", 0, 1, 2, "sha256:00"),),
        metrics={"sharpe": 1.0}, started_ns=started, ended_ns=started + 1,
        study={"objective": "sharpe", "trials": 5, "options": ["fast=5:10:5"]},
    ))
    with pytest.raises(ConfigError, match=rf"^run {run_id}: its trials file trials.csv is gone"):
        report_for_run(run_id)


def test_an_optimisation_run_is_reported_again_with_its_trials(tmp_path: Path) -> None:
    from tradeloop.services.optimize import OptimizeRequest, run_optimization

    outcome = run_optimization(OptimizeRequest(
        BacktestRequest("sma_cross"), ("fast=5:15:5", "slow=20:40:10"),
        out_dir=tmp_path / "o"))
    written = report_for_run(str(outcome.run_id), tmp_path / "again.html")
    assert written.warnings == ()
    first = (tmp_path / "o" / "report.html").read_text()
    again = written.path.read_text()
    for text in ("Optimisation results", "sharpe by slow and fast", "Overfitting checks",
                 "SmaCross optimisation: best of 9 trials"):
        assert text in first and text in again
    table = again[again.index("Optimisation results"):]
    assert table.count("<tr") >= 10  # header and the nine trials


def test_a_paper_session_is_refused(tradeloop_home: Path) -> None:
    database = open_database(None, tradeloop_home)
    try:
        run_id = AuditStore(database).start_run("paper", config={"strategies": []})
    finally:
        database.close()
    with pytest.raises(ConfigError, match=rf"run {run_id} is a paper session: only backtests"):
        report_for_run(run_id)


def test_an_unwritable_output_is_refused_before_running(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = _backtest(tmp_path / "out")
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")

    def no_rerun(*args: object, **kwargs: object) -> None:
        raise AssertionError("the backtest ran before the path was checked")

    monkeypatch.setattr(reports, "prepare_backtest", no_rerun)
    with pytest.raises(ConfigError, match=re.escape(
            f"cannot write the report to {blocker / 'r.html'}: {blocker} is not a directory")):
        report_for_run(str(outcome.run_id), blocker / "r.html")


# -- a backtest just run -------------------------------------------------------------------------


def test_backtest_report_writes_into_the_result_folder_without_a_rerun(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = _backtest(tmp_path / "out", params={"slow": "40"})
    monkeypatch.setattr(reports, "prepare_backtest", None)  # would fail if called
    path = backtest_report(outcome)
    assert path == tmp_path / "out" / "report.html"
    assert _entries(path) == len(outcome.result.trades)
    rows = _run_rows(path)
    assert rows["Run id"] == outcome.run_id
    assert rows["Parameters"] == "fast=10 slow=40 size=1"
    assert rows["Data GOOG"].startswith("2004-08-19 .. 2013-03-01, 2,148 1d bars")
    other = backtest_report(outcome, tmp_path / "elsewhere" / "r.html")
    assert other.is_file()


def test_run_info_reads_a_config_document() -> None:
    facts = RunFacts(
        kind="backtest", status="finished", strategy="sma_cross", strategy_name="SmaCross",
        params={"fast": 5, "flag": True}, data=(
            DataFacts("EURUSD", 0, 3_600 * 10**9, 2, "sha256:" + "ab" * 32, 3_600 * 10**9,
                      "store:SIM/EURUSD/1h"),
            DataFacts("EURUSD", 0, 86_400 * 10**9, 2, "sha256:" + "cd" * 32, 86_400 * 10**9,
                      "store:SIM/EURUSD/1d")),
        metrics={}, started_ns=0, ended_ns=1,
        settings={"risk": {"file": "/r.toml", "sha256": "sha256:" + "ef" * 32}},
        code=CodeVersion("1.2.3", "a" * 40, dirty=True),
    )
    rows = run_info(facts.config(), started_ns=0)
    assert rows["Run id"] == "not recorded"
    assert rows["Run started"] == "1970-01-01T00:00:00Z"
    assert rows["Parameters"] == "fast=5 flag=true"
    assert rows["Data EURUSD 1h"].startswith("1970-01-01 .. 1970-01-01T01:00:00Z, 2 1h bars, "
                                             "store:SIM/EURUSD/1h, sha256:abababab")
    assert "Data EURUSD 1d" in rows
    assert rows["Range asked"] == "all the data"
    assert rows["Risk file"] == "/r.toml (sha256:efefefefefefefef…)"
    assert rows["Code version"] == "1.2.3+gaaaaaaaaaaaa+dirty"


def test_a_walkforward_run_hands_out_its_own_report(tmp_path: Path) -> None:
    from tradeloop.services.walkforward import WalkForwardRequest, run_walkforward

    outcome = run_walkforward(WalkForwardRequest(
        BacktestRequest("sma_cross", data=("EURUSD",)), ("fast=5:10:5", "slow=30:60:30"),
        windows=2, out_dir=tmp_path / "wf"))
    own = report_for_run(str(outcome.run_id))
    assert own.path == (tmp_path / "wf" / "report.html").resolve()
    assert own.warnings == ("the walk-forward's own report, written when it ran",)
    copied = report_for_run(str(outcome.run_id), tmp_path / "copy.html")
    assert copied.path.read_bytes() == own.path.read_bytes()
    own.path.unlink()
    with pytest.raises(ConfigError, match=r"is a walk-forward whose report .* is gone"):
        report_for_run(str(outcome.run_id))
