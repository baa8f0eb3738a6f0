"""NetsPresso Trainer checkpoints load into the model nptrain builds from the same config and give its outputs.

One test per folder of the NetsPresso parity set (``../shared/npt-parity``, or ``NPTRAIN_NPT_PARITY_DIR``): the
folder's ``model.yaml`` (a NetsPresso Trainer 1.4.1 model config) is built by nptrain; the state dict NetsPresso
saves for it is regenerated from ``keys.tsv`` with the folder's own ``salt`` and ``gain`` and written as
NetsPresso writes it (flat safetensors); ``model.checkpoint``'s loader must recognise the layout and fill every
tensor; parameter counts must be equal and the outputs NetsPresso's implementation computed must be reproduced
within the folder's tolerance (eval, float32, one thread, flush-denormal: the folder's run conditions).

A folder whose model needs a component nptrain does not have yet is skipped with a reason naming it; one whose
model builds but whose NetsPresso layout or outputs are not matched yet is an expected failure (strict: the
day it passes, the entry below must go), so the count of what is missing stays in every test summary."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from nptrain.checkpoints import load_weights
from nptrain.modeling.api import create_model
from nptrain.testing.parity import assert_parity, load_input, make_state_dict

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("NPTRAIN_NPT_PARITY_DIR") or ROOT.parent / "shared" / "npt-parity")
FOLDERS = sorted(p.parent.name for p in FIXTURES.glob("*/source.json")) if FIXTURES.is_dir() else []

# built, but not NetsPresso's model or layout yet: folder -> what differs (none at present)
NOT_YET: dict[str, str] = {}


def _missing(folder: Path, info: dict) -> list[str]:
    """The task and architecture components of the folder's config that no installed plugin provides."""
    from nptrain.plugin_manager import default_plugins

    registry = default_plugins().registry
    arch = json.loads(json.dumps(info.get("architecture", {})))  # {slot: name} as source.json records it
    out = [] if info["task"] in registry.task_names() else [f"task {info['task']!r}"]
    for slot, name in arch.items():
        kind = "full" if slot == "full" else slot
        if name not in registry.names(kind):
            out.append(f"{'model' if kind == 'full' else kind} {name!r}")
    return out


def _build(folder: Path, info: dict):
    missing = _missing(folder, info)
    if missing:
        pytest.skip(f"nptrain has no {', '.join(missing)} yet")
    return create_model(folder / "model.yaml", num_classes=int(info["num_classes"]))


def _outputs(model, x: torch.Tensor, info: dict) -> dict[str, torch.Tensor]:
    """The model's outputs under the folder's names: classification logits, or a dense head's logits at its
    own resolution (NetsPresso resizes outside the model)."""
    if info["task"] == "classification":
        return {"pred": model(x)}
    if info["task"] == "segmentation" and hasattr(model, "full") and hasattr(model.full, "forward_all"):
        p_aux, main, boundary = model.full.forward_all(x)  # PIDNet's three heads, eval mode
        return {"extra_p": p_aux, "pred": main, "extra_d": boundary}
    if info["task"] == "segmentation" and hasattr(model, "head"):
        features = model.backbone(x)
        if hasattr(model, "neck"):
            features = model.neck(features)
        out = model.head(features)
        return {"pred": out["pred"] if isinstance(out, dict) else out}
    if info["task"] == "detection" and hasattr(model.head, "levels"):
        # the anchor-free (YOLOX) head: each level's raw map before decoding, finest first
        features = model.neck(model.backbone(x))
        return {f"out{i}": level(f) for i, (level, f) in enumerate(zip(model.head.levels, features))}
    if info["task"] == "detection" and hasattr(model.head, "raw_levels"):
        # YOLOv9's head: each level's raw map (DFL bins, then class logits), finest first
        return {f"out{i}": out for i, out in enumerate(model.head.raw_levels(model.neck(model.backbone(x))))}
    if info["task"] == "detection" and hasattr(model.head, "level_outputs"):
        return _anchor_head_outputs(model, x)
    raise NotImplementedError(f"outputs of a {info['task']} model are not compared yet")


def _anchor_head_outputs(model, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The RetinaNet head's outputs as NetsPresso returns them: ``out0`` its anchors, then each level's class
    logits, then each level's box deltas. NetsPresso places the anchors for a hard-coded 512-pixel image
    (stride ``512 // feature size``), ours at the real stride; ``out0`` is compared on its terms: the head's
    cell anchors laid on that grid."""
    from nptrain.detection.anchors import cell_anchors, grid_anchors

    head = model.head
    features = model.neck(model.backbone(x))
    levels = head.level_outputs(features)
    anchors = torch.cat([grid_anchors(f.shape[-2], f.shape[-1], 512 // f.shape[-2],
                                      cell_anchors(sizes, head.aspect_ratios))
                         for f, sizes in zip(features, head.anchor_sizes)])
    out = {"out0": anchors}
    out.update({f"out{1 + i}": cls for i, (cls, _) in enumerate(levels)})
    out.update({f"out{1 + len(levels) + i}": reg for i, (_, reg) in enumerate(levels)})
    return out


@pytest.mark.parametrize("name", [pytest.param(f, marks=pytest.mark.xfail(strict=True, reason=NOT_YET[f]))
                                  if f in NOT_YET else f for f in FOLDERS] or
                         [pytest.param("none", marks=pytest.mark.skip(reason=f"no parity folders at {FIXTURES}"))])
def test_npt_parity(name: str, tmp_path: Path) -> None:
    folder = FIXTURES / name
    info = json.loads((folder / "source.json").read_text())
    model = _build(folder, info).eval()
    assert sum(p.numel() for p in model.parameters()) == info["params"]
    state = make_state_dict(folder, salt=int(info["salt"]))  # gain: the folder's own, read by make_state_dict
    path = tmp_path / f"{info['task']}_{info['model_name']}_best.safetensors"  # as NetsPresso names its files
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    report = load_weights(model, str(path))
    assert not report.missing and not report.unexpected and not report.reinitialised, report.lines()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    try:
        with torch.no_grad():
            ours = _outputs(model, load_input(folder), info)
    finally:
        torch.set_num_threads(threads)
    assert_parity(ours, folder)
