# ctlplane — every target installs what it needs (venv, package, distribution packages).
SHELL := /bin/bash
PY    ?= python3
VENV  := .venv
BIN   := $(VENV)/bin
APT_PACKAGES := nginx libnginx-mod-stream haproxy keepalived
SUDO  := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help deps venv demo test golden schema wheel-test clean

help:
	@echo "make demo     validate and render examples/quickstart.yaml for both engines"
	@echo "make test     unit, golden and real-binary tests"
	@echo "make golden   re-bless golden files after an intended template change"
	@echo "make schema   regenerate schemas/ctlplane.schema.json"

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

$(BIN)/ctlplane: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

venv: $(BIN)/ctlplane

demo: deps venv
	$(BIN)/ctlplane validate examples/quickstart.yaml
	$(BIN)/ctlplane render examples/quickstart.yaml --out out/quickstart
	@echo "--- out/quickstart/edge/nginx.conf (head) ---"; head -40 out/quickstart/edge/nginx.conf

test: deps venv
	$(BIN)/pytest -n 2 tests

golden: venv
	CTLPLANE_BLESS=1 $(BIN)/pytest -q tests/test_golden.py

schema: venv
	$(BIN)/ctlplane schema

clean:
	rm -rf out build dist *.egg-info .pytest_cache
