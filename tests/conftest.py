"""Shared fixtures for the core tests."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def write(tmp_path: Path):
    """write("name.yaml", text) -> path, with the text dedented."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return _write


@pytest.fixture
def fake_dist(tmp_path: Path, monkeypatch):
    """fake_dist(dist_name, module_name, module_source, ep_name=None) installs a throwaway
    distribution with an ``nptrain`` entry point on sys.path (importlib.metadata finds it)."""
    import importlib
    import sys

    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    monkeypatch.syspath_prepend(str(site))
    added: list[str] = []

    def _make(dist: str, module: str, source: str, ep_name: str | None = None, where: Path | None = None) -> Path:
        root = where or site
        root.mkdir(parents=True, exist_ok=True)
        (root / f"{module}.py").write_text(textwrap.dedent(source))
        info = root / f"{dist.replace('-', '_')}-0.0.1.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
        (info / "entry_points.txt").write_text(f"[nptrain]\n{ep_name or module} = {module}\n")
        added.append(module)
        importlib.invalidate_caches()
        return root

    yield _make
    for module in added:
        sys.modules.pop(module, None)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("zoo_run")
    nptrain = [sys.executable, "-m", "nptrain"]
    subprocess.run(nptrain + ["data", "digits", str(work / "digits")], check=True, capture_output=True)
    subprocess.run(nptrain + ["run", str(ROOT / "examples" / "quickstart.yaml"), "training.epochs=1",
                              f"data.path.train.image={work}/digits/train", f"data.path.valid.image={work}/digits/valid",
                              f"logging.output_dir={work}/runs"], check=True, capture_output=True, cwd=work)
    return next((work / "runs").rglob("summary.json")).parent


@pytest.fixture
def config_pair(tmp_path: Path):
    """config_pair(template, name, extra, **fields) -> [base config, extra config] paths (merged in order):
    the base is ``template.format(out=tmp_path/"runs", **fields)``, the second holds the test's own YAML."""

    def _write(template: str, name: str, extra: str, **fields) -> list[str]:
        base = tmp_path / f"{name}_base.yaml"
        base.write_text(template.format(out=tmp_path / "runs", **fields))
        over = tmp_path / f"{name}.yaml"
        over.write_text(textwrap.dedent(extra).lstrip("\n") or "{}\n")
        return [str(base), str(over)]

    return _write



@pytest.fixture
def resumed_equals_full():
    """resumed_equals_full(paths, log=None, on_part=None) -> (full_dir, resumed_dir): trains ``paths`` to the end,
    trains it again stopping after epoch 1 (as if killed: no summary yet; ``on_part(part_dir)`` may inspect it),
    resumes that run in place and asserts its last weights equal the uninterrupted run's bit for bit."""
    import torch
    from safetensors.torch import load_file

    from nptrain.config.loader import load_config
    from nptrain.training.engine import run_training

    def _check(paths: list[str], log=lambda _m: None, on_part=None) -> tuple[Path, Path]:
        full = run_training(load_config(paths), name="full", log=log)
        part = run_training(load_config(paths), name="part", stop_after_epoch=1, log=log)
        assert not (part / "summary.json").exists()
        if on_part is not None:
            on_part(part)
        assert run_training(load_config(paths), name="part", resume_dir=part, log=log) == part
        a, b = (load_file(str(d / "weights" / "last.safetensors")) for d in (full, part))
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])][:3]
        return full, part

    return _check


@pytest.fixture
def two_ranks(tmp_path: Path):
    """two_ranks(worker_source) runs the script as ranks 0 and 1 (argv: rank, a free loopback port) and
    asserts both exit 0 having printed ``ok <rank>``; the worker sets up its own gloo process group."""
    import socket

    def _run(source: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        script = tmp_path / "worker.py"
        script.write_text(source)
        procs = [subprocess.Popen([sys.executable, str(script), str(r), str(port)], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for r in range(2)]
        outs = [p.communicate(timeout=120)[0] for p in procs]
        assert all(p.returncode == 0 for p in procs), outs
        assert "ok 0" in outs[0] and "ok 1" in outs[1], outs

    return _run
