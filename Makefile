# Two commands: `make run` (the app with the demo store) and `make test` (the whole suite).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
export PATROL_DATA_DIR ?= $(CURDIR)/var

.PHONY: run run-https test install system-deps bench lint clean

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
# and nginx (the shipped reverse-proxy config is tested), installed when missing.
system-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi 'CJK' \
	    || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! [ -x /usr/sbin/nginx ]; then \
	  echo "installing chromium, fonts-noto-cjk, postgresql and nginx"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-cjk postgresql nginx-light >/dev/null; \
	fi

# The whole suite; PostgreSQL tests run against a throwaway server on 127.0.0.1:55432 (scripts/pgtest.sh).
test: install system-deps
	PATROL_TEST_PG_URL=$$(scripts/pgtest.sh) $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m pytest bench -o addopts="" --benchmark-only --benchmark-columns=min,median,max,rounds -p no:cacheprovider $(PYTEST_ARGS)

lint: install
	$(BIN)/python -m ruff check gis patrol_app tests

clean:
	rm -rf $(VENV) var .pytest_cache
