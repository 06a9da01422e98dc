# make demo / make test: create or refresh .venv from the lock (only when it or pyproject.toml
# changed), then run. make lock: re-resolve the lock after editing pyproject.toml's dependencies.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench venv lock clean

$(STAMP): pyproject.toml requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.txt
	$(BIN)/uv pip sync --quiet --python $(BIN)/python --require-hashes requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

# The lock: requirements.txt (runtime, what buildpacks and the Dockerfile install) and
# requirements-dev.txt (runtime + the dev extra, pinned alike), every package with its hashes, for
# any platform on Python 3.11+. Existing pins are kept; LOCK_ARGS=--upgrade moves every pin to the
# newest release pyproject.toml allows (--upgrade-package NAME for one). The third header line
# records the pyproject.toml requirements it was made from (tests/test_lock.py compares).
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock" $(LOCK_ARGS)
DEPS_DIGEST = $(BIN)/python -c 'import hashlib, json, tomllib; \
	p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
	keys = ("requires-python", "dependencies", "optional-dependencies"); \
	print(hashlib.sha256(json.dumps([p[k] for k in keys]).encode()).hexdigest())'

lock: $(STAMP)
	$(UV_COMPILE) -o requirements.txt
	$(UV_COMPILE) --extra dev --constraint requirements.txt -o requirements-dev.txt
	@digest=$$($(DEPS_DIGEST)) && for f in requirements.txt requirements-dev.txt; do \
	  { head -n 2 $$f; echo "# pyproject.toml requirements sha256: $$digest"; tail -n +3 $$f; } \
	    > $$f.tmp && mv $$f.tmp $$f; done

demo: $(STAMP)
	$(BIN)/connector demo

lint: $(STAMP)
	$(BIN)/ruff check connector tests bench
	$(BIN)/ruff format --check connector tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/connector mappings check --strict mappings/*.yaml

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/enrich_throughput.py
	$(BIN)/python bench/sheets_calls.py
	$(BIN)/python bench/hubspot_calls.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/enrich_cold.py
	$(BIN)/python bench/workers.py
	$(BIN)/python bench/webhook_latency.py
	$(BIN)/python bench/batch_latency.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
