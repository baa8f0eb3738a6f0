"""A plugin's fault is reported as the plugin's, with the line to fix: an untraceable forward (the kit and
``nptrain compress``) and a factory that raises (any command), never the core's "internal error"."""
from __future__ import annotations

import pytest

from nptrain.cli.main import main
from nptrain.errors import PluginFault
from nptrain.plugin_manager import default_plugins, load_plugins

BRANCHY = '''
import attrs
from torch import nn
from nptrain import hookimpl
from nptrain.records import BackboneRecord, Feature, FeatureInfo, PresetRecord


class Gate(nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: fx cannot trace it
            return x
        return -x


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, 2, 1)
        self.gate = Gate()
        self.feature_info = FeatureInfo((Feature(8, 2),))

    def forward(self, x):
        return (self.gate(self.conv(x)),)


def build(params, stage_params, task):
    return Branchy()


def build_broken(params, stage_params, task):
    raise RuntimeError("stem width must be even")


@hookimpl
def nptrain_backbones():
    return [BackboneRecord(name="branchy", factory="np_plugin_branchy:build", tasks=("classification",)),
            BackboneRecord(name="brokenbb", factory="np_plugin_branchy:build_broken", tasks=("classification",))]


@hookimpl
def nptrain_presets():
    return [PresetRecord(name="branchy_s", task="classification", default_input_size=32,
                         architecture={"backbone": {"name": "branchy"}, "head": {"name": "fc"}}),
            PresetRecord(name="broken_s", task="classification", default_input_size=32,
                         architecture={"backbone": {"name": "brokenbb"}, "head": {"name": "fc"}})]
'''


@pytest.fixture
def branchy(fake_dist, monkeypatch):
    fake_dist("np-plugin-branchy", "np_plugin_branchy", BRANCHY)
    default_plugins.cache_clear()
    yield load_plugins()
    default_plugins.cache_clear()


def test_kit_trace_failure_names_preset_module_line_plugin_and_rules(branchy):
    import nptrain
    from nptrain.fx_explain import trace_explained

    model = nptrain.create_model("branchy_s", num_classes=3, plugins=branchy)
    with pytest.raises(PluginFault) as info:
        trace_explained(model, what="preset branchy_s (classification)")
    msg = str(info.value)
    assert msg.startswith("preset branchy_s (classification) (plugin np-plugin-branchy): torch.fx cannot trace module 'backbone.gate'")
    assert "np_plugin_branchy.py:" in msg and "in forward `if x.sum() > 0:" in msg
    assert "TraceError" in msg and "docs/plugins.md#fx-rules" in msg and "\n" not in msg


def test_compress_blames_the_plugin_not_the_core(branchy, write, tmp_path, capsys):
    cfg = write("cfg.yaml", "model: {task: classification, name: branchy_s}\n")
    assert main(["compress", str(cfg), "--ratio", "0.5", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "internal error" not in err and "Traceback" not in err
    assert err.startswith("nptrain: error: compress branchy_s (plugin np-plugin-branchy): torch.fx cannot trace module 'backbone.gate'")
    assert "docs/plugins.md#fx-rules" in err


def test_a_plugin_exception_names_the_plugin_and_line(branchy, write, tmp_path, capsys):
    cfg = write("cfg.yaml", "model: {task: classification, name: broken_s}\n")
    assert main(["compress", str(cfg), "--ratio", "0.5", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "internal error" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith("nptrain: error: plugin np-plugin-branchy failed at ")
    assert "np_plugin_branchy.py:" in err and "in build_broken: RuntimeError: stem width must be even" in err
