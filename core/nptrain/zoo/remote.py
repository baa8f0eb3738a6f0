"""Remote zoos over HTTP(S): a static folder with ``index.json`` and each entry's ``manifest.json``.

Downloads stream into ``<file>.part`` (resumed with an HTTP Range request after an interruption),
are checked against the manifest's sha256 and size, and the finished entry is moved into the cache
in one rename, so a corrupt or truncated download is never used. ``NPTRAIN_OFFLINE=1`` (or
``offline=True``) forbids any network access. Pickled files (``*.pt``) are skipped unless the
caller opts in.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Optional

from nptrain.errors import UserError
from nptrain.zoo.store import MANIFEST, PICKLE_SUFFIXES, entry_dir, list_entries, sha256_file, zoo_root
from nptrain.zoo.stub import parse_stub

CHUNK = 1 << 16
TIMEOUT_S = 30


def offline() -> bool:
    return os.environ.get("NPTRAIN_OFFLINE", "") not in ("", "0")


def zoo_url() -> Optional[str]:
    return os.environ.get("NPTRAIN_ZOO_URL")


def write_index(root: Path) -> Path:
    """``index.json`` for serving ``root`` as a remote zoo (any static HTTP server will do)."""
    stubs = [stub for stub, _ in list_entries(root)]
    path = root / "index.json"
    path.write_text(json.dumps({"models": stubs}, indent=2) + "\n")
    return path


def _get(url: str, start: int = 0):
    req = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    try:
        return urllib.request.urlopen(req, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        raise UserError(f"download failed: {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise UserError(f"download failed: {url}: {getattr(exc, 'reason', exc)}") from None


def fetch_json(url: str) -> dict:
    if offline():
        raise UserError(f"offline mode (NPTRAIN_OFFLINE): not fetching {url}")
    with _get(url) as resp:
        try:
            return json.loads(resp.read().decode("utf-8"))
        except ValueError:
            raise UserError(f"{url}: not valid JSON") from None


def download(url: str, dest: Path, *, sha256: Optional[str] = None, size: Optional[int] = None,
             progress: bool = True) -> Path:
    """Fetch ``url`` to ``dest`` via ``dest.part``, resuming a partial file, verifying sha256/size."""
    if offline():
        raise UserError(f"offline mode (NPTRAIN_OFFLINE): not downloading {url}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    start = part.stat().st_size if part.exists() else 0
    if size is not None and start > size:
        part.unlink()
        start = 0
    if size is None or start < size:
        resp = _get(url, start)
        with resp:
            if start and resp.status != 206:  # server ignored Range: start over
                start = 0
            total = size or (int(resp.headers.get("Content-Length", 0)) + start) or None
            bar = _bar(dest.name, total, start) if progress and sys.stderr.isatty() else None
            with open(part, "ab" if start else "wb") as fh:
                for chunk in iter(lambda: resp.read(CHUNK), b""):
                    fh.write(chunk)
                    if bar:
                        bar.update(len(chunk))
            if bar:
                bar.close()
    got_size = part.stat().st_size
    if size is not None and got_size != size:
        raise UserError(f"download of {url} is incomplete ({got_size} of {size} bytes); run the command again to resume")
    if sha256 is not None:
        digest = sha256_file(part)
        if digest != sha256:
            part.unlink()
            raise UserError(f"download of {url} failed verification (sha256 {digest[:12]}… != {sha256[:12]}…); "
                            "the partial file was deleted")
    os.replace(part, dest)
    return dest


def _bar(name: str, total: Optional[int], initial: int):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, desc=name, leave=False)


def pull(stub_text: str, *, base_url: Optional[str] = None, root: Optional[Path] = None,
         allow_pickle: bool = False, progress: bool = True,
         log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> Path:
    """Download an entry into the local zoo (a no-op when it is already there and intact)."""
    from nptrain.zoo.store import verify_manifest

    stub = parse_stub(stub_text)
    root = root or zoo_root()
    target = entry_dir(stub, root)
    if target.exists() and not verify_manifest(target):
        return target
    base = (base_url or zoo_url() or "").rstrip("/")
    if offline():
        raise UserError(f"zoo entry {stub} is not in the local zoo ({root}) and offline mode forbids downloading it")
    if not base:
        raise UserError(f"zoo entry {stub} is not in the local zoo ({root}); set NPTRAIN_ZOO_URL or pass --url")
    manifest = fetch_json(f"{base}/{stub.path}/{MANIFEST}")
    files = manifest.get("files")
    if not isinstance(files, dict) or "model.md" not in files:
        raise UserError(f"{base}/{stub.path}/{MANIFEST}: not an nptrain zoo manifest")
    staging = staging_dir(str(stub), root)
    for rel, meta in sorted(files.items()):
        if Path(rel).suffix in PICKLE_SUFFIXES and not allow_pickle:
            log(f"skipped {rel}: a pickle (runs code when loaded); pass --allow-pickle to download it")
            continue
        dest = staging / rel
        if dest.is_file() and sha256_file(dest) == meta["sha256"]:
            continue  # finished in an earlier, interrupted pull
        download(f"{base}/{stub.path}/{rel}", dest, sha256=meta["sha256"], size=meta["size"], progress=progress)
    kept = {rel: meta for rel, meta in files.items() if (staging / rel).is_file()}
    (staging / MANIFEST).write_text(json.dumps({"files": kept}, indent=2) + "\n")
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, target)
    return target


def staging_dir(stub: str, root: Path) -> Path:
    """Where an unfinished pull keeps its files (and ``.part`` files) until the final rename."""
    return root / ".incoming" / hashlib.sha256(stub.encode()).hexdigest()[:16]


def resolve_checkpoint(spec: str, *, root: Optional[Path] = None) -> Path:
    """``zoo:STUB`` → the entry's verified safetensors (pulled if needed); ``https://…`` → a cached download.

    A URL may end in ``#sha256=<hex>`` to have the download verified."""
    from nptrain.zoo.store import weights_path

    if spec.startswith("zoo:"):
        pull(spec[4:], root=root)
        return weights_path(spec[4:], root)
    if spec.startswith(("http://", "https://")):
        url, _, frag = spec.partition("#")
        sha = frag[len("sha256="):] if frag.startswith("sha256=") else None
        name = url.rstrip("/").rsplit("/", 1)[-1] or "download"
        dest = (root or zoo_root()) / ".downloads" / hashlib.sha256(url.encode()).hexdigest()[:16] / name
        if dest.is_file() and (sha is None or sha256_file(dest) == sha):
            return dest
        return download(url, dest, sha256=sha)
    raise UserError(f"not a zoo or URL checkpoint: {spec!r}")
