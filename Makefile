# The few commands people type. Every target bootstraps .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: serve test lint typecheck bench check-config clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## serve: start the gateway on :4000 (embedded default: no Redis, no PostgreSQL, no keys)
serve: $(STAMP)
	$(BIN)/agent-gateway serve

## check-config: validate config.yaml
check-config: $(STAMP)
	$(BIN)/agent-gateway check-config

## test: the whole suite (tests needing Redis/PostgreSQL/Prometheus skip when absent, fail in CI)
test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

## bench: ours vs vanilla LiteLLM, plus the guardrail and agent benchmarks
bench: $(STAMP)
	$(BIN)/python -m bench.gateway_bench

clean:
	rm -rf .gateway-data .pytest_cache .mypy_cache .ruff_cache
