"""The ``model`` section of NetsPresso Trainer 1.x files → nptrain's (see ``nptrain.config.netspresso``)."""
from __future__ import annotations

import copy
from typing import Any

from nptrain.config.located_edit import LocatedEditor
from nptrain.config.pretrained import find_pretrained
from nptrain.hints import suggest

NP = "NetsPresso 1.x"
M = ("model",)
ARCH = M + ("architecture",)
CHECKPOINT_KEYS = ("use_pretrained", "load_head", "path", "optimizer_path")
COMPONENT_KEYS = ("name", "params", "stage_params")
# 0.x PIDNet spelled the widths "planes"
FULL_RENAMES = {"planes": "channels", "ppm_planes": "ppm_channels", "head_planes": "head_channels"}
# detection post-processing that older files kept under the head's params
POSTPROCESS_KEYS = ("score_thresh", "nms_thresh", "class_agnostic")
POSTPROCESS_RENAMES = {"topk_candidates": "pre_nms_topk"}
# 1.x post-processor fields one kind of head's decoding reads: field -> the heads that take it
HEAD_DECODE_KEYS = {"reg_max": ("yolo_detection_head",), "anchors": ("yolo_fastest_head_v2",),
                    "num_top_queries": ("rtdetr_head",)}
# losses of 0.x/1.0 files; the PIDNet trio is one pidnet_loss here
OLD_LOSSES = ("label_smoothing_cross_entropy", "pidnet_cross_entropy", "boundary_loss",
              "pidnet_cross_entropy_with_boundary")
PIDNET_TRIO = OLD_LOSSES[1:]
PIDNET_AUX_BALANCE = 0.4  # the old pidnet_cross_entropy weighed the P head 0.4 and the main head 1.0


def translate_model(ed: LocatedEditor) -> None:
    if not isinstance(ed.get(M), dict):
        return
    _checkpoint(ed)
    arch = ed.get(ARCH)
    if isinstance(arch, dict):
        for slot in ("full", "backbone", "neck", "head"):
            _component(ed, slot)
    _postprocessor(ed)
    _losses(ed)
    _retinanet_geometry(ed)


def _checkpoint(ed: LocatedEditor) -> None:
    ckpt = ed.get(M + ("checkpoint",))
    if not isinstance(ckpt, dict):
        return
    C = M + ("checkpoint",)
    for key in ckpt:
        if key not in CHECKPOINT_KEYS:
            near = suggest(key, CHECKPOINT_KEYS)
            raise ed.error(C + (key,), f"unknown field {key!r}" + (f" (did you mean {near!r}?)" if near else
                           f"; known fields: {', '.join(CHECKPOINT_KEYS)}"), value=False)
    path, pretrained = ckpt.get("path"), bool(ckpt.get("use_pretrained"))
    given = bool(path)
    load_head = ckpt.get("load_head", False)
    optimizer_path = ckpt.get("optimizer_path")
    if path is not None and not isinstance(path, str):
        raise ed.error(C + ("path",), f"expected a file path; got {path!r}")
    suffix = path.rsplit(".", 1)[-1].lower() if path and "." in path else ""
    if suffix in ("onnx", "tflite"):
        raise ed.error(C + ("path",), f"a .{suffix} model cannot be trained: give the .safetensors weights "
                       "(or a torch.fx .pt GraphModule)")
    # replace the mapping by nptrain's fields, each located where the user wrote its source
    if path and suffix == "pt":
        # 1.x picks the model format from the extension: a .pt file is a torch.fx GraphModule
        ed.move(C + ("path",), M + ("fx_model_checkpoint",), f"was model.checkpoint.path (.pt: torch.fx model, {NP})")
    elif pretrained and path:
        ed.move(C + ("path",), M + ("checkpoint_path_tmp",), "")
    elif pretrained:
        try:  # NetsPresso would download its own checkpoint: find it offline instead
            found = find_pretrained(str(ed.get(M + ("name",)) or ""), str(ed.get(M + ("task",)) or ""))
        except ValueError as exc:
            raise ed.error(C + ("use_pretrained",), str(exc), value=False) from None
        ed.put(M + ("checkpoint_path_tmp",), found.spec, "", located_at=C + ("use_pretrained",))
        ed.notes.append(f"use_pretrained: true: {found.spec} ({found.where})")
        if found.preset and found.preset != ed.get(M + ("name",)):
            # the converter maps the file onto its preset by that name; the architecture stays the config's
            ed.put(M + ("name",), found.preset, f"was {ed.get(M + ('name',))!r}: the preset the converter fills "
                   f"({NP} names it differently)", located_at=M + ("name",) if ed.has(M + ("name",)) else M)
        path = found.spec
    if optimizer_path:
        ed.move(C + ("optimizer_path",), M + ("resume_optimizer_checkpoint",),
                f"was model.checkpoint.optimizer_path ({NP})")
    loaded = pretrained and bool(path) and suffix != "pt"
    if loaded and load_head is False:
        ed.ignored.append("model.checkpoint.load_head (false: nptrain loads a head whose shape matches and "
                          "re-initialises one whose class count differs)")
    ed.drop(C)
    if ed.has(M + ("checkpoint_path_tmp",)):
        ed.move(M + ("checkpoint_path_tmp",), C, f"was model.checkpoint.path with use_pretrained: true ({NP})"
                if given else f"found offline for use_pretrained: true ({NP} downloads it)")
    else:
        ed.removed.append("model.checkpoint: " + ("use_pretrained is false: nothing loaded" if not pretrained
                                                  else "the .pt file is model.fx_model_checkpoint"))


