"""Tests of the build-time scripts in tools/ (imported as the tools package from the repository root)."""
