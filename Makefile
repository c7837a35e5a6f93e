# impasto — quick start: `make demo` (runtime only) and `make test` (everything).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH_VERSION ?= 2.13.0

## The data and weights in ../shared, found the way .ci/run finds them, so a plain `make test`
## runs the same tests as CI (variables already set in the environment win).
SHARED ?= $(abspath $(CURDIR)/../shared)
ifneq ($(wildcard $(SHARED)/data),)
export IMPASTO_SHARED ?= $(SHARED)
endif
ifneq ($(wildcard $(SHARED)/weights/vgg16_imagenet.pth),)
export IMPASTO_VGG16_WEIGHTS ?= $(SHARED)/weights/vgg16_imagenet.pth
endif

.PHONY: demo test lint venv install-runtime install-dev bench clean ext nvcc-check

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

## The compiled ops impasto._C (CPU kernels always, CUDA ones when torch has CUDA), built in place.
## MAX_JOBS compiles sources in parallel (ninja); pip installs never build it.
ext: install-dev
	IMPASTO_BUILD_EXT=1 MAX_JOBS=$${MAX_JOBS:-2} $(PY) setup.py build_ext --inplace

## Every .cu with plain nvcc (no GPU, no CUDA torch needed), plus a syntax-only pass of the
## torch-facing *_cuda.cpp files against torch's headers and the CUDA toolkit's (a CPU torch wheel
## lacks the generated c10/cuda/impl/cuda_cmake_macros.h: the check supplies a one-line stand-in).
NVCC ?= nvcc
NVCC_ARCH ?= sm_90
nvcc-check:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	for f in $$(find cpp_ext -name '*.cu' | sort); do \
	  echo "nvcc -c $$f" && $(NVCC) -c -arch=$(NVCC_ARCH) -std=c++17 -O3 -Werror all-warnings "$$f" -o "$$tmp/$$(basename $$f).o" || exit 1; \
	done && \
	torch_inc=$$($(PY) -c "import torch.utils.cpp_extension as c; print(' '.join('-I' + p for p in c.include_paths()))") && \
	cuda_inc=$$($(NVCC) -dryrun -c x.cu 2>&1 | sed -n "s/^#\$$ TOP=//p")/include && \
	mkdir -p "$$tmp/shim/c10/cuda/impl" && \
	printf '#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n' > "$$tmp/shim/c10/cuda/impl/cuda_cmake_macros.h" && \
	for f in $$(find cpp_ext -name '*_cuda.cpp' | sort); do \
	  echo "c++ -fsyntax-only $$f" && $${CXX:-c++} -std=c++20 -fsyntax-only -DIMPASTO_WITH_CUDA $$torch_inc \
	    -I"$$tmp/shim" -I"$$cuda_inc" "$$f" || exit 1; \
	done

## CI (.ci/run): lint, the extension, the nvcc check where nvcc exists, then the tests with
## IMPASTO_REQUIRE_EXT=1 so the kernel tests fail (never skip) when the build is missing.
test: install-dev ext
	$(VENV)/bin/ruff check impasto tests tools
	$(VENV)/bin/lint-imports
	@if command -v $(NVCC) >/dev/null 2>&1; then $(MAKE) --no-print-directory nvcc-check; else echo "nvcc not found: CUDA compile check skipped"; fi
	IMPASTO_REQUIRE_EXT=$${IMPASTO_REQUIRE_EXT:-1} $(VENV)/bin/pytest -q tests

lint: install-dev
	$(VENV)/bin/ruff check impasto tests tools
	$(VENV)/bin/lint-imports

bench: install-dev
	$(PY) tools/bench_cpu.py

clean:
	rm -rf $(VENV) .venv-bench demo-output .pytest_cache .ruff_cache *.egg-info build impasto/_C*.so
