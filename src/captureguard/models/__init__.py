"""The models layer: detector adapters that turn a Frame into Detections (ONNX sessions, letterbox, decoding)."""
