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
