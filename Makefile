# Two commands do all the set-up on a fresh machine:  make demo  and  make test.
# Each creates .venv and installs what it needs (system packages too, when root).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck pytest bench notebook cassettes system-deps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Debian's chromium drives the notebook browser test; installed when missing and we are root.
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing chromium (browser tests)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; browser tests will fail"; \
	  else echo "note: chromium missing and not root; install it for the browser tests"; fi; }

demo: $(STAMP)
	$(BIN)/callcov-analytics demo --out demo-output

test: $(STAMP) system-deps lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

notebook: $(STAMP)
	$(BIN)/callcov-analytics notebook

# Re-record the vcrpy cassettes from a fresh sandbox (developers only; CI replays).
cassettes: $(STAMP)
	CALLCOV_RECORD=1 $(BIN)/pytest tests/test_replay.py --record-mode=rewrite

clean:
	rm -rf $(VENV) demo-output test-artifacts .pytest_cache .mypy_cache .ruff_cache
