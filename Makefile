# Two commands on a fresh machine: `make run` and `make test`. Everything they need is
# installed from here (venv, Python deps, Kafka/Elasticsearch jars via Maven).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PROTO_SRC := $(wildcard proto/socialcare/v1/*.proto)
GEN_DIR := services/socialcare/v1

.PHONY: venv run test lint typecheck proto proto-check infra-up infra-down bench clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed

## run: start the whole platform on the embedded backends (API on http://127.0.0.1:8080)
run: venv
	$(BIN)/socialcare run all

## proto: regenerate the Python code from proto/ (committed; CI checks for drift)
proto: venv
	$(PY) deploy/proto/generate.py --out $(GEN_DIR)

## proto-check: fail when the committed generated code differs from proto/
proto-check: venv
	$(PY) deploy/proto/generate.py --check $(GEN_DIR)

lint: venv
	$(BIN)/ruff check services tests bench deploy
	$(BIN)/ruff format --check services tests bench deploy

typecheck: venv
	$(BIN)/mypy

## test: lint, types, proto drift, then unit, contract (both backends) and e2e tests.
## The contract and e2e tests start a real Kafka broker and Elasticsearch node on loopback.
test: venv proto-check lint typecheck
	$(BIN)/pytest tests

infra-up: venv
	$(BIN)/socialcare infra up

infra-down: venv
	$(BIN)/socialcare infra down

## bench: open-loop capacity, latency and CPU per message (embedded and Kafka), printed,
## never asserted; a few minutes, at most ~10. make bench BENCH_ARGS="--backends embedded"
bench: venv
	$(PY) bench/open_loop.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .cache build *.egg-info
