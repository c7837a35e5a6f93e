"""Inference backends: one interface with a lifecycle, ONNX Runtime, selection (torch-free)."""
