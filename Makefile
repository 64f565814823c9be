# Thin targets; each one sets up .venv itself so a fresh machine needs only Python, pip and make.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Tests run in parallel: end-to-end runs spend much of their time waiting on rate limits and report polls.
TEST_WORKERS ?= 3

.PHONY: demo test lint bench bench-tables package reliability docs clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	DO_NOT_TRACK=1 PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m tools.demo

test: $(STAMP)
	$(BIN)/ruff check src connectors tests tools bench
	DO_NOT_TRACK=1 PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --durations=15

bench: $(STAMP)
	DO_NOT_TRACK=1 PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m bench.run

bench-tables: $(STAMP)
	DO_NOT_TRACK=1 PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m bench.tables

package: $(STAMP)
	$(BIN)/python -m tools.package $(CONNECTOR)

clean:
	rm -rf $(VENV) dist connectors/*/files

docs: $(STAMP)
	$(BIN)/python -m tools.docs

reliability: $(STAMP)
	DO_NOT_TRACK=1 PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m tools.reliability
