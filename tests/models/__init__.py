"""Tests of captureguard.models (decoding tables, and the real ONNX models)."""
