# Two commands on a fresh machine: `make run` and `make test`. Everything they need is
# installed from here (venv, Python deps, Kafka/Elasticsearch jars via Maven, Debian's
# chromium for the browser tests, Debian's prometheus package for promtool, which checks and
# unit-tests the alerting and recording rules in deploy/prometheus).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PROTO_SRC := $(wildcard proto/socialcare/v1/*.proto)
GEN_DIR := services/socialcare/v1
# The browser the tests drive through Playwright (tests/browser): Debian's package, because
# Playwright's own browser download (`playwright install`) cannot reach its host here.
CHROMIUM ?= /usr/bin/chromium
# promtool checks deploy/prometheus (config, rules) and runs its rule unit tests
# (tests/unit/deploy): Debian's prometheus package, whose server is never started by the tests.
PROMTOOL ?= /usr/bin/promtool
# Tools built or installed by the repo's own scripts into the cache (only the first run pays):
# helm from the Go module proxy (~5 min cold), buf and the AsyncAPI schemas from npm.
TOOLS := .cache/tools
HELM ?= $(TOOLS)/bin/helm
BUF ?= $(TOOLS)/node_modules/.bin/buf

.PHONY: venv lock audit advisories test-faults soak browser promtool helm node-tools tools screenshots run test quality train-sentiment lint typecheck proto proto-check proto-release buf-lint buf-breaking asyncapi asyncapi-check infra-up infra-down bench clean

$(VENV)/.installed: pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c requirements.lock --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed

## lock: upgrade the venv to the newest versions pyproject.toml allows and rewrite
## requirements.lock from what it then resolves (deploy/tools/dependency_lock.py); then
## `make advisories` where GitHub is reachable, `make audit` and the tests, and commit both
lock:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --upgrade --upgrade-strategy eager -e '.[dev]'
	$(PY) deploy/tools/dependency_lock.py
	@touch $(VENV)/.installed

## audit: every locked dependency against the vendored PyPA advisory snapshot
## (deploy/advisories), offline; exit 1 on a finding not accepted in
## deploy/advisories/accepted.yaml. tests/unit/deploy runs it too.
audit: venv
	$(PY) deploy/tools/dependency_audit.py audit

## advisories: refresh deploy/advisories from the newest PyPA advisory database (needs
## GitHub; a shallow bare clone kept in .cache/advisory-database)
advisories: venv
	bash deploy/tools/refresh-advisories.sh $(PY) .cache/advisory-database

## browser: install Debian's chromium when it is missing (apt, as root). The check is the
## file itself: once it exists, make neither updates apt's lists nor installs again.
browser: $(CHROMIUM)

$(CHROMIUM):
	@if [ "$$(id -u)" -ne 0 ]; then \
	  echo "error: $(CHROMIUM) is missing; the browser tests need Debian's chromium." >&2; \
	  echo "       install it as root: sudo apt-get update && sudo apt-get install -y chromium fonts-liberation" >&2; \
	  echo "       (or point CHROMIUM=/path/to/chromium at another build)" >&2; \
	  exit 1; \
	fi
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium fonts-liberation
	@test -x $(CHROMIUM) || { echo "error: apt installed chromium but $(CHROMIUM) is not there" >&2; exit 1; }

## promtool: install Debian's prometheus package (for promtool) when promtool is missing (apt,
## as root or through sudo). Like `browser`, the check is the file itself. On a host with
## systemd the package also enables a prometheus server on :9090; the tests never use it
## (`systemctl disable --now prometheus` turns it off).
promtool: $(PROMTOOL)

$(PROMTOOL):
	@if [ "$$(id -u)" -eq 0 ]; then as_root=""; \
	elif command -v sudo >/dev/null 2>&1; then as_root="sudo"; \
	else \
	  echo "error: $(PROMTOOL) is missing; the tests of deploy/prometheus need promtool." >&2; \
	  echo "       install it as root: apt-get update && apt-get install -y prometheus" >&2; \
	  echo "       (or point PROMTOOL=/path/to/promtool at another build)" >&2; \
	  exit 1; \
	fi; \
	set -e; \
	$$as_root apt-get update -q; \
	$$as_root env DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -q --no-install-recommends prometheus
	@test -x $(PROMTOOL) || { echo "error: apt installed prometheus but $(PROMTOOL) is not there" >&2; exit 1; }

## helm: build helm from the Go module proxy into $(TOOLS)/bin when it is missing
helm: $(HELM)

$(HELM):
	bash deploy/tools/install-helm.sh $(TOOLS)

## node-tools: buf (`@bufbuild/buf`) and the AsyncAPI JSON schemas (`@asyncapi/specs`) from npm
## into $(TOOLS)/node_modules; the script compares the pinned versions, so it always runs
## (~0.4 s when they are there)
node-tools:
	bash deploy/tools/install-buf.sh $(TOOLS)

## buf-lint / buf-breaking: the proto style rules, and no breaking change against the last
## released schema (the newest proto/released/socialcare-v*.binpb)
buf-lint: node-tools
	$(BUF) lint

buf-breaking: node-tools
	$(BUF) breaking --against "$$(ls proto/released/socialcare-v*.binpb | sort -V | tail -1)"

tools: helm node-tools

