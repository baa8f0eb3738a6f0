"""A plugin adds a whole task (here a toy "counting" regression) through ``nptrain_tasks`` and the
usual provider hooks, without any change to the core: config, model, data, targets, loss, metric,
training, run directory and predict all go through its TaskRecord."""
from __future__ import annotations

import csv
import json

import pytest

PLUGIN = '''
import torch
from torch import nn

from nptrain import hookimpl
from nptrain.data.seeded import SeededDataset
from nptrain.metric_base import Metric
from nptrain.records import BackboneRecord, FeatureInfo, HeadRecord, LossRecord, PresetRecord, TaskRecord


class CountDataset(SeededDataset):
    """Each ``<n>_<id>.txt`` in the image folder is an 8x8 picture with ``n`` lit pixels."""

    def decode(self, index):
        n = int(self.samples[index].name.split("_")[0])
        image = torch.zeros(3, 8, 8, dtype=torch.uint8)
        image.view(3, -1)[:, :n] = 255
        return image, n

    def image_and_target(self, index, decoded):
        image, n = decoded
        return image.clone(), {"count": torch.tensor(float(n))}


def build_dataset(data, split, transform, classes):
    from pathlib import Path

    folder = Path(getattr(data.path, split).image)
    return CountDataset(sorted(folder.glob("*.txt")), ["count"], transform)


def targets(batch, device):
    return {"count": batch["count"].to(device)}


class TinyBackbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.feature_info = FeatureInfo.of([4], [1])

    def forward(self, x):
        return (torch.relu(self.conv(x)),)


class CountHead(nn.Module):
    def __init__(self, in_features):
        super().__init__()
        self.fc = nn.Linear(in_features.channels[-1], 1)

    def forward(self, features):
        return self.fc(features[-1].mean((2, 3))).squeeze(1)


class CountLoss(nn.Module):
    def forward(self, outputs, targets):
        return nn.functional.mse_loss(outputs, targets["count"])


class CountMetric(Metric):
    names, primary, higher_is_better = ["mae"], "mae", False

    def __init__(self):
        self.sums = torch.zeros(3, dtype=torch.float64)  # |error| sum, images, loss sum

    def update(self, outputs, target, loss):
        n = target["count"].shape[0]
        err = (outputs - target["count"]).abs().sum().item()
        self.sums += torch.tensor([err, n, loss * n], dtype=torch.float64)

    def state(self):
        return self.sums

    def load(self, state):
        self.sums = state

    def compute(self):
        err, n, loss = self.sums.tolist()
        return {"loss": loss / max(n, 1), "mae": err / max(n, 1)}


def metric(loaded, num_classes):
    return CountMetric()


def predict(loaded, model, classes, paths, out, options):
    counts = {p: len(p) for p in paths}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "counts.json").write_text(json.dumps(counts))
    return [f"{p}: {n}" for p, n in counts.items()]


@hookimpl
def nptrain_tasks():
    return [TaskRecord(name="counting", model="nptrain.modeling.task_models:ClassificationModel",
                       dataset=build_dataset, targets=targets, metric=metric, metric_names=("mae",),
                       default_loss="count_mse", predict=predict, description="How many pixels are lit.")]


@hookimpl
def nptrain_backbones():
    # the built-in backbones list the built-in tasks; a new task brings (or is listed by) its own
    return [BackboneRecord(name="tiny_counter", factory=lambda params, stages, task: TinyBackbone(),
                           tasks=("counting",))]


@hookimpl
def nptrain_heads():
    return [HeadRecord(name="count_head", factory=lambda params, info, num_classes, task: CountHead(info),
                       tasks=("counting",))]


@hookimpl
def nptrain_losses():
    return [LossRecord(name="count_mse", factory=lambda params: CountLoss(), tasks=("counting",))]


@hookimpl
def nptrain_presets():
    return [PresetRecord(name="simple_counter", task="counting", default_input_size=8,
                         architecture={"backbone": {"name": "tiny_counter"}, "head": {"name": "count_head"}})]
'''.replace("import torch\n", "import json\n\nimport torch\n", 1)


@pytest.fixture
def counting(fake_dist, monkeypatch):
    from nptrain.plugin_manager import default_plugins

    fake_dist("np-fake-counting", "np_fake_counting", PLUGIN)
    monkeypatch.delenv("NPTRAIN_NO_EXTERNAL_PLUGINS", raising=False)
    default_plugins.cache_clear()
    yield
    default_plugins.cache_clear()


def _data(tmp_path):
    for split, counts in (("train", (0, 2, 4, 6, 8, 10)), ("valid", (1, 5, 9))):
        folder = tmp_path / split
        folder.mkdir()
        for i, n in enumerate(counts):
            (folder / f"{n}_{i}.txt").write_text("")


def test_plugin_task_is_listed_and_used_by_config(counting, tmp_path, capsys):
    from nptrain.cli.main import main
    from nptrain.config.loader import load_config
    from nptrain.plugin_manager import default_plugins

    plugins = default_plugins()
    assert plugins.registry.task_names() == ["classification", "segmentation", "detection", "counting"]
    assert main(["list", "tasks"]) == 0
    assert "counting [metrics mae; default loss count_mse]  (np-fake-counting)" in capsys.readouterr().out
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {task: counting, name: simple_counter}\n")
    loaded = load_config([cfg], plugins=plugins, check_files=False)
    assert loaded.task_spec.name == "counting"
    assert [loss.provided.record.name for loss in loaded.resolved.losses] == ["count_mse"]  # the task's default loss
    cfg.write_text("model: {task: counting, name: simple_counter}\nlogging: {metrics: {metric_names: [miou]}}\n")
    with pytest.raises(Exception, match=r"'miou' is not a counting metric; counting metrics: mae"):
        load_config([cfg], plugins=plugins, check_files=False)


def test_plugin_task_trains_and_predicts(counting, tmp_path, capsys):
    from nptrain.cli.main import main

    _data(tmp_path)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"""
data: {{name: lit, path: {{train: {{image: {tmp_path / 'train'}}}, valid: {{image: {tmp_path / 'valid'}}}}}}}
model: {{task: counting, name: simple_counter}}
training: {{epochs: 2, optimizer: {{name: adamw, lr: 0.01}}}}
logging: {{output_dir: {tmp_path / 'runs'}, onnx_export: false, fx_export: false}}
environment: {{batch_size: 3, num_workers: 0, seed: 1}}
""")
    assert main(["run", str(cfg)]) == 0
    run_dir = tmp_path / "runs" / "counting" / "simple_counter"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["task"] == "counting" and summary["classes"] == ["count"]
    with open(run_dir / "results.csv") as f:
        maes = [float(row["valid_mae"]) for row in csv.DictReader(f)]
    assert len(maes) == 2 and summary["best"]["key"] == "valid_mae"
    assert summary["best"]["value"] == pytest.approx(min(maes), abs=1e-5)  # the metric says lower is better
    assert maes[1] < maes[0] and summary["best"]["epoch"] == 2
    assert (run_dir / "results.png").is_file()
    assert not list(run_dir.glob("*_*.png"))  # the task names no plots: no confusion matrix, PR curve or samples
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), "--json"]) == 0  # the best weights on the validation split again
    evaluated = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert evaluated["samples"] == 3 and evaluated["mae"] == pytest.approx(summary["best"]["value"], abs=1e-5)
    assert main(["predict", str(run_dir), str(cfg), "-o", str(tmp_path / "pred")]) == 0
    assert json.loads((tmp_path / "pred" / "counts.json").read_text()) == {str(cfg): len(str(cfg))}
