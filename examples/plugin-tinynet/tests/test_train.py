"""The preset trains through ``nptrain run`` exactly as a user would run it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from nptrain.modeling.api import create_model


def test_converter_round_trip(tmp_path: Path):
    import np_plugin_tinynet.convert as conv
    from nptrain.testing.converters import assert_file_forms_agree, assert_head_drops

    model = create_model("tinynet_s", num_classes=10)
    ours = model.state_dict()
    back = {}
    for key, value in ours.items():
        if key.startswith("head.classifier."):
            back["fc." + key[len("head.classifier."):]] = value
        elif key.startswith("backbone.stem."):
            back["features.0." + key[len("backbone.stem."):]] = value
        else:
            index, _, rest = key[len("backbone.stages."):].partition(".")
            back[f"features.{int(index) + 1}.{rest}"] = value
    converted = conv.from_reference(back, preset="tinynet_s")
    assert set(converted) == set(ours) and all(torch.equal(converted[k], ours[k]) for k in ours)
    # wrapped .pth files, `nptrain convert` and `checkpoint: reference:FILE` all give the same weights
    assert_file_forms_agree(back, source_name="reference", preset="tinynet_s", tmp_path=tmp_path, num_classes=10)
    # keep_head=False starts a model with another class count from the same file
    assert_head_drops(back, source_name="reference", preset="tinynet_s", source_head_prefixes=("fc.",))


def test_trains_one_epoch_and_exports(tmp_path: Path):
    nptrain = [sys.executable, "-m", "nptrain"]
    subprocess.run(nptrain + ["data", "digits", str(tmp_path / "digits")], check=True)
    config = Path(__file__).parent.parent / "configs" / "tinynet_digits.yaml"
    subprocess.run(nptrain + ["run", str(config), f"data.path.train.image={tmp_path}/digits/train",
                              f"data.path.valid.image={tmp_path}/digits/valid", f"logging.output_dir={tmp_path}/runs",
                              "training.epochs=1"], check=True)
    summary = json.loads(next((tmp_path / "runs").rglob("summary.json")).read_text())
    assert summary["last"]["epoch"] == 1
    assert summary["best"]["metrics"]["valid_top1_accuracy"] > 0.2  # 10 classes: chance is 0.1
    assert summary["export"]["onnx"]["ok"] and summary["export"]["onnx"]["max_abs_diff"] < 1e-4
