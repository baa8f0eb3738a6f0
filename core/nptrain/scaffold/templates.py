"""File templates of a new plugin project (``string.Template``; ``$$`` is a literal dollar).

Variables: ``name`` (provider name, e.g. ``tinynet``), ``pkg`` (``np_plugin_tinynet``),
``dist`` (``np-plugin-tinynet``), ``cls`` (``TinyNet``), ``source`` (converter source name). Pieces
marked per kind or task are joined by :mod:`nptrain.scaffold.create` for the options given."""
from __future__ import annotations

PYPROJECT = '''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "nptrain plugin: the $name backbone and preset"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["nptrain>=0.1"]

[project.optional-dependencies]
test = ["pytest>=8"]

[project.entry-points.nptrain]
$name = "$pkg.plugin"

[tool.setuptools.packages.find]
include = ["$pkg*"]

[tool.pytest.ini_options]
testpaths = ["tests"]
'''

# the sdist carries the tests with their fixtures and the configs, so the kit runs against an installed wheel
MANIFEST = '''recursive-include tests *.py *.tsv *.json *.safetensors
recursive-include configs *.yaml
'''

INIT = '''"""$dist: an nptrain plugin. Importing this package does not import torch."""
__version__ = "0.1.0"
'''

MODEL = '''"""The $name backbone: a stride-2 stem, then depthwise-separable conv stages.

fx rules kept: no Python branching on tensor shapes; widths live in attributes."""
from __future__ import annotations

from torch import nn

from nptrain.layers import ConvNormAct
from nptrain.records import Feature, FeatureInfo

from $pkg.params import ${cls}Params, ${cls}Stage

DEFAULT_STAGES = [${cls}Stage(channels=c) for c in (24, 32, 64, 96)]


class SeparableBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int, stride: int, act: str) -> None:
        super().__init__()
        self.dw = ConvNormAct(cin, cin, 3, stride, groups=cin, act=act)
        self.pw = ConvNormAct(cin, cout, 1, act=act)


class $cls(nn.Module):
    def __init__(self, params: ${cls}Params, stages: list[${cls}Stage]) -> None:
        super().__init__()
        stages = stages or DEFAULT_STAGES
        self.stem = ConvNormAct(3, params.stem_channels, 3, 2, act=params.act_type)
        width, stride, features = params.stem_channels, 2, []
        self.stages = nn.ModuleList()
        for st in stages:
            self.stages.append(SeparableBlock(width, st.channels, st.stride, params.act_type))
            width, stride = st.channels, stride * st.stride
            features.append(Feature(width, stride))
        self.feature_info = FeatureInfo(tuple(features))

    def forward(self, x):
        x = self.stem(x)
        out = []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return tuple(out)


def build(params: ${cls}Params, stage_params: list, task: str) -> $cls:
    return $cls(params, stage_params)
'''

CONVERT = '''"""Converter from the original naming: ``features.0`` is the stem, ``features.N`` stage N, ``fc`` the classifier."""
from __future__ import annotations

from typing import Optional

from nptrain.converter_kit import convert_by_rule


def target_key(key: str) -> Optional[str]:
    """Our key for an original key, or None when it has no counterpart (the kit then raises, naming it)."""
    if key.startswith("fc."):
        return "head.classifier." + key[3:]
    if key.startswith("features.0."):
        return "backbone.stem." + key[len("features.0."):]
    if key.startswith("features."):
        index, _, rest = key[len("features."):].partition(".")
        return f"backbone.stages.{int(index) - 1}.{rest}" if index.isdigit() else None
    return None


def from_$source(state_dict, *, preset: str, keep_head: bool = True):
    # unmapped source keys and unfilled, unexpected or misshapen keys against the preset raise ConversionError
    # (a rule may also return nptrain.converter_rules.Map/Split/Concat when a value changes shape or is fused)
    return convert_by_rule(state_dict, target_key, source="$source", preset=preset, keep_head=keep_head)
'''

