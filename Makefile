# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Both run `make setup` first, which is idempotent (it reinstalls only when setup.py changed).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.semisupcon-setup

.PHONY: setup test test-fast demo bench clean

setup: $(STAMP)

$(STAMP): setup.py scripts/setup.sh
	PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/setup.sh
	touch $(STAMP)

test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

demo: setup
	$(BIN)/semisupcon demo --out demo_output

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
