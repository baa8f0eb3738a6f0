"""data.format: huggingface for segmentation: the shapes folders as a Hugging Face dataset (image + mask bytes,
save_to_disk) train to exactly the metrics of the same files through format: local."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

datasets = pytest.importorskip("datasets", reason="the nptrain[hf] extra")

from nptrain.config.loader import load_config  # noqa: E402
from nptrain.training.engine import run_training  # noqa: E402


def shapes_as_hf(shapes: Path, out: Path) -> Path:
    features = datasets.Features({"pixel_values": datasets.Image(), "label": datasets.Image()})
    splits = {}
    for split, hf_name in (("train", "train"), ("valid", "validation")):
        rows = {"pixel_values": [], "label": []}
        for png in sorted((shapes / split / "images").glob("*.png")):
            rows["pixel_values"].append({"bytes": png.read_bytes(), "path": png.name})
            rows["label"].append({"bytes": (shapes / split / "masks" / png.name).read_bytes(), "path": png.name})
        splits[hf_name] = datasets.Dataset.from_dict(rows, features=features)
    datasets.DatasetDict(splits).save_to_disk(str(out))
    return out


@pytest.mark.slow
def test_hf_segmentation_trains_to_the_local_metrics(seg_config, small_shapes_dir, tmp_path):
    repo = shapes_as_hf(small_shapes_dir, tmp_path / "hf_shapes")
    one = "training: {epochs: 1}\n"
    local = run_training(load_config(seg_config(one, data=small_shapes_dir)), name="local", log=lambda _m: None)
    hf_extra = one + (f"data: {{format: huggingface, label_image_mode: L, metadata: {{repo: {repo}, "
                      "features: {image: pixel_values, label: label}}}\n")
    hf = run_training(load_config(seg_config(hf_extra, name="hf", data=small_shapes_dir)), name="hf",
                      log=lambda _m: None)
    best = [json.loads((d / "summary.json").read_text())["best"]["metrics"] for d in (local, hf)]
    assert best[0] == best[1]
    assert best[0]["valid_miou"] > 0  # it measured something
