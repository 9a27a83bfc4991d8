"""Tests of captureguard.sources (synthetic and generated inputs only)."""
