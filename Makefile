# linreg_ext: the two commands are `make demo` (build everything, train, export, predict from C++)
# and `make test` (lint and the whole test suite; what CI runs). Both are idempotent.
#
# By default everything is installed into .venv (torch included, from requirements-dev.txt).
# On a machine where python3 already has torch and there is no network (the GPU machine):
#   make test USE_SYSTEM_PYTHON=1
SHELL := /bin/bash
.DEFAULT_GOAL := help

USE_SYSTEM_PYTHON ?= 0
VENV ?= .venv
# GNU make predefines LINT (= lint, for the old C linter): drop that default so that ours applies.
ifeq ($(origin LINT),default)
undefine LINT
endif
ifeq ($(USE_SYSTEM_PYTHON),1)
PY := python3
DEPS := build/.system-python
LINT ?= 0
else
PY := $(abspath $(VENV))/bin/python
DEPS := $(VENV)/.deps-installed
LINT ?= 1
endif
CLANG_FORMAT := $(if $(filter 1,$(USE_SYSTEM_PYTHON)),clang-format,$(VENV)/bin/clang-format)
ifneq ($(USE_SYSTEM_PYTHON),1)
export PATH := $(abspath $(VENV))/bin:$(PATH)
endif

# GPU architectures for the CUDA kernels (setup.py and CMake; narrow it for a faster build) and
# the CUDA toolkit root: tools/cuda_config.py holds both facts, for setup.py too.
ifndef TORCH_CUDA_ARCH_LIST
TORCH_CUDA_ARCH_LIST := $(shell python3 tools/cuda_config.py archs)
endif
export TORCH_CUDA_ARCH_LIST
CUDA_ROOT := $(shell python3 tools/cuda_config.py root)

