"""NetsPresso 1.x fields: honoured ones take effect, older layouts translate, mistakes are located errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nptrain.cli.main import main
from nptrain.config.loader import load_config
from nptrain.training.engine import run_training, scheduled

from . import npdata

MODEL = """
model:
  task: classification
  name: tiny
  checkpoint: {use_pretrained: False, load_head: False, path: ~, optimizer_path: ~}
  architecture:
    full: ~
    backbone: {name: simple_cnn, params: {stem_channels: 8, norm_type: batch_norm, return_stage_idx: ~},
               stage_params: [{channels: 8, num_blocks: 1}, {channels: 16, num_blocks: 1}]}
    head: {name: fc, params: {num_layers: 1, intermediate_channels: ~, act_type: ~, dropout_prob: 0.}}
  losses:
    - {criterion: label_smoothing_cross_entropy, smoothing: 0.1, weight: ~}
"""
LOGGING = """
logging:
  project_id: tiny_project
  output_dir: {out}
  tensorboard: false
  mlflow: true
  stdout: true
  num_save_samples: 2
  model_save_options:
    save_optimizer_state: false
    save_best_only: false
    best_model_criterion: loss
    sample_input_size: [24, 24]
    onnx_export_opset: 20
    validation_epoch: 2
    save_checkpoint_epoch: 2
  metrics: {{classwise_analysis: False, metric_names: ~}}
"""
REST = """
data:
  name: tiny_cls
  task: classification
  format: local
  path: {{root: {root}, train: {{image: images/train, label: labels/train.csv}},
         valid: {{image: images/valid, label: labels/valid.csv}}, test: {{image: ~, label: ~}}}}
  id_mapping: id_mapping.json
augmentation:
  train: [{{name: resize, size: [32, 32]}}, {{name: totensor, pixel_range: 1.0}}]
  inference: [{{name: resize, size: [32, 32]}}, {{name: totensor, pixel_range: 1.0}}]
environment: {{seed: 1, num_workers: 0, gpus: 0, batch_size: 3, cache_data: False}}
training:
  epochs: 3
  optimizer: {{name: adamw, lr: 0.001, betas: [0.9, 0.999], weight_decay: 0.0005, overwrite: ~}}
  scheduler: {{name: cosine_no_sgdr, warmup_epochs: 0, warmup_bias_lr: 0.00001, min_lr: 0.00001, end_epoch: 3}}
