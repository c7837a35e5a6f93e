# impasto — quick start: `make demo` (runtime only) and `make test` (everything).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH_VERSION ?= 2.13.0

.PHONY: demo test lint venv install-runtime install-dev bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

venv: $(PY)

## Base install (numpy, onnxruntime, opencv) and one stylised sample photo.
demo: $(PY)
	$(PIP) install -q -e .
	$(VENV)/bin/impasto stylize assets/astronaut.jpg -o demo-output/astronaut_starry_night.jpg
	@echo "result: $(CURDIR)/demo-output/astronaut_starry_night.jpg"

## torch is pinned first so the [train] extra never pulls a multi-GB CUDA build.
install-dev: $(PY)
	$(PIP) install -q "torch==$(TORCH_VERSION)"
	$(PIP) install -q -e ".[train,dev]"

test: install-dev
	$(VENV)/bin/ruff check impasto tests tools
	$(VENV)/bin/pytest -q tests

lint: install-dev
	$(VENV)/bin/ruff check impasto tests tools

bench: install-dev
	$(PY) tools/bench_cpu.py

clean:
	rm -rf $(VENV) .venv-bench demo-output .pytest_cache .ruff_cache *.egg-info
