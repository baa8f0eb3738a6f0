"""Run NetsPresso Trainer 1.x configuration files as they are.

A 1.x experiment is six files (``augmentation``, ``data``, ``environment``, ``logging``, ``model``,
``training``) whose layout is close to nptrain's but not equal. :func:`translate` rewrites the merged raw
mapping into nptrain's native layout *before* validation, in place and keeping file:line:col of every
value, so errors still point at the user's line. Fields with no meaning here are listed (never dropped
silently) in :attr:`Translation.ignored`; ``nptrain config migrate`` writes the result as one native file.

The translation only runs when the files are recognisably 1.x (:func:`is_netspresso`): two rules change
the meaning of fields nptrain shares with 1.x (the LR schedule steps once per epoch, and validation /
checkpoints are counted from epoch 1), which must not apply to native configs.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence
import typing

import attrs

from nptrain.config.located_edit import LocatedEditor
from nptrain.config.netspresso_model import translate_model
from nptrain.hints import suggest
from nptrain.config.yaml_io import LocatedConfig
from nptrain.config.netspresso_model import OLD_LOSSES
from nptrain.config.model_section import ModelConfig
from nptrain.config.sections import RunConfig

NP = "NetsPresso 1.x"

# transforms of 1.x that nptrain does not have (nptrain's own list is in nptrain.data.transforms)
MISSING_TRANSFORMS = ("randomresize", "randomresize2", "randomerasing", "randomioucrop", "randomzoomout",
                      "mosaicdetection", "trivialaugmentwide", "autoaugment", "hsvjitter", "posetopdownaffine")

# every key each 1.x section may hold besides nptrain's own (used for did-you-mean on misspellings)
NP_KEYS: dict[tuple, tuple[str, ...]] = {
    ("data",): ("name", "task", "format", "path", "id_mapping", "label_image_mode", "pallete", "metadata"),
    ("logging",): ("project_id", "output_dir", "tensorboard", "mlflow", "stdout", "num_save_samples",
                   "model_save_options", "metrics"),
    ("logging", "model_save_options"): ("save_optimizer_state", "save_best_only", "best_model_criterion",
                                        "sample_input_size", "onnx_export_opset", "validation_epoch",
                                        "save_checkpoint_epoch"),
    ("logging", "metrics"): ("classwise_analysis", "metric_names"),
    ("environment",): ("seed", "num_workers", "gpus", "batch_size", "cache_data"),
    ("training",): ("epochs", "mixed_precision", "ema", "max_norm", "optimizer", "scheduler"),
    ("model",): ("task", "name", "checkpoint", "freeze_backbone", "architecture", "postprocessor", "losses",
                 "fx_model_checkpoint", "resume_optimizer_checkpoint"),
}


@attrs.define
class Translation:
    """What :func:`translate` did: ``changes`` (native path -> note), ``removed`` and ``ignored`` fields."""

    detected: bool = False
    changes: dict = attrs.Factory(dict)
    removed: list = attrs.Factory(list)
    ignored: list = attrs.Factory(list)
    notes: list = attrs.Factory(list)  # how a field was honoured, when the user should know (weights found)

    def user_note(self) -> Optional[str]:
        """The lines a run or check prints about the translation: its notes, then the ignored fields."""
        lines = list(self.notes) + ([f"ignored NetsPresso fields: {', '.join(self.ignored)}"] if self.ignored else [])
        return "\n".join(lines) or None


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def is_netspresso(data: dict) -> bool:
    """True when the merged files use a field that only NetsPresso Trainer 1.x has."""
    model, lg = _dict(data.get("model")), _dict(data.get("logging"))
    saves, metrics = _dict(lg.get("model_save_options")), _dict(lg.get("metrics"))
    if isinstance(model.get("checkpoint"), dict) or "task" in _dict(data.get("data")):
        return True
    if {"project_id", "stdout"} & set(lg) or {"save_best_only", "onnx_export_opset"} & set(saves):
        return True
    if "classwise_analysis" in metrics or isinstance(_dict(data.get("environment")).get("gpus"), int):
        return True
    for split in ("train", "inference"):
        for entry in _list(_dict(data.get("augmentation")).get(split)):
            if isinstance(entry, dict) and str(entry.get("name", "")).lower() == "totensor":
                return True
    # 1.x writes `full: {name: ~}` for "no full model" and PIDNet's parameters inline; a native
    # component without a name is a preset override, so only `full` is a marker
    full = _dict(model.get("architecture")).get("full")
    if isinstance(full, dict) and (("name" in full and full["name"] is None)
                                   or set(full) - {"name", "params", "stage_params"}):
        return True

    return any(isinstance(x, dict) and x.get("criterion") in OLD_LOSSES for x in _list(model.get("losses")))


def translate(cfg: LocatedConfig, transforms: Sequence[str]) -> Translation:
    """Rewrite a merged 1.x config into nptrain's layout in place; a native config is left alone.
    ``transforms``: the installed transform names (``registry.names("transform")``), for did-you-mean."""
    if not isinstance(cfg.data, dict) or not is_netspresso(cfg.data):
        return Translation()
    ed = LocatedEditor(cfg)
    _check_keys(ed)
    _data(ed)
    translate_model(ed)
    _augmentation(ed, list(transforms))
    _training(ed)
    _logging(ed)
    _environment(ed)
    return Translation(detected=True, changes=ed.changes, removed=ed.removed, ignored=ed.ignored, notes=ed.notes)


def _check_keys(ed: LocatedEditor) -> None:
    """A misspelt 1.x field gets a did-you-mean against the 1.x names too (native validation knows only ours)."""
    native = _native_fields(RunConfig, ModelConfig)
    for path, np_keys in NP_KEYS.items():
        section = ed.get(path)
        if not isinstance(section, dict):
            continue
        known = set(np_keys) | native.get(path, set())
        for key in section:
            if key not in known:
                near = suggest(key, sorted(known))
                raise ed.error(path + (key,), f"unknown field {key!r}" + (f" (did you mean {near!r}?)" if near else
                               f"; known fields: {', '.join(sorted(known))}"), value=False)


def _native_fields(run_cls: type, model_cls: type) -> dict[tuple, set[str]]:
    out: dict[tuple, set[str]] = {}

    def walk(cls: type, path: tuple) -> None:
        if not attrs.has(cls):
            return
        out[path] = {f.name for f in attrs.fields(cls)}
        hints = typing.get_type_hints(cls)
        for f in attrs.fields(cls):
            tp = hints.get(f.name)
            args = [a for a in typing.get_args(tp) if attrs.has(a)] if typing.get_args(tp) else []
            for sub in ([tp] if attrs.has(tp) else args):
                walk(sub, path + (f.name,))

    walk(run_cls, ())
    walk(model_cls, ("model",))
    return out


# -- data ------------------------------------------------------------------------------
def _data(ed: LocatedEditor) -> None:
    data = ed.get(("data",))
    if not isinstance(data, dict):
        return
    if "task" in data:
        task, model_task = data["task"], ed.get(("model", "task"))
        if model_task is None:
            ed.move(("data", "task"), ("model", "task"), f"was data.task ({NP})")
        elif model_task != task:
            raise ed.error(("data", "task"), f"data.task {task!r} differs from model.task {model_task!r}: "
                           "set both to the same task")
        else:
            ed.drop(("data", "task"), removed="same as model.task")
    if data.get("format") == "huggingface":  # nptrain's own fields: data.metadata is read as it is
        if isinstance(data.get("path"), dict) and not any(data["path"].values()):
            ed.drop(("data", "path"), removed="unused by the huggingface format")
        return
    if "metadata" in data:
        meta = data.get("metadata")
        if meta:
            ed.drop(("data", "metadata"), ignored="only used by the huggingface format")
        else:
            ed.drop(("data", "metadata"), removed="empty")


# -- augmentation ----------------------------------------------------------------------
def _augmentation(ed: LocatedEditor, TRANSFORMS: list[str]) -> None:
    for split in ("train", "inference"):
        base = ("augmentation", split)
        entries = ed.get(base)
        if not isinstance(entries, list):
            continue
        keep: list[int] = []
        pixels = True  # before totensor, 1.x transforms work on 0-255 PIL images
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                keep.append(i)
                continue
            name = str(entry.get("name", "")).lower()
            if name in ("pad", "randomcrop") and pixels and "fill" in entry:
                _fill(ed, base + (i, "fill"), entry["fill"])
            if name == "totensor":
                pixels = False
                pixel_range = entry.get("pixel_range", 1.0)
                if pixel_range not in (1, 1.0, None):
                    raise ed.error(base + (i, "pixel_range"), f"pixel_range {pixel_range!r} is not supported: "
                                   "nptrain's images are float tensors in [0, 1] (pixel_range: 1.0)")
                ed.removed.append(f"{base[0]}.{split}[{i}] totensor: images are float tensors in [0, 1] already")
                continue
            if name not in TRANSFORMS and name not in MISSING_TRANSFORMS and name != "totensor":
                near = suggest(name, [*TRANSFORMS, "totensor", *MISSING_TRANSFORMS])
                raise ed.error(base + (i, "name"), f"unknown transform {entry.get('name')!r}" +
                               (f" (did you mean {near!r}?)" if near else f"; nptrain has {', '.join(TRANSFORMS)}"))
            if name in MISSING_TRANSFORMS:
                raise ed.error(base + (i, "name"), f"NetsPresso transform {entry['name']!r} is not available in "
                               f"nptrain; remove it (nptrain has {', '.join(TRANSFORMS)})")
            if name == "mixing" and "inplace" in entry:
                ed.drop(base + (i, "inplace"), removed="memory option only; the result is the same")
            keep.append(i)
        if len(keep) != len(entries):
            ed.keep_items(base, keep)


def _fill(ed: LocatedEditor, path: tuple, fill: Any) -> None:
    """A 1.x ``fill`` is a 0-255 pixel value (one, or one per channel); nptrain's images are in [0, 1]."""
    if isinstance(fill, list) and fill and len(set(fill)) == 1:
        fill = fill[0]
    if isinstance(fill, bool) or not isinstance(fill, (int, float)):
        raise ed.error(path, f"fill {fill!r}: nptrain pads every channel with one value (e.g. fill: 114)")
    ed.put(path, round(fill / 255.0, 6), f"{fill}/255: {NP} pads 0-255 pixels, nptrain [0, 1] images")


