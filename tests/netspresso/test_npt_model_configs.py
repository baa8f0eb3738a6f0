"""NetsPresso Trainer 1.4.1's own model configs (``config/model/*/*.yaml``, as ``../shared/npt-parity/*/model.yaml``
holds them, only ``use_pretrained`` off) pass ``nptrain config check`` after a small data/training config and,
for the families this round added, train one short epoch on tiny data.

A config whose components no installed plugin provides is skipped with a reason naming them (the count of what
is missing stays visible); ``test_npt_parity.py`` checks the same folders' checkpoints and outputs."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nptrain.cli.main import main
from nptrain.config.loader import load_config


HERE = Path(__file__).parent
ROOT = HERE.parents[1]
FIXTURES = Path(os.environ.get("NPTRAIN_NPT_PARITY_DIR") or ROOT.parent / "shared" / "npt-parity")
FOLDERS = sorted(p.parent.name for p in FIXTURES.glob("*/model.yaml")) if FIXTURES.is_dir() else []
# task -> (our written 1.x data + augmentation files, tiny dataset, training input side)
DATA = {"classification": ("vit_tiny", "cls", 32), "segmentation": ("resnet50_segmentation", "seg", 32),
        "detection": ("resnet50_detection", "det", 64)}
TRAINED = ("mobilenetv3-", "mobilenetv4-", "mixnet-s-", "gelan_", "yolov9_", "yolo-fastest-")  # one short epoch each
# but not mixnet-s-detection (136M parameters in its 1536-wide fpn and head: 40 s): config check covers it, and the
# same head trains in mobilenetv3-small-detection, the same backbone in mixnet-s-classification
NOT_TRAINED = ("mixnet-s-detection",)


def _files(folder: str) -> tuple[list[str], dict]:
    info = json.loads((FIXTURES / folder / "source.json").read_text())
    if info["task"] not in DATA:
        pytest.skip(f"nptrain has no task {info['task']!r} yet")
    from nptrain.plugin_manager import default_plugins

    registry = default_plugins().registry
    missing = [f"{slot} {name!r}" for slot, name in info["architecture"].items() if name not in registry.names(slot)]
    if missing:
        pytest.skip(f"nptrain has no {', '.join(missing)} yet")
    written = HERE / "written"
    own = sorted((written / DATA[info["task"]][0]).glob("[!m]*.yaml"))  # data and augmentation, not its model
    return [str(p) for p in own + sorted((written / "common").glob("*.yaml"))] + [str(FIXTURES / folder / "model.yaml")], info


@pytest.mark.parametrize("folder", FOLDERS or [pytest.param("none", marks=pytest.mark.skip(reason=f"no {FIXTURES}"))])
def test_config_check_accepts_netspressos_model_config(folder: str, tiny_data: Path, capsys) -> None:
    files, info = _files(folder)
    root = f"data.path.root={tiny_data / DATA[info['task']][1]}"
    assert main(["config", "check", *files, root]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert out.startswith("ok: ") and f"({info['task']}, model " in out


@pytest.mark.parametrize("folder", [f for f in FOLDERS if f.startswith(TRAINED) and f not in NOT_TRAINED]
                         or [pytest.param("none", marks=pytest.mark.skip(reason=f"no {FIXTURES}"))])
def test_trains_one_short_epoch(folder: str, tiny_data: Path, tmp_path: Path) -> None:
    from nptrain.training.engine import run_training

    files, info = _files(folder)
    _, data, side = DATA[info["task"]]
    overrides = [f"data.path.root={tiny_data / data}", "training.epochs=1", "environment.batch_size=2",
                 "environment.num_workers=0", f"logging.output_dir={tmp_path}", "logging.onnx_export=false",
                 "logging.fx_export=false", "logging.tensorboard=false", "logging.plot=false",
                 "logging.num_save_samples=0", "logging.model_save_options.save_optimizer_state=false",
                 f"logging.model_save_options.sample_input_size=[{side},{side}]",
                 f"augmentation.train.0.size={side}", f"augmentation.inference.0.size=[{side},{side}]"]
    run_dir = run_training(load_config(files, overrides), name=folder, log=lambda _m: None)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["task"] == info["task"] and summary["input_shape"] == [3, side, side]
    assert summary["best"]["epoch"] == 1 and summary["last"]["train_loss"] > 0
    assert (run_dir / "weights" / "best.safetensors").is_file()
