# Two commands from a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU build of torch 2.13.0; a loose `torch` requirement would pull a CUDA build of several GB.
TORCH_PIN := torch==2.13.0
OUT ?= reports/demo
# `make test` skips the end-to-end tests marked slow; `make test MARK=` (what CI runs) runs all.
MARK ?= not slow

.PHONY: venv demo test lint bench clean

$(BIN)/pimsim: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_PIN)"
	$(BIN)/pip install -q -e ".[dev]"
	touch $(BIN)/pimsim

venv: $(BIN)/pimsim

demo: venv
	$(BIN)/pimsim demo --out $(OUT)

lint: venv
	$(BIN)/ruff check pimsim tests benchmarks

test: venv lint
	$(BIN)/python -m pytest -q tests -m "$(MARK)"

bench: venv
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
