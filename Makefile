# The two commands: `make run` and `make test`. Each installs only what is missing.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .sitmap/stamps
APT_RUN := postgresql-15-postgis-3 postgresql-15-pgrouting postgresql-client-15 gdal-bin
# poppler-utils: the briefing tests read the printed PDF (pdfinfo, pdftoppm, pdftotext) as a reader would.
# The HA cluster (make cluster, sitmap cluster up; tests/test_ha_failover.py): Debian's Patroni, etcd and HAProxy.
APT_HA := patroni etcd-server etcd-client haproxy
APT_CLUSTER := postgresql-15-postgis-3 postgresql-15-pgrouting $(APT_HA)
APT_TEST := $(APT_RUN) chromium fonts-noto-core poppler-utils $(APT_HA)
# wrk drives the tile benchmark (bench/tiles.py; it builds tipg's venv from PyPI with the same Python).
APT_BENCH := $(APT_RUN) wrk
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test deps-run deps-test deps-bench lint bench cluster

run: deps-run
	$(BIN)/sitmap db start
	$(BIN)/sitmap db migrate
	$(BIN)/sitmap demo load --if-empty
	$(BIN)/sitmap serve

test: deps-test
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: $(STAMPS)/venv
	$(BIN)/ruff check .

# Benchmarks print figures and ratios against their targets; they assert nothing.
bench: deps-bench
	$(BIN)/python -m bench.tiles
	$(BIN)/python -m bench.incidents
	$(BIN)/python -m bench.live
	$(BIN)/python -m bench.travel
	$(BIN)/python -m bench.hotspots
	$(BIN)/python -m bench.coverage
	$(BIN)/python -m bench.coverage_time
	$(BIN)/python -m bench.national

# Installs the Debian packages in $(1) that are not installed yet (apt-get update only when needed).
define apt_ensure
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
endef

deps-run:
	$(call apt_ensure,$(APT_RUN))
	@$(MAKE) --no-print-directory $(STAMPS)/venv

deps-test:
	$(call apt_ensure,$(APT_TEST))
	@$(MAKE) --no-print-directory $(STAMPS)/venv

# etcd, two or three PostgreSQL nodes under Patroni, HAProxy and the workers (README: Operations: high availability).
cluster:
	$(call apt_ensure,$(APT_CLUSTER))
	@$(MAKE) --no-print-directory $(STAMPS)/venv
	$(BIN)/sitmap cluster up

deps-bench:
	$(call apt_ensure,$(APT_BENCH))
	@$(MAKE) --no-print-directory $(STAMPS)/venv
	$(BIN)/pip install -q -e '.[dev,bench]'

$(STAMPS)/venv: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[dev]'
	@mkdir -p $(STAMPS) && touch $@
