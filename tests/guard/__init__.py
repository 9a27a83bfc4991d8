"""Tests of captureguard.guard (the checker, photo guard and stream guard, with fakes)."""
