"""Remote zoos over HTTP(S): a static folder with ``index.json`` and each entry's ``manifest.json``.

Downloads stream into ``<file>.part`` (resumed with an HTTP Range request after an interruption),
are checked against the manifest's sha256 and size, and the finished entry is moved into the cache
in one rename, so a corrupt or truncated download is never used. The manifest is hostile input:
every path and size is checked before anything is written (see ``manifest.py``), and no read goes
past the size it lists (see ``download.py``). ``NPTRAIN_OFFLINE=1`` forbids any network access.
Pickled files (``*.pt``, ``*.pth``, ``*.bin``, … in any letter case) are skipped unless the caller
opts in.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import urllib.parse
from pathlib import Path
from typing import Callable, Optional

from nptrain.errors import UserError
from nptrain.zoo.download import MAX_JSON_BYTES, download, offline, read_capped
from nptrain.zoo.manifest import MANIFEST, FileMeta, ManifestError, inside, is_pickle, parse_manifest_text, path_problem
from nptrain.zoo.store import entry_dir, list_entries, read_card, sha256_file, zoo_root, verify_manifest
from nptrain.zoo.stub import parse_stub
from nptrain.zoo.store import weights_path

__all__ = ["download", "fetch_json", "offline", "pull", "resolve_checkpoint", "staging_dir", "write_index", "zoo_url"]


def zoo_url() -> Optional[str]:
    return os.environ.get("NPTRAIN_ZOO_URL")


def write_index(root: Path, log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> Path:
    """``index.json`` for serving ``root`` as a remote zoo (any static HTTP server will do).

    An entry is listed only when its manifest is sound and it holds no link pointing outside it:
    serving such a link would hand out whatever file it points to."""
    stubs = []
    for stub, _ in list_entries(root):
        try:
            folder = inside(root, stub)  # an entry folder reached through a link would publish its target
        except ManifestError as exc:
            log(f"not indexed {stub}: {exc}")
            continue
        problems = verify_manifest(folder)  # includes links that point outside the entry
        if problems:
            log(f"not indexed {stub}: {'; '.join(problems)[:300]}")
            continue
        stubs.append(stub)
    path = root / "index.json"
    tmp = path.with_name(".index.json.tmp")
    tmp.write_text(json.dumps({"models": stubs}, indent=2) + "\n")
    os.replace(tmp, path)  # a server reading index.json never sees half of it
    return path


def fetch_json(url: str, limit: int = MAX_JSON_BYTES) -> dict:
    body = read_capped(url, limit)
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        raise UserError(f"{url}: not valid JSON") from None


def pull(stub_text: str, *, base_url: Optional[str] = None, root: Optional[Path] = None,
         allow_pickle: bool = False, progress: bool = True,
         log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> Path:
    """Download an entry into the local zoo (a no-op when it is already there and intact)."""
    stub = parse_stub(stub_text)
    root = root or zoo_root()
    target = entry_dir(stub, root)
    if target.is_symlink():
        raise UserError(f"{target}: the zoo entry is a symbolic link; nptrain never makes one, refusing to use it")
    if target.exists() and not verify_manifest(target):
        return target
    base = (base_url or zoo_url() or "").rstrip("/")
    if offline():
        raise UserError(f"zoo entry {stub} is not in the local zoo ({root}) and offline mode forbids downloading it")
    if not base:
        raise UserError(f"zoo entry {stub} is not in the local zoo ({root}); set NPTRAIN_ZOO_URL or pass --url")
    manifest_url = f"{base}/{stub.path}/{MANIFEST}"
    # every path and size is checked before anything is written: one bad entry refuses the whole entry
    files = parse_manifest_text(read_capped(manifest_url), f"zoo entry {stub}: {manifest_url}")
    if "model.md" not in files:
        raise ManifestError(f"zoo entry {stub}: {manifest_url}: lists no model.md; not an nptrain zoo manifest")
    wanted: dict[str, FileMeta] = {}
    for rel, meta in sorted(files.items()):
        if is_pickle(rel) and not allow_pickle:
            log(f"skipped {rel}: a pickle (runs code when loaded); pass --allow-pickle to download it")
        else:
            wanted[rel] = meta
    staging = staging_dir(str(stub), root)
    _prepare_staging(staging, wanted, root)
    _check_space(staging, wanted, stub)
    for rel, meta in wanted.items():
        dest = inside(staging, rel)
        if dest.is_file() and dest.stat().st_size == meta.size and sha256_file(dest) == meta.sha256:
            continue  # finished in an earlier, interrupted pull
        download(f"{base}/{stub.path}/{rel}", dest, sha256=meta.sha256, size=meta.size, progress=progress)
    read_card(staging / "model.md")  # a card that does not parse refuses the entry before it is installed
    (staging / MANIFEST).write_text(json.dumps(
        {"files": {rel: {"sha256": m.sha256, "size": m.size} for rel, m in wanted.items()}}, indent=2) + "\n")
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, target)
    return target


def _prepare_staging(staging: Path, wanted: dict[str, FileMeta], root: Path) -> None:
    """Create the staging folder (inside ``root``, no links on the way) and delete anything in it that
    this manifest does not list (left over from an earlier pull of other content), keeping the
    finished and partial files it does list."""
    for folder in (root / ".incoming", staging):
        if folder.is_symlink():
            raise UserError(f"{folder}: is a symbolic link; refusing to download through it")
    staging.mkdir(parents=True, exist_ok=True)
    keep = set(wanted) | {rel + ".part" for rel in wanted}
    keep_dirs = {rel.rsplit("/", i)[0] for rel in wanted for i in range(1, rel.count("/") + 1)}
    for dirpath, dirnames, filenames in os.walk(staging, topdown=False):  # never follows links
        for name in filenames + dirnames:
            path = Path(dirpath) / name
            rel = path.relative_to(staging).as_posix()
            if path.is_symlink() or (name in filenames and rel not in keep):
                path.unlink()
            elif name in dirnames and rel not in keep_dirs:
                shutil.rmtree(path)


def _check_space(staging: Path, wanted: dict[str, FileMeta], stub) -> None:
    need = sum(meta.size for meta in wanted.values())
    free = shutil.disk_usage(staging).free
    if need > free:
        raise UserError(f"zoo entry {stub}: needs {need:,} bytes but only {free:,} are free under {staging}; "
                        "nothing was downloaded")


def staging_dir(stub: str, root: Path) -> Path:
    """Where an unfinished pull keeps its files (and ``.part`` files) until the final rename."""
    return root / ".incoming" / hashlib.sha256(stub.encode()).hexdigest()[:16]


def resolve_checkpoint(spec: str, *, root: Optional[Path] = None) -> Path:
    """``zoo:STUB`` → the entry's verified safetensors (pulled if needed); ``https://…`` → a cached download.

    A URL may end in ``#sha256=<hex>`` to have the download verified."""
    if spec.startswith("zoo:"):
        pull(spec[4:], root=root)
        return weights_path(spec[4:], root)
    if spec.startswith(("http://", "https://")):
        url, _, frag = spec.partition("#")
        sha = frag[len("sha256="):] if frag.startswith("sha256=") else None
        dest = (root or zoo_root()) / ".downloads" / hashlib.sha256(url.encode()).hexdigest()[:16] / _url_file_name(url)
        if dest.is_file() and not dest.is_symlink() and (sha is None or sha256_file(dest) == sha):
            return dest
        return download(url, dest, sha256=sha)
    raise UserError(f"not a zoo or URL checkpoint: {spec!r}")


def _url_file_name(url: str) -> str:
    """The file name a URL's path ends in, if it is a plain name (it tells safetensors from other
    formats); anything else (``..``, empty, odd characters) becomes ``download``."""
    name = urllib.parse.urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    return name if not path_problem(name) and "/" not in name else "download"