TEST_CONFORMANCE = '''"""Every provider of this plugin through nptrain's conformance matrix."""
from nptrain.testing import conformance_tests

TestConformance = conformance_tests("$dist")
'''


PARAMS_HEAD = '''"""Params of the $name components: attrs classes only, so the entry module stays light."""
from __future__ import annotations

from typing import Literal

import attrs


@attrs.define(kw_only=True)
class ${cls}Params:
    stem_channels: int = 16
    act_type: Literal["relu", "silu", "gelu"] = "relu"


@attrs.define(kw_only=True)
class ${cls}Stage:
    channels: int = 32
    stride: Literal[1, 2] = 2
'''

PARAMS_HEAD_KIND = '''

@attrs.define(kw_only=True)
class ${cls}HeadParams:
    channels: int = 32  # segmentation: width every feature is projected to
    dropout_prob: float = 0.0
'''

PARAMS_LOSS_KIND = '''

@attrs.define(kw_only=True)
class ${cls}LossParams:
    gamma: float = 2.0
    ignore_index: int = 255
'''

HEAD = '''"""The ${name}_head: classification from the last feature (pooled), segmentation from all of them.

fx rules kept: the task is chosen in ``build``, so ``forward`` has no branches."""
from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from nptrain.records import FeatureInfo

from $pkg.params import ${cls}HeadParams


class ${cls}ClassifierHead(nn.Module):
    def __init__(self, params: ${cls}HeadParams, in_features: FeatureInfo, num_classes: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(params.dropout_prob)
        # named like the core fc head (head.classifier.*), so converters map the original classifier the same way
        self.classifier = nn.Linear(in_features.channels[-1], num_classes)

    def forward(self, features):
        return self.classifier(self.dropout(self.pool(features[-1]).flatten(1)))


class ${cls}SegmentationHead(nn.Module):
    """Every feature projected to ``params.channels``, upsampled to the first (finest) one and summed."""

    def __init__(self, params: ${cls}HeadParams, in_features: FeatureInfo, num_classes: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, params.channels, 1) for c in in_features.channels)
        self.dropout = nn.Dropout2d(params.dropout_prob)
        self.classifier = nn.Conv2d(params.channels, num_classes, 1)

    def forward(self, features):
        size = features[0].shape[-2:]  # used only as an argument: fine for fx
        x = self.lateral[0](features[0])
        for i in range(1, len(self.lateral)):  # a Python int range, not a tensor value: traceable
            x = x + F.interpolate(self.lateral[i](features[i]), size=size, mode="bilinear", align_corners=False)
        return self.classifier(self.dropout(x))  # logits at the first feature's stride


def build(params: ${cls}HeadParams, in_features: FeatureInfo, num_classes: int, task: str) -> nn.Module:
    if task == "segmentation":
        return ${cls}SegmentationHead(params, in_features, num_classes)
    return ${cls}ClassifierHead(params, in_features, num_classes)
'''

LOSS = '''"""The ${name}_focal loss: cross entropy down-weighted for easy examples, for classification and segmentation."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from $pkg.params import ${cls}LossParams


class ${cls}FocalLoss(nn.Module):
    def __init__(self, params: ${cls}LossParams) -> None:
        super().__init__()
        self.gamma, self.ignore_index = params.gamma, params.ignore_index

    def forward(self, outputs, targets) -> torch.Tensor:
        logits = outputs["pred"] if isinstance(outputs, dict) else outputs
        if "masks" in targets:
            masks = targets["masks"]
            if logits.shape[-2:] != masks.shape[-2:]:
                logits = F.interpolate(logits, size=masks.shape[-2:], mode="bilinear", align_corners=False)
            ce = F.cross_entropy(logits, masks, ignore_index=self.ignore_index, reduction="none")
            weight = (masks != self.ignore_index).float()
        else:  # class indices (B,) or soft targets (B, C) from mixup/cutmix
            ce = F.cross_entropy(logits, targets["labels"], reduction="none")
            weight = torch.ones_like(ce)
        focal = (1 - torch.exp(-ce)).pow(self.gamma) * ce
        return (focal * weight).sum() / weight.sum().clamp(min=1)


def build(params: ${cls}LossParams) -> ${cls}FocalLoss:
    return ${cls}FocalLoss(params)
'''

