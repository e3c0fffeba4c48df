# The few commands people type. Every target bootstraps .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: serve test lint typecheck bench bench-quick bench-full bench-table check-config config-reference k8s-configmap image image-check clean clean-data

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

## bench: ours vs vanilla LiteLLM, one worker each (~2-3 min); writes bench/results/single.json
bench: $(STAMP)
	$(BIN)/python -m bench.gateway_bench $(ARGS)

## bench-quick: the same, shorter phases (~1-2 min)
bench-quick: $(STAMP)
	$(BIN)/python -m bench.gateway_bench --quick

## bench-full: two workers each, ours on private Redis + PostgreSQL, plus the 80/18/2 mix
bench-full: $(STAMP)
	$(BIN)/python -m bench.gateway_bench --full $(ARGS)

## bench-table: regenerate the README's benchmark table from bench/results/*.json
bench-table: $(STAMP)
	$(BIN)/python -m bench.readme_table

## config-reference: regenerate the README's "Configuration reference" from the config models
config-reference: $(STAMP)
	$(BIN)/agent-gateway config-reference --write README.md

## k8s-configmap: regenerate deploy/kubernetes/configmap.yaml from config.yaml
k8s-configmap:
	$(PYTHON) deploy/kubernetes/render_configmap.py

## image: build the Docker image with podman on a debootstrapped base (no registry needed)
image:
	.ci/build_image.sh

## image-check: start the built image's entrypoint on loopback, check health and one chat call
image-check:
	.ci/check_image.sh

## clean: caches only; keeps .gateway-data (master key, keys, ledger, agent threads)
clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache

## clean-data: DELETES .gateway-data: the admin key, every virtual key, the ledger, agent threads
clean-data:
	@if [ -d .gateway-data ]; then \
	  echo "This deletes .gateway-data: the generated master key, every virtual key and team,"; \
	  echo "the spend ledger and agent threads. It cannot be undone."; \
	  if [ "$(CONFIRM)" != "yes" ]; then \
	    printf 'Type yes to delete it (or run make clean-data CONFIRM=yes): '; read answer; \
	    [ "$$answer" = yes ] || { echo "kept .gateway-data"; exit 1; }; \
	  fi; \
	  rm -rf .gateway-data && echo "deleted .gateway-data"; \
	else echo "no .gateway-data here"; fi
