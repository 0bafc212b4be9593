# The two commands the README starts with:
#   make serve   set up .venv and serve the Milvus API on 127.0.0.1:19530, data in ./data
#   make test    set up .venv (with test tools) and run lint, types and the whole test suite

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 19530
DATA   ?= ./data
# End-to-end modules that make test runs a second time on etcd + NATS + S3
# (SLUICE_TEST_BACKENDS=remote runs any of them, or the whole suite, that way).
REMOTE_E2E := tests/e2e/test_smoke.py tests/e2e/test_data.py tests/e2e/test_flush.py \
              tests/e2e/test_consistency_mvcc.py

.PHONY: serve test lint typecheck unit bench fuzz lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: $(BIN)/python requirements.txt pyproject.toml
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

serve: $(VENV)/.runtime
	$(BIN)/python -m sluice serve --data $(DATA) --host $(HOST) --port $(PORT)

test: $(VENV)/.dev
	$(BIN)/ruff check sluice tests bench
	$(BIN)/ruff format --check sluice tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q
	SLUICE_TEST_BACKENDS=remote $(BIN)/python -m pytest -q $(REMOTE_E2E)

unit: $(VENV)/.dev
	$(BIN)/python -m pytest -q --ignore=tests/e2e

lint: $(VENV)/.dev
	$(BIN)/ruff check sluice tests bench
	$(BIN)/ruff format --check sluice tests bench

typecheck: $(VENV)/.dev
	$(BIN)/mypy

bench: $(VENV)/.dev
	$(BIN)/python bench/run.py

# The long fuzz run: at least 100,000 generated and mutated requests against a live server.
FUZZ_REQUESTS ?= 100000
fuzz: $(VENV)/.dev
	$(BIN)/python tests/fuzz/grpc_fuzz.py --requests $(FUZZ_REQUESTS) --seed $${SEED:-1} --out fuzz-findings

# Re-pin requirements.txt: resolve pyproject's dependencies in a throwaway venv.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet .
	( echo "# Runtime dependencies of Sluice, pinned (the full closure). Regenerate with make lock."; \
	  .lock-venv/bin/pip freeze --exclude sluice ) > requirements.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
