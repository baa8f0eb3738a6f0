"""Pack a run, validate it, serve it over loopback HTTP, pull it into a clean cache, use it as a
checkpoint; tampered, truncated and offline cases are caught."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nptrain.errors import UserError
from nptrain.zoo import store
from nptrain.zoo.pack import add_run, validate_entry
from nptrain.zoo.remote import pull, write_index

STUB = "cv/classification/simple_cnn/pytorch/nptrain/digits/base-none"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server_zoo(tmp_path, trained_run, serve):
    zoo = tmp_path / "server"
    add_run(trained_run, STUB, root=zoo)
    write_index(zoo)
    return zoo, serve(zoo)


def test_pack_writes_card_manifest_and_validates(tmp_path, trained_run):
    folder = add_run(trained_run, STUB, root=tmp_path / "zoo")
    for rel in ("model.md", "model.onnx", "pytorch/model.safetensors", "recipes/training.yaml",
                "sample-inputs/inputs.safetensors", "sample-outputs/outputs.safetensors",
                "sample-labels/labels.json", "manifest.json"):
        assert (folder / rel).is_file(), rel
    _, card = store.load_card(STUB, tmp_path / "zoo")
    assert card.task == "classification" and card.num_classes == 10 and card.params > 0
    assert card.metrics["top1_accuracy"] > 0.5
    labels = json.loads((folder / "sample-labels" / "labels.json").read_text())
    assert labels["synthetic_inputs"] is False and len(labels["labels"]) == 4
    report = validate_entry(STUB, root=tmp_path / "zoo")
    assert report["pytorch_max_abs_diff"] == 0.0 and report["onnxruntime_max_abs_diff"] < 1e-4
    with pytest.raises(UserError, match="already exists"):
        add_run(trained_run, STUB, root=tmp_path / "zoo")


def test_tampered_local_entry_fails_validation(tmp_path, trained_run):
    folder = add_run(trained_run, STUB, root=tmp_path / "zoo")
    weights = folder / "pytorch" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(UserError, match="pytorch/model.safetensors: checksum mismatch"):
        validate_entry(STUB, root=tmp_path / "zoo")


def test_pull_into_clean_cache(tmp_path, server_zoo):
    _, url = server_zoo
    folder = pull(STUB, base_url=url, root=tmp_path / "cache", progress=False)
    assert validate_entry(STUB, root=tmp_path / "cache")["onnxruntime_max_abs_diff"] < 1e-4
    assert folder == store.entry_dir(STUB, tmp_path / "cache")
    assert not (tmp_path / "cache" / ".incoming").exists() or not any((tmp_path / "cache" / ".incoming").iterdir())


def test_corrupted_download_is_never_used(tmp_path, server_zoo):
    zoo, url = server_zoo
    onnx_file = store.entry_dir(STUB, zoo) / "model.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes()[:-10] + b"0123456789")  # same size, other bytes
    with pytest.raises(UserError, match="failed verification"):
        pull(STUB, base_url=url, root=tmp_path / "cache", progress=False)
    assert not store.entry_dir(STUB, tmp_path / "cache").exists()


def test_truncated_download_resumes_with_range(tmp_path, server_zoo):
    from nptrain.zoo.remote import staging_dir
    from tests.zoo.conftest import RangeHandler

    zoo, url = server_zoo
    source = (store.entry_dir(STUB, zoo) / "model.onnx").read_bytes()
    part = staging_dir(STUB, tmp_path / "cache") / "model.onnx.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(source[: len(source) // 2])  # an interrupted earlier pull
    pull(STUB, base_url=url, root=tmp_path / "cache", progress=False)
    assert (f"/{STUB}/model.onnx", f"bytes={len(source) // 2}-") in RangeHandler.log
    assert (store.entry_dir(STUB, tmp_path / "cache") / "model.onnx").read_bytes() == source


def test_pickles_need_opt_in(tmp_path, trained_run, serve):
    zoo = tmp_path / "server"
    folder = add_run(trained_run, STUB, root=zoo)
    shutil.copyfile(trained_run / "weights" / "model_fx.pt", folder / "pytorch" / "model_fx.pt")
    store.write_manifest(folder)
    url = serve(zoo)
    messages = []
    pulled = pull(STUB, base_url=url, root=tmp_path / "cache", progress=False, log=messages.append)
    assert not (pulled / "pytorch" / "model_fx.pt").exists()
    assert any("skipped pytorch/model_fx.pt: a pickle" in m for m in messages)
    assert not store.verify_manifest(pulled)  # the local manifest lists only what was kept
    shutil.rmtree(pulled)
    pulled = pull(STUB, base_url=url, root=tmp_path / "cache", progress=False, allow_pickle=True)
    assert (pulled / "pytorch" / "model_fx.pt").is_file()


def test_offline_mode_never_touches_network(tmp_path, server_zoo, monkeypatch):
    from tests.zoo.conftest import RangeHandler

    _, url = server_zoo
    monkeypatch.setenv("NPTRAIN_OFFLINE", "1")
    before = len(RangeHandler.log)
    with pytest.raises(UserError, match="offline mode forbids downloading"):
        pull(STUB, base_url=url, root=tmp_path / "cache", progress=False)
    assert len(RangeHandler.log) == before


def test_zoo_checkpoint_in_a_new_run(tmp_path, server_zoo, trained_run):
    _, url = server_zoo
    digits = trained_run.parents[2] / "digits"
    env = {**__import__("os").environ, "NPTRAIN_ZOO": str(tmp_path / "cache"), "NPTRAIN_ZOO_URL": url}
    proc = subprocess.run([sys.executable, "-m", "nptrain", "run", str(ROOT / "examples" / "quickstart.yaml"),
                           "training.epochs=1", f"model.checkpoint=zoo:{STUB}",
                           f"data.path.train.image={digits}/train", f"data.path.valid.image={digits}/valid",
                           f"logging.output_dir={tmp_path}/runs", "logging.onnx_export=false"],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"checkpoint: loaded zoo:{STUB}" in proc.stdout + proc.stderr
    assert store.entry_dir(STUB, tmp_path / "cache").is_dir()
