# subjectdb — the two set-up commands are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?= data
export SUBJECTDB_DATA ?= $(abspath $(DATA))
export DBT_PROFILES_DIR := $(CURDIR)
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: install install-spark java demo build test test-spark lint browser-deps bench docs clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## make install-spark: the optional Spark extra (dbt-spark, pyspark: ~3 min to build pyspark)
install-spark: install java
	$(PY) -m pip install -q -c constraints.txt -e ".[dev,spark]"

## Java 17 for Spark, from Debian (installed only when missing)
java:
	@if ! command -v java >/dev/null 2>&1; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null; \
	fi

## make test-spark: Java and the Spark extra, then the Spark parity test (tests marked spark:
## the same delivery built on DuckDB and on a localhost standalone cluster, full then daily)
test-spark: install-spark
	$(BIN)/pytest -m spark

## make demo: install, generate a sample, load, build, validate, publish, serve the dashboard
demo: install
	$(BIN)/subjectdb demo --data-dir $(DATA)

## make build: the whole pipeline without serving
build: install
	@if [ ! -d "$(DATA)/raw" ]; then $(BIN)/subjectdb generate --data-dir $(DATA); fi
	$(BIN)/subjectdb load $(DATA)/raw --data-dir $(DATA)
	$(BIN)/subjectdb build --data-dir $(DATA)
	$(BIN)/subjectdb validate --data-dir $(DATA)
	$(BIN)/subjectdb publish --data-dir $(DATA)

## Debian's Chromium and a CJK font for the browser tests (installed only when missing)
browser-deps:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	fi

## make test: lint (make lint), then the whole test suite (browser tests included), on two
## workers (pytest-xdist; a test file runs on one worker, so its module fixtures are made once)
test: lint browser-deps
	$(BIN)/pytest -n 2 --dist loadfile

## make lint: ruff check and ruff format --check, sqlfluff over the dbt SQL (config .sqlfluff:
## models, macros, tests/dbt), and a dbt parse
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint models macros tests/dbt
	cd $(CURDIR) && $(BIN)/dbt parse --quiet --profiles-dir $(CURDIR)

bench: install
	$(BIN)/subjectdb bench

clean:
	rm -rf $(DATA) target logs test-artifacts
