"""The ``nptrain`` command line: exit codes, one-line errors, light --help."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nptrain.cli.main import main

CFG = """
model:
  name: simple_cnn
  architecture:
    backbone:
      params:
        stem_channels: 8
"""


def data_splits(folder) -> list[str]:
    """Overrides pointing both splits at a tiny image folder made under ``folder`` (two classes of one
    8x8 PNG): ``config check`` requires readable data, as ``run`` does."""
    from pathlib import Path

    from PIL import Image

    images = Path(folder) / "check-data"
    for cls in ("a", "b"):
        (images / cls).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (40, 80, 120)).save(images / cls / "0.png")
    return [f"data.path.train.image={images}", f"data.path.valid.image={images}"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nptrain", *args], capture_output=True, text=True)


def test_help_does_not_import_torch():
    code = ("import sys\nfrom nptrain.cli.main import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
    assert "plugins" in out.stdout and "convert" in out.stdout


def test_user_error_is_one_line_exit_2_without_traceback(write, tmp_path):
    path = write("bad.yaml", CFG.replace("stem_channels: 8", "stem_chanels: 8"))
    proc = run_cli("config", "check", str(path), *data_splits(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"nptrain: error: {path}:6:9: model.architecture.backbone.params.stem_chanels: "
                                   "unknown field 'stem_chanels' (did you mean 'stem_channels'?)")
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_debug_shows_traceback(write):
    path = write("bad.yaml", "model: [1\n")
    proc = run_cli("--debug", "config", "check", str(path))
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_config_check_and_show(write, capsys, tmp_path):
    path = write("ok.yaml", CFG)
    assert main(["config", "check", str(path), *data_splits(tmp_path)]) == 0
    assert "simple_cnn + fc" in capsys.readouterr().out
    assert main(["config", "show", str(path), "training.epochs=4"]) == 0
    shown = capsys.readouterr().out
    assert "stem_channels: 8" in shown and "epochs: 4" in shown and "num_layers: 1" in shown
    assert "criterion: cross_entropy" in shown


def test_plugins_json_lists_builtin(capsys):
    assert main(["plugins", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    builtin = [p for p in data["plugins"] if p["distribution"] == "nptrain"][0]
    assert "simple_cnn" in builtin["providers"]["backbone"] and builtin["error"] is None


def test_list_shows_params_and_defaults(capsys):
    assert main(["list", "heads"]) == 0
    out = capsys.readouterr().out
    assert "fc [classification]" in out and "param.num_layers: int = 1" in out
    assert main(["list", "models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert any(r["kind"] == "preset" and r["name"] == "simple_cnn" for r in rows)


def test_unknown_command_exits_2():
    proc = run_cli("frobnicate")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_convert_unknown_source_is_user_error(tmp_path):
    src = tmp_path / "x.safetensors"
    from safetensors.torch import save_file
    import torch

    save_file({"a": torch.zeros(1)}, str(src))
    proc = run_cli("convert", str(src), "--model", "simple_cnn", "--from", "nowhere", "-o", str(tmp_path / "o.safetensors"))
    assert proc.returncode == 2
    assert "no converter fills preset 'simple_cnn'" in proc.stderr


def test_broken_plugin_is_listed_and_cli_keeps_working(fake_dist, write, monkeypatch):
    site = fake_dist("np-plugin-kaputt", "np_kaputt_mod", "import nonexistent_dependency_xyz\n")
    monkeypatch.setenv("PYTHONPATH", str(site))
    proc = run_cli("plugins")
    assert proc.returncode == 0
    assert "np-plugin-kaputt 0.0.1  [np_kaputt_mod: np_kaputt_mod]  ERROR" in proc.stdout
    assert "ModuleNotFoundError: No module named 'nonexistent_dependency_xyz'" in proc.stdout
    proc = run_cli("config", "check", str(write("ok.yaml", CFG)), *data_splits(site))
    assert proc.returncode == 0, proc.stderr


def test_closed_pipe_ends_quietly():
    """`nptrain list | head -1`: the reader has gone; no 'internal error', the SIGPIPE status."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # every write now fails with EPIPE, deterministically
    try:
        proc = subprocess.run([sys.executable, "-m", "nptrain", "list"], stdout=write_end, stderr=subprocess.PIPE,
                              text=True)
    finally:
        os.close(write_end)
    assert proc.returncode == 141 and proc.stderr == "", (proc.returncode, proc.stderr)
