"""nptrain.declare.preset_family: widths × tasks into preset records that build; record fields documented."""
from __future__ import annotations

import subprocess
import sys

import attrs
import pytest

from nptrain.declare import preset_family
from nptrain.records import PROVIDER_KINDS, PresetRecord


def test_widths_times_tasks_expand_into_records_that_build():
    records = preset_family("cnn_{width}", backbone="simple_cnn", widths={"s": {"stem_channels": 8}, "m": {}},
                            tasks=("classification", "segmentation"), description="simple cnn {width} for {task}",
                            default_input_size={"classification": 32, "segmentation": 64})
    assert [(r.name, r.task, r.default_input_size) for r in records] == [
        ("cnn_s", "classification", 32), ("cnn_s", "segmentation", 64),
        ("cnn_m", "classification", 32), ("cnn_m", "segmentation", 64)]
    assert records[0] == PresetRecord(name="cnn_s", task="classification", default_input_size=32,
                                      architecture={"backbone": {"name": "simple_cnn", "params": {"stem_channels": 8}},
                                                    "head": {"name": "fc"}},
                                      description="simple cnn s for classification")
    assert records[1].architecture == {"backbone": {"name": "simple_cnn", "params": {"stem_channels": 8}},
                                       "neck": {"name": "fpn"}, "head": {"name": "fcn"}}


FAMILY_PLUGIN = """
from nptrain import hookimpl
from nptrain.declare import preset_family


@hookimpl
def nptrain_presets():
    return preset_family("cnn_{width}", backbone="simple_cnn", widths={"s": {"stem_channels": 8}, "m": {}},
                         tasks=("classification", "segmentation", "detection"), default_input_size=64)
"""


def test_a_family_registers_from_one_call_and_every_preset_builds(fake_dist):
    import torch

    import nptrain
    from nptrain.plugin_manager import load_plugins

    fake_dist("np-plugin-cnnfamily", "np_plugin_cnnfamily", FAMILY_PLUGIN)
    plugins = load_plugins()
    mine = sorted((p.record.name, p.record.task) for p in plugins.registry.all("preset") if p.dist == "np-plugin-cnnfamily")
    assert mine == [(n, t) for n in ("cnn_m", "cnn_s") for t in ("classification", "detection", "segmentation")]
    x = torch.zeros(1, 3, 64, 64)
    for name, task in mine:
        model = nptrain.create_model(name, task=task, num_classes=3, plugins=plugins).eval()
        assert model.state_dict()["backbone.stem.conv.weight"].shape[0] == (8 if name == "cnn_s" else 16)
        with torch.no_grad():
            out = model(x)
        assert out.shape[0] == 1 and (out.shape[1] == 3 if task != "detection" else out.shape[2] == 8)


def test_explicit_parts_stage_params_and_losses():
    records = preset_family("x_{width}", backbone="b", widths={"t": {"w": 1}},
                            tasks={"segmentation": {"head": {"name": "my_head", "params": {"k": 2}}}},
                            stage_params={"t": [{"channels": 8}]}, losses={"segmentation": ({"criterion": "dice"},)})
    (record,) = records
    assert record.architecture == {"backbone": {"name": "b", "params": {"w": 1}, "stage_params": [{"channels": 8}]},
                                   "head": {"name": "my_head", "params": {"k": 2}}}
    assert record.losses == ({"criterion": "dice"},) and record.default_input_size == 224
    with pytest.raises(ValueError, match=r"must contain \{width\}"):
        preset_family("fixed", backbone="b", widths={"s": {}, "m": {}})
    with pytest.raises(ValueError, match="task 'keypoints'"):
        preset_family("x_{width}", backbone="b", widths={"s": {}}, tasks=("keypoints",))


def test_every_record_field_has_a_documented_meaning():
    from nptrain.testing.hookdocs import FIELD_NOTES, render_records

    fields = {f.name for cls in PROVIDER_KINDS.values() for f in attrs.fields(cls)}
    assert fields <= set(FIELD_NOTES), sorted(fields - set(FIELD_NOTES))
    text = render_records()
    assert "| `default_input_size` | `int` | `224` |" in text and "| `tasks` | `tuple[str, ...]` | required |" in text


def test_declare_is_light_for_entry_modules():
    code = "import sys, nptrain.declare; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