"""


@pytest.fixture
def np_files(tmp_path: Path, write):
    root = npdata.make_cls(tmp_path / "cls")
    return [str(write("model.yaml", MODEL)), str(write("logging.yaml", LOGGING.format(out=tmp_path / "runs"))),
            str(write("rest.yaml", REST.format(root=root)))]


def test_honoured_fields_take_effect(np_files, tmp_path: Path, capsys) -> None:
    assert main(["run", *np_files]) == 0
    out = capsys.readouterr().out
    assert "logging.mlflow" not in out  # honoured: the run is tracked in the local MLflow store
    run_dir = tmp_path / "runs" / "classification" / "tiny_project"  # logging.project_id names the run
    assert (run_dir / "mlflow.json").is_file() and (tmp_path / "runs" / "mlflow.db").is_file()
    history = [line.split(",") for line in (run_dir / "results.csv").read_text().splitlines()]
    header, rows = history[0], history[1:]
    validated = [int(r[header.index("epoch")]) for r in rows if r[header.index("valid_loss")]]
    assert validated == [1, 3]  # validation_epoch 2 counted from epoch 1 (and the last), as in 1.x
    weights = sorted(p.name for p in (run_dir / "weights").glob("epoch_*"))
    assert weights == ["epoch_0001.safetensors", "epoch_0003.safetensors"]  # save_checkpoint_epoch 2
    assert not (run_dir / "weights" / "last_optimizer.pt").exists()  # save_optimizer_state: false
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == ["epoch_0001", "epoch_0003"]
    assert sorted(p.name for p in (run_dir / "samples" / "epoch_0003").iterdir()) == ["000.png", "001.png"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best"]["key"] == "valid_loss"  # best_model_criterion: loss
    assert summary["input_shape"] == [3, 24, 24]  # sample_input_size
    assert summary["export"]["onnx"]["opset"] == 20  # onnx_export_opset
    config = (run_dir / "config.yaml").read_text()
    assert "step_per: epoch" in config and "label_smoothing: 0.1" in config


def test_native_schedule_is_unchanged() -> None:
    assert [e for e in range(1, 8) if scheduled(e, 3, 7, False)] == [3, 6, 7]
    assert [e for e in range(1, 8) if scheduled(e, 3, 7, True)] == [1, 4, 7]


def test_native_files_are_not_translated(write) -> None:
    path = write("native.yaml", """
        model: {name: simple_cnn, architecture: {backbone: {params: {stem_channels: 8}}}}
        training: {scheduler: {name: cosine_no_sgdr}}
        logging: {num_save_samples: 2, model_save_options: {validation_epoch: 3, save_checkpoint_epoch: 3}}
    """)
    loaded = load_config([str(path)])
    assert not loaded.netspresso.detected and loaded.netspresso.user_note() is None
    assert loaded.run.training.scheduler.step_per == "iteration"  # the native default, untouched
    assert loaded.run.logging.model_save_options.count_from_first_epoch is False
    assert loaded.resolved.backbone.params.stem_channels == 8  # a nameless component still overrides the preset


OLD_MODEL = """
model:
  task: segmentation
  name: pidnet_s
  checkpoint: ~
  architecture:
    full: {name: pidnet, m: 2, n: 3, planes: 32, ppm_planes: 96, head_planes: 128}
    backbone: ~
    head: ~
  losses:
    - {criterion: pidnet_cross_entropy, weight: ~, ignore_index: 255}
    - {criterion: boundary_loss, weight: 20.0}
    - {criterion: pidnet_cross_entropy_with_boundary, weight: ~, ignore_index: 255}
