"""End-to-end engine checks on digits: accuracy, outputs, exports, resume, freezing, fx, head re-init."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nptrain.cli.main import main
from nptrain.config.loader import load_config
from nptrain.training.engine import run_training

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quickstart_reaches_accuracy_and_writes_outputs(tmp_path, digits_dir, monkeypatch, capsys):
    """The shipped quickstart, 4 epochs instead of 15: ≥ 90 % top-1, every output file, ONNX parity."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "digits").symlink_to(digits_dir)
    assert main(["run", str(REPO / "examples" / "quickstart.yaml"), "training.epochs=4"]) == 0
    run = tmp_path / "runs" / "classification" / "simple_cnn"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["best"]["metrics"]["valid_top1_accuracy"] >= 0.90
    assert summary["params"] > 0 and summary["flops"] > 0
    for f in ("config.yaml", "classes.json", "results.csv", "results.png", "weights/last.safetensors",
              "weights/best.safetensors", "weights/last_optimizer.pt", "weights/model_fx.pt", "weights/model.onnx"):
        assert (run / f).is_file(), f
    assert any((run / "tensorboard").iterdir())
    rows = list(csv.DictReader((run / "results.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"] and "valid_top1_accuracy" in rows[0]
    onnx = summary["export"]["onnx"]
    assert onnx["ok"] and onnx["max_abs_diff"] < 1e-4, onnx
    traced = torch.load(run / "weights" / "model_fx.pt", weights_only=False)
    assert isinstance(traced, torch.fx.GraphModule)
    # a second run never overwrites the first
    assert main(["run", str(REPO / "examples" / "quickstart.yaml"), "training.epochs=1",
                 "logging.onnx_export=false"]) == 0
    assert (tmp_path / "runs" / "classification" / "simple_cnn2" / "summary.json").is_file()
    capsys.readouterr()
    # evaluate and predict the first run
    assert main(["evaluate", str(run), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["top1_accuracy"] == pytest.approx(summary["best"]["metrics"]["valid_top1_accuracy"])
    img = sorted((digits_dir / "valid" / "7").iterdir())[0]
    assert main(["predict", str(run), str(img), "--topk", "3"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-2]  # the last line names the files written
    assert line.startswith(f"{img}: ") and line.count("(") == 3
    # a folder stands for its images, sorted; the model gets most of the held-out 7s right
    folder = digits_dir / "valid" / "7"
    assert main(["predict", str(run), str(folder)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()[:-1]
    assert [l.split(":")[0] for l in lines] == [str(p) for p in sorted(folder.iterdir())]
    assert sum(l.split(": ")[1].startswith("7 ") for l in lines) >= 0.9 * len(lines)


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "weights" / "last.safetensors"))


EXTRA_STATE = """
training:
  epochs: 3
  ema: {name: exp_decay, decay: 0.99, beta: 10}
augmentation:
  train:
    - {name: resize, size: 16}
    - {name: randomresizedcrop, size: 16, scale: [0.7, 1.0]}
    - {name: normalize, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}
    - {name: mixing, mixup: [0.4, 0.5], cutmix: [1.0, 0.5]}
model:
  architecture:
    head: {name: fc, params: {num_layers: 2, intermediate_channels: 16, dropout_prob: 0.2}}
"""


def test_resume_is_bit_identical(small_config, tmp_path, capsys, resumed_equals_full):
    """Stop after epoch 1 (as if killed), resume, and end with exactly the uninterrupted weights
    (EMA, mixup/cutmix, dropout and random crops all in play)."""
    paths = small_config(EXTRA_STATE)
    via_cfg: list[Path] = []

    def from_the_interrupted_run(part: Path) -> None:
        assert len(list(csv.DictReader((part / "results.csv").open()))) == 1
        # model.resume_optimizer_checkpoint continues the same state into a new run directory
        override = f"model.resume_optimizer_checkpoint={part}/weights/last_optimizer.pt"
        via_cfg.append(run_training(load_config(paths, [override]), name="via_cfg"))

    full, part = resumed_equals_full(paths, log=print, on_part=from_the_interrupted_run)
    a, c = _weights(full), _weights(via_cfg[0])
    assert via_cfg[0] != part and all(torch.equal(a[k], c[k]) for k in a)
    sa, sb = torch.load(full / "weights" / "last_optimizer.pt"), torch.load(part / "weights" / "last_optimizer.pt")
    assert all(torch.equal(sa["model"][k], sb["model"][k]) for k in sa["model"])
    rows = list(csv.DictReader((part / "results.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    # resuming a finished run is a no-op that says so; raising epochs continues it
    capsys.readouterr()
    assert main(["run", *paths, "--resume", str(part)]) == 0
    assert "already finished" in capsys.readouterr().out
    assert main(["run", *paths, "--resume", str(part), "training.epochs=4"]) == 0
    assert [r["epoch"] for r in csv.DictReader((part / "results.csv").open())] == ["1", "2", "3", "4"]


def test_freeze_backbone_keeps_backbone_and_bn_stats(small_config, tmp_path):
    paths = small_config("model: {freeze_backbone: true}\ntraining: {epochs: 1}\n")
    loaded = load_config(paths)
    from nptrain.training.engine import Trainer

    trainer = Trainer(loaded, name="frozen")
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    run_dir = trainer.fit()
    after = _weights(run_dir)
    backbone = [k for k in before if k.startswith("backbone.")]
    assert any("running_mean" in k for k in backbone)
    assert all(torch.equal(before[k], after[k]) for k in backbone)
    assert not torch.equal(before["head.classifier.weight"], after["head.classifier.weight"])


def test_checkpoint_with_other_class_count_reinitialises_head(small_config, tmp_path, digits_dir, capsys):
    first = run_training(load_config(small_config("training: {epochs: 1}\n")), name="ten")
    five = tmp_path / "five"
    for split in ("train", "valid"):
        for c in range(5):
            (five / split).mkdir(parents=True, exist_ok=True)
            (five / split / str(c)).symlink_to(digits_dir / split / str(c))
    extra = f"""
    data:
      path:
        train: {{image: {five}/train}}
        valid: {{image: {five}/valid}}
    model: {{checkpoint: {first}/weights/last.safetensors}}
    training: {{epochs: 1}}
    """
    capsys.readouterr()
    run_training(load_config(small_config(extra, name="five")), name="five")
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if "head re-initialised" in ln)
    assert line.startswith("checkpoint: head re-initialised (class count differs): ")
    assert "head.classifier.weight" in line and "head.classifier.bias" in line


def test_fx_model_checkpoint_retrains_graph_module(small_config, tmp_path, capsys):
    from nptrain.modeling.builder import build_model

    loaded = load_config(small_config())
    traced = torch.fx.symbolic_trace(build_model(loaded.resolved, 10))
    path = tmp_path / "model_fx.pt"
    torch.save(traced, path)
    from nptrain.pickles import trust_pickles

    with trust_pickles([path]):  # a config naming a pickle needs the caller's explicit trust
        run_dir = run_training(load_config(small_config(f"model: {{fx_model_checkpoint: {path}, architecture: {{backbone: null}}}}\n"
                                                        "training: {epochs: 1}\nlogging: {fx_export: true}\n",
                                                        name="fx")), name="fx")
    out = capsys.readouterr().out
    assert "weights_only=False" in out and str(path) in out
    trained = _weights(run_dir)
    assert not torch.equal(trained["head.classifier.weight"], traced.state_dict()["head.classifier.weight"])
    assert (run_dir / "weights" / "model_fx.pt").is_file()
    # no architecture to rebuild from: the run's weights/model_fx.pt is unpickled only when asked
    assert main(["evaluate", str(run_dir)]) == 2
    assert main(["evaluate", str(run_dir), "--trust-pickle"]) == 0


def test_channels_last_trains_resumes_and_exports_the_usual_layout(small_config, resumed_equals_full, monkeypatch):
    """environment.channels_last: the model and every batch are NHWC during training (checked on every
    conv's weight and input), a resumed run still ends bit-identical, and the saved weights and ONNX export
    are the usual contiguous layout with onnxruntime parity."""
    from torch import nn

    seen: list[tuple[bool, bool]] = []
    original = nn.Conv2d._conv_forward

    def spy(self, x, weight, bias):
        if self.training:  # training steps; the exports at the end use the usual layout on purpose
            seen.append((x.is_contiguous(memory_format=torch.channels_last),
                         weight.is_contiguous(memory_format=torch.channels_last)))
        return original(self, x, weight, bias)

    monkeypatch.setattr(nn.Conv2d, "_conv_forward", spy)
    extra = """
    environment: {channels_last: true}
    logging: {onnx_export: true}
    """
    full, _ = resumed_equals_full(small_config(extra))
    assert seen and all(x and w for x, w in seen), seen[:3]
    summary = json.loads((full / "summary.json").read_text())
    assert summary["export"]["onnx"]["ok"] and summary["export"]["onnx"]["max_abs_diff"] < 1e-4
    assert summary["best"]["metrics"]["valid_top1_accuracy"] > 0.3  # 2 tiny epochs; chance is 0.1
    assert all(v.is_contiguous() for v in _weights(full).values())
