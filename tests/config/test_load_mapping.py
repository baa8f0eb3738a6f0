"""``load_config`` takes a mapping; ``create_model`` and a converter's ``preset_shapes`` build from data
with the caller's PluginSet (no temporary YAML, no silent switch to the process-wide set)."""
from __future__ import annotations

import glob
import tempfile

import pytest

from nptrain.config.loader import load_config
from nptrain.errors import ConfigError

PLUGIN = '''
import torch

from nptrain import hookimpl
from nptrain.records import ConverterRecord, PresetRecord


def convert(state, *, preset, keep_head=True):
    from nptrain.converter_kit import preset_shapes

    return {k: torch.zeros(shape) for k, shape in preset_shapes(preset, num_classes=3).items()}


@hookimpl
def nptrain_presets():
    return [PresetRecord(name="only_here", task="classification", default_input_size=32,
                         architecture={"backbone": {"name": "simple_cnn"}, "head": {"name": "fc"}})]


@hookimpl
def nptrain_converters():
    return [ConverterRecord(name="fakesrc", presets=("only_here",), factory=convert)]
'''


def test_mapping_loads_like_the_same_file(tmp_path):
    data = {"model": {"name": "simple_cnn"}, "training": {"epochs": 2}, "environment": {"batch_size": 8}}
    path = tmp_path / "c.yaml"
    path.write_text("model: {name: simple_cnn}\ntraining: {epochs: 2}\nenvironment: {batch_size: 8}\n")
    from_file = load_config([path], ["training.epochs=5"]).unstructure()
    from_mapping = load_config(data, ["training.epochs=5"]).unstructure()
    assert from_mapping == from_file and from_mapping["training"]["epochs"] == 5
    assert data == {"model": {"name": "simple_cnn"}, "training": {"epochs": 2}, "environment": {"batch_size": 8}}


def test_mapping_errors_name_the_mapping_and_field():
    with pytest.raises(ConfigError) as exc:
        load_config({"model": {"name": "simple_cnn"}, "training": {"epochs": "two"}})
    assert str(exc.value).startswith("<mapping>: training.epochs: expected an integer; got 'two'")
    from nptrain.config.yaml_io import mapping_layer

    with pytest.raises(ConfigError, match=r"^<mapping>: the top level must be a mapping"):
        mapping_layer(["model"])  # type: ignore[arg-type]


def test_create_model_and_converters_use_the_callers_plugin_set(fake_dist, tmp_path, monkeypatch):
    import torch
    from safetensors.torch import save_file

    import nptrain
    from nptrain.convert import convert_checkpoint
    from nptrain.plugin_manager import default_plugins, load_plugins

    default_plugins()  # the process-wide set is loaded before the plugin exists: it never sees it
    fake_dist("np-fake-only-here", "np_fake_only_here", PLUGIN)
    monkeypatch.delenv("NPTRAIN_NO_EXTERNAL_PLUGINS", raising=False)
    mine = load_plugins()
    before = set(glob.glob(f"{tempfile.gettempdir()}/nptrain-*.yaml"))
    model = nptrain.create_model("only_here", num_classes=4, plugins=mine)
    assert [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1].out_features == 4
    assert set(glob.glob(f"{tempfile.gettempdir()}/nptrain-*.yaml")) == before  # no temporary YAML written
    with pytest.raises(ConfigError, match="unknown preset 'only_here'"):  # the process-wide set has no such preset
        nptrain.create_model("only_here", num_classes=4)
    src = tmp_path / "src.safetensors"
    save_file({"w": torch.zeros(1)}, str(src))
    # the converter calls preset_shapes without a set: it builds with the one convert_checkpoint was given
    state = convert_checkpoint(src, source="fakesrc", preset="only_here", plugins=mine)
    assert state.keys() == nptrain.create_model("only_here", num_classes=3, plugins=mine).state_dict().keys()
