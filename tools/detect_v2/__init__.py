"""Detection v2 calibration scripts (build time; run as ``.venv/bin/python tools/detect_v2/NAME.py``)."""
