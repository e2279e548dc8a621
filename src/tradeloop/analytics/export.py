"""Write a backtest result to a directory: trades, orders, fills, equity and metrics.

Each file is written to a temporary name and renamed into place, so a reader never sees half a
file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tradeloop.analytics.results import BacktestResult
from tradeloop.core.time import ns_to_iso

TRADE_COLUMNS = (
    "symbol", "strategy_id", "side", "quantity", "entry_time", "entry_price", "exit_time",
    "exit_price", "gross_pnl", "commission", "pnl", "return_pct", "entry_order_id",
    "exit_order_id",
)
ORDER_COLUMNS = (
    "client_order_id", "venue_order_id", "strategy_id", "symbol", "side", "type", "quantity",
    "price", "trigger_price", "time_in_force", "reduce_only", "parent_id", "linked_ids",
    "status", "filled_qty", "avg_px", "commission", "created", "last_update", "reason", "tags",
)
DENIAL_COLUMNS = ("time", "client_order_id", "strategy_id", "symbol", "side", "quantity",
                  "code", "reason", "limit", "value")
FILL_COLUMNS = (
    "time", "client_order_id", "venue_order_id", "trade_id", "strategy_id", "symbol", "side",
    "quantity", "price", "commission", "commission_currency", "liquidity",
)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _write_atomic(path: Path, content: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(content, encoding="utf-8")
    os.replace(tmp, path)


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_text(v) for v in row] for row in rows)
    return buffer.getvalue()


def json_safe(value: Any) -> Any:
    """Replace NaN by None and infinities by ``"inf"``/``"-inf"`` so the value is valid JSON."""
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def write_result(result: BacktestResult, out_dir: Path) -> list[Path]:
    """Write ``trades.csv``, ``orders.csv``, ``denials.csv`` (orders the risk gate refused),
    ``fills.csv``, ``equity.csv`` and ``metrics.json``.

    Returns
    -------
    list of Path
        The files written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    run = result.run
    files = {
        "trades.csv": _csv(TRADE_COLUMNS, (
            (t.symbol, t.strategy_id, t.side, t.quantity, ns_to_iso(t.entry_ts), t.entry_price,
             ns_to_iso(t.exit_ts) if t.exit_ts is not None else None, t.exit_price,
             repr(t.gross_pnl), repr(t.commission), repr(t.pnl), f"{t.return_pct:.6f}",
             t.entry_order_id, t.exit_order_id)
            for t in result.trades
        )),
        "orders.csv": _csv(ORDER_COLUMNS, (
            (o.client_order_id, o.venue_order_id, o.strategy_id, o.symbol, o.side, o.order_type,
             o.quantity, o.price, o.trigger_price, o.time_in_force, o.reduce_only, o.parent_id,
             " ".join(o.linked_ids), o.status, o.filled_qty, o.avg_px, o.commission,
             ns_to_iso(o.ts_init), ns_to_iso(o.ts_last) if o.ts_last else None, o.reason,
             " ".join(o.tags))
            for o in run.orders
        )),
        "denials.csv": _csv(DENIAL_COLUMNS, (
            (ns_to_iso(d.ts), d.client_order_id, d.strategy_id, d.symbol, d.side, d.quantity,
             d.code, d.reason, d.limit, d.value)
            for d in result.denials
        )),
        "fills.csv": _csv(FILL_COLUMNS, (
            (ns_to_iso(f.ts), f.client_order_id, f.venue_order_id, f.trade_id, f.strategy_id,
             f.symbol, f.side, f.last_qty, f.last_px, f.commission, f.commission_currency,
             f.liquidity)
            for f in run.fills
        )),
        "equity.csv": _csv(("time", "equity", "drawdown"), (
            (ns_to_iso(ts), repr(eq), repr(dd))
            for ts, eq, dd in zip(
                run.timeline.tolist(), run.equity.tolist(), result.drawdown.tolist(), strict=True
            )
        )),
        "metrics.json": json.dumps(
            json_safe({
                **result.metrics,
                "strategies": run.strategies,
                "failures": [str(f) for f in run.failures],
            }),
            indent=2, default=str,
        ) + "\n",
    }
    written = []
    for name, content in files.items():
        path = out_dir / name
        _write_atomic(path, content)
        written.append(path)
    return written
