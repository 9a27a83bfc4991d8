"""Tests of captureguard.cli (the commands end to end)."""