BUILD := build
EXT_STAMP := $(BUILD)/.extension-built
EXT_SOURCES := $(shell find csrc -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh') \
               setup.py tools/cuda_config.py pyproject.toml

.PHONY: help demo serve test bench bench-sweep bench-serve bench-deploy lint lint-off format build cpp \
        venv clean

help:
	@echo "make demo    build, train on the bundled data, export model.pt and model.pt2, predict x=4.0"
	@echo "make test    lint and run the whole test suite (what .ci/run calls)"
	@echo "make build   build the extension only (pip install --no-build-isolation -e .)"
	@echo "make cpp     build the op library and the C++ app (build/cmake/linreg_predict)"
	@echo "make serve   serve the demo model over TF Serving's REST API on 127.0.0.1:8501"
	@echo "make bench   the full benchmark: bench/results/ (results.md, results.json, throughput.png)"
	@echo "make bench-sweep  the CPU kernels at every D: bench/results/ (sweep.md, sweep.json, sweep.png)"
	@echo "make bench-deploy  .pt vs .pt2 from C++: load time, latency, GB/s (bench/bench_deploy.py)"
	@echo "make format  reformat Python (ruff) and C++ (clang-format) in place"
	@echo "options: USE_SYSTEM_PYTHON=1 (use python3 as is, install nothing; implies LINT=0)"

$(VENV)/.deps-installed: requirements-dev.txt
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(PY) -m pip install -r requirements-dev.txt
	touch $@

build/.system-python:
	@$(PY) -c "import torch, setuptools, pytest" || \
	  { echo "USE_SYSTEM_PYTHON=1 needs torch, setuptools and pytest in $(PY)"; exit 1; }
	mkdir -p build && touch $@

venv: $(DEPS)

$(EXT_STAMP): $(DEPS) $(EXT_SOURCES)
	$(PY) -m pip install --no-build-isolation --no-deps -e .
	mkdir -p $(BUILD) && touch $@

build: $(EXT_STAMP)

# The op library and the C++ app, from the same csrc/ (CMakeLists.txt).
CMAKE_BUILD := $(BUILD)/cmake
APP := $(CMAKE_BUILD)/linreg_predict
APP_SOURCES := CMakeLists.txt $(wildcard cpp_app/*.cpp cpp_app/*.h cpp_app/serve/*.cpp \
               cpp_app/serve/*.h tests/cpp/*.cpp)

$(CMAKE_BUILD)/build.ninja: $(DEPS) CMakeLists.txt
	cmake -S . -B $(CMAKE_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release \
	  -DCMAKE_PREFIX_PATH="$$($(PY) -c 'import torch; print(torch.utils.cmake_prefix_path)')" \
	  $(if $(CUDA_ROOT),-DCUDA_TOOLKIT_ROOT_DIR=$(CUDA_ROOT) -DCMAKE_CUDA_COMPILER=$(CUDA_ROOT)/bin/nvcc)

$(APP): $(CMAKE_BUILD)/build.ninja $(EXT_SOURCES) $(APP_SOURCES)
	cmake --build $(CMAKE_BUILD)

cpp: $(APP)

# Train on the bundled data, export, and predict x = 4.0 from Python and from C++.
demo: $(EXT_STAMP) $(APP)
	$(PY) -m linreg_ext.train --out $(BUILD)/demo-checkpoint.pt --force
	$(PY) export/export.py --checkpoint $(BUILD)/demo-checkpoint.pt --out model.pt --force
	$(PY) export/export.py --checkpoint $(BUILD)/demo-checkpoint.pt --out model.pt2 --force
	@echo
	@echo "prediction at x = 4.0"
	@echo "  Python (model.pt via torch.jit.load): $$($(PY) -m linreg_ext.predict model.pt 4.0)"
	@echo "  C++    ($(APP) model.pt 4.0): $$($(APP) model.pt 4.0)"
	@echo "  C++    ($(APP) model.pt2 4.0): $$($(APP) model.pt2 4.0)"

# TF Serving's REST API on the demo model: build/serve/linreg/1/model.pt at http://127.0.0.1:8501
serve: $(EXT_STAMP) $(APP)
	$(PY) -m linreg_ext.train --out $(BUILD)/demo-checkpoint.pt --force --quiet
	mkdir -p $(BUILD)/serve/linreg/1
	$(PY) export/export.py --checkpoint $(BUILD)/demo-checkpoint.pt \
	  --out $(BUILD)/serve/linreg/1/model.pt --force
	$(CMAKE_BUILD)/linreg_serve --model_name linreg --model_base_path $(BUILD)/serve/linreg --port 8501

PY_FILES := linreg_ext tests export bench tools setup.py
CXX_FILES := $(shell find csrc cpp_app tests/cpp -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh')

lint: $(DEPS)
	$(PY) -m ruff check $(PY_FILES)
	$(PY) -m ruff format --check $(PY_FILES)
	$(CLANG_FORMAT) --dry-run --Werror $(CXX_FILES)

# USE_SYSTEM_PYTHON=1 turns lint off (LINT=0): an offline machine may lack ruff and clang-format.
lint-off:
	@echo "lint NOT run (LINT=0); run 'make lint' where ruff and clang-format are installed"

format: $(DEPS)
	$(PY) -m ruff format $(PY_FILES)
	$(PY) -m ruff check --fix $(PY_FILES)
	$(CLANG_FORMAT) -i $(CXX_FILES)

# The full benchmark (about 2 minutes on 2 cores): bench/results/{results.md,results.json,throughput.png}
bench: $(EXT_STAMP)
	$(PY) bench/bench.py --out bench/results

# The CPU kernels against the read floor at every D (about 10 minutes): bench/results/sweep.*
bench-serve: $(EXT_STAMP) $(APP)
	$(PY) bench/bench_serve.py --out bench/results/serve

bench-sweep: $(EXT_STAMP)
	$(PY) bench/sweep_d.py --out bench/results

# The deployment formats from C++ (.pt vs .pt2): load time, latency, GB/s (about 5 minutes)
bench-deploy: $(EXT_STAMP) $(APP)
	$(PY) bench/bench_deploy.py

# Naming the C++ programs makes their tests fail (rather than skip) if they are missing.
test: $(EXT_STAMP) $(APP) $(if $(filter 1,$(LINT)),lint,lint-off)
	LINREG_PREDICT=$(abspath $(APP)) \
	  LINREG_INPUT_CHECK=$(abspath $(CMAKE_BUILD)/linreg_input_check) \
	  LINREG_FORMAT_CHECK=$(abspath $(CMAKE_BUILD)/linreg_format_check) \
	  LINREG_SERVE=$(abspath $(CMAKE_BUILD)/linreg_serve) \
	  LINREG_SERVE_FUZZ=$(abspath $(CMAKE_BUILD)/linreg_serve_fuzz) $(PY) -m pytest

clean:
	rm -rf $(BUILD) *.egg-info linreg_ext/_C*.so linreg_ext/_build_info.py model.pt model.pt2
