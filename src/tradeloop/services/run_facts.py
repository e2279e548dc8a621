"""The facts of a run: what ran, on which data, with which settings and code, and what it gave.

:func:`backtest_facts` gathers them from a finished backtest; :func:`write_run_file` writes
them as ``run.json`` next to the result files, so a result folder describes itself.
:mod:`tradeloop.services.runs` stores them in the audit database.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tradeloop.analytics.export import json_safe
from tradeloop.core.time import ns_to_iso
from tradeloop.services.code_version import CodeVersion, code_version

if TYPE_CHECKING:
    from tradeloop.engine.backtest import BacktestConfig
    from tradeloop.model.data import MarketSeries
    from tradeloop.services.backtest import BacktestOutcome, BacktestRequest

BACKTEST = "backtest"
OPTIMIZE = "optimize"
WALKFORWARD = "walkforward"
FINISHED = "finished"
FAILED = "failed"
RUN_FILE = "run.json"


@dataclass(frozen=True)
class DataFacts:
    """One data series of a run: what it was and a fingerprint of its values.

    Attributes
    ----------
    symbol : str
    first_ns, last_ns : int
        Time of the first and last bar used, UTC nanoseconds.
    bars : int
        How many bars (or ticks) the run used.
    fingerprint : str
        ``sha256:`` and the hash of the ``ts`` column and the value columns, in order.
    timeframe_ns : int
        The bar length (0 for ticks or unknown).
    source : str
        The file or store the series came from.
    """

    symbol: str
    first_ns: int
    last_ns: int
    bars: int
    fingerprint: str
    timeframe_ns: int = 0
    source: str = ""

    @property
    def range_text(self) -> str:
        """``2012-01-03 .. 2016-12-30`` (whole times when they are not midnight)."""
        return f"{_short_time(self.first_ns)} .. {_short_time(self.last_ns)}"

    def to_document(self) -> dict[str, Any]:
        """The facts as JSON-ready data (with readable times besides the nanoseconds)."""
        return {"symbol": self.symbol, "source": self.source, "timeframe_ns": self.timeframe_ns,
                "first": ns_to_iso(self.first_ns), "last": ns_to_iso(self.last_ns),
                "first_ns": self.first_ns, "last_ns": self.last_ns, "bars": self.bars,
                "fingerprint": self.fingerprint}

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> DataFacts:
        """Read back what :meth:`to_document` wrote (missing fields become empty)."""
        return cls(symbol=str(doc.get("symbol", "")), first_ns=int(doc.get("first_ns") or 0),
                   last_ns=int(doc.get("last_ns") or 0), bars=int(doc.get("bars") or 0),
                   fingerprint=str(doc.get("fingerprint", "")),
                   timeframe_ns=int(doc.get("timeframe_ns") or 0),
                   source=str(doc.get("source", "")))


def fingerprint(series: MarketSeries) -> str:
    """A sha256 of a series' values: its ``ts`` column then every value column, in order.

    Two series with the same times and values have the same fingerprint whatever their
    symbol or source; any changed price, volume or time changes it.
    """
    digest = hashlib.sha256()
    for item in fields(series):
        column = getattr(series, item.name)
        if isinstance(column, np.ndarray):
            dtype = "<i8" if column.dtype.kind in "iu" else "<f8"
            digest.update(item.name.encode())
            digest.update(np.ascontiguousarray(column, dtype=dtype).tobytes())
    return f"sha256:{digest.hexdigest()}"


def data_facts(series: MarketSeries, source: str = "") -> DataFacts:
    """The :class:`DataFacts` of a series a run used (not empty)."""
    return DataFacts(
        symbol=series.symbol, first_ns=int(series.ts[0]), last_ns=int(series.ts[-1]),
        bars=len(series), fingerprint=fingerprint(series),
        timeframe_ns=int(getattr(series, "timeframe_ns", 0)), source=source or series.source,
    )


@dataclass(frozen=True)
class RunFacts:
    """Everything recorded about a finished backtest or optimisation.

    Attributes
    ----------
    kind : {"backtest", "optimize", "walkforward"}
    status : {"finished", "failed"}
    strategy : str
        The strategy as the user gave it (``sma_cross``, ``my.py:Mine``).
    strategy_name : str
        The strategy's id (``SmaCross``).
    params : mapping
        The effective parameters (for an optimisation: the best trial's).
    data : tuple of DataFacts
    metrics : mapping
        Summary figures (for an optimisation: the best trial's).
    started_ns, ended_ns : int
        Wall-clock UTC nanoseconds.
    strategy_class : str
        ``module:Class`` of the resolved strategy.
    settings : mapping
        Range, account, options and risk file, as nested plain data.
    artefacts : mapping of str to str
        ``out_dir`` and each file written, by name, as absolute paths.
    code : CodeVersion
    failures : tuple of str
        Why strategies stopped early, if they did.
    study : mapping, optional
        An optimisation's settings (search space, objective, trials, sampler, seed) and best
        result.
    """

    kind: str
    status: str
    strategy: str
    strategy_name: str
    params: Mapping[str, Any]
    data: tuple[DataFacts, ...]
    metrics: Mapping[str, Any]
    started_ns: int
    ended_ns: int
    strategy_class: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)
    artefacts: Mapping[str, str] = field(default_factory=dict)
    code: CodeVersion = field(default_factory=code_version)
    failures: tuple[str, ...] = ()
    study: Mapping[str, Any] | None = None

    def config(self) -> dict[str, Any]:
        """The ``config`` document stored with the run (JSON-safe)."""
        doc: dict[str, Any] = {
            "kind": self.kind,
            "strategy": {"spec": self.strategy, "name": self.strategy_name,
                         "class": self.strategy_class, "params": dict(self.params)},
            "data": [d.to_document() for d in self.data],
            "settings": dict(self.settings),
            "code": {"version": self.code.version, "commit": self.code.commit,
                     "dirty": self.code.dirty},
            "failures": list(self.failures),
        }
        if self.study is not None:
            doc["study"] = dict(self.study)
        document: dict[str, Any] = plain(doc)
        return document


def backtest_facts(
    outcome: BacktestOutcome, *, started_ns: int, ended_ns: int, strategy_class: str = ""
) -> RunFacts:
    """The facts of a finished backtest, ready for :func:`record_run` and :func:`write_run_file`.

    The artefacts name ``run.json`` in the output folder too: write it with
    :func:`write_run_file`.
    """
    request = outcome.request
    run = outcome.result.run
    sources = [loaded.report.source for loaded in outcome.data]
    data = tuple(
        data_facts(series, sources[k] if len(sources) == len(run.series) else "")
        for k, series in enumerate(run.series)
    )
    params = run.strategies.get(outcome.strategy_name)
    if params is None and len(run.strategies) == 1:
        params = next(iter(run.strategies.values()))
    settings = request_settings(request, run.config)
    out_dir = outcome.out_dir.expanduser().resolve()
    artefacts = {"out_dir": str(out_dir)}
    artefacts.update({path.name: str(path.resolve()) for path in outcome.files})
    artefacts[RUN_FILE] = str(out_dir / RUN_FILE)
    return RunFacts(
        kind=BACKTEST, status=FAILED if run.failures else FINISHED, strategy=request.strategy,
        strategy_name=outcome.strategy_name, params=dict(params or {}), data=data,
        metrics=dict(outcome.result.metrics), started_ns=started_ns, ended_ns=ended_ns,
        strategy_class=strategy_class, settings=settings, artefacts=artefacts,
        failures=tuple(str(f) for f in run.failures),
    )

def request_settings(request: BacktestRequest, config: BacktestConfig) -> dict[str, Any]:
    """The settings of a backtest request as stored with its run: range, account, options and
    risk file (with its hash)."""
    risk: dict[str, Any] | None = None
    if request.risk is not None:
        risk = {"file": str(request.risk.expanduser().resolve()), "sha256": _file_hash(
            request.risk.expanduser())}
    return {
        "range": {"from": request.start, "to": request.end},
        "account": {
            "cash": str(config.cash), "currency": config.currency,
            "type": config.account_type.value.lower(), "leverage": str(config.leverage),
            "commission": request.commission, "slippage": request.slippage,
            "conflict": request.conflict, "volume_limit": request.volume_limit,
            "oms": config.oms.value.lower(),
        },
        "options": {"timezone": request.timezone, "repair": request.repair,
                    "streaming_indicators": request.streaming_indicators},
        "risk": risk,
    }


def write_run_file(facts: RunFacts, out_dir: Path, run_id: str | None) -> Path:
    """Write ``run.json`` (the facts, their run id or null) into ``out_dir``, atomically.

    Raises
    ------
    OSError
        When the folder cannot be written.
    """
    document = {
        "run_id": run_id, "mode": facts.kind, "status": facts.status,
        "started": ns_to_iso(facts.started_ns), "ended": ns_to_iso(facts.ended_ns),
        "started_ns": facts.started_ns, "ended_ns": facts.ended_ns,
        "code_version": facts.code.label, **facts.config(),
        "metrics": plain(dict(facts.metrics)), "artefacts": dict(facts.artefacts),
    }
    path = out_dir / RUN_FILE
    tmp = out_dir / f".{RUN_FILE}.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path

def plain(value: Any) -> Any:
    """Turn ``value`` into JSON-safe builtins: NaN becomes None, infinities ``"inf"`` and
    ``"-inf"``, numpy scalars their Python values, paths and decimals text."""
    if is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return json_safe(value)
    return str(value)


def _file_hash(path: Path) -> str | None:
    try:
        return f"sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}"
    except OSError:
        return None


def _short_time(ns: int) -> str:
    text = ns_to_iso(ns)
    return text[:10] if text.endswith("T00:00:00Z") else text


__all__ = [
    "BACKTEST",
    "FAILED",
    "FINISHED",
    "OPTIMIZE",
    "RUN_FILE",
    "WALKFORWARD",
    "DataFacts",
    "RunFacts",
    "backtest_facts",
    "data_facts",
    "fingerprint",
    "plain",
    "write_run_file",
]
