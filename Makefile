# Quick start: `make demo` and `make test` work on a fresh machine with Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The risk gate and the order path compiled with mypyc (docs/decisions/0011); without a C
# compiler the Python source runs. Rebuilt whenever one of its sources changes.
NATIVE := src/tradeloop/_native/manifest.json
NATIVE_SOURCES := $(addprefix src/tradeloop/risk/,base.py calendar_rules.py engine.py \
	limits.py loss.py pacing.py rules.py trading_day.py) src/tradeloop/core/native.py \
	src/tradeloop/portfolio/fx.py src/tradeloop/portfolio/portfolio.py \
	$(addprefix src/tradeloop/model/,cache.py instrument.py position.py account.py \
	orders.py) \
	src/tradeloop/core/bus.py src/tradeloop/core/identifiers.py src/tradeloop/strategy/desk.py \
	src/tradeloop/execution/engine.py $(addprefix src/tradeloop/brokers/simulated/,venue.py \
	matching.py fees.py)

.PHONY: demo test lint types imports unit pure native wheel bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tradeloop needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

$(NATIVE): $(STAMP) $(NATIVE_SOURCES)
	@echo "compiling the risk gate and the order path (mypyc)..."
	@$(BIN)/python -c 'import sys, tradeloop.core.native as n; sys.exit(n.main(["build"]))' \
		> $(VENV)/native-build.log 2>&1 \
		|| { tail -n 5 $(VENV)/native-build.log; \
		     echo "kernel modules not compiled: the Python source runs ($(VENV)/native-build.log)"; }

# A wheel for this platform with the compiled modules in it (hatch_build.py), in dist/.
wheel: $(STAMP)
	$(BIN)/python -m pip wheel --quiet --no-build-isolation --no-deps -w dist .

native: $(NATIVE)
	@$(BIN)/python -c 'import sys, tradeloop.core.native as n; sys.exit(n.main(["status"]))'

demo: $(STAMP) $(NATIVE)
	$(BIN)/tradeloop demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

types: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

# Two workers (pytest-xdist), each running whole files (see tests/support/parallel.py).
unit: $(STAMP) $(NATIVE)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# The compiled modules' tests again on their Python source, which runs where nothing compiled.
pure: $(STAMP)
	TRADELOOP_PURE_PYTHON=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile tests/unit/risk \
		tests/unit/portfolio tests/unit/model tests/unit/config tests/unit/core/test_native.py \
		tests/unit/execution tests/unit/brokers/test_venue_*.py tests/unit/brokers/test_matching_path.py \
		tests/unit/strategy tests/unit/engine tests/unit/persistence/test_order_journal.py \
		tests/unit/core/test_core_bus.py tests/unit/core/test_core_identifiers.py

test: lint types imports unit pure

bench: $(STAMP) $(NATIVE)
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
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist src/tradeloop/_native*
