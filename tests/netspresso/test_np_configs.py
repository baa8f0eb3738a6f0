"""NetsPresso Trainer 1.x config folders run as they are: check, migrate, train one short epoch.

``configs/`` are NetsPresso Trainer 1.4.1's own files (copied from ../shared/netspresso-configs);
``written/`` are 1.x-layout files we wrote for nptrain's other families and tasks.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from nptrain.cli.main import main
from nptrain.config.loader import load_config


HERE = Path(__file__).parent
SHIPPED = ["resnet50", "efficientformer_l1", "segformer_b0", "pidnet_s"]
WRITTEN = ["vit_tiny", "mobilevit_s", "resnet50_segmentation", "resnet50_detection", "yolox_nano"]
# folder -> (task, tiny dataset, training input side)
SETUP = {"resnet50": ("classification", "cls", 32), "efficientformer_l1": ("classification", "cls", 32),
         "segformer_b0": ("segmentation", "seg", 32), "pidnet_s": ("segmentation", "seg", 32),
         "vit_tiny": ("classification", "cls", 32), "mobilevit_s": ("classification", "cls", 32),
         "resnet50_segmentation": ("segmentation", "seg", 32), "resnet50_detection": ("detection", "det", 64),
         "yolox_nano": ("detection", "det", 64)}


def files(name: str) -> list[str]:
    if name in SHIPPED:
        return sorted(str(p) for p in (HERE / "configs" / name).glob("*.yaml"))
    own = sorted((HERE / "written" / name).glob("*.yaml")) + sorted((HERE / "written" / "common").glob("*.yaml"))
    return [str(p) for p in own]


def test_every_shared_folder_is_copied() -> None:
    shared = HERE.parents[2] / "shared" / "netspresso-configs"
    if shared.is_dir():  # the fixtures are byte-identical copies of the reference files
        for folder in sorted(p for p in shared.iterdir() if p.is_dir()):
            assert folder.name in SHIPPED
            for f in folder.glob("*.yaml"):
                assert (HERE / "configs" / folder.name / f.name).read_bytes() == f.read_bytes()
    assert all(len(files(n)) == 6 for n in SHIPPED + WRITTEN)


@pytest.mark.parametrize("name", SHIPPED + WRITTEN)
def test_config_check_accepts_the_files(name: str, capsys, tiny_data) -> None:
    task = SETUP[name][0]
    assert main(["config", "check", *files(name), f"data.path.root={tiny_data / SETUP[name][1]}"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("ok: ") and f"({task}, model " in out
    note = load_config(files(name), [f"data.path.root={tiny_data / SETUP[name][1]}"]).netspresso.user_note()
    assert err.count("ignored NetsPresso fields:") == (1 if note else 0) and (note or "") in err  # once, one line
    assert "project_id" not in err  # honoured: the run's name


def test_shipped_fields_take_their_native_places(tiny_data) -> None:
    loaded = load_config(files("segformer_b0"), [f"data.path.root={tiny_data / 'seg'}"])
    run, model = loaded.run, loaded.model
    saves = run.logging.model_save_options
    assert loaded.netspresso.detected and model.task == "segmentation"
    assert run.logging.onnx_opset == 13 and run.logging.num_save_samples == 16
    assert (saves.validation_epoch, saves.save_checkpoint_epoch, saves.count_from_first_epoch) == (10, 10, True)
    assert saves.sample_input_size == [512, 512] and saves.best_model_criterion == "loss"
    assert run.training.scheduler.step_per == "epoch"
    assert model.checkpoint is None and model.architecture.full is None
    # 1.x's own decoder and eps, not SegFormer's (so 1.x checkpoints load: tests/test_npt_parity.py)
    assert model.architecture.head.params == {"intermediate_channels": 256, "classifier_dropout_prob": 0.0,
                                              "style": "netspresso"}
    assert model.architecture.backbone.params["layer_norm_eps"] == 1e-6
    assert [t.name for t in run.augmentation.train] == ["randomresizedcrop", "randomhorizontalflip",
                                                             "colorjitter", "normalize"]
    ignored = " ".join(loaded.netspresso.ignored)
    assert "resize_output" in ignored and "mlflow" not in ignored
    assert run.logging.run_name == "segformer_b0"  # logging.project_id
    res = load_config(files("resnet50"), [f"data.path.root={tiny_data / 'cls'}"])
    assert res.resolved.backbone.params.return_stage_idx == [3]  # 1.x ResNet: the last stage unless told
    pid = load_config(files("pidnet_s"), [f"data.path.root={tiny_data / 'seg'}"])
    assert pid.resolved.full.record.name == "pidnet"
    p = pid.resolved.full.params
    assert (p.m, p.n, p.channels, p.ppm_channels, p.head_channels) == (2, 3, 32, 96, 128)
    assert [x.provided.record.name for x in pid.resolved.losses] == ["pidnet_loss"]
    assert pid.resolved.losses[0].params.ignore_index == 255
    vit = load_config(files("vit_tiny"), [f"data.path.root={tiny_data / 'cls'}"])
    vp = vit.resolved.backbone.params  # 1.x's ViT: one patch conv, its table of vocab_size rows, eps 1e-5
    assert (vp.style, vp.vocab_size, vp.norm_eps) == ("netspresso", 1000, 1e-5)
    mixing = vit.run.augmentation.train[-1]
    assert (mixing.name, mixing.params.mixup, mixing.params.cutmix) == ("mixing", [0.2, 0.5], [1.0, 0.5])
    det = load_config(files("resnet50_detection"), [f"data.path.root={tiny_data / 'det'}"])
    post = det.model.postprocessor.params
    assert (post.score_thresh, post.nms_thresh, post.pre_nms_topk) == (0.05, 0.45, 1000)
    # save_best_only: true keeps no per-epoch files
    assert det.run.logging.model_save_options.save_checkpoint_epoch is None


@pytest.mark.parametrize("name", SHIPPED + WRITTEN)
def test_migrated_file_resolves_to_the_same_config(name: str, tmp_path: Path, capsys, tiny_data) -> None:
    out = tmp_path / "migrated.yaml"
    assert main(["config", "migrate", *files(name), "-o", str(out)]) == 0
    text = out.read_text()
    assert "NetsPresso 1.x" in text and "# ignored (no meaning in nptrain here):" in text
    assert "# was logging.model_save_options.onnx_export_opset" in text  # the changed line says so
    root = f"data.path.root={tiny_data / SETUP[name][1]}"
    original = load_config(files(name), [root])
    migrated = load_config([str(out)], [root])
    assert not migrated.netspresso.detected  # plain native fields now
    assert migrated.unstructure() == original.unstructure()
    assert migrated.run == original.run and migrated.model == original.model


# the resnet50 ones take 5-10 s of CPU each even at 32-64 px
TRAIN_CASES = [pytest.param(n, marks=pytest.mark.slow) if n.startswith("resnet50") else n for n in SHIPPED + WRITTEN]


@pytest.mark.parametrize("name", TRAIN_CASES)
def test_trains_one_short_epoch(name: str, tmp_path: Path, tiny_data) -> None:
    import json

    from nptrain.training.engine import run_training

    task, data, side = SETUP[name]
    overrides = [f"data.path.root={tiny_data / data}", "training.epochs=1", "environment.batch_size=2",
                 "environment.num_workers=0", f"logging.output_dir={tmp_path}", "logging.onnx_export=false",
                 "logging.fx_export=false", "logging.tensorboard=false", "logging.plot=false",
                 "logging.num_save_samples=1", "logging.model_save_options.save_optimizer_state=false",
                 f"logging.model_save_options.sample_input_size=[{side},{side}]",
                 f"augmentation.train.0.size={side}", f"augmentation.inference.0.size=[{side},{side}]"]
    neck = load_config(files(name), overrides[:1]).model.architecture.neck
    if neck is not None and neck.name == "fpn":
        # 1.x's fpn is as wide as the backbone's last stage (resnet50: 2048, 117 s for this epoch); 64 wide: 5 s
        overrides.append("model.architecture.neck.params.out_channels=64")
    lines: list[str] = []
    run_dir = run_training(load_config(files(name), overrides), name=name, log=lines.append)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["task"] == task and summary["input_shape"] == [3, side, side]
    assert summary["best"]["epoch"] == 1 and summary["last"]["train_loss"] > 0
    assert (run_dir / "weights" / "best.safetensors").is_file()
    assert (run_dir / "samples" / "epoch_0001" / "000.png").is_file()
    # shipped files: save_best_only false, save_checkpoint_epoch 10 -> epoch 1 kept; written: save_best_only true
    epoch_files = [p.name for p in (run_dir / "weights").glob("epoch_*")]
    assert epoch_files == (["epoch_0001.safetensors"] if name in SHIPPED else [])
