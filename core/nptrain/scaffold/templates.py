"""File templates of a new plugin project (``string.Template``; ``$$`` is a literal dollar).

Variables: ``name`` (provider name, e.g. ``tinynet``), ``pkg`` (``np_plugin_tinynet``),
``dist`` (``np-plugin-tinynet``), ``cls`` (``TinyNet``)."""
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

README = '''# $dist

An [nptrain](https://pypi.org/project/nptrain/) plugin that adds:

| kind | name | tasks |
|---|---|---|
| backbone | `$name` | classification, segmentation, detection |
| preset | `${name}_s` | classification (`$name` + `fc` head) |
| converter | `reference` → `${name}_s` | maps the original naming (`features.N.*`, `fc.*`) onto ours |

## Install and check

```bash
pip install -e .            # registers the entry point `$name` in group `nptrain`
nptrain plugins             # lists $dist with its providers
pytest                      # the nptrain conformance suite + a training run
nptrain run configs/${name}_digits.yaml   # after: nptrain data digits data/digits
```

## Params (`model.architecture.backbone.params`)

| field | type | default | meaning |
|---|---|---|---|
| `stem_channels` | int | 16 | width of the stride-2 stem |
| `act_type` | relu / silu / gelu | relu | activation |

`stage_params`: list of `{channels: int, stride: 1|2}`; default four stages 24/32/64/96 (strides 4–32).
'''

INIT = '''"""$dist: an nptrain plugin. Importing this package does not import torch."""
__version__ = "0.1.0"
'''

PARAMS = '''"""Params of the $name backbone: attrs classes only, so the entry module stays light."""
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

PLUGIN = '''"""Entry module (group ``nptrain``): returns records only; model code loads when a model is built."""
from __future__ import annotations

from nptrain import hookimpl
from nptrain.records import BackboneRecord, ConverterRecord, PresetRecord

from $pkg.params import ${cls}Params, ${cls}Stage


@hookimpl
def nptrain_backbones():
    return [BackboneRecord(name="$name", factory="$pkg.model:build", params=${cls}Params,
                           stage_params=${cls}Stage, description="$cls: depthwise-separable conv stages.")]


@hookimpl
def nptrain_presets():
    return [PresetRecord(name="${name}_s", task="classification", default_input_size=32,
                         architecture={"backbone": {"name": "$name"}, "head": {"name": "fc"}},
                         description="$name + fc head.")]


@hookimpl
def nptrain_converters():
    return [ConverterRecord(name="reference", presets=("${name}_s",), factory="$pkg.convert:from_reference",
                            description="original naming (features.N.*, fc.*) to ours")]
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


def from_reference(state_dict, *, preset: str, keep_head: bool = True):
    # unmapped source keys and unfilled, unexpected or misshapen keys against the preset raise ConversionError
    return convert_by_rule(state_dict, target_key, source="reference", preset=preset, keep_head=keep_head)
'''

TEST_CONFORMANCE = '''"""Every provider of this plugin through nptrain's conformance matrix."""
from nptrain.testing import conformance_tests

TestConformance = conformance_tests("$dist")
'''

TEST_TRAIN = '''"""The preset trains through ``nptrain run`` exactly as a user would run it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from nptrain.modeling.api import create_model


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
    converted = conv.from_reference(back, preset="${name}_s")
    assert set(converted) == set(ours) and all(torch.equal(converted[k], ours[k]) for k in ours)
    # wrapped .pth files, `nptrain convert` and `checkpoint: reference:FILE` all give the same weights
    assert_file_forms_agree(back, source_name="reference", preset="${name}_s", tmp_path=tmp_path, num_classes=10)
    # keep_head=False starts a model with another class count from the same file
    assert_head_drops(back, source_name="reference", preset="${name}_s", source_head_prefixes=("fc.",))


def test_trains_one_epoch_and_exports(tmp_path: Path):
    nptrain = [sys.executable, "-m", "nptrain"]
    subprocess.run(nptrain + ["data", "digits", str(tmp_path / "digits")], check=True)
    config = Path(__file__).parent.parent / "configs" / "${name}_digits.yaml"
    subprocess.run(nptrain + ["run", str(config), f"data.path.train.image={tmp_path}/digits/train",
                              f"data.path.valid.image={tmp_path}/digits/valid", f"logging.output_dir={tmp_path}/runs",
                              "training.epochs=1"], check=True)
    summary = json.loads(next((tmp_path / "runs").rglob("summary.json")).read_text())
    assert summary["last"]["epoch"] == 1
    assert summary["best"]["metrics"]["valid_top1_accuracy"] > 0.2  # 10 classes: chance is 0.1
    assert summary["export"]["onnx"]["ok"] and summary["export"]["onnx"]["max_abs_diff"] < 1e-4
'''

CONFIG = '''# ${name}_s on the digits data: nptrain data digits data/digits && nptrain run configs/${name}_digits.yaml
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
'''

FILES = {
    "pyproject.toml": PYPROJECT,
    "README.md": README,
    "$pkg/__init__.py": INIT,
    "$pkg/params.py": PARAMS,
    "$pkg/plugin.py": PLUGIN,
    "$pkg/model.py": MODEL,
    "$pkg/convert.py": CONVERT,
    "tests/test_conformance.py": TEST_CONFORMANCE,
    "tests/test_train.py": TEST_TRAIN,
    "configs/${name}_digits.yaml": CONFIG,
}
