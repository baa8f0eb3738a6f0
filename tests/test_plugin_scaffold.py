"""``nptrain plugin new`` → install in a new virtual environment → its tests pass → it trains.

The new venv sees this environment's packages (torch, nptrain) through a ``site.addsitedir`` line
instead of reinstalling torch, but the plugin itself is installed there from its own folder with
pip, exactly as its author would."""
from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from nptrain.cli.main import main


def _venv_with_our_packages(path: Path) -> Path:
    venv.EnvBuilder(with_pip=False).create(path)
    py = path / "bin" / "python"
    target = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            capture_output=True, text=True, check=True).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    Path(target, "_nptrain_parent_env.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    return py


@pytest.mark.slow
def test_scaffold_installs_tests_and_trains(tmp_path):
    assert main(["plugin", "new", "scaffnet", "--dir", str(tmp_path / "np-plugin-scaffnet")]) == 0
    project = tmp_path / "np-plugin-scaffnet"
    py = _venv_with_our_packages(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(project)],
                   check=True, env=env, capture_output=True)
    listing = subprocess.run([str(py), "-m", "nptrain", "plugins"], capture_output=True, text=True, env=env, check=True)
    assert "np-plugin-scaffnet 0.1.0" in listing.stdout and "scaffnet_s/classification" in listing.stdout
    # the scaffold's own tests: conformance suite, converter round trip, one epoch through `nptrain run` + ONNX
    proc = subprocess.run([str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project / "tests")],
                          capture_output=True, text=True, env=env, cwd=project)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def test_scaffold_refuses_to_overwrite_and_bad_names(tmp_path, capsys):
    target = tmp_path / "p"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    assert main(["plugin", "new", "okname", "--dir", str(target)]) == 2
    assert main(["plugin", "new", "Bad-Name", "--dir", str(tmp_path / "q")]) == 2
    err = capsys.readouterr().err
    assert "exists and is not empty" in err and "must be lowercase letters" in err
    assert (target / "keep.txt").read_text() == "mine"


def test_example_plugin_is_what_the_scaffold_writes(tmp_path):
    """examples/plugin-tinynet is the scaffold's output, unchanged: a template fix must be carried to it."""
    assert main(["plugin", "new", "tinynet", "--dir", str(tmp_path / "tinynet")]) == 0
    example = Path(__file__).resolve().parents[1] / "examples" / "plugin-tinynet"

    def files(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*"))
                if p.is_file() and "egg-info" not in str(p) and "__pycache__" not in p.parts
                and ".pytest_cache" not in p.parts}

    written, shipped = files(tmp_path / "tinynet"), files(example)
    assert sorted(written) == sorted(shipped)
    assert [name for name in written if written[name] != shipped[name]] == []


def _fake_install(project: Path, dist: str, pkg: str, monkeypatch) -> None:
    """What ``pip install -e`` leaves for importlib.metadata: a dist-info with the entry point, on sys.path."""
    import importlib

    info = project / f"{dist.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[nptrain]\n{pkg.removeprefix('np_plugin_')} = {pkg}.plugin\n")
    monkeypatch.syspath_prepend(str(project))
    importlib.invalidate_caches()


ALL_OPTIONS = ["--kinds", "backbone,head,loss,converter", "--tasks", "detection,classification,segmentation",
               "--source", "orig"]


def test_scaffold_options_write_every_kind_and_task(tmp_path, monkeypatch):
    import sys

    import torch

    import nptrain
    from nptrain.plugin_manager import load_plugins

    project = tmp_path / "ghost"
    assert main(["plugin", "new", "ghost", "--dir", str(project), *ALL_OPTIONS]) == 0
    assert sorted(str(p.relative_to(project)) for p in project.rglob("*.py")) == [
        "np_plugin_ghost/__init__.py", "np_plugin_ghost/convert.py", "np_plugin_ghost/head.py",
        "np_plugin_ghost/loss.py", "np_plugin_ghost/model.py", "np_plugin_ghost/params.py",
        "np_plugin_ghost/plugin.py", "tests/test_conformance.py", "tests/test_train.py"]
    assert (project / "configs" / "ghost_digits.yaml").is_file()  # the first task in canonical order trains
    _fake_install(project, "np-plugin-ghost", "np_plugin_ghost", monkeypatch)
    try:
        plugins = load_plugins()
        mine = {kind: sorted(str(k) for k in keys) for p in plugins.plugins if p.dist == "np-plugin-ghost"
                for kind, keys in p.providers.items()}
        assert mine == {"backbone": ["ghost"], "head": ["ghost_head"], "loss": ["ghost_focal"],
                        "converter": ["orig"],
                        "preset": ["('ghost_s', 'classification')", "('ghost_s', 'detection')",
                                   "('ghost_s', 'segmentation')"]}
        for task, size in (("classification", 32), ("segmentation", 64), ("detection", 128)):
            model = nptrain.create_model("ghost_s", task=task, num_classes=3, plugins=plugins).eval()
            with torch.no_grad():
                out = model(torch.zeros(1, 3, size, size))
            assert out.shape[:2] == (1, 3) if task != "detection" else out.shape[2] == 8
            assert ("head.classifier.weight" in model.state_dict()) == (task != "detection")
        preset = plugins.registry.preset("ghost_s", "segmentation").record
        assert preset.architecture["head"] == {"name": "ghost_head"} and preset.losses == ({"criterion": "ghost_focal"},)
    finally:
        for name in [m for m in sys.modules if m.startswith("np_plugin_ghost")]:
            del sys.modules[name]


@pytest.mark.slow
def test_scaffold_options_pass_their_own_tests(tmp_path, monkeypatch):
    """The generated conformance suite (prune, ONNX included) and converter test pass for every kind, with the
    template head and loss on both tasks they serve (detection uses only core parts, built in the test above)."""
    project = tmp_path / "ghost"
    assert main(["plugin", "new", "ghost", "--dir", str(project), "--kinds", "backbone,head,loss,converter",
                 "--tasks", "classification,segmentation", "--source", "orig"]) == 0
    _fake_install(project, "np-plugin-ghost", "np_plugin_ghost", monkeypatch)
    env = {**os.environ, "PYTHONPATH": str(project)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           "tests/test_conformance.py", "tests/test_train.py", "-k", "not trains"],
                          capture_output=True, text=True, env=env, cwd=project)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "failed" not in proc.stdout and " passed" in proc.stdout


def test_scaffold_option_errors_are_one_line_with_the_fix(tmp_path, capsys):
    target = tmp_path / "x"
    assert main(["plugin", "new", "okname", "--dir", str(target), "--kinds", "backbone,haed"]) == 2
    assert main(["plugin", "new", "okname", "--dir", str(target), "--tasks", "detection", "--kinds", "backbone,converter"]) == 2
    assert main(["plugin", "new", "okname", "--dir", str(target), "--tasks", "detection", "--kinds", "backbone,head"]) == 2
    assert main(["plugin", "new", "okname", "--dir", str(target), "--source", "Bad Source"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "nptrain: error: --kinds: unknown 'haed' (did you mean 'head'?); choose from backbone, head, loss, converter",
        "nptrain: error: --kinds converter maps an original classifier: add classification to --tasks, "
        "or leave converter out of --kinds",
        "nptrain: error: --kinds head: the template head serves classification and segmentation; add one of them to --tasks",
        "nptrain: error: --source 'Bad Source' must be lowercase letters, digits and underscores, starting with a letter"]
    assert not target.exists()  # nothing written before every check passed