PLUGIN_HEAD = '''"""Entry module (group ``nptrain``): returns records only; model code loads when a model is built."""
from __future__ import annotations

from nptrain import hookimpl
from nptrain.declare import preset_family
from nptrain.records import $records

from $pkg.params import $params_imports


@hookimpl
def nptrain_backbones():
    return [BackboneRecord(name="$name", factory="$pkg.model:build", params=${cls}Params,
                           stage_params=${cls}Stage, description="$cls: depthwise-separable conv stages.")]
'''

PLUGIN_HEAD_KIND = '''

@hookimpl
def nptrain_heads():
    return [HeadRecord(name="${name}_head", factory="$pkg.head:build", params=${cls}HeadParams,
                       tasks=$head_tasks, description="pooled linear classifier; segmentation: summed projections")]
'''

PLUGIN_LOSS_KIND = '''

@hookimpl
def nptrain_losses():
    return [LossRecord(name="${name}_focal", factory="$pkg.loss:build", params=${cls}LossParams,
                       tasks=$loss_tasks, description="focal cross entropy (gamma, ignore_index)")]
'''

PLUGIN_PRESETS = '''

@hookimpl
def nptrain_presets():
    # one record per width and task; another width is one more entry, e.g. "m": {"stem_channels": 32}
    return preset_family("${name}_{width}", backbone="$name", widths={"s": {}},
                         tasks=$preset_tasks,$preset_losses
                         default_input_size=$input_sizes, description="$name + {task} head.")
'''

PLUGIN_CONVERTER_KIND = '''

@hookimpl
def nptrain_converters():
    return [ConverterRecord(name="$source", presets=("${name}_s",), factory="$pkg.convert:from_$source",
                            description="original naming (features.N.*, fc.*) to ours")]
'''

README_HEAD = '''# $dist

An [nptrain](https://pypi.org/project/nptrain/) plugin that adds:

| kind | name | tasks |
|---|---|---|
| backbone | `$name` | classification, segmentation, detection |
$rows
## Install and check

```bash
pip install -e .            # registers the entry point `$name` in group `nptrain`
nptrain plugins             # lists $dist with its providers
pytest                      # the nptrain conformance suite + a training run
nptrain run configs/${name}_${data}.yaml   # after: nptrain data $data_cmd data/$data
```

## Params (`model.architecture.backbone.params`)

| field | type | default | meaning |
|---|---|---|---|
| `stem_channels` | int | 16 | width of the stride-2 stem |
| `act_type` | relu / silu / gelu | relu | activation |

`stage_params`: list of `{channels: int, stride: 1|2}`; default four stages 24/32/64/96 (strides 4–32).
'''

TEST_TRAIN_HEAD = '''"""The preset trains through ``nptrain run`` exactly as a user would run it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
$torch_imports'''

TEST_CONVERTER = '''

def test_converter_round_trip(tmp_path: Path):
    import $pkg.convert as conv
    from nptrain.testing.converters import assert_file_forms_agree, assert_head_drops

    model = create_model("${name}_s", num_classes=10)
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
    converted = conv.from_$source(back, preset="${name}_s")
    assert set(converted) == set(ours) and all(torch.equal(converted[k], ours[k]) for k in ours)
    # wrapped .pth files, `nptrain convert` and `checkpoint: $source:FILE` all give the same weights
    assert_file_forms_agree(back, source_name="$source", preset="${name}_s", tmp_path=tmp_path, num_classes=10)
    # keep_head=False starts a model with another class count from the same file
    assert_head_drops(back, source_name="$source", preset="${name}_s", source_head_prefixes=("fc.",))
'''

