# Two entry points (see README): `make demo` and `make test`. Both set up .venv first.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0

.PHONY: setup demo test lint typecheck clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Install torch only if it is not importable yet: a GPU user who installed a CUDA build of
# torch into this venv keeps it; a fresh CPU machine gets the pinned CPU build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install "torch==$(TORCH_VERSION)"
	$(BIN)/pip install -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/dxmi demo

test: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -q tests

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