"""


def test_older_layouts_translate(write) -> None:
    loaded = load_config([str(write("old.yaml", OLD_MODEL))])
    p = loaded.resolved.full.params
    assert (p.m, p.n, p.channels, p.ppm_channels, p.head_channels) == (2, 3, 32, 96, 128)
    (loss,) = loaded.resolved.losses
    lp = loss.params
    assert loss.provided.record.name == "pidnet_loss" and loss.weight == 1.0
    assert (lp.aux_weight, lp.main_weight, lp.boundary_weight, lp.boundary_aware_weight, lp.ohem_thresh) == \
        (0.4, 1.0, 20.0, 1.0, 1.0)
    det = load_config([str(write("det.yaml", """
        model:
          task: detection
          name: yolox_nano
          architecture:
            full: {name: ~}
            backbone: {name: cspdarknet, params: {depthwise: true, dep_mul: 0.33, wid_mul: 0.25}}
            neck: {name: yolopafpn, params: {depthwise: true}}
            head: {name: anchor_free_decoupled_head, params: {depthwise: true, score_thresh: 0.2, nms_thresh: 0.5,
                   class_agnostic: true}}
    """))])
    post = det.model.postprocessor.params
    assert (post.score_thresh, post.nms_thresh, post.class_agnostic) == (0.2, 0.5, True)
    assert det.model.architecture.full is None and det.resolved.head.params.depthwise is True


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nptrain: error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_misspelt_fields_get_did_you_mean(np_files, capsys) -> None:
    logging_file = Path(np_files[1])
    original = logging_file.read_text()
    logging_file.write_text(original.replace("onnx_export_opset", "onnx_export_opst"))
    err = _error(capsys, ["config", "check", *np_files])
    assert f"{logging_file}:13:5: logging.model_save_options.onnx_export_opst: unknown field" in err
    assert "did you mean 'onnx_export_opset'?" in err
    logging_file.write_text(original)
    model_file = Path(np_files[0])
    model_file.write_text(model_file.read_text().replace("use_pretrained", "use_pretrain"))
    err = _error(capsys, ["config", "check", *np_files])
    assert f"{model_file}:4:" in err and "did you mean 'use_pretrained'?" in err


def test_moved_field_errors_point_at_the_users_line(np_files, capsys) -> None:
    logging_file = Path(np_files[1])
    logging_file.write_text(logging_file.read_text().replace("onnx_export_opset: 20", "onnx_export_opset: twenty"))
    err = _error(capsys, ["config", "check", *np_files])
    assert f"{logging_file}:13:24: logging.onnx_opset: expected an integer; got 'twenty'" in err


@pytest.mark.parametrize("old,new,message", [
    ("use_pretrained: False", "use_pretrained: True", "NetsPresso Trainer has no checkpoint for model name 'tiny'"),
    ("pixel_range: 1.0}]\n  inference", "pixel_range: 255}]\n  inference", "pixel_range 255 is not supported"),
    ("{name: resize, size: [32, 32]}, {name: totensor", "{name: mosaicdetection}, {name: totensor",
     "NetsPresso transform 'mosaicdetection' is not available in nptrain"),
    ("task: classification\n  format", "task: detection\n  format", "data.task 'detection' differs from model.task"),
    ("format: local", "format: huggingface", "data.format: huggingface needs data.metadata: {repo"),
    ("{name: totensor, pixel_range: 1.0}]\n  inference", "{name: totensr}]\n  inference",
     "unknown transform 'totensr' (did you mean 'totensor'?)"),
])
def test_unsupported_values_are_clear_errors(np_files, capsys, old: str, new: str, message: str) -> None:
    for name in np_files:
        text = Path(name).read_text()
        if old in text:
            Path(name).write_text(text.replace(old, new, 1))
            break
    else:
        raise AssertionError(f"{old!r} not in the files")
    err = _error(capsys, ["config", "check", *np_files])
    assert message in err and (".yaml:" in err)


def test_netspresso_optimizer_file_is_refused_clearly(np_files, tmp_path: Path, capsys) -> None:
    import torch

    foreign = tmp_path / "classification_tiny_epoch_3_optimizer.pth"  # what 1.x writes: optimizer + epoch only
    torch.save({"optimizer": {"state": {}, "param_groups": []}, "last_epoch": 3}, foreign)
    model_file = Path(np_files[0])
    model_file.write_text(model_file.read_text().replace("optimizer_path: ~", f"optimizer_path: {foreign}"))
    loaded = load_config(np_files)
    assert loaded.model.resume_optimizer_checkpoint == str(foreign)
    err = _error(capsys, ["run", *np_files, "training.epochs=1"])
    assert f"{foreign}: not an nptrain training state" in err


def test_pixel_fills_and_null_sample_count(write) -> None:
    loaded = load_config([str(write("aug.yaml", """
        model: {name: yolox_nano, task: detection, checkpoint: {use_pretrained: false}}
        augmentation:
          train:
            - {name: resize, size: 64, resize_criteria: long}
            - {name: pad, size: 64, fill: 114}
            - {name: randomcrop, size: 48, fill: [51, 51, 51]}
            - {name: totensor, pixel_range: 1.0}
        logging: {num_save_samples: ~}
    """))])
    train = loaded.run.augmentation.train
    assert [t.name for t in train] == ["resize", "pad", "randomcrop"]
    assert train[1].params.fill == pytest.approx(114 / 255) and train[2].params.fill == pytest.approx(0.2)
    assert loaded.run.logging.num_save_samples == 256


def test_new_native_fields_are_validated(write, capsys) -> None:
    for bad, message in (("sample_input_size: [0, 32]", "expected an integer >= 1; got 0"),
                         ("save_checkpoint_epoch: 0", "expected an integer >= 1; got 0"),
                         ("validation_epoch: 0", "expected an integer >= 1; got 0")):
        path = write("bad.yaml", f"model: {{name: simple_cnn}}\nlogging:\n  model_save_options:\n    {bad}\n")
        err = _error(capsys, ["config", "check", str(path)])
        assert f"{path}:4:" in err and message in err
    path = write("bad.yaml", "model: {name: simple_cnn}\nlogging: {num_save_samples: 1000}\n")
    assert "expected an integer in [0, 256]; got 1000" in _error(capsys, ["config", "check", str(path)])
