"""The edge end of the loop: int8 quantization (onnxruntime, OpenVINO/NNCF), running any deployable
artifact on a run's validation split, and per-format benchmarks. Nothing here is imported by
``nptrain --help``."""