def _component(ed: LocatedEditor, slot: str) -> None:
    P = ARCH + (slot,)
    comp = ed.get(P)
    if comp is None:
        return
    if not isinstance(comp, dict):
        return  # native validation reports it
    if "name" in comp and comp["name"] is None and all(comp.get(k) is None for k in comp if k != "name"):
        ed.drop(P, removed="name: ~ means no " + slot)
        return
    if slot == "full":
        extra = [k for k in comp if k not in COMPONENT_KEYS]
        for key in extra:  # 1.x full models take their parameters inline
            ed.move(P + (key,), P + ("params", FULL_RENAMES.get(key, key)), f"was architecture.full.{key} ({NP})")
    params = ed.get(P + ("params",))
    if isinstance(params, dict):
        for key in [k for k, v in params.items() if v is None]:
            ed.drop(P + ("params", key), removed="~ means the default")
        if slot == "head":
            _head_params(ed, P)
        if slot == "backbone" and comp.get("name") == "vit":
            _vit_style(ed, P)
    _netspresso_defaults(ed, P, slot, comp.get("name"))
    stages = ed.get(P + ("stage_params",))
    if isinstance(stages, list):
        for i, stage in enumerate(stages):
            if isinstance(stage, dict):
                for key in [k for k, v in stage.items() if v is None]:
                    ed.drop(P + ("stage_params", i, key), removed="~ means the default")


def _netspresso_defaults(ed: LocatedEditor, P: tuple, slot: str, name: Any) -> None:
    """Where 1.x's component of the same name defaults otherwise than ours, write its default down, so a 1.x
    config builds 1.x's model (and its checkpoints load: ``nptrain.netspresso_weights``)."""
    params = P + ("params",)
    if slot == "backbone" and name in ("resnet", "mobilenetv4") and not ed.has(params + ("return_stage_idx",)):
        # 1.x's ResNet and MobileNetV4 return only their last stage unless told (ours return every stage)
        stages = ed.get(P + ("stage_params",))
        last = (len(stages) if isinstance(stages, list) and stages else 4) - 1
        ed.put(params + ("return_stage_idx",), [last], f"1.x's default: the last stage only ({NP})",
               located_at=P)
    if slot == "backbone" and name == "mixtransformer" and not ed.has(params + ("layer_norm_eps",)):
        ed.put(params + ("layer_norm_eps",), 1e-6, f"1.x MixTransformer's LayerNorm eps ({NP})", located_at=P)
    if slot == "neck" and name == "fpn" and not ed.has(params + ("out_channels",)):
        ed.put(params + ("out_channels",), None, f"1.x's FPN is as wide as the deepest input level ({NP})",
               located_at=P)
    if slot == "backbone" and name == "efficientformer" and ed.get(M + ("task",)) in ("segmentation", "detection") \
            and not ed.has(params + ("fork_norms",)):
        # 1.x's dense EfficientFormer normalises each returned stage and goes on with the normalised map
        ed.put(params + ("fork_norms",), "inline", f"1.x's dense EfficientFormer ({NP})", located_at=P)
    if slot == "head" and name == "all_mlp_decoder" and not ed.has(params + ("style",)):
        # 1.x's decoder is not SegFormer's: conv-BN-ReLU projections, concatenated shallowest first
        ed.put(params + ("style",), "netspresso", f"1.x's all_mlp_decoder ({NP})", located_at=P)


