# Two commands: `make run` (the app with the demo store) and `make test` (the whole suite).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
export PATROL_DATA_DIR ?= $(CURDIR)/var

.PHONY: run run-https test install system-deps bench bench-province lint clean cluster-up cluster-down bench-cluster

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

HOST ?= 127.0.0.1

run: install
	$(BIN)/patrol db upgrade
	$(BIN)/patrol demo --if-empty
	$(BIN)/patrol serve --host $(HOST) --port $(PORT)

# The same over HTTPS (browsers give GPS positions only to HTTPS pages, and to localhost). Uses
# var/tls/cert.pem + key.pem; makes a self-signed pair on first use (replace it with the bureau's certificate).
run-https: install
	$(BIN)/patrol db upgrade
	$(BIN)/patrol demo --if-empty
	@mkdir -p var/tls; [ -f var/tls/cert.pem ] || openssl req -x509 -newkey rsa:2048 -nodes -days 825 \
	  -keyout var/tls/key.pem -out var/tls/cert.pem -subj "/CN=$$(hostname)" >/dev/null 2>&1
	$(BIN)/patrol serve --host 0.0.0.0 --port $(PORT) --tls-cert var/tls/cert.pem --tls-key var/tls/key.pem

# Debian's Chromium and a CJK font for the browser tests, a PostgreSQL server (pg_dump/pg_restore for backups)
# with PostGIS for its major version (postgresql-15-postgis-3 on bookworm), and nginx (the shipped reverse-proxy
# config is tested), installed when missing.
system-deps:
	@PGMAJOR=$$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1); \
	if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi 'CJK' \
	    || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! [ -x /usr/sbin/nginx ] \
	    || [ -z "$$PGMAJOR" ] || ! [ -f /usr/share/postgresql/$$PGMAJOR/extension/postgis.control ]; then \
	  echo "installing chromium, fonts-noto-cjk, postgresql, postgis and nginx"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-cjk postgresql nginx-light >/dev/null && \
	  PGMAJOR=$$(ls /usr/lib/postgresql | sort -V | tail -1) && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql-$$PGMAJOR-postgis-3 >/dev/null; \
	fi

# The whole suite, after the linters; PostgreSQL tests run against a throwaway server on 127.0.0.1:55432
# (scripts/pgtest.sh). A skipped test fails the run (PATROL_NO_SKIP).
test: install system-deps lint
	PATROL_NO_SKIP=1 PATROL_TEST_PG_URL=$$(scripts/pgtest.sh) $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m pytest bench -o addopts="" --benchmark-only --benchmark-columns=min,median,max,rounds -p no:cacheprovider $(PYTEST_ARGS)

# Province scale on PostgreSQL (issue 14): 100 counties, 100,000 road segments, 1,000,000 incidents, 200,000
# patrols on a throwaway server (port 55520, stopped afterwards; PATROL_TEST_PG_URL: that server instead); prints
# the county report, province roll-up and county map figures against their targets.
bench-province: install system-deps
	$(BIN)/python bench/province.py $(BENCH_ARGS)

# A local cluster on loopback (scripts/cluster.py): PostgreSQL primary + streaming hot standby, two app servers
# (app1, app2) and nginx with sticky routing by cookie, the demo loaded; PIDs in var/cluster/<name>.pid.
CLUSTER_PROXY_PORT ?= 8600
CLUSTER_BASE_PORT ?= 56500
cluster-up: install system-deps
	$(BIN)/python scripts/cluster.py up --dir var/cluster --base-port $(CLUSTER_BASE_PORT) --proxy-port $(CLUSTER_PROXY_PORT)

cluster-down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python scripts/cluster.py down --dir var/cluster; \
	 else $(PY) scripts/cluster.py down --dir var/cluster; fi

# The load + fault test, long version, on a cluster of its own (var/bench-cluster, other ports): prints
# throughput, latency percentiles and errors, then checks that nothing acknowledged was lost.
BENCH_SECONDS ?= 180
BENCH_USERS ?= 50
bench-cluster: install system-deps
	$(BIN)/python scripts/loadtest.py --dir var/bench-cluster --base-port 56540 --proxy-port 8640 \
	  --seconds $(BENCH_SECONDS) --users $(BENCH_USERS)

lint: install
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .
	$(BIN)/python -m mypy

clean: cluster-down
	rm -rf $(VENV) var .pytest_cache
