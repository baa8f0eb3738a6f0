"""nptrain never unpickles a file unless the command line names it or passes --trust-pickle.

A poisoned pickle (creates a marker file when unpickled) stands in for every ``.pt`` a run directory
or config points at; every command on such a run directory must work from safetensors weights and
the config alone, and leave the marker uncreated."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from nptrain.cli.main import main

from .conftest import TINY_CONFIG, write_tiny_images


class Poison:
    """Unpickling this creates ``path``: proof that a pickle was loaded."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def poison(target: Path, marker: Path) -> None:
    torch.save(Poison(marker), target)


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A plain run; its compressed model; a retrained pruned run (config.yaml names the fx ``.pt``) and
    a run trained from a bare GraphModule (no architecture). Afterwards every pickle they point at is
    replaced by a poisoned one."""
    base = tmp_path_factory.mktemp("pickles")
    data = write_tiny_images(base / "data")
    config = base / "tiny.yaml"
    config.write_text(TINY_CONFIG.format(data=data, out=base / "runs"))
    assert main(["run", str(config), "--name", "plain"]) == 0
    plain = base / "runs" / "classification" / "plain"
    pruned = base / "pruned"
    assert main(["compress", str(plain), "--ratio", "0.5", "--round-to", "0", "-o", str(pruned)]) == 0
    clean_fx = base / "clean_fx.pt"
    shutil.copyfile(pruned / "model_fx.pt", clean_fx)
    fx_named = f"model.fx_model_checkpoint={pruned / 'model_fx.pt'}"
    # retrain the pruned GraphModule (named on the command line, so it is loaded)
    assert main(["run", str(pruned / "retrain.yaml"), fx_named, "logging.fx_export=true", "--name", "fxrun"]) == 0
    bare_cfg = base / "bare.yaml"
    bare_cfg.write_text("model: {architecture: {backbone: null}}\n")
    assert main(["run", str(config), str(bare_cfg), fx_named, "logging.fx_export=true", "--name", "bare"]) == 0
    fxrun, bare = base / "runs" / "classification" / "fxrun", base / "runs" / "classification" / "bare"
    marker = base / "PWNED"
    for target in (pruned / "model_fx.pt", fxrun / "weights" / "model_fx.pt", bare / "weights" / "model_fx.pt"):
        assert target.is_file()
        poison(target, marker)
    return {"base": base, "data": data, "plain": plain, "pruned": pruned, "fxrun": fxrun, "bare": bare,
            "marker": marker, "clean_fx": clean_fx, "config": config}


@pytest.fixture
def marker(runs):
    runs["marker"].unlink(missing_ok=True)
    yield runs["marker"]
    runs["marker"].unlink(missing_ok=True)


def run_dir_commands(run: Path, runs: dict[str, Path], tmp_path: Path) -> dict[str, list[str]]:
    image = next((runs["data"] / "valid" / "c0").iterdir())
    return {
        "evaluate": ["evaluate", run, "--json"],
        "predict": ["predict", run, image],
        "export": ["export", run, "--format", "fx", "-o", tmp_path / "re.pt"],
        "compress": ["compress", run, "--ratio", "0.25", "--round-to", "0", "-o", tmp_path / "again"],
        "benchmark": ["benchmark", run, "--repeats", "1", "--json", tmp_path / "bench.json"],
        "zoo add": ["zoo", "add", run, "--stub", "cv/classification/simple_cnn/pytorch/nptrain/tiny/pruned-none"],
        "run --resume": ["run", "--resume", run, "training.epochs=2"],
    }


@pytest.fixture
def zoo(tmp_path, monkeypatch):
    monkeypatch.setenv("NPTRAIN_ZOO", str(tmp_path / "zoo"))


@pytest.fixture
def run_copy(runs, tmp_path):
    """A fresh copy of a run directory (commands such as --resume write into it)."""
    def _copy(name: str) -> Path:
        dst = tmp_path / name
        shutil.copytree(runs[name], dst)
        (dst / "weights" / "model.onnx").write_bytes(b"")  # zoo add copies it; never read here
        return dst
    return _copy


COMMANDS = ["evaluate", "predict", "export", "compress", "benchmark", "zoo add", "run --resume"]


@pytest.mark.parametrize("command", COMMANDS)
def test_run_dir_commands_rebuild_from_safetensors(command, runs, marker, run_copy, tmp_path, zoo, capsys):
    """config.yaml sets fx_model_checkpoint (a poisoned .pt) and weights/model_fx.pt is poisoned too:
    each command works from the config's architecture + the run's safetensors weights."""
    run = run_copy("fxrun")
    code, out, err = cli(capsys, *run_dir_commands(run, runs, tmp_path)[command])
    assert code == 0, err
    assert not marker.exists(), f"{command} unpickled a file the command line did not name"
    if command == "evaluate":  # the rebuilt model scores exactly what the run recorded
        best = json.loads((run / "summary.json").read_text())["best"]
        assert json.loads(out.strip().splitlines()[-1])[best["key"][6:]] == pytest.approx(best["value"], abs=1e-6)
    if command == "zoo add":  # the entry's recipe + weights rebuild the pruned model (what zoo validate runs)
        from safetensors.torch import load_file

        from nptrain.zoo.pack import _rebuild

        entry = Path(out.strip().split("added ", 1)[1])
        assert (entry / "pytorch" / "model_fx.pt").is_file()  # copied for the compressor, never loaded
        model = _rebuild(entry / "recipes" / "training.yaml", entry / "pytorch" / "model.safetensors", 3)
        inputs = load_file(str(entry / "sample-inputs" / "inputs.safetensors"))["inputs"]
        expected = load_file(str(entry / "sample-outputs" / "outputs.safetensors"))["outputs"]
        with torch.no_grad():
            assert torch.equal(model(inputs), expected)
        assert sum(p.numel() for p in model.parameters()) < sum(
            t.numel() for t in load_file(str(runs["plain"] / "weights" / "best.safetensors")).values())


@pytest.mark.parametrize("command", COMMANDS)
def test_bare_graph_module_run_is_refused_without_trust_pickle(command, runs, marker, run_copy, tmp_path, zoo,
                                                               capsys):
    """A run trained from a bare GraphModule cannot be rebuilt: one line, exit 2, how to opt in."""
    run = run_copy("bare")
    code, out, err = cli(capsys, *run_dir_commands(run, runs, tmp_path)[command])
    assert code == 2, err
    assert not marker.exists()
    assert len(err.strip().splitlines()) == 1 and "--trust-pickle" in err and "internal error" not in err
    assert "config.yaml" in err and "model.fx_model_checkpoint" in err


def test_trust_pickle_opts_in(runs, marker, run_copy, capsys):
    """--trust-pickle really unpickles (here the poisoned weights/model_fx.pt: the marker appears and
    the non-GraphModule content is a one-line error)."""
    run = run_copy("bare")
    code, _, err = cli(capsys, "evaluate", run, "--trust-pickle")
    assert marker.exists()
    assert code == 2 and err.strip() == (f"nptrain: error: {run / 'weights' / 'model_fx.pt'} holds a "
                                         "TextIOWrapper, not a torch.fx GraphModule")


def test_config_naming_a_pickle_is_a_located_refusal(runs, marker, tmp_path, capsys):
    """A config (someone else's retrain.yaml) whose model.fx_model_checkpoint is a .pt: refused with
    file:line:col and field, until the command line names the file or passes --trust-pickle."""
    cfg = tmp_path / "retrain.yaml"
    pt = runs["pruned"] / "model_fx.pt"
    cfg.write_text(f"model:\n  architecture: {{backbone: null}}\n  fx_model_checkpoint: {pt}\n")
    for command in (["run", runs["config"], cfg], ["evaluate", runs["config"], cfg],
                    ["export", cfg, "--format", "fx", "-o", tmp_path / "x.pt"]):
        code, _, err = cli(capsys, *command)
        assert code == 2, err
        assert err.startswith(f"nptrain: error: {cfg}:3:24: model.fx_model_checkpoint: {pt} is a pickle"), err
        assert "pass --trust-pickle if you trust it, or use the weights-only model.safetensors" in err
        assert not marker.exists()
    # named on the command line: loaded (the poisoned file shows it was unpickled)
    code, _, err = cli(capsys, "evaluate", runs["config"], cfg, f"model.fx_model_checkpoint={pt}")
    assert marker.exists() and code == 2 and "not a torch.fx GraphModule" in err


def test_a_pt_named_on_the_command_line_is_loaded(runs, marker, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    code, _, err = cli(capsys, "export", runs["clean_fx"], "--input-size", "16", "-o", out)
    assert code == 0, err
    assert out.stat().st_size > 0


def test_training_state_is_never_unpickled(runs, marker, tmp_path, capsys):
    """weights/last_optimizer.pt and model.resume_optimizer_checkpoint are read with weights_only=True:
    a poisoned one is refused naming the file."""
    state = tmp_path / "state.pt"
    poison(state, marker)
    code, _, err = cli(capsys, "run", runs["config"], f"model.resume_optimizer_checkpoint={state}", "--name", "st")
    assert code == 2 and not marker.exists()
    assert err.startswith(f"nptrain: error: cannot read training state {state}: UnpicklingError")