def _head_params(ed: LocatedEditor, P: tuple) -> None:
    params = ed.get(P + ("params",))
    if "resize_output" in params:
        ed.drop(P + ("params", "resize_output"),
                ignored="unused by 1.4.1 too; logits are resized to the input by the task model")
    for key in POSTPROCESS_KEYS:
        if key in params:
            dst = M + ("postprocessor", "params", key)
            if ed.has(dst):
                ed.drop(P + ("params", key), removed="model.postprocessor.params sets it")
            else:
                ed.move(P + ("params", key), dst, f"was architecture.head.params.{key} ({NP})")
    if not params and ed.has(P + ("params",)):
        ed.drop(P + ("params",), removed="empty")


def _vit_style(ed: LocatedEditor, P: tuple) -> None:
    """1.x's ViT is ml-cvnets' earlier one (one patch conv, a fixed table of ``vocab_size`` rows on every token,
    LayerNorm eps 1e-5, its ffn dropout also on the embeddings and after each block's MLP): ``style: netspresso``."""
    params = P + ("params",)
    if ed.has(params + ("style",)):
        return
    ed.put(params + ("style",), "netspresso", f"1.x's ViT ({NP})", located_at=P)
    if not ed.has(params + ("norm_eps",)):
        ed.put(params + ("norm_eps",), 1e-5, f"1.x's ViT LayerNorm eps ({NP})", located_at=P)
    drop = ed.get(params + ("ffn_dropout_prob",))
    for key in ("dropout_prob", "pos_embed_dropout_prob"):
        if not ed.has(params + (key,)):
            ed.put(params + (key,), 0.0 if drop is None else drop, f"1.x's ViT applies ffn_dropout_prob here ({NP})",
                   located_at=P)


def _postprocessor(ed: LocatedEditor) -> None:
    params = ed.get(M + ("postprocessor", "params"))
    if not isinstance(params, dict):
        return
    for old, new in POSTPROCESS_RENAMES.items():
        if old in params:
            ed.move(M + ("postprocessor", "params", old), M + ("postprocessor", "params", new),
                    f"was postprocessor.params.{old} ({NP})")
    for key in [k for k in params if k in HEAD_DECODE_KEYS]:
        _head_decode_key(ed, key)


def _head_decode_key(ed: LocatedEditor, key: str) -> None:
    """A 1.x post-processor field that only one kind of head's decoding reads (``reg_max``: YOLOv9's bins). Here
    the head decodes inside the model, so the value belongs to the head: moved there, or checked equal."""
    src = M + ("postprocessor", "params", key)
    owners = HEAD_DECODE_KEYS[key]
    head = ed.get(ARCH + ("head", "name"))
    if head not in owners:
        raise ed.error(src, f"{key} is read by the decoding of {' / '.join(owners)} only; this model's head is "
                       f"{head!r}: remove it", value=False)
    dst = ARCH + ("head", "params", key)
    if not ed.has(dst):
        ed.move(src, dst, f"was postprocessor.params.{key} ({NP}): the head decodes in the model")
    elif ed.get(dst) != ed.get(src):
        raise ed.error(src, f"{key} {ed.get(src)!r} differs from the head's {ed.get(dst)!r}; the head decodes with "
                       "its own: make them equal")
    else:
        ed.drop(src, removed=f"the head's own {key} (architecture.head.params.{key}) decodes it")


