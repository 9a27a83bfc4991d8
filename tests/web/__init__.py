"""Tests of captureguard.web (the app on fake detectors, and the browser end to end)."""
