"""A short detection run on the built-in shapes data, for a plugin's "does it learn" test.

``shapes_detection_run(tmp_path, model, size=96, epochs=4, lr=0.005)`` writes the data (192 training and 48
validation images, three classes: ``nptrain data shapes-det``), a config training ``model`` (a ``model`` section
mapping: ``{"name": "yolov9_tiny"}`` or with its ``architecture`` / ``losses``) at ``size`` pixels, batch 8, AdamW,
a cosine schedule with a one-epoch warm-up, seeded and deterministic, without ONNX export (the conformance kit
checks that), runs it through the CLI and returns its ``summary.json``::

    summary = shapes_detection_run(tmp_path, {"task": "detection", "name": "yolov9_tiny"}, epochs=4)
    assert summary["best"]["metrics"]["valid_map50"] >= 0.3
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

CLASSES = ["rectangle", "ellipse", "triangle"]


def shapes_detection_config(data: Path, out: Path, model: Mapping[str, Any], *, size: int = 96, epochs: int = 4,
                            lr: float = 0.005) -> dict:
    """The run's config as a mapping (see the module docstring)."""
    normalize = {"name": "normalize", "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    return {
        "data": {"path": {split: {"image": str(data / split / "images"), "label": str(data / split / "labels")}
                          for split in ("train", "valid")},
                 "id_mapping": list(CLASSES)},
        "augmentation": {"train": [{"name": "resize", "size": size}, {"name": "randomhorizontalflip", "p": 0.5},
                                   normalize],
                         "inference": [{"name": "resize", "size": size}, normalize]},
        "model": {"task": "detection", **dict(model)},
        "training": {"epochs": epochs,
                     "optimizer": {"name": "adamw", "lr": lr, "weight_decay": 0.01, "no_bias_decay": True,
                                   "no_norm_weight_decay": True},
                     "scheduler": {"name": "cosine_no_sgdr", "warmup_epochs": 1, "min_lr": 0.00001}},
        "logging": {"output_dir": str(out), "tensorboard": False, "plot": False, "onnx_export": False},
        "environment": {"seed": 1, "batch_size": 8, "deterministic": True, "cache_data": True},
    }


def shapes_detection_run(tmp_path: Path, model: Mapping[str, Any], **options: Any) -> dict:
    """Write the data and the config under ``tmp_path``, train, and return the run's summary (options: ``size``,
    ``epochs``, ``lr``)."""
    # lazy: layer (README map: testing/ may not import cli at import time); ruamel
    from ruamel.yaml import YAML

    from nptrain.cli.main import main
    from nptrain.data.shapes_det import write_shapes_det

    data = tmp_path / "shapes_det"
    write_shapes_det(data, n_train=192, n_valid=48)
    config = tmp_path / "shapes_det.yaml"
    with open(config, "w") as fh:
        YAML(typ="safe", pure=True).dump(shapes_detection_config(data, tmp_path / "runs", model, **options), fh)
    if main(["run", str(config)]) != 0:
        raise AssertionError(f"nptrain run {config} failed")
    summaries = sorted((tmp_path / "runs").rglob("summary.json"))
    return json.loads(summaries[-1].read_text())
