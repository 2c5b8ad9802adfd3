# Dysco: one Makefile for set-up, tests and the demo.
# `make test` and `make demo` do all their own set-up on a fresh Debian 12 machine as root;
# every step is idempotent (stamp files under build/).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUILD := build
APT_PACKAGES := python3-venv python3-dev iproute2 spin \
	libdpdk-dev dpdk dpdk-dev meson ninja-build pkg-config libpcap-dev \
	haproxy nftables iperf3 tcpdump ethtool conntrack libnanomsg5
APT_STAMP := $(BUILD)/.stamp-apt
# p4c and bmv2 are in no registry: where they were built (see docs/pipeline.md) their tests run,
# elsewhere they skip with one line.
P4TOOLS ?= /opt/p4tools
export PATH := $(if $(wildcard $(P4TOOLS)/bin),$(P4TOOLS)/bin:)$(PATH)
export LD_LIBRARY_PATH := $(if $(wildcard $(P4TOOLS)/lib),$(P4TOOLS)/lib:)$(LD_LIBRARY_PATH)
VENV_STAMP := $(BUILD)/.stamp-venv

.PHONY: all setup test lint typecheck unit sim-sweep demo clean distclean p4 bmv2-test dpdk e2e p4rt-shell-venv verify

all: test

$(BUILD):
	mkdir -p $(BUILD)

# apt packages: installed only when one is missing (works offline once installed).
$(APT_STAMP): Makefile | $(BUILD)
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "apt: installing$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "error: need root to apt-get install$$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	touch $@

$(VENV_STAMP): pyproject.toml $(APT_STAMP)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

setup: $(VENV_STAMP)

# p4runtime-shell pins an old protobuf/ipython: it gets its own virtualenv, used by the interop
# test (our targets must accept the community's debugging shell as a client).
SHELL_VENV_STAMP := $(BUILD)/p4rt-shell-venv/.stamp
$(SHELL_VENV_STAMP): | $(BUILD)
	$(PYTHON) -m venv $(BUILD)/p4rt-shell-venv
	$(BUILD)/p4rt-shell-venv/bin/pip install -q p4runtime-shell==0.0.6
	touch $@
p4rt-shell-venv: $(SHELL_VENV_STAMP)

# The DPDK agent (C, meson): built by every target that runs it.
dpdk: $(APT_STAMP)
	$(MAKE) -s -C dpdk_agent

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check dysco_proto controller tests bmv2_tests

typecheck: setup
	$(VENV)/bin/mypy --strict dysco_proto
	$(VENV)/bin/mypy controller

unit: setup dpdk p4rt-shell-venv
	$(VENV)/bin/pytest -q

# The issue's acceptance sweep for the simulator, smaller sizes (the full one is in the README).
sim-sweep: setup
	$(VENV)/bin/dysco sim --sessions 200 --reconfigs 2000 --loss 0.05 --dup 0.02 --reorder 0.1 --seed 7 --json > $(BUILD)/sim-seed7.json
	@cat $(BUILD)/sim-seed7.json

# Spin model of the reconfiguration protocol (dysco_proto/model/MODEL.md): the configuration
# matrix, safety and liveness; about 7.5 min and under 1.5 GB per run on 2 cores.
verify: setup
	$(PY) -m dysco_proto.model.verify --jobs 2

test: lint typecheck unit verify

# Compile the P4 program (needs p4c-bm2-ss; the committed p4src/build/ is used otherwise).
p4:
	$(MAKE) -C p4src

bmv2-test: setup
	$(VENV)/bin/pytest -q bmv2_tests

# The main job: real middleboxes in namespaces, a live session reconfigured (needs root).
demo: setup dpdk
	$(VENV)/bin/dysco demo --out demo-out

e2e: setup dpdk
	$(VENV)/bin/pytest -q tests/e2e

clean:
	rm -rf $(BUILD) .pytest_cache .mypy_cache .ruff_cache .hypothesis

distclean: clean
	rm -rf $(VENV) *.egg-info