## run: start the whole platform on the embedded backends (API on http://127.0.0.1:8080)
run: venv
	SOCIALCARE_DEV_MODE=1 $(BIN)/socialcare run all

## proto: regenerate the Python code from proto/ (committed; CI checks for drift)
proto: venv
	$(PY) deploy/proto/generate.py --out $(GEN_DIR)

## proto-check: fail when the committed generated code differs from proto/
proto-check: venv
	$(PY) deploy/proto/generate.py --check $(GEN_DIR)

## proto-release: record the current protos as the last released schema (buf breaking's base)
proto-release: venv node-tools
	@out=proto/released/socialcare-v$$($(PY) -c 'import socialcare; print(socialcare.__version__)').binpb; \
	if [ -e "$$out" ]; then echo "error: $$out exists: bump the version first" >&2; exit 1; fi; \
	$(BUF) build proto -o "$$out" && echo "wrote $$out (commit it)"

## asyncapi: regenerate docs/asyncapi.json and README's event catalogue from the topic
## registry, the protos and the webhook event catalogue
asyncapi: venv
	$(PY) -m socialcare.core.asyncapi --out docs/asyncapi.json
	$(PY) -m socialcare.core.asyncapi --readme README.md

## asyncapi-check: fail when docs/asyncapi.json differs from what the code generates
asyncapi-check: venv
	$(PY) -m socialcare.core.asyncapi --check docs/asyncapi.json

lint: venv
	$(BIN)/ruff check services tests bench deploy training
	$(BIN)/ruff format --check services tests bench deploy training

typecheck: venv
	$(BIN)/mypy

## test: lint, types, proto and AsyncAPI drift, then unit (with the Helm chart's checks and
## buf lint/breaking), contract (both backends), e2e and browser tests.
## The contract and e2e tests start a real Kafka broker and Elasticsearch node on loopback;
## the browser tests drive $(CHROMIUM) headless (screenshots in .cache/screenshots/); the
## unit tests of deploy/prometheus run $(PROMTOOL) (`make promtool` installs it).
test: venv browser promtool tools proto-check asyncapi-check buf-lint buf-breaking lint typecheck audit quality
	SOCIALCARE_TEST_CHROMIUM=$(CHROMIUM) SOCIALCARE_TEST_PROMTOOL=$(PROMTOOL) \
	  SOCIALCARE_TEST_HELM=$(abspath $(HELM)) SOCIALCARE_TEST_BUF=$(abspath $(BUF)) $(BIN)/pytest tests

## test-faults: the fault suite at 20,000 messages (SOCIALCARE_FAULTS_MESSAGES=100000 make test-faults
## for the big run): kill -9 of the embedded platform, and (tests/faults/test_faults_kafka.py) every
## service on real Kafka + Elasticsearch killed in turn, the broker restarted, Elasticsearch stopped;
## prints the counts. SOCIALCARE_FAULTS_ES_OUTAGE_S (default 60 here, 15 in make test) is how long
## Elasticsearch stays down. `make test` runs the same suite at 2,000 messages.
test-faults: venv
	SOCIALCARE_FAULTS_MESSAGES=$${SOCIALCARE_FAULTS_MESSAGES:-20000} \
	  SOCIALCARE_FAULTS_ES_OUTAGE_S=$${SOCIALCARE_FAULTS_ES_OUTAGE_S:-60} $(BIN)/pytest tests/faults -s -ra

## quality: the sentiment model's macro-F1 and the language detector's accuracy per language
## on the committed test splits (training/sentiment/data), printed; tests/quality fails only
## on a collapse (macro-F1 < 45, accuracy < 90 %), so noise never fails CI.
quality: venv
	$(PY) -m training.sentiment.evaluate
	$(PY) -m socialcare.enrichment.language_quality

## train-sentiment: retrain the sentiment model from training/sentiment/data into the
## package (deterministic: reproduces the committed model; tests/quality checks that)
train-sentiment: venv
	$(PY) -m training.sentiment.train --out services/socialcare/enrichment/models

## screenshots: the README's pictures of the console and the wall (docs/screenshots/), taken
## by the browser tests against a running platform
screenshots: venv browser
	SOCIALCARE_TEST_CHROMIUM=$(CHROMIUM) SOCIALCARE_TEST_SCREENSHOTS_DIR=docs/screenshots \
	  $(BIN)/pytest -q tests/browser -k readme

infra-up: venv
	$(BIN)/socialcare infra up

infra-down: venv
	$(BIN)/socialcare infra down

## bench: open-loop capacity, latency and CPU per message (embedded and Kafka), printed,
## never asserted; a few minutes, at most ~10. make bench BENCH_ARGS="--backends embedded"
bench: venv
	$(PY) bench/open_loop.py $(BENCH_ARGS)

## soak: one hour at a steady open-loop rate (bench/soak.py: 20 msg/s on the embedded
## backend, one `socialcare run all`): RSS, open fds, threads, cores and consumer-group lag
## per process every minute, then least-squares slopes per hour with a verdict (flat /
## growing, threshold printed); figures, never asserted; not part of `make test`.
## make soak SOAK_ARGS="--backend kafka" runs it on Kafka + Elasticsearch with every
## service its own process; --minutes, --rate, --warmup-minutes, --reply-every: see --help
soak: venv
	$(PY) bench/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .cache build *.egg-info
