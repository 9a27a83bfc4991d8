"""Build-time scripts: fusion calibration, model conversion, the architecture map (never imported at run time)."""
