"""Tests of captureguard.core (numpy + stdlib maths, tables and timelines)."""
