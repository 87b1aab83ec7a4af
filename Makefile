# Every target is self-sufficient on a fresh machine with only Python:
# it creates .venv and installs what it needs, once.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup test test-all figures bench lint docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# CPU build of torch first, so the [torch] extra never pulls a CUDA build.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev,plots,torch]"
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m pytest -q

test-all: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m pytest -q -m ""

figures: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m analyses.make_all

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_torch.py

lint: $(STAMP)
	$(BIN)/ruff check gvpo_theory tests analyses benchmarks

docs: $(STAMP)
	$(BIN)/python docs/render_api.py && $(BIN)/python docs/render_theory.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache
