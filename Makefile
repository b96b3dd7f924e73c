# Two commands on a fresh clone: `make run` and `make test`. Each bootstraps .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test lint typecheck check bench demo clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

# openapi-python-client, in a venv of its own: see tests/client-generator.txt.
GENERATOR := $(VENV)/client-generator
GENERATOR_STAMP := $(GENERATOR)/.installed-$(shell cksum tests/client-generator.txt | cut -d' ' -f1)

$(GENERATOR_STAMP): tests/client-generator.txt | $(STAMP)
	@test -x $(GENERATOR)/bin/python || $(PYTHON) -m venv $(GENERATOR)
	@$(GENERATOR)/bin/python -m pip install --quiet --disable-pip-version-check \
		-r tests/client-generator.txt
	@rm -f $(GENERATOR)/.installed-* && touch $@

# Development keys from var/dev-keys.env, made on first use, unless keys are in the environment.
DEV_KEYS = $(BIN)/galley dev-keys var/dev-keys.env && set -a && \
	{ [ -n "$$GALLEY_JWT_KEYS$$GALLEY_DATA_KEYS" ] || . ./var/dev-keys.env; } && set +a

run: $(STAMP)
	@$(DEV_KEYS) && $(BIN)/galley migrate && exec $(BIN)/galley serve --with-worker

# The suite starts Python over and over (servers, workers, commands): each compiles Galley
# afresh unless its bytecode is kept, here under .venv, whatever PYTHONDONTWRITEBYTECODE says.
test: export PYTHONDONTWRITEBYTECODE =
test: export PYTHONPYCACHEPREFIX = $(CURDIR)/$(VENV)/pycache
test: $(STAMP) $(GENERATOR_STAMP)
	$(BIN)/ruff check galley tests bench
	$(BIN)/ruff format --check galley tests bench
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check galley tests bench
	$(BIN)/ruff format --check galley tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# The plot's library besides the dev tools; wrk and pgbench are Debian's. See docs/performance.md.
BENCH_STAMP := $(VENV)/.bench-$(shell cksum pyproject.toml | cut -d' ' -f1)

$(BENCH_STAMP): $(STAMP)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	@rm -f $(VENV)/.bench-* && touch $@

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

demo: $(STAMP)
	@$(DEV_KEYS) && $(BIN)/galley migrate && $(BIN)/galley demo

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
