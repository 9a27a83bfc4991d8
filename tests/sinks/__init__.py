"""Tests of captureguard.sinks (they accept only guard-made frames)."""
