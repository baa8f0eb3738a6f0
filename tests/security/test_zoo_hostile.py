"""A hostile zoo server: manifests whose paths leave the entry, malformed manifests, oversized and
stalling downloads, refused resumes, pickles in other letter cases, links in local entries.

Each entry is synthetic (a card and a few byte strings: pulling never loads a model), served from a
loopback server inside the test."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nptrain.errors import UserError
from nptrain.zoo import store
from nptrain.zoo.card import ModelCard
from nptrain.zoo.remote import pull, resolve_checkpoint, staging_dir, write_index
from tests.security.hostile_server import HostileServer, send_bytes

STUB = "cv/classification/simple_cnn/pytorch/nptrain/digits/base-none"
ROOT = Path(__file__).resolve().parents[2]
CARD = ModelCard(stub=STUB, task="classification", architecture="simple_cnn", dataset="digits", params=10,
                 num_classes=2, description="a synthetic entry").render().encode()
ONNX = b"not really onnx, only bytes to download" * 20


def meta(data: bytes) -> dict:
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def entry_routes(files: dict[str, bytes], manifest: object = None) -> dict:
    """Routes serving ``files`` of the entry plus a manifest (by default the honest one for ``files``)."""
    if manifest is None:
        manifest = {"files": {rel: meta(data) for rel, data in files.items()}}
    routes = {f"/{STUB}/{rel}": data for rel, data in files.items()}
    routes[f"/{STUB}/manifest.json"] = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
    return routes


def nothing_written_outside(tmp_path: Path, allowed: Path) -> list[Path]:
    return [p for p in tmp_path.rglob("*") if p.is_file() and allowed not in p.parents]


# --- item 1: manifest paths -------------------------------------------------------------------------

BAD_PATHS = ["../../../escaped.txt", "pytorch/../../../../escaped.txt", "{abs}", "C:/escaped.txt",
             "pytorch\\..\\..\\escaped.txt", "pytorch//model.onnx", "./model.onnx", "pytorch/", ""]


@pytest.mark.parametrize("bad", BAD_PATHS)
def test_manifest_path_outside_the_entry_refuses_the_whole_entry(tmp_path, bad):
    bad = bad.replace("{abs}", str(tmp_path / "escaped.txt"))
    files = {"model.md": CARD, "model.onnx": ONNX, bad: b"overwritten!"}
    cache = tmp_path / "cache"
    with HostileServer(entry_routes(files)) as server:
        with pytest.raises(UserError) as err:
            pull(STUB, base_url=server.url, root=cache, progress=False)
        assert [p for p, _ in server.requests] == [f"/{STUB}/manifest.json"]  # nothing else was fetched
    message = str(err.value)
    assert f"zoo entry {STUB}" in message and f"files[{bad!r}]" in message and "refused" in message
    assert not (tmp_path / "escaped.txt").exists()
    assert not [p for p in cache.rglob("*") if p.is_file()]  # not even the entry's honest files


@pytest.mark.parametrize("names", [("model.onnx", "MODEL.onnx"), ("model.onnx", "model.onnx/x")])
def test_manifest_paths_that_collide_are_refused(tmp_path, names):
    files = {"model.md": CARD, names[0]: ONNX, names[1]: ONNX}
    with HostileServer(entry_routes(files)) as server:
        with pytest.raises(UserError, match=r"the whole entry is refused"):
            pull(STUB, base_url=server.url, root=tmp_path / "cache", progress=False)


def test_manifest_with_a_key_twice_is_refused(tmp_path):
    body = ('{"files": {"model.md": %s, "model.onnx": %s, "model.onnx": %s}}'
            % (json.dumps(meta(CARD)), json.dumps(meta(ONNX)), json.dumps(meta(b"x")))).encode()
    with HostileServer(entry_routes({"model.md": CARD, "model.onnx": ONNX}, body)) as server:
        with pytest.raises(UserError, match=r"manifest.json: key 'model.onnx' appears twice"):
            pull(STUB, base_url=server.url, root=tmp_path / "cache", progress=False)


def test_links_planted_in_the_staging_folder_are_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    cache = tmp_path / "cache"
    staging = staging_dir(STUB, cache)
    staging.mkdir(parents=True)
    (staging / "pytorch").symlink_to(outside, target_is_directory=True)
    files = {"model.md": CARD, "pytorch/model.safetensors": ONNX}
    with HostileServer(entry_routes(files)) as server:
        folder = pull(STUB, base_url=server.url, root=cache, progress=False)
    assert list(outside.iterdir()) == []
    assert (folder / "pytorch" / "model.safetensors").read_bytes() == ONNX
    assert not (folder / "pytorch").is_symlink()


def test_zoo_checkpoint_in_nptrain_run_refuses_a_traversing_manifest(tmp_path):
    from PIL import Image

    for split in ("train", "valid"):
        for label in ("a", "b"):
            (tmp_path / "data" / split / label).mkdir(parents=True)
            Image.new("L", (8, 8), 40 if label == "a" else 200).save(tmp_path / "data" / split / label / "0.png")
    files = {"model.md": CARD, "pytorch/model.safetensors": ONNX, "../../../escaped.txt": b"owned"}  # → tmp_path
    with HostileServer(entry_routes(files)) as server:
        env = {**os.environ, "NPTRAIN_ZOO": str(tmp_path / "cache"), "NPTRAIN_ZOO_URL": server.url}
        proc = subprocess.run(
            [sys.executable, "-m", "nptrain", "run", str(ROOT / "examples" / "quickstart.yaml"), "training.epochs=1",
             f"model.checkpoint=zoo:{STUB}", f"data.path.train.image={tmp_path}/data/train",
             f"data.path.valid.image={tmp_path}/data/valid", f"logging.output_dir={tmp_path}/runs"],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("nptrain: error: ") and "files['../../../escaped.txt']" in last and STUB in last
    assert "Traceback" not in proc.stderr and not list(tmp_path.rglob("escaped.txt"))
    assert not (tmp_path / "cache").exists() or not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


# --- item 1: local entries and `zoo index` ----------------------------------------------------------------

def _local_entry(root: Path, secret: Path) -> Path:
    """A local entry whose weights are a link to ``secret``, with a manifest that matches through the link."""
    folder = store.entry_dir(STUB, root)
    (folder / "pytorch").mkdir(parents=True)
    (folder / "model.md").write_bytes(CARD)
    (folder / "pytorch" / "model.safetensors").symlink_to(secret)
    (folder / "manifest.json").write_text(json.dumps({"files": {"model.md": meta(CARD),
                                                                "pytorch/model.safetensors": meta(secret.read_bytes())}}))
    return folder


def test_local_entry_with_a_link_outside_is_not_trusted(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"private key")
    _local_entry(tmp_path / "zoo", secret)
    with pytest.raises(UserError, match=r"pytorch/model.safetensors: a symbolic link pointing outside the entry"):
        store.weights_path(STUB, tmp_path / "zoo")


def test_local_manifest_listing_a_path_outside_is_not_trusted(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"private key")
    folder = store.entry_dir(STUB, tmp_path / "zoo")
    folder.mkdir(parents=True)
    (folder / "model.md").write_bytes(CARD)
    rel = os.path.relpath(secret, folder)
    (folder / "manifest.json").write_text(json.dumps({"files": {"model.md": meta(CARD), rel: meta(b"private key")}}))
    problems = store.verify_manifest(folder)
    assert len(problems) == 1 and f"files[{rel!r}]: has a '.' or '..' part" in problems[0]


def test_zoo_index_leaves_out_entries_with_links_outside(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"private key")
    _local_entry(tmp_path / "zoo", secret)
    elsewhere = tmp_path / "elsewhere"  # an intact entry, but reached through a linked folder
    elsewhere.mkdir()
    (elsewhere / "model.md").write_bytes(CARD)
    (elsewhere / "manifest.json").write_text(json.dumps({"files": {"model.md": meta(CARD)}}))
    linked = store.entry_dir(STUB.replace("base-none", "pruned50-moderate"), tmp_path / "zoo")
    linked.parent.mkdir(parents=True, exist_ok=True)
    linked.symlink_to(elsewhere, target_is_directory=True)
    messages: list[str] = []
    index = write_index(tmp_path / "zoo", log=messages.append)
    assert json.loads(index.read_text()) == {"models": []}
    assert any(m.startswith(f"not indexed {STUB}: pytorch/model.safetensors: a symbolic link") for m in messages)


# --- item 4: sizes, resumes, timeouts, malformed manifests, pickles ----------------------------------------

def test_download_stops_one_byte_past_the_manifest_size(tmp_path):
    def flood(handler):  # no Content-Length: the body runs until the connection closes
        handler.send_response(200)
        handler.end_headers()
        try:
            for _ in range(200):  # 13 MB if nobody stops reading
                handler.wfile.write(b"x" * 65536)
        except OSError:
            pass  # the client hung up, as it should

    files = {"model.md": CARD, "model.onnx": ONNX}
    routes = entry_routes(files)
    routes[f"/{STUB}/model.onnx"] = flood
    cache = tmp_path / "cache"
    with HostileServer(routes) as server:
        with pytest.raises(UserError, match=rf"server sent more than the manifest's {len(ONNX):,} bytes; "
                                            "the partial file was deleted"):
            pull(STUB, base_url=server.url, root=cache, progress=False)
    assert not list(cache.rglob("*.part"))


def test_download_announcing_more_than_the_manifest_is_refused_before_reading(tmp_path):
    routes = entry_routes({"model.md": CARD, "model.onnx": ONNX})
    routes[f"/{STUB}/model.onnx"] = lambda h: send_bytes(h, ONNX * 1000)
    with HostileServer(routes) as server:
        with pytest.raises(UserError, match=rf"announces {len(ONNX) * 1000:,} bytes, more than the manifest's "
                                            rf"{len(ONNX):,} bytes"):
            pull(STUB, base_url=server.url, root=tmp_path / "cache", progress=False)
    assert not list((tmp_path / "cache").rglob("*.part"))


def test_http_416_on_resume_is_a_clear_message(tmp_path):
    def refuse_ranges(handler):
        if handler.headers.get("Range"):
            handler.send_error(416)
        else:
            send_bytes(handler, ONNX)

    cache = tmp_path / "cache"
    part = staging_dir(STUB, cache) / "model.onnx.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(ONNX[:100])  # an interrupted earlier pull
    routes = entry_routes({"model.md": CARD, "model.onnx": ONNX})
    routes[f"/{STUB}/model.onnx"] = refuse_ranges
    with HostileServer(routes) as server:
        with pytest.raises(UserError, match=r"refused to resume the partial file \(HTTP 416 .*the partial file was "
                                            r"deleted, run the command again"):
            pull(STUB, base_url=server.url, root=cache, progress=False)
        assert not part.exists()
        folder = pull(STUB, base_url=server.url, root=cache, progress=False)  # as the message says
    assert (folder / "model.onnx").read_bytes() == ONNX


def test_a_stalled_server_times_out_with_a_clear_message(tmp_path, monkeypatch):
    import threading

    from nptrain.zoo import download

    release = threading.Event()

    def stall(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(ONNX)))
        handler.end_headers()
        handler.wfile.write(ONNX[:10])
        handler.wfile.flush()
        release.wait(10)

    monkeypatch.setattr(download, "TIMEOUT_S", 0.5)
    routes = entry_routes({"model.md": CARD, "model.onnx": ONNX})
    routes[f"/{STUB}/model.onnx"] = stall
    with HostileServer(routes) as server:
        try:
            with pytest.raises(UserError, match=r"model.onnx was interrupted \(timed out\); run the command again"):
                pull(STUB, base_url=server.url, root=tmp_path / "cache", progress=False)
        finally:
            release.set()


MALFORMED = [
    ({"files": {"model.md": {"size": len(CARD)}}}, r"files\['model.md'\].sha256: expected 64 lowercase hex digits, got nothing"),
    ({"files": {"model.md": {**meta(CARD), "size": str(len(CARD))}}}, r"files\['model.md'\].size: expected an integer"),
    ({"files": {"model.md": {**meta(CARD), "size": -5}}}, r"files\['model.md'\].size: is negative \(-5\)"),
    ({"files": {"model.md": {**meta(CARD), "size": 1 << 60}}}, r"files\['model.md'\].size: 1,152,921,504,606,846,976 bytes is more than"),
    ({"files": {"model.md": {**meta(CARD), "size": True}}}, r"files\['model.md'\].size: expected an integer"),
    ({"files": {"model.md": [meta(CARD)]}}, r"files\['model.md'\]: expected \{sha256, size\}, got list"),
    ({"files": [["model.md", meta(CARD)]]}, r"'files' must map each path to \{sha256, size\}, got list"),
    ([{"model.md": meta(CARD)}], r"expected a JSON object with a 'files' mapping, got list"),
    (b"[" * 100_000, r"not valid JSON"),
]


@pytest.mark.parametrize("manifest,expected", MALFORMED)
def test_malformed_manifest_is_a_located_error(tmp_path, manifest, expected):
    with HostileServer(entry_routes({"model.md": CARD}, manifest)) as server:
        with pytest.raises(UserError, match=rf"^zoo entry {STUB}: {server.url}/{STUB}/manifest.json: {expected}"):
            pull(STUB, base_url=server.url, root=tmp_path / "cache", progress=False)


def test_zoo_pull_cli_malformed_manifest_exits_2_with_one_line(tmp_path):
    with HostileServer(entry_routes({"model.md": CARD}, {"files": {"model.md": {"size": "12"}}})) as server:
        proc = subprocess.run([sys.executable, "-m", "nptrain", "zoo", "pull", STUB, "--url", server.url],
                              capture_output=True, text=True, env={**os.environ, "NPTRAIN_ZOO": str(tmp_path / "z")},
                              timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"nptrain: error: zoo entry {STUB}: {server.url}/{STUB}/manifest.json: "
                                  "files['model.md'].sha256: expected 64 lowercase hex digits")


def test_oversized_manifest_is_refused(tmp_path, monkeypatch):
    honest = json.dumps({"files": {"model.md": meta(CARD)}})
    padded = (honest[:-1] + " " * (5 << 20) + "}").encode()  # valid JSON, 5 MiB of it
    with HostileServer(entry_routes({"model.md": CARD}, padded)) as server:
        with pytest.raises(UserError, match=r"manifest.json: 5,2\d\d,\d\d\d bytes is more than the 4,194,304 accepted"):
            pull(STUB, base_url=server.url, root=tmp_path / "cache", progress=False)


@pytest.mark.parametrize("name", ["pytorch/model_fx.PT", "pytorch/model.Pth", "extra/state.PKL", "extra/state.PICKLE",
                                  "pytorch_model.bin", "last.CKPT"])
def test_pickles_are_skipped_in_any_letter_case(tmp_path, name):
    files = {"model.md": CARD, "model.onnx": ONNX, name: b"\x80\x04pickled code"}
    messages: list[str] = []
    with HostileServer(entry_routes(files)) as server:
        folder = pull(STUB, base_url=server.url, root=tmp_path / "cache", progress=False, log=messages.append)
        assert not server.requested(f"/{STUB}/{name}")
    assert not (folder / name).exists() and (folder / "model.onnx").read_bytes() == ONNX
    assert messages == [f"skipped {name}: a pickle (runs code when loaded); pass --allow-pickle to download it"]
    assert not store.verify_manifest(folder)


def test_url_checkpoint_is_capped_and_stays_in_its_folder(tmp_path, monkeypatch):
    from nptrain.zoo import download

    monkeypatch.setattr(download, "MAX_URL_DOWNLOAD_BYTES", 1000)
    with HostileServer({"/w/..": ONNX, "/big.safetensors": ONNX * 10}) as server:
        got = resolve_checkpoint(f"{server.url}/w/..", root=tmp_path / "zoo")
        assert got.read_bytes() == ONNX and got.name == "download"
        assert (tmp_path / "zoo" / ".downloads") in got.parents
        with pytest.raises(UserError, match=rf"announces {len(ONNX) * 10:,} bytes, more than the 1,000-byte limit"):
            resolve_checkpoint(f"{server.url}/big.safetensors", root=tmp_path / "zoo")
    assert not list((tmp_path / "zoo").rglob("*.part"))
