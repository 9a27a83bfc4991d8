"""Tests of captureguard.evaluation (manifests, metrics, perturbations, the runner)."""
