# Two commands from a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU build of torch 2.13.0; a loose `torch` requirement would pull a CUDA build of several GB.
TORCH_PIN := torch==2.13.0
OUT ?= reports/demo
# `make test` skips the end-to-end tests marked slow; `make test MARK=` (what CI runs) runs all.
MARK ?= not slow

# `make wheel-check`: the wheel, installed the normal way into a fresh virtual environment,
# runs the quick demo from a folder outside the source tree.
WHEEL_TMP ?= /tmp/pimsim-wheel-check

.PHONY: venv demo test lint bench examples wheel-check clean

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
	$(BIN)/ruff check pimsim tests benchmarks examples

test: venv lint
	$(BIN)/python -m pytest -q tests -m "$(MARK)"

examples: venv
	for e in examples/*.py; do $(BIN)/python $$e --out runs/examples/$$(basename $$e .py) || exit 1; done

wheel-check: venv
	rm -rf $(WHEEL_TMP) && mkdir -p $(WHEEL_TMP)
	$(BIN)/pip wheel -q --no-deps -w $(WHEEL_TMP)/dist .
	rm -rf build pimsim.egg-info
	$(PYTHON) -m venv $(WHEEL_TMP)/venv
	$(WHEEL_TMP)/venv/bin/pip install -q --upgrade pip
	$(WHEEL_TMP)/venv/bin/pip install -q "$(TORCH_PIN)"
	$(WHEEL_TMP)/venv/bin/pip install -q $(WHEEL_TMP)/dist/pimsim-*.whl
	cd $(WHEEL_TMP) && venv/bin/pimsim demo --quick --out demo
	cd $(WHEEL_TMP) && venv/bin/pimsim simulate --config demo/config.json --out again
	cmp $(WHEEL_TMP)/demo/subnets.csv $(WHEEL_TMP)/again/subnets.csv

bench: venv
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info $(WHEEL_TMP)