def _losses(ed: LocatedEditor) -> None:
    L = M + ("losses",)
    losses = ed.get(L)
    if not isinstance(losses, list):
        return
    for i, entry in enumerate(losses):
        if not isinstance(entry, dict):
            continue
        for key in [k for k, v in entry.items() if v is None and k not in ("criterion", "weight")]:
            ed.drop(L + (i, key), removed="~ means the default")
        if entry.get("criterion") == "label_smoothing_cross_entropy":
            ed.put(L + (i, "criterion"), "cross_entropy", f"was label_smoothing_cross_entropy ({NP})")
            if "smoothing" in entry:
                ed.move(L + (i, "smoothing"), L + (i, "label_smoothing"), f"was smoothing ({NP})")
    trio = [i for i, e in enumerate(losses) if isinstance(e, dict) and e.get("criterion") in PIDNET_TRIO]
    if trio:
        _pidnet_trio(ed, trio)


def _weight(entry: dict) -> float:
    w = entry.get("weight")
    return 1.0 if w is None else float(w)


def _retinanet_geometry(ed: LocatedEditor) -> None:
    """1.x's retinanet_loss reads the anchors from the model's output; ours rebuilds them for a validation loss
    from its own anchor_sizes / aspect_ratios, so they are the head's."""
    head = ed.get(ARCH + ("head",))
    losses = ed.get(M + ("losses",))
    if not isinstance(head, dict) or head.get("name") != "anchor_decoupled_head" or not isinstance(losses, list):
        return
    params = head.get("params") if isinstance(head.get("params"), dict) else {}
    for i, entry in enumerate(losses):
        if isinstance(entry, dict) and entry.get("criterion") == "retinanet_loss":
            for key in ("anchor_sizes", "aspect_ratios"):
                if key in params and key not in entry:
                    ed.put(M + ("losses", i, key), copy.deepcopy(params[key]),
                           f"the head's {key} ({NP} reads them from the model)",
                           located_at=ARCH + ("head", "params", key))


def _pidnet_trio(ed: LocatedEditor, positions: list[int]) -> None:
    """pidnet_cross_entropy (P and main heads, 0.4/1.0, plain CE) + boundary_loss (D head) +
    pidnet_cross_entropy_with_boundary → one pidnet_loss with the same weights (OHEM off: threshold 1)."""
    L = M + ("losses",)
    losses: list = ed.get(L)
    by_name = {losses[i]["criterion"]: i for i in positions}
    first = positions[0]
    params: dict[str, Any] = {"criterion": "pidnet_loss", "weight": 1.0}
    ignore = [losses[i].get("ignore_index") for i in positions if losses[i].get("ignore_index") is not None]
    if ignore:
        params["ignore_index"] = ignore[0]
    ce = losses[by_name["pidnet_cross_entropy"]] if "pidnet_cross_entropy" in by_name else None
    params["aux_weight"] = PIDNET_AUX_BALANCE * _weight(ce) if ce else 0.0
    params["main_weight"] = _weight(ce) if ce else 0.0
    params["ohem_thresh"] = 1.0  # the old main-head term was plain cross entropy
    bd = losses[by_name["boundary_loss"]] if "boundary_loss" in by_name else None
    params["boundary_weight"] = _weight(bd) if bd else 0.0
    bce = losses[by_name["pidnet_cross_entropy_with_boundary"]] if "pidnet_cross_entropy_with_boundary" in by_name else None
    params["boundary_aware_weight"] = _weight(bce) if bce else 0.0
    ed.put(L + (first,), params, f"was {' + '.join(by_name)} ({NP}): one pidnet_loss with their weights")
    ed.keep_items(L, [i for i in range(len(losses)) if i == first or i not in positions])
