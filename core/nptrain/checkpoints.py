"""Load weights into a model with every mismatch reported, never silently ignored."""
from __future__ import annotations

from typing import Mapping, Optional

import attrs
import torch
from torch import nn

from nptrain.checkpoint_spec import CheckpointSpec
from nptrain.convert import convert_checkpoint, load_source_state_dict
from nptrain.errors import UserError
from nptrain.netspresso_weights import looks_like_netspresso, netspresso_state


@attrs.define
class LoadReport:
    missing: list[str] = attrs.Factory(list)
    unexpected: list[str] = attrs.Factory(list)
    reinitialised: list[str] = attrs.Factory(list)  # head keys skipped because the class count differs
    # parts (neck, head) left at initialisation because the checkpoint is another task's network
    fresh_parts: list[str] = attrs.Factory(list)
    backbone_tensors: int = 0
    layout: str = ""  # "NetsPresso Trainer" when the file was recognised as that layout and renamed

    def lines(self) -> list[str]:
        out = [f"{self.layout} checkpoint layout recognised and mapped onto this model"] if self.layout else []
        if self.fresh_parts:
            verb = "start" if len(self.fresh_parts) > 1 else "starts"
            out.append(f"backbone only: {self.backbone_tensors} backbone tensors loaded; "
                       f"{' and '.join(self.fresh_parts)} {verb} from initialisation (the checkpoint is a "
                       f"classification network)")
        if self.reinitialised:
            out.append(f"head re-initialised (class count differs): {', '.join(self.reinitialised)}")
        if self.missing:
            out.append(f"{len(self.missing)} missing key(s): {', '.join(self.missing[:8])}" + (" …" if len(self.missing) > 8 else ""))
        if self.unexpected:
            out.append(f"{len(self.unexpected)} unexpected key(s): {', '.join(self.unexpected[:8])}" + (" …" if len(self.unexpected) > 8 else ""))
        return out


def apply_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], *, strict: bool = True,
                     source: str = "checkpoint") -> LoadReport:
    """Load ``state``; ``head.`` tensors whose shape differs (another class count) are skipped and
    reported as re-initialised. Any other mismatch raises unless ``strict`` is False."""
    own = model.state_dict()
    report = LoadReport()
    usable = {}
    for key, value in state.items():
        if key not in own:
            report.unexpected.append(key)
        elif tuple(own[key].shape) != tuple(value.shape):
            if key.startswith("head.") or key.startswith("full.") and "classifier" in key:
                report.reinitialised.append(key)
            else:
                raise UserError(f"{source}: {key} has shape {tuple(value.shape)}, the model expects {tuple(own[key].shape)}")
        else:
            usable[key] = value
    report.missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    missing_non_head = [k for k in report.missing if k not in report.reinitialised]
    if strict and (report.unexpected or missing_non_head):
        raise UserError(f"{source}: state dict does not match the model; " + "; ".join(report.lines()))
    model.load_state_dict(usable, strict=False)
    return report


def load_weights(model: nn.Module, spec: str | CheckpointSpec, *, preset: Optional[str] = None,
                 plugins=None) -> LoadReport:
    """Load a checkpoint (see :mod:`nptrain.checkpoint_spec`: a safetensors file of ours, ``source:path`` of an
    original checkpoint, ``zoo:STUB`` or an ``https://`` URL) into ``model``; every mismatch is in the report
    (``report.lines()``), a head of another class count is left freshly initialised, anything else raises."""
    spec = CheckpointSpec.parse(spec) if isinstance(spec, str) else spec
    path, label = spec.path, spec.text
    if spec.remote:
        # inside: zoo.pack builds on training, which loads checkpoints, so checkpoints -> zoo stays off module level
        # lazy: ruamel
        from nptrain.zoo.remote import resolve_checkpoint

        path = label = str(resolve_checkpoint(spec.text))
    if spec.kind == "source":
        if not preset:
            raise UserError(f"checkpoint {spec.text!r} names source {spec.source!r}, so model.name must be a preset it converts")
        state = convert_checkpoint(path, source=spec.source, preset=preset, plugins=plugins)
        if _is_other_task(state, model):
            return _load_backbone(model, state, source=label)
    else:
        state = load_source_state_dict(path)
        if set(state) != set(model.state_dict()):
            mapped = netspresso_state(model, state)
            if mapped is not None:  # a checkpoint NetsPresso Trainer saved for this architecture
                report = apply_state_dict(model, mapped, source=label)
                report.layout = "NetsPresso Trainer"
                return report
            if looks_like_netspresso(state) and hasattr(model, "backbone"):
                backbone = netspresso_state(model, state, only=("backbone",))
                if backbone is not None:  # NetsPresso's weights of another task (its ImageNet classifiers)
                    report = _load_backbone(model, backbone, source=label)
                    report.layout = "NetsPresso Trainer"
                    return report
            try:
                return apply_state_dict(model, state, source=label)
            except UserError as exc:
                if not looks_like_netspresso(state):
                    raise
                # say what the file looks like: the commonest cause is another config or width
                raise UserError(f"{exc} (the file is laid out as NetsPresso Trainer saves its checkpoints, but "
                                f"not for this model: was it trained from another config or width?)") from None
    return apply_state_dict(model, state, source=label)


def _is_other_task(state: Mapping[str, torch.Tensor], model: nn.Module) -> bool:
    """True when the model has a neck or head the converted ``state`` does not fill (a classification network
    given to a detection or segmentation model of the same preset): then only its backbone can transfer.
    A classifier of another class count alone is not that case (it is re-initialised by a full load)."""
    own = model.state_dict()
    unfilled = [k for k in own if not k.startswith("backbone.") and k not in state and not k.endswith("num_batches_tracked")]
    return bool(unfilled) and any(k.startswith("backbone.") for k in own) and any(k.startswith("backbone.") for k in state)


def _load_backbone(model: nn.Module, state: Mapping[str, torch.Tensor], *, source: str) -> LoadReport:
    """Load every ``backbone.`` tensor into the backbone with the same strict checks as a full load; the neck
    and head keep their initialisation and the report says so."""
    backbone = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    apply_state_dict(model.get_submodule("backbone"), backbone, source=f"{source} (backbone)")
    parts = sorted({k.split(".", 1)[0] for k in model.state_dict() if not k.startswith("backbone.")})
    return LoadReport(fresh_parts=parts, backbone_tensors=len(backbone))