TEST_TRAIN_RUN = '''

def test_trains_one_epoch_and_exports(tmp_path: Path):
    nptrain = [sys.executable, "-m", "nptrain"]
    subprocess.run(nptrain + ["data", "$data_cmd", str(tmp_path / "$data")], check=True)
    config = Path(__file__).parent.parent / "configs" / "${name}_${data}.yaml"
    subprocess.run(nptrain + ["run", str(config), $path_overrides, f"logging.output_dir={tmp_path}/runs",
                              "training.epochs=1"], check=True)
    summary = json.loads(next((tmp_path / "runs").rglob("summary.json")).read_text())
    assert summary["last"]["epoch"] == 1$metric_check
    assert summary["export"]["onnx"]["ok"] and summary["export"]["onnx"]["max_abs_diff"] < 1e-4
'''

# per task: the dataset `nptrain data` writes, the config, the run's path overrides and a metric check
TASK_DATA = {
    "classification": {
        "data": "digits", "data_cmd": "digits",
        "path_overrides": 'f"data.path.train.image={tmp_path}/digits/train",\n'
                          '                              f"data.path.valid.image={tmp_path}/digits/valid"',
        "metric_check": '\n    assert summary["best"]["metrics"]["valid_top1_accuracy"] > 0.2  # 10 classes: chance is 0.1',
        "config": '''# ${name}_s on the digits data: nptrain data digits data/digits && nptrain run configs/${name}_digits.yaml
data:
  path:
    train: {image: data/digits/train}
    valid: {image: data/digits/valid}
augmentation:
  train:
    - {name: resize, size: 32}
    - {name: normalize, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}
  inference:
    - {name: resize, size: 32}
    - {name: normalize, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}
model:
  task: classification
  name: ${name}_s
training:
  epochs: 5
  optimizer: {name: adamw, lr: 0.003, weight_decay: 0.01}
environment:
  batch_size: 32
'''},
    "segmentation": {
        "data": "shapes", "data_cmd": "shapes",
        "path_overrides": ", ".join(f'f"data.path.{split}.{kind}={{tmp_path}}/shapes/{split}/{folder}"'
                                    for split in ("train", "valid")
                                    for kind, folder in (("image", "images"), ("label", "masks"))),
        "metric_check": "",
        "config": '''# ${name}_s on synthetic shapes: nptrain data shapes data/shapes && nptrain run configs/${name}_shapes.yaml
data:
  path:
    train: {image: data/shapes/train/images, label: data/shapes/train/masks}
    valid: {image: data/shapes/valid/images, label: data/shapes/valid/masks}
  id_mapping: [background, disc, square, triangle]
  ignore_index: 255
augmentation:
  train:
    - {name: resize, size: 64}
    - {name: normalize, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}
  inference:
    - {name: resize, size: 64}
    - {name: normalize, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}
model:
  task: segmentation
  name: ${name}_s
training:
  epochs: 5
  optimizer: {name: adamw, lr: 0.005, weight_decay: 0.01}
environment:
  batch_size: 8
'''},
    "detection": {
        "data": "shapes_det", "data_cmd": "shapes-det",
        "path_overrides": ", ".join(f'f"data.path.{split}.{kind}={{tmp_path}}/shapes_det/{split}/{folder}"'
                                    for split in ("train", "valid")
                                    for kind, folder in (("image", "images"), ("label", "labels"))),
        "metric_check": "",
        "config": '''# ${name}_s on synthetic shapes: nptrain data shapes-det data/shapes_det && nptrain run configs/${name}_shapes_det.yaml
data:
  path:
    train: {image: data/shapes_det/train/images, label: data/shapes_det/train/labels}
    valid: {image: data/shapes_det/valid/images, label: data/shapes_det/valid/labels}
  id_mapping: [rectangle, ellipse, triangle]
augmentation:
  train:
    - {name: resize, size: 128}
    - {name: normalize, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}
  inference:
    - {name: resize, size: 128}
    - {name: normalize, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}
model:
  task: detection
  name: ${name}_s
training:
  epochs: 5
  optimizer: {name: adamw, lr: 0.005, weight_decay: 0.01}
environment:
  batch_size: 8
'''},
}

INPUT_SIZES = {"classification": 32, "segmentation": 64, "detection": 128}
