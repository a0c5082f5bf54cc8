# Everything a fresh machine needs: a local virtual environment with the CPU build of torch.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= ../shared/data
export RNNLAB_DATA ?= $(abspath $(DATA))

.PHONY: install demo test test-slow lint bench clean

$(BIN)/rnnlab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned to the build on this disk; the project itself asks only torch>=2.2.
	$(BIN)/pip install -q torch==2.13.0
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
