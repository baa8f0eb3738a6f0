"""``manifest.json`` of a zoo entry, read as hostile input.

A manifest maps each file of the entry to its sha256 and size. It may come from a server someone
else runs, so before anything is written every path must be a plain relative path inside the entry
and every size a sane integer; one bad entry refuses the whole manifest, and the error names the
manifest, the path and the field.
"""
from __future__ import annotations

import json
import os
import re
import unicodedata
from pathlib import Path
from typing import Any, Optional

import attrs

from nptrain.errors import UserError

MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 4 << 20  # a manifest line is ~150 bytes: room for ~25,000 files
MAX_FILES = 10_000
MAX_FILE_BYTES = 16 << 30  # per file; an edge model is MBs, ONNX itself stops at 2 GiB
MAX_PATH_PARTS = 16
MAX_PART_BYTES = 255  # the usual file-name limit
# files that run code when loaded with pickle (torch.save archives, Lightning checkpoints, HF .bin)
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt", ".joblib")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ManifestError(UserError):
    """A manifest that cannot be trusted: nothing of its entry is written."""


@attrs.frozen
class FileMeta:
    sha256: str
    size: int


def is_pickle(rel: str) -> bool:
    """Whether a file of this name is treated as a pickle (by suffix, case-insensitively)."""
    return os.path.splitext(rel)[1].lower() in PICKLE_SUFFIXES


def path_problem(rel: Any) -> Optional[str]:
    """Why ``rel`` is not a plain relative path inside an entry (``None`` when it is one)."""
    if not isinstance(rel, str) or not rel:
        return "a path must be a non-empty string"
    if any(ord(c) < 32 or ord(c) == 127 for c in rel):
        return "contains a control character"
    if "\\" in rel:
        return "contains a backslash (use '/' between folders)"
    if ":" in rel:
        return "contains ':' (a drive letter or stream name)"
    if rel.startswith("/"):
        return "is an absolute path"
    parts = rel.split("/")
    if any(part == "" for part in parts):
        return "has an empty part ('//' or a trailing '/')"
    if any(part in (".", "..") for part in parts):
        return "has a '.' or '..' part (it would leave the entry's folder)"
    if len(parts) > MAX_PATH_PARTS or any(len(p.encode("utf-8", "replace")) > MAX_PART_BYTES for p in parts):
        return "is too deep or has a name longer than 255 bytes"
    if rel == MANIFEST or parts[-1].endswith(".part"):
        return "is a name nptrain reserves (manifest.json, *.part)"
    return None


def _normalised(rel: str) -> str:
    """The name a case-insensitive, Unicode-normalising file system (macOS, Windows) would see."""
    return unicodedata.normalize("NFC", rel).casefold()


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise ManifestError(f"key {key!r} appears twice")
        seen[key] = value
    return seen


def parse_manifest_text(text: str | bytes, where: str) -> dict[str, FileMeta]:
    """Parse and validate manifest JSON; ``where`` (the manifest's URL or path, with the entry) starts
    every error."""
    if len(text) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{where}: larger than {MAX_MANIFEST_BYTES:,} bytes; refused")
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except ManifestError as exc:
        raise ManifestError(f"{where}: {exc}") from None
    except (ValueError, RecursionError) as exc:  # also digit-count limits and absurd nesting
        raise ManifestError(f"{where}: not valid JSON ({str(exc).splitlines()[0][:120]})") from None
    return parse_manifest(data, where)


def _size_problem(size: Any) -> Optional[str]:
    if isinstance(size, bool) or not isinstance(size, int):
        return f"expected an integer number of bytes, got {type(size).__name__} {size!r:.40}"
    if size < 0:
        return f"is negative ({size})"
    if size > MAX_FILE_BYTES:
        return f"{size:,} bytes is more than the {MAX_FILE_BYTES:,}-byte limit for one file"
    return None


def parse_manifest(data: Any, where: str) -> dict[str, FileMeta]:
    """``{"files": {path: {"sha256": hex, "size": int}}}`` → ``{path: FileMeta}``, every path checked."""
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: expected a JSON object with a 'files' mapping, got {type(data).__name__}")
    files = data.get("files")
    if not isinstance(files, dict):
        got = "nothing" if files is None else type(files).__name__
        raise ManifestError(f"{where}: 'files' must map each path to {{sha256, size}}, got {got}")
    if len(files) > MAX_FILES:
        raise ManifestError(f"{where}: lists {len(files):,} files; at most {MAX_FILES:,} are accepted")
    out: dict[str, FileMeta] = {}
    seen: dict[str, str] = {}
    for rel, meta in files.items():
        field = f"files[{rel!r}]"
        problem = path_problem(rel)
        if problem:
            raise ManifestError(f"{where}: {field}: {problem}; the whole entry is refused")
        key = _normalised(rel)
        if key in seen:
            raise ManifestError(f"{where}: {field}: same file as {seen[key]!r} on a case-insensitive "
                                "file system; the whole entry is refused")
        seen[key] = rel
        if not isinstance(meta, dict):
            raise ManifestError(f"{where}: {field}: expected {{sha256, size}}, got {type(meta).__name__}")
        digest = meta.get("sha256")
        if not isinstance(digest, str) or not _SHA256.match(digest):
            got = "nothing" if digest is None else repr(digest)[:80]
            raise ManifestError(f"{where}: {field}.sha256: expected 64 lowercase hex digits, got {got}")
        size_problem = _size_problem(meta.get("size"))
        if size_problem:
            raise ManifestError(f"{where}: {field}.size: {size_problem}")
        out[rel] = FileMeta(sha256=digest, size=meta["size"])
    for rel in out:  # 'a' as a file and 'a/b' as a file cannot both exist
        parent = rel.rsplit("/", 1)[0] if "/" in rel else None
        while parent:
            if _normalised(parent) in seen:
                raise ManifestError(f"{where}: files[{rel!r}]: {parent!r} is listed as a file and as a folder; "
                                    "the whole entry is refused")
            parent = parent.rsplit("/", 1)[0] if "/" in parent else None
    return out


def read_local_manifest(folder: Path) -> dict[str, FileMeta]:
    """The manifest of a local entry, with the same checks as a remote one."""
    path = folder / MANIFEST
    with open(path, "rb") as fh:
        text = fh.read(MAX_MANIFEST_BYTES + 1)
    return parse_manifest_text(text, str(path))


def inside(folder: Path, rel: str) -> Path:
    """``folder / rel`` after checking that no existing part of it is a symlink (so writing or reading
    it cannot land outside ``folder``). ``rel`` must already have passed :func:`path_problem`."""
    path = folder
    for part in rel.split("/"):
        path = path / part
        if path.is_symlink():
            raise ManifestError(f"{folder}: {rel}: {path.relative_to(folder)} is a symbolic link; "
                                "zoo entries never contain links, refused")
    return path


def escaping_links(folder: Path) -> list[str]:
    """Symlinks under ``folder`` whose target lies outside it (serving or reading them would leak
    other files)."""
    root = folder.resolve()
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):  # os.walk does not descend into linked folders
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                target = path.resolve()
                if target != root and root not in target.parents:
                    out.append(str(path.relative_to(folder)))
    return sorted(out)
