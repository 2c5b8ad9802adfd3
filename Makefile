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
	haproxy nftables iperf3 tcpdump ethtool conntrack libnanomsg5 \
	socat libnetfilter-queue-dev iptables
APT_STAMP := $(BUILD)/.stamp-apt
# p4c, bmv2 and the Tofino compiler are in no registry. `make p4tools` puts them into $(P4TOOLS):
# the prebuilt archives of P4TOOLS_PREBUILT where they exist (about a minute), otherwise a build
# from source (tools/p4tools/build.sh: P4TOOLS_SRC=DIR for local checkouts, else the pinned
# upstream commits; an hour or more). `make test` installs the prebuilt toolchain when it is
# there and never builds from source: without the tools their suites skip with one line each.
P4TOOLS ?= /opt/p4tools
P4TOOLS_PREBUILT ?= $(abspath $(CURDIR)/../shared/p4tools)
P4TOOLS_SRC ?=
# Always on the paths, so tools installed during this very run are found.
export PATH := $(P4TOOLS)/bin:$(PATH)
export LD_LIBRARY_PATH := $(P4TOOLS)/lib$(if $(LD_LIBRARY_PATH),:$(LD_LIBRARY_PATH))
VENV_STAMP := $(BUILD)/.stamp-venv

.PHONY: all setup test lint typecheck unit sim-sweep demo clean distclean p4 bmv2-test dpdk e2e p4rt-shell-venv verify \
	p4tools p4tools-prebuilt suites

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

$(VENV_STAMP): pyproject.toml setup.py controller/_fastenc.c $(APT_STAMP)
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

# The P4 toolchain. p4tools-prebuilt: idempotent, quiet when already installed or when no
# prebuilt archive is here; p4tools: the same, or a build from source.
p4tools-prebuilt:
	@if [ -x $(P4TOOLS)/bin/p4c-bm2-ss ] && [ -x $(P4TOOLS)/bin/simple_switch_grpc ] && \
	    { [ -x $(P4TOOLS)/bin/bf-p4c ] || ! ls $(P4TOOLS_PREBUILT)/p4tools-tofino-*.tar.zst >/dev/null 2>&1; }; then :; \
	elif [ -x $(P4TOOLS_PREBUILT)/install.sh ] && [ "$(P4TOOLS)" = /opt/p4tools ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "skip: installing the prebuilt P4 toolchain needs root" >&2; \
	  else sh $(P4TOOLS_PREBUILT)/install.sh; fi; \
	fi

p4tools:
	@if [ -z "$(P4TOOLS_SRC)" ] && [ -x $(P4TOOLS_PREBUILT)/install.sh ] && [ "$(P4TOOLS)" = /opt/p4tools ]; then \
	  sh $(P4TOOLS_PREBUILT)/install.sh; \
	else \
	  P4TOOLS=$(P4TOOLS) P4TOOLS_SRC=$(P4TOOLS_SRC) bash tools/p4tools/build.sh; \
	fi

# The DPDK agent (C, meson): built by every target that runs it.
dpdk: $(APT_STAMP)
	$(MAKE) -s -C dpdk_agent

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check dysco_proto dysco_pipeline dysco_targets controller dysco_testbed \
	  dysco_bench dysco_tools tests bmv2_tests

typecheck: setup
	$(VENV)/bin/mypy --strict dysco_proto dysco_pipeline
	$(VENV)/bin/mypy controller dysco_targets dysco_testbed dysco_bench dysco_tools

# Each target suite (reference model, DPDK, bmv2, Tofino compiler, namespaces) reports whether
# it ran or why it was skipped: build/suites.txt, printed again as the last line of `make test`.
unit: setup dpdk p4rt-shell-venv p4tools-prebuilt
	$(VENV)/bin/pytest -q --suite-summary=$(BUILD)/suites.txt

suites:
	@cat $(BUILD)/suites.txt 2>/dev/null || echo "target suites: no pytest run yet (make unit)"

# The simulator's acceptance run (README.md, Measured; tests/sim/test_sim_sweep.py runs smaller sizes).
sim-sweep: setup
	$(VENV)/bin/dysco sim --sessions 200 --reconfigs 2000 --loss 0.05 --dup 0.02 --reorder 0.1 --seed 7 --json > $(BUILD)/sim-seed7.json
	@cat $(BUILD)/sim-seed7.json

# Spin model of the reconfiguration protocol (dysco_proto/model/MODEL.md): the configuration
# matrix, safety and liveness; under 2.1 GB per run (contend); time: MODEL.md 7.
verify: setup
	$(PY) -m dysco_tools.verify --jobs 2

test: lint typecheck unit verify
	@$(MAKE) -s --no-print-directory suites

# Compile the P4 program (needs p4c-bm2-ss; the committed p4src/build/ is used otherwise).
p4: p4tools-prebuilt
	$(MAKE) -C p4src

bmv2-test: setup p4tools-prebuilt
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
