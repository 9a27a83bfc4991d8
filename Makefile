# Two commands do all set-up on a fresh machine:
#   make demo   runs the guard on the bundled public-domain stills (no camera needed)
#   make test   lint, type-check and run the test suite (real models included)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: install demo serve test lint format typecheck pytest chromium bench clean pipewire-tools install-chokepoint uninstall-chokepoint fuzz soak

install: $(STAMP)

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python venv missing: installing python3-venv (Debian)"; \
	  apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/captureguard demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

typecheck: $(STAMP)
	$(BIN)/mypy

serve: $(STAMP)
	$(BIN)/captureguard serve

# The browser tests drive Debian's chromium through playwright (never `playwright install`).
chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "chromium missing: installing it for the browser tests (Debian)"; \
	    apt-get update -qq && apt-get install -y -qq chromium; \
	  else \
	    echo "chromium is not installed and this is not root: the browser tests will be skipped" \
	         "(install it with: sudo apt-get install chromium)"; \
	  fi; }

# The chokepoint tests run a throwaway PipeWire session and check the udev rule and units.
pipewire-tools:
	@sh packaging/test-deps.sh

# The camera chokepoint (root): users/groups, udev rule, units, WirePlumber drop-ins; and back.
install-chokepoint:
	sh packaging/install-chokepoint.sh install
uninstall-chokepoint:
	sh packaging/install-chokepoint.sh uninstall

pytest: $(STAMP) chromium pipewire-tools
	$(BIN)/pytest

test: lint typecheck pytest

format: $(STAMP)
	$(BIN)/ruff format src tests bench tools
	$(BIN)/ruff check --fix src tests bench tools

bench: $(STAMP)
	$(BIN)/python bench/speed.py
	$(BIN)/python bench/accuracy.py

# Reliability (docs/reliability.md): the property tests and fuzzers with many more examples, and
# the soak (30 simulated minutes of stream with injected faults + 10 real minutes of the viewfinder).
fuzz: $(STAMP)
	CAPTUREGUARD_HYPOTHESIS=long $(BIN)/pytest -q -m fuzz

soak: $(STAMP)
	$(BIN)/python bench/soak.py --out bench/results/soak.md

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache captureguard-demo
