# netdiag: `make demo` and `make test` work on a fresh Debian machine as root.
# Both are idempotent: Debian packages are installed only when missing, the virtualenv only
# when pyproject.toml / setup.py / the C walker changed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEB_PACKAGES := tcpdump tshark shellcheck openssh-server openssh-client iptables iproute2 iputils-ping \
	traceroute chromium python3-venv python3-dev gcc libc6-dev procps psmisc util-linux kmod \
	openvswitch-switch ovn-central zsh fish gawk busybox
PYTEST_ARGS ?=

.PHONY: demo test deps venv lint typecheck unit integration bench fuzz clean

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages: $$missing (run as root, or install them)"; exit 1; fi; \
		echo "installing Debian packages:" $$missing; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	fi

# pyproject.toml states compatible ranges; constraints.txt pins what is tested (also the
# setuptools that builds the C walker: PIP_CONSTRAINT reaches pip's isolated build env).
$(STAMP): pyproject.toml setup.py netdiag/pcap/_walk.c constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	PIP_CONSTRAINT=$(CURDIR)/constraints.txt $(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $@

venv: deps $(STAMP)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

unit: venv
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

demo: venv
	$(BIN)/netdiag demo

bench: venv
	$(BIN)/python benchmarks/ingest.py

# The fuzz suite's long profile (tests/fuzz/profile.py): 200x the examples `make test` runs,
# a new random seed each time, hypothesis' statistics at the end. NETDIAG_FUZZ_EXAMPLES=N sets
# the examples per test; it runs at the lowest CPU priority. Each command has its own time
# limit (tests/fuzz/forkserver.py), so a test's may be long.
FUZZ_ARGS ?=
fuzz: venv
	NETDIAG_FUZZ=long nice -n 19 $(BIN)/pytest tests/fuzz tests/unit/pcap/test_fuzz.py \
		--timeout 7200 --hypothesis-show-statistics $(FUZZ_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
