# Every target is self-sufficient on a fresh machine with only Python:
# it creates .venv and installs what it needs, once.
PYTHON ?= python3
# Where pip looks for torch. Empty (the default): pip's configured indexes, which on an
# ordinary machine means PyPI, whose Linux torch wheel bundles CUDA (a multi-GB download,
# what a GPU machine wants). For a CPU-only machine, point it at PyTorch's CPU index:
#   make test TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
TORCH_VERSION ?= 2.13.0
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup test test-all figures bench lint docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, from TORCH_INDEX when set, so the [torch] extra below is already satisfied.
	$(BIN)/python -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "torch==$(TORCH_VERSION)"
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
	$(BIN)/python benchmarks/bench_targets.py
	$(BIN)/python benchmarks/bench_kernels.py
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_torch.py

lint: $(STAMP)
	$(BIN)/ruff check gvpo_theory tests analyses benchmarks

docs: $(STAMP)
	$(BIN)/python docs/render_api.py && $(BIN)/python docs/render_theory.py && $(BIN)/python docs/render_claims.py
	$(BIN)/python docs/render_atlas.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache
