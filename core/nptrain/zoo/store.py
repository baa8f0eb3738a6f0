"""The local zoo: one folder per stub under ``$NPTRAIN_ZOO`` (default: the user cache dir).

Entry layout (after SparseZoo's)::

    model.md                      card: YAML front matter + description
    model.onnx                    ONNX graph
    pytorch/model.safetensors     weights (rebuilt with recipes/training.yaml, no unpickling)
    pytorch/model_fx.pt           pruned models only: the torch.fx GraphModule (a pickle)
    recipes/training.yaml         the resolved training config
    recipes/compression.yaml      compression settings, when the model was compressed
    sample-inputs/inputs.safetensors, sample-outputs/outputs.safetensors, sample-labels/labels.json
    quantized entries (quant, prunedNN_quant): model.onnx is the int8 file, recipes/quantization.yaml,
    sample-outputs/fp32_outputs.safetensors (PyTorch's outputs beside the int8 file's own)
    manifest.json                 sha256 and size of every other file
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Iterator, Optional

from nptrain.config.bounded_yaml import read_text_capped
from nptrain.errors import UserError
from nptrain.zoo.card import ModelCard, parse_card
from nptrain.zoo.manifest import MANIFEST, PICKLE_SUFFIXES, ManifestError, escaping_links, inside, read_local_manifest
from nptrain.zoo.stub import Stub, parse_stub

CARD_MAX_BYTES = 1 << 20


def zoo_root() -> Path:
    env = os.environ.get("NPTRAIN_ZOO")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "nptrain" / "zoo"


def entry_dir(stub: Stub | str, root: Optional[Path] = None) -> Path:
    stub = parse_stub(stub) if isinstance(stub, str) else stub
    return (root or zoo_root()) / stub.path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path) -> dict:
    files = {str(p.relative_to(folder)): {"sha256": sha256_file(p), "size": p.stat().st_size}
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}
    (folder / MANIFEST).write_text(json.dumps({"files": files}, indent=2) + "\n")
    return files


def verify_manifest(folder: Path) -> list[str]:
    """Problems found (missing, resized or altered files); empty when the entry is intact."""
    path = folder / MANIFEST
    if not path.is_file() or path.is_symlink():
        return [f"{folder}: no {MANIFEST}"]
    try:
        files = read_local_manifest(folder)
    except ManifestError as exc:
        return [str(exc)]
    problems = [f"{rel}: a symbolic link pointing outside the entry" for rel in escaping_links(folder)]
    for rel, meta in files.items():
        try:
            f = inside(folder, rel)
        except ManifestError as exc:
            problems.append(str(exc))
            continue
        if not f.is_file():
            problems.append(f"{rel}: missing")
        elif f.stat().st_size != meta.size or sha256_file(f) != meta.sha256:
            problems.append(f"{rel}: checksum mismatch (file altered or corrupt)")
    return problems


def read_card(card_path: Path) -> ModelCard:
    """Parse ``model.md`` (size-capped; a link is refused, entries never contain one)."""
    if card_path.is_symlink():
        raise UserError(f"{card_path}: is a symbolic link; zoo entries never contain links")
    return parse_card(read_text_capped(card_path, CARD_MAX_BYTES, what="model card"), str(card_path))


def list_entries(root: Optional[Path] = None) -> Iterator[tuple[str, ModelCard]]:
    root = root or zoo_root()
    if not root.is_dir():
        return
    for card_path in sorted(root.rglob("model.md")):
        folder = card_path.parent
        try:
            yield str(folder.relative_to(root)), read_card(card_path)
        except UserError:
            continue


def load_card(stub: str, root: Optional[Path] = None) -> tuple[Path, ModelCard]:
    folder = entry_dir(stub, root)
    card = folder / "model.md"
    if not card.is_file():
        raise UserError(f"zoo entry {stub!r} not found under {root or zoo_root()} (nptrain zoo list shows what is there)")
    return folder, read_card(card)


def remove_entry(stub: str, root: Optional[Path] = None) -> Path:
    folder, _ = load_card(stub, root)
    shutil.rmtree(folder)
    return folder


def weights_path(stub: str, root: Optional[Path] = None, *, verify: bool = True) -> Path:
    """The entry's safetensors weights, after checking the manifest."""
    folder, _ = load_card(stub, root)
    if verify:
        problems = verify_manifest(folder)
        if problems:
            raise UserError(f"zoo entry {stub}: {'; '.join(problems)}")
    return folder / "pytorch" / "model.safetensors"
