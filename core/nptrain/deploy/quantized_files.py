"""The names of what ``nptrain quantize`` writes into its output folder (``quantized-<method>/``):
shared by the command, which reports and points at them, and the writers of each format."""
from __future__ import annotations

ONNX_INT8 = "model_int8.onnx"
OPENVINO_DIR = "openvino"
OPENVINO_FILES = {"fp32": "model_fp32.xml", "fp16": "model_fp16.xml", "int8": "model_int8.xml"}
