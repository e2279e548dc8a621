# Quick start: `make demo` and `make test` work on a fresh machine with Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint types imports unit bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tradeloop needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tradeloop demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

types: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

# Two workers (pytest-xdist), each running whole files (see tests/support/parallel.py).
unit: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

test: lint types imports unit

bench: $(STAMP)
	$(BIN)/python bench/backtest_throughput.py
	$(BIN)/python bench/multi_instrument.py
	$(BIN)/python bench/data_loading.py
	$(BIN)/python bench/store_read.py
	$(BIN)/python bench/bar_building.py
	$(BIN)/python bench/tick_to_order.py
	$(BIN)/python bench/node_ingest.py
	$(BIN)/python bench/risk_chain.py
	$(BIN)/python bench/chart_render.py
	$(BIN)/python bench/optimize_grid.py
	$(BIN)/python bench/webhook_load.py
	$(BIN)/python bench/ws_fanout.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
