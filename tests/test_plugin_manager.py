"""Plugin discovery: broken plugins are reported, clashes name both sources, switches work."""
from __future__ import annotations

import subprocess
import sys

import pytest

from nptrain.errors import PluginError
from nptrain.plugin_manager import load_plugins

GOOD = """
import attrs
from nptrain import hookimpl
from nptrain.records import BackboneRecord

@attrs.define
class P:
    width: int = 8

@hookimpl
def nptrain_backbones():
    return [BackboneRecord(name="{name}", factory="nptrain.components.simple_cnn:build", params=P,
                           description="test backbone")]
"""


def test_builtins_register_through_hooks():
    plugins = load_plugins(external=False)
    reg = plugins.registry
    assert reg.get("head", "fc").dist == "nptrain"
    assert reg.get("backbone", "simple_cnn").plugin == "builtin"
    assert {"cross_entropy", "seg_cross_entropy"} <= set(reg.names("loss"))
    assert [p.dist for p in plugins.plugins] == ["nptrain", "nptrain"]
    assert reg.get("head", "anchor_free_decoupled_head").plugin == "builtin_detection"


def test_broken_import_is_reported_and_others_keep_working(fake_dist):
    fake_dist("np-plugin-broken", "np_broken_mod", "raise ImportError('no module named foo')")
    fake_dist("np-plugin-good", "np_good_mod", GOOD.format(name="goodnet"))
    plugins = load_plugins()
    errors = "\n".join(plugins.errors)
    assert "np-plugin-broken (np_broken_mod): failed to load np_broken_mod: ImportError: no module named foo" in errors
    assert plugins.registry.get("backbone", "goodnet").dist == "np-plugin-good"


def test_bad_record_is_reported_and_dropped(fake_dist):
    fake_dist("np-plugin-badrec", "np_badrec_mod", """
from nptrain import hookimpl
from nptrain.records import HeadRecord

@hookimpl
def nptrain_backbones():
    return [HeadRecord(name="oops", factory="x:y", tasks=("classification",))]
""")
    plugins = load_plugins()
    assert any("nptrain_backbones returned HeadRecord, expected BackboneRecord" in e for e in plugins.errors)
    assert plugins.registry.find("head", "oops") is None


def test_duplicate_name_names_both_distributions(fake_dist):
    fake_dist("np-plugin-one", "np_one_mod", GOOD.format(name="twin"))
    fake_dist("np-plugin-two", "np_two_mod", GOOD.format(name="twin"))
    plugins = load_plugins()
    with pytest.raises(PluginError, match=r"backbone 'twin' is provided by both np-plugin-one \(np_one_mod\) and "
                                          r"np-plugin-two \(np_two_mod\)"):
        plugins.registry.get("backbone", "twin")
    assert any("twin" in e for e in plugins.errors)


def test_same_distribution_visible_twice_loads_once(fake_dist, tmp_path, monkeypatch):
    fake_dist("np-plugin-dup", "np_dup_mod", GOOD.format(name="dupnet"))
    # an editable install can make the same distribution visible on a second path
    fake_dist("np-plugin-dup", "np_dup_mod", GOOD.format(name="dupnet"), where=tmp_path / "other")
    monkeypatch.syspath_prepend(str(tmp_path / "other"))
    plugins = load_plugins()
    assert [p.dist for p in plugins.plugins].count("np-plugin-dup") == 1
    assert plugins.registry.get("backbone", "dupnet").dist == "np-plugin-dup"


def test_disable_and_no_external(fake_dist, monkeypatch):
    fake_dist("np-plugin-off", "np_off_mod", GOOD.format(name="offnet"))
    monkeypatch.setenv("NPTRAIN_DISABLE_PLUGINS", "np_off_mod, something_else")
    assert load_plugins().registry.find("backbone", "offnet") is None
    monkeypatch.delenv("NPTRAIN_DISABLE_PLUGINS")
    assert load_plugins().registry.find("backbone", "offnet") is not None
    monkeypatch.setenv("NPTRAIN_NO_EXTERNAL_PLUGINS", "1")
    plugins = load_plugins()
    assert plugins.registry.find("backbone", "offnet") is None
    assert {p.dist for p in plugins.plugins} == {"nptrain"}


def test_trace_shows_which_plugin_answered(fake_dist, monkeypatch, capsys):
    fake_dist("np-plugin-tr", "np_tr_mod", GOOD.format(name="trnet"))
    monkeypatch.setenv("NPTRAIN_TRACE_PLUGINS", "1")
    load_plugins()
    err = capsys.readouterr().err
    assert "np-plugin-tr:np_tr_mod answered nptrain_backbones with 1 record(s)" in err


def test_record_validation():
    from nptrain.records import BackboneRecord, HeadRecord

    with pytest.raises(ValueError, match="module:attribute"):
        BackboneRecord(name="x", factory="no_colon")
    with pytest.raises(ValueError, match="task names are identifiers"):
        HeadRecord(name="x", factory="a:b", tasks=("pose estimation",))
    # a task a plugin adds (TaskRecord) is named like any other; whether it is installed is checked at load
    assert HeadRecord(name="x", factory="a:b", tasks=("pose",)).tasks == ("pose",)
    from nptrain.records import TaskRecord

    task = dict(name="pose", model="a:b", dataset="a:b", targets="a:b", metric="a:b", metric_names=("pck",),
                default_loss="mse")
    with pytest.raises(ValueError, match="'plots' must be in"):
        TaskRecord(**task, plots=("confusoin",))
    with pytest.raises(ValueError, match="must be 'package.module:attribute'"):
        TaskRecord(**{**task, "dataset": "no_colon"})


def test_entry_modules_do_not_import_torch():
    code = ("import sys, nptrain.builtin.plugin, nptrain.plugin_manager as pm; pm.load_plugins(); "
            "from importlib import metadata; "
            "[ep.load() for d in metadata.distributions() for ep in d.entry_points if ep.group == 'nptrain']; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
