"""`nptrain config show --trace` and NPTRAIN_TRACE_PLUGINS=1 say which distribution provides each part of a config."""
from __future__ import annotations

from ruamel.yaml import YAML

from nptrain.cli.main import main
from nptrain.plugin_manager import default_plugins, load_plugins

FAMILY = '''
from nptrain import hookimpl
from nptrain.declare import preset_family
from nptrain.records import ConverterRecord


@hookimpl
def nptrain_presets():
    return preset_family("tracecnn_{width}", backbone="simple_cnn", widths={"s": {"stem_channels": 8}},
                         tasks=("segmentation",))


@hookimpl
def nptrain_converters():
    return [ConverterRecord(name="orig", presets=("tracecnn_s",), factory="np_plugin_tracefam:convert")]
'''


def test_config_show_trace_names_each_distribution(fake_dist, write, tmp_path, capsys):
    fake_dist("np-plugin-tracefam", "np_plugin_tracefam", FAMILY)
    default_plugins.cache_clear()
    try:
        (tmp_path / "orig.pth").write_bytes(b"")
        cfg = write("cfg.yaml", f"""
            model:
              task: segmentation
              name: tracecnn_s
              checkpoint: orig:{tmp_path / 'orig.pth'}
              architecture: {{head: {{name: fcn, params: {{intermediate_channels: 16}}}}}}
            """)
        assert main(["config", "show", str(cfg), "--trace"]) == 0
        out = capsys.readouterr().out
    finally:
        default_plugins.cache_clear()
    trace = out[out.index("# provided by:"):].splitlines()
    assert trace == [
        "# provided by:",
        "#   preset tracecnn_s (segmentation): np-plugin-tracefam 0.0.1 (entry point np_plugin_tracefam)",
        "#   backbone simple_cnn: nptrain 0.1.0 (entry point builtin, nptrain.components.simple_cnn:build)",
        "#   neck fpn: nptrain 0.1.0 (entry point builtin, nptrain.components.fpn:build)",
        "#   head fcn: nptrain 0.1.0 (entry point builtin, nptrain.components.fcn_head:build)",
        "#   loss seg_cross_entropy: nptrain 0.1.0 (entry point builtin, nptrain.components.losses:build_seg_cross_entropy)",
        "#   converter orig → tracecnn_s: np-plugin-tracefam 0.0.1 (entry point np_plugin_tracefam, np_plugin_tracefam:convert)",
    ]
    assert YAML(typ="safe").load(out)["model"]["name"] == "tracecnn_s"  # still a loadable YAML document


def test_trace_env_prints_providers_on_stderr(monkeypatch, write, capsys):
    from nptrain.config.loader import load_config

    monkeypatch.setenv("NPTRAIN_TRACE_PLUGINS", "1")
    cfg = write("cfg.yaml", "model: {task: classification, name: simple_cnn}\n")
    load_config([str(cfg)], plugins=load_plugins(external=False))
    err = capsys.readouterr().err
    assert "[nptrain plugins] preset simple_cnn (classification): nptrain 0.1.0 (entry point builtin)" in err
    assert "[nptrain plugins] head fc: nptrain 0.1.0 (entry point builtin, nptrain.components.fc_head:build)" in err
    monkeypatch.delenv("NPTRAIN_TRACE_PLUGINS")
    load_config([str(cfg)], plugins=load_plugins(external=False))
    assert "[nptrain plugins]" not in capsys.readouterr().err
