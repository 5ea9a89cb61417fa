# Set-up is part of every target: a fresh clone needs only `make night` or `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: night test lint bench specialize learn clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,train]'
	touch $@

# Empty: the default model, chosen by measurement (README, "Which model does the night's
# work"); `make night NIGHT_MODEL=qwen2.5-coder-0.5b` runs another.
NIGHT_MODEL ?=

night: $(VENV)/.installed
	$(BIN)/pantheon models pull $(NIGHT_MODEL)
	$(BIN)/pantheon demo --force
	$(BIN)/pantheon night $(if $(NIGHT_MODEL),--model $(NIGHT_MODEL))

test: $(VENV)/.installed
	$(BIN)/pantheon models pull --all
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(VENV)/.installed
	$(BIN)/python bench/throughput.py

specialize: $(VENV)/.installed
	$(BIN)/pantheon models pull smollm2-135m
	$(BIN)/python bench/specialize.py

# rounds of self-training from the default model's base on verified work only (README,
# "Learning from verified work"): hours on two cores
learn: $(VENV)/.installed
	$(BIN)/pantheon models pull $(NIGHT_MODEL)
	$(BIN)/python bench/learn.py $(if $(NIGHT_MODEL),--model $(NIGHT_MODEL))

clean:
	rm -rf $(VENV) artifacts/runs artifacts/worktrees artifacts/workspaces
