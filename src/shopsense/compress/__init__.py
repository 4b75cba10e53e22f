"""Compressed inference: networks exported to ONNX and run by ONNX Runtime, optionally int8."""
