"""A paper node's settings for tests that need a NodeConfig but no running node: synthetic
quotes, sma_cross, no log file."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from tradeloop.config.node import NodeConfig, load_node_config
from tradeloop.persistence import AuditStore, open_database
from tradeloop.services.control import NodeControl


def synthetic_node_toml(folder: Path, *, name: str = "test-node",
                        symbols: Sequence[str] = ("EURUSD",), extra: str = "") -> Path:
    """``folder/node.toml``: a paper node on synthetic quotes of ``symbols`` trading the first
    with sma_cross (id ``sma``), plus ``extra`` TOML at the end."""
    path = folder / "node.toml"
    listed = ", ".join(f'"{s}"' for s in symbols)
    path.write_text(f'''
mode = "paper"
name = "{name}"
[data]
source = "synthetic"
[data.synthetic]
symbols = [{listed}]
[logging]
file = ""
[[strategies]]
strategy = "sma_cross"
id = "sma"
symbols = ["{symbols[0]}"]
{extra}''', encoding="utf-8")
    return path


def synthetic_node_config(folder: Path, *, name: str = "test-node",
                          symbols: Sequence[str] = ("EURUSD",), extra: str = "",
                          environ: Mapping[str, str] | None = None) -> NodeConfig:
    """The settings of :func:`synthetic_node_toml`, loaded (``environ``: the environment it
    sees, empty by default)."""
    path = synthetic_node_toml(folder, name=name, symbols=symbols, extra=extra)
    return load_node_config(path, environ=environ or {})


@contextmanager
def stored_control(config: NodeConfig, home: Path) -> Iterator[NodeControl]:
    """A NodeControl over the home's audit database, no node running (as ``tradeloop
    serve`` has it)."""
    database = open_database(None, home)
    try:
        yield NodeControl(config, AuditStore(database), home=home)
    finally:
        database.close()
