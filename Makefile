# ctlplane — every target installs what it needs (venv, package, distribution packages).
SHELL := /bin/bash
PY    ?= python3
VENV  := .venv
BIN   := $(VENV)/bin
APT_PACKAGES := nginx libnginx-mod-stream haproxy keepalived curl wrk nghttp2-client
SUDO  := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help deps docker-deps venv demo down test lint integration images fleet-images proof bench golden schema clean

help:
	@echo "make demo     bring up examples/quickstart.yaml: a local load balancer on http://127.0.0.1:8080/"
	@echo "make down     stop what make demo started"
	@echo "make test     ruff, mypy, then unit, golden and real-binary tests"
	@echo "make lint     ruff and mypy only"
	@echo "make integration  real traffic through real proxies in Docker (builds the image offline)"
	@echo "make images   build the offline Docker image (debootstrap; cached by recipe hash)"
	@echo "make fleet-images  the fleet lab's images: Swarm node (debootstrap) and agent (base + this checkout's wheel)"
	@echo "make proof    EXAMPLES (default 1000) generated models per engine through nginx -t / haproxy -c, plus the full hostile corpus"
	@echo "make bench    benchmarks (scale, edit latency, data plane, reload, start-up, discovery, fleet) into docs/benchmarks.md"
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
	$(BIN)/python examples/certs/generate.py
	@model=$$($(BIN)/python examples/demo.py place) && \
	  $(BIN)/ctlplane validate "$$model" && \
	  $(BIN)/ctlplane apply "$$model" --yes --wait-healthy 10
	@for i in 1 2 3 4; do curl -s http://127.0.0.1:8080/ | grep -o 'Hello from [a-z]*'; done
	@echo "edge: http://127.0.0.1:8080/   stats: http://127.0.0.1:8404/stats   stop: make down"

down: venv
	$(BIN)/ctlplane down "$$($(BIN)/python examples/demo.py where)"

test: deps venv lint
	$(BIN)/python examples/certs/generate.py
	$(BIN)/pytest -n 2 tests

lint: venv
	$(BIN)/ruff check ctlplane tests integration bench docs examples
	$(BIN)/mypy

docker-deps:
	@missing=""; for p in docker.io debootstrap; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	$(SUDO) bash .ci/start-docker.sh

images: docker-deps venv
	$(BIN)/python -m integration.images.build

fleet-images: docker-deps venv
	$(BIN)/python -m integration.images.fleet

integration: deps images fleet-images
	$(BIN)/pytest -n 2 integration

proof: deps venv
	$(BIN)/python tests/security/proof.py $(or $(EXAMPLES),1000)

bench: deps venv
	$(BIN)/python bench/run_all.py

golden: venv
	CTLPLANE_BLESS=1 $(BIN)/pytest -q tests/test_golden.py

schema: venv
	$(BIN)/ctlplane schema
	$(BIN)/python docs/gen_reference.py
	$(BIN)/python docs/gen_engine_behaviour.py

clean:
	rm -rf out build dist *.egg-info .pytest_cache
