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

BUILD := build
EXT_STAMP := $(BUILD)/.extension-built
EXT_SOURCES := $(shell find csrc -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh') \
               setup.py pyproject.toml

.PHONY: help demo test lint lint-off format build venv clean

help:
	@echo "make demo    build, train on the bundled data, export model.pt, predict x=4.0 from C++"
	@echo "make test    lint and run the whole test suite (what .ci/run calls)"
	@echo "make build   build the extension only (pip install --no-build-isolation -e .)"
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

PY_FILES := linreg_ext tests export bench setup.py
CXX_FILES := $(shell find csrc cpp_app -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh')

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

test: $(EXT_STAMP) $(if $(filter 1,$(LINT)),lint,lint-off)
	$(PY) -m pytest

clean:
	rm -rf $(BUILD) *.egg-info linreg_ext/_C*.so linreg_ext/_build_info.py model.pt
