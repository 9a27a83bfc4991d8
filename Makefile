# Two commands do all set-up on a fresh machine:
#   make demo   runs the guard on the bundled public-domain stills (no camera needed)
#   make test   lint, type-check and run the test suite (real models included)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: install nsfwjs-model hand-models demo serve test lint format typecheck pytest chromium bench calibrate clean pipewire-tools install-chokepoint uninstall-chokepoint fuzz soak coverage

# nsfwjs InceptionV3 (npm, MIT) is too large to commit (89 MB as ONNX): it is converted from the
# npm package into the model cache by the committed scripts in tools/nsfwjs/ (node + npm once,
# `onnx` in a throwaway build venv). Without it, a checker configured with nsfwjs refuses to start
# (ModelMissingError), it never runs without it. The photo path reads it since v2.8 (a probe on its
# embedding: docs/accuracy.md), so every target that runs a photo check builds it first (~10 s).
MODEL_DIR   ?= $(or $(CAPTUREGUARD_MODEL_DIR),$(HOME)/.cache/captureguard/models)
NSFWJS_ONNX := $(MODEL_DIR)/nsfwjs_inception_v3.onnx
BUILD       := .build
# MediaPipe's palm detector and hand landmark model (PyPI `mediapipe` wheel, Apache-2.0): the live
# check's hand pass (core/hands.py). Converted from the wheel's TFLite files by tools/hands/to_onnx.py
# (`numpy`, `onnx` and `tflite` in the build venv; MediaPipe itself never runs), checked against
# tools/hands/SHA256 (~15 s, a 35 MB wheel download once).
MEDIAPIPE      := mediapipe==0.10.14
HAND_PALM      := $(MODEL_DIR)/mediapipe_palm_detection_full.onnx
HAND_LANDMARKS := $(MODEL_DIR)/mediapipe_hand_landmark_full.onnx
MODELS         := $(NSFWJS_ONNX) $(HAND_PALM) $(HAND_LANDMARKS)

install: $(STAMP) $(MODELS)

nsfwjs-model: $(NSFWJS_ONNX)

$(NSFWJS_ONNX): tools/nsfwjs/to_onnx.py tools/nsfwjs/dump_tfjs.js tools/nsfwjs/SHA256
	@command -v npm >/dev/null || { \
	  echo "npm is needed once to build the nsfwjs model: installing npm (Debian)"; \
	  apt-get update -qq && apt-get install -y -qq npm; }
	mkdir -p $(BUILD)/npm $(BUILD)/incv3 $(MODEL_DIR)
	cd $(BUILD)/npm && npm install --no-save --no-audit --no-fund --ignore-scripts --legacy-peer-deps nsfwjs@4.3.0 >/dev/null
	cd $(BUILD)/incv3 && node $(CURDIR)/tools/nsfwjs/dump_tfjs.js $(CURDIR)/$(BUILD)/npm/node_modules/nsfwjs/dist/models/inception_v3 >/dev/null
	test -x $(BUILD)/venv/bin/python || $(PYTHON) -m venv $(BUILD)/venv
	$(BUILD)/venv/bin/python -m pip install --quiet numpy onnx
	$(BUILD)/venv/bin/python tools/nsfwjs/to_onnx.py $(BUILD)/incv3 $(BUILD)/nsfwjs_inception_v3.onnx
	cd $(BUILD) && sha256sum -c $(CURDIR)/tools/nsfwjs/SHA256
	mv $(BUILD)/nsfwjs_inception_v3.onnx $@

hand-models: $(HAND_PALM) $(HAND_LANDMARKS)

$(BUILD)/hands/.wheel: tools/hands/SHA256
	mkdir -p $(BUILD)/hands
	test -x $(BUILD)/venv/bin/python || $(PYTHON) -m venv $(BUILD)/venv
	$(BUILD)/venv/bin/python -m pip install --quiet numpy onnx tflite
	rm -f $(BUILD)/hands/mediapipe-*.whl
	$(BUILD)/venv/bin/python -m pip download --quiet --no-deps $(MEDIAPIPE) -d $(BUILD)/hands
	@touch $@

$(HAND_PALM): $(BUILD)/hands/.wheel tools/hands/to_onnx.py
	mkdir -p $(MODEL_DIR)
	$(BUILD)/venv/bin/python tools/hands/to_onnx.py $(BUILD)/hands/mediapipe-*.whl $(BUILD)/hands/$(notdir $@) \
	  --member mediapipe/modules/palm_detection/palm_detection_full.tflite
	cd $(BUILD)/hands && grep " $(notdir $@)$$" $(CURDIR)/tools/hands/SHA256 | sha256sum -c
	mv $(BUILD)/hands/$(notdir $@) $@

$(HAND_LANDMARKS): $(BUILD)/hands/.wheel tools/hands/to_onnx.py
	mkdir -p $(MODEL_DIR)
	$(BUILD)/venv/bin/python tools/hands/to_onnx.py $(BUILD)/hands/mediapipe-*.whl $(BUILD)/hands/$(notdir $@) \
	  --member mediapipe/modules/hand_landmark/hand_landmark_full.tflite
	cd $(BUILD)/hands && grep " $(notdir $@)$$" $(CURDIR)/tools/hands/SHA256 | sha256sum -c
	mv $(BUILD)/hands/$(notdir $@) $@

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python venv missing: installing python3-venv (Debian)"; \
	  apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP) $(MODELS)
	$(BIN)/captureguard demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

typecheck: $(STAMP)
	$(BIN)/mypy

serve: $(STAMP) $(MODELS)
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

pytest: $(STAMP) chromium pipewire-tools $(MODELS)
	$(BIN)/pytest

test: lint typecheck pytest

format: $(STAMP)
	$(BIN)/ruff format src tests bench tools
	$(BIN)/ruff check --fix src tests bench tools

bench: $(STAMP) $(MODELS)
	$(BIN)/python bench/speed.py
	$(BIN)/python bench/cascade.py
	$(BIN)/python bench/accuracy.py

# Coverage/fairness and robustness tables of the shipped models (dev set + synthetic bodies, five
# camera conditions): bench/results/coverage.md and the generated part of MODEL_CARD.md.
coverage: $(STAMP) $(MODELS)
	$(BIN)/python bench/coverage.py

# Reliability (docs/reliability.md): the property tests and fuzzers with many more examples, and
# the soak (30 simulated minutes of stream with injected faults + 10 real minutes of the viewfinder).
fuzz: $(STAMP)
	CAPTUREGUARD_HYPOTHESIS=long $(BIN)/pytest -q -m fuzz

# Rebuild the detection-v2 caches from an empty $$CG_V2_CACHE and re-fit the shipped locator, probes
# and heads in place (72 min to the heads on 2 cores from empty, 2026-12-05); `git diff src/captureguard/data` then shows what moved.
# OpenBLAS is pinned (tools/detect_v2/blas.py), so on x86-64 with AVX2 it writes the shipped files back byte for byte.
calibrate: $(STAMP) $(MODELS)
	tools/detect_v2/rebuild.sh

soak: $(STAMP) $(MODELS)
	$(BIN)/python bench/soak.py --out bench/results/soak.md

clean:
	rm -rf $(VENV) $(BUILD) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache captureguard-demo
