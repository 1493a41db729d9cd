# Two commands do all the set-up on a fresh machine:  make demo  and  make test.
# Each creates .venv and installs what it needs (system packages too, when root).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
# The demo runs the package and draws the report's PNGs: no test, lint or engine packages.
DEMO_STAMP     := $(VENV)/.installed-demo
NOTEBOOK_STAMP := $(VENV)/.installed-notebook

.PHONY: demo test test-fast lint typecheck pytest bench notebook cassettes system-deps clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(DEMO_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[plot]'
	@touch $@

$(NOTEBOOK_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[notebook]'
	@touch $@

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# Debian's chromium drives the notebook browser test; LibreOffice checks that the CSVs and the
# workbook open (rendering them to PDF) and poppler-utils turns those pages into PNGs in
# test-artifacts/; Java runs Spark (local mode) on the local store's table; nginx, HAProxy,
# tinyproxy and squid are the gateways and forward proxies tests/test_gateways.py puts in front
# of the sandbox. All are installed when missing and we are root. The tests start their own
# gateway processes on free ports of 127.0.0.1 with every file in a temporary folder, so the
# services Debian's postinst may start (nginx on :80, squid on :3128, tinyproxy on :8888) are
# neither needed nor in the way. apt waits up to 5 minutes for a dpkg lock another apt holds
# (unattended upgrades on a fresh machine) instead of failing at once.
SYSTEM_PACKAGES := chromium:chromium libreoffice-calc-nogui:soffice poppler-utils:pdftoppm \
  default-jre-headless:java nginx:nginx haproxy:haproxy tinyproxy:tinyproxy squid:squid
APT := apt-get -o DPkg::Lock::Timeout=300
system-deps:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do \
	  PATH="$$PATH:/usr/sbin:/sbin" command -v $${pair#*:} >/dev/null 2>&1 || missing="$$missing $${pair%%:*}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing$$missing (browser, spreadsheet, Spark and gateway tests)"; \
	    $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq $$missing >/dev/null; \
	  else echo "note: missing$$missing and not root; the tests that need them will fail" \
	  "(as root: apt-get install$$missing)"; fi; fi

demo: $(DEMO_STAMP)
	$(BIN)/callcov-analytics demo --arrivals-per-minute 30 --out demo-output

test: $(STAMP) system-deps lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The test files run in parallel processes (pytest-xdist; one file stays in one process, so its
# servers and Spark session are started once). Most of the suite's time is waiting — on
# real rate limiters' windows, a browser, LibreOffice, a JVM — so more processes than cores pay off:
# on 2 cores, 4 processes ran the suite in 216 s where 3 took 237 s (one machine, back to back).
# `PYTEST_WORKERS=0 make test` runs everything in this process, in order.
PYTEST_WORKERS ?= 4
# A process per file (the Spark files share one: one JVM), longest first (tests/conftest.py),
# not most tests first (xdist's default reordering): no long file starts last and runs alone.
PYTEST := $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

pytest: $(STAMP)
	$(PYTEST)

# The quick loop while editing: everything except the tests marked slow (they really wait for
# rate-limit windows or timeouts) and the browser test. `make test` runs them all.
test-fast: $(STAMP)
	$(PYTEST) -m "not slow and not browser"

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

notebook: $(NOTEBOOK_STAMP)
	$(BIN)/callcov-analytics notebook

# Re-record the vcrpy cassettes from a fresh sandbox (developers only; CI replays).
cassettes: $(STAMP)
	CALLCOV_RECORD=1 $(BIN)/pytest tests/test_replay.py

clean:
	rm -rf $(VENV) demo-output test-artifacts .pytest_cache .mypy_cache .ruff_cache
