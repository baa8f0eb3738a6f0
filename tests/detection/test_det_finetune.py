"""Fine-tuning from a Megvii-layout YOLOX checkpoint (``model.checkpoint: megvii:FILE``) on shapes-det.

No released YOLOX weights can be downloaded here, so the checkpoint is made the way a user's would look: a
yolox_nano trained by nptrain on one shapes-det set is written in Megvii's layout and wrapping
(``{'model': state_dict, 'start_epoch': …, 'optimizer': …}``, ``torch.save``) from the original's key list,
then a run on another shapes-det set (other seed, other images) starts from it through the converter."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nptrain.cli.main import main
from nptrain.detection.megvii import target_key
from tests.detection.megvii_layout import megvii_layout

EXTRA = """
augmentation:
  train: [{{name: resize, size: 64}}, {{name: normalize, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}}]
  inference: [{{name: resize, size: 64}}, {{name: normalize, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}}]
training: {{epochs: {epochs}}}
logging: {{onnx_export: false, fx_export: false, output_dir: {out}}}
{more}
"""


def _first_epoch(run_root: Path) -> dict:
    run = next(run_root.rglob("results.csv")).parent
    return next(csv.DictReader((run / "results.csv").open()))


def _best(run_root: Path) -> float:
    return json.loads(next(run_root.rglob("summary.json")).read_text())["best"]["metrics"]["valid_map50"]


def to_megvii_checkpoint(ours: dict[str, torch.Tensor], num_classes: int) -> dict:
    """Our yolox_nano state dict in Megvii's layout, key order and checkpoint wrapping."""
    state = {name: ours[target_key(name)] for name, _shape in megvii_layout(0.33, 0.25, True, num_classes)}
    return {"start_epoch": 12, "model": state, "optimizer": {"state": {}, "param_groups": []}, "best_ap": 0.0}


@pytest.mark.slow
def test_fine_tuning_from_a_megvii_checkpoint_starts_better_than_scratch(det_config, small_shapes_det_dir, tmp_path,
                                                                         capsys):
    """yolox_nano at 64 px, seed 1, deterministic. Pretraining: 12 epochs on 96 shapes-det images (seed 3), best
    valid mAP50 0.12 on its 16 valid images. Then one epoch on the 24 images of another set (seed 5), measured:
    from the converted checkpoint train loss 6.65 and valid mAP50 0.18; from scratch 10.84 and 0.00 (float32).
    With bf16 autocast, as a CPU with native bf16 trains (``NPTRAIN_NATIVE_BF16=1``, one thread): 6.81 and
    0.078 against 10.91 and 0.00. The loss is the steady signal; the mAP50 of a one-epoch detector on a few
    images is not, so its margin is half the bf16 figure: scratch stays at 0.00 in both, and a checkpoint that
    was not used would leave the two runs equal."""
    from nptrain.data.shapes_det import write_shapes_det

    pre_data = tmp_path / "pre_shapes"
    write_shapes_det(pre_data, n_train=96, n_valid=16, seed=3)
    pre_dir = tmp_path / "pre"
    assert main(["run", *det_config(EXTRA.format(epochs=12, out=pre_dir, more=""), name="pre", data=pre_data)]) == 0
    weights = load_file(str(next(pre_dir.rglob("best.safetensors"))))
    pth = tmp_path / "yolox_nano_shapes.pth"
    torch.save(to_megvii_checkpoint(weights, num_classes=3), pth)

    capsys.readouterr()
    runs = {}
    for name, more in (("scratch", ""), ("megvii", f"model: {{checkpoint: 'megvii:{pth}'}}")):
        out = tmp_path / name
        assert main(["run", *det_config(EXTRA.format(epochs=1, out=out, more=more), name=name, data=small_shapes_det_dir)]) == 0
        runs[name] = _first_epoch(out)
    log = capsys.readouterr().out
    assert f"checkpoint: loaded megvii:{pth} (all keys matched)" in log  # the 3-class file loads whole
    assert _best(pre_dir) > 0.05  # the checkpoint holds a detector that learned something
    scratch, tuned = (float(runs[k]["train_loss"]) for k in ("scratch", "megvii"))
    assert tuned < 0.75 * scratch, runs
    assert float(runs["megvii"]["valid_map50"]) > float(runs["scratch"]["valid_map50"]) + 0.04, runs