# -- training --------------------------------------------------------------------------
def _training(ed: LocatedEditor) -> None:
    for part in ("optimizer", "scheduler"):
        section = ed.get(("training", part))
        if not isinstance(section, dict):
            continue
        for key in [k for k, v in section.items() if v is None]:
            ed.drop(("training", part, key), removed="~ means the default")
    sched = ed.get(("training", "scheduler"))
    if isinstance(sched, dict):
        if "step_per" not in sched:
            ed.put(("training", "scheduler", "step_per"), "epoch",
                   f"{NP} changes the learning rate once per epoch", located_at=("training", "scheduler"))
        if sched.get("warmup_epochs") and sched.get("warmup_bias_lr"):
            ed.drop(("training", "scheduler", "warmup_bias_lr"),
                    ignored="warm-up starts every parameter group at 0, biases included")


# -- logging ---------------------------------------------------------------------------
def _logging(ed: LocatedEditor) -> None:
    lg = ed.get(("logging",))
    if not isinstance(lg, dict):
        return
    L = ("logging",)
    if lg.get("project_id") is not None:
        ed.move(L + ("project_id",), L + ("run_name",), f"was logging.project_id ({NP})")
    else:
        ed.drop(L + ("project_id",), removed="null")
    if not lg.get("mlflow"):  # true is nptrain's own field, honoured as it is
        ed.drop(L + ("mlflow",), removed="off, as in nptrain")
    if "stdout" in lg and lg["stdout"] is False:
        ed.drop(L + ("stdout",), ignored="nptrain always prints one line per epoch")
    else:
        ed.drop(L + ("stdout",), removed="nptrain always prints one line per epoch")
    if "num_save_samples" in lg and lg["num_save_samples"] is None:
        ed.put(L + ("num_save_samples",), 256, f"null (every validation image in {NP}): at most 256 here")
    saves = ed.get(L + ("model_save_options",))
    if isinstance(saves, dict):
        S = L + ("model_save_options",)
        if isinstance(saves.get("best_model_criterion"), str) and saves["best_model_criterion"] != \
                saves["best_model_criterion"].lower():
            ed.put(S + ("best_model_criterion",), saves["best_model_criterion"].lower(), "lower case")
        if "onnx_export_opset" in saves:
            ed.move(S + ("onnx_export_opset",), L + ("onnx_opset",),
                    f"was logging.model_save_options.onnx_export_opset ({NP})")
        best_only = saves.get("save_best_only", False)
        if "save_best_only" in saves:
            ed.drop(S + ("save_best_only",), removed="nptrain always keeps weights/best and weights/last; "
                    "save_checkpoint_epoch is kept only when save_best_only is false")
        if best_only and "save_checkpoint_epoch" in saves:
            ed.drop(S + ("save_checkpoint_epoch",), removed="save_best_only: true keeps no per-epoch files")
        if "validation_epoch" in saves or "save_checkpoint_epoch" in saves:
            ed.put(S + ("count_from_first_epoch",), True,
                   f"{NP} validates and saves at epochs 1, 1+N, 1+2N, ... and the last",
                   located_at=S + ("validation_epoch",) if "validation_epoch" in saves else S)
    metrics = ed.get(L + ("metrics",))
    if isinstance(metrics, dict) and "classwise_analysis" in metrics:
        task = ed.get(("model", "task"), "classification")
        if metrics["classwise_analysis"] and task == "classification":
            ed.drop(L + ("metrics", "classwise_analysis"), ignored="no per-class table for classification")
        else:
            ed.drop(L + ("metrics", "classwise_analysis"),
                    removed="per-class IoU/AP tables are always printed for segmentation and detection")


# -- environment -----------------------------------------------------------------------
def _environment(ed: LocatedEditor) -> None:
    env = ed.get(("environment",))
    if not isinstance(env, dict) or "gpus" not in env:
        return
    gpus = env["gpus"]
    if gpus is None:
        return
    text = str(gpus).replace(" ", "")
    if text == "cpu":
        return
    import torch

    if not torch.cuda.is_available():
        ed.drop(("environment", "gpus"), ignored="no CUDA device here: training on the CPU")
    elif "," in text:
        ed.drop(("environment", "gpus"), ignored="one process per GPU: use nptrain run --nproc N")
    elif text != "0":
        # nptrain trains on cuda:<local rank>; which physical GPU that is comes from the environment
        ed.drop(("environment", "gpus"), ignored=f"GPU {text}: select it with CUDA_VISIBLE_DEVICES={text}")
    elif not isinstance(gpus, str):
        ed.put(("environment", "gpus"), text, "a string in nptrain")
