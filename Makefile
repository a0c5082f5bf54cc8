# Everything a fresh machine needs: a local virtual environment with the CPU build of torch.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= ../shared/data
# The CPU wheel on this disk; elsewhere e.g. `make TORCH="torch>=2.2"` for your own build.
TORCH ?= torch==2.13.0
export RNNLAB_DATA ?= $(abspath $(DATA))

.PHONY: install demo test test-slow lint bench clean

$(BIN)/rnnlab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned to the build on this disk; the project itself asks only torch>=2.2.
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/rnnlab

demo: install
	$(BIN)/rnnlab train --preset seed-c --iters 1000 --eval-every 250

test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

test-slow: install
	$(BIN)/python -m pytest -q -m slow

bench: install
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
