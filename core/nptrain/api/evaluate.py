"""``nptrain.evaluate`` / ``nptrain evaluate``: metrics on the validation split of a run, a config,
or an exported artifact (fp32/int8 ONNX, OpenVINO IR) of a run."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Union

from nptrain.api.runs import Run
from nptrain.errors import UserError
from nptrain.run_files import read_classes
from nptrain.api.train import override_texts
from nptrain.pickles import command_pickles, named_in_overrides

PathLike = Union[str, Path]


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, float]  # top1_accuracy / mIoU / mAP50_95 ..., and loss (not for artifacts' own runtime)
    samples: int  # validation images
    primary: str  # the metric that picks the best epoch, e.g. top1_accuracy
    details: dict[str, Any] = field(default_factory=dict)  # per-class IoU (segmentation) or AP (detection)
    table: str = ""  # the per-class table as the CLI prints it ("" for classification)
    weights: Optional[Path] = None  # the run's weights file evaluated
    artifact: Optional[Path] = None  # the exported file evaluated instead
    runtime: Optional[str] = None  # onnxruntime / openvino, for an artifact


def load_run(run_dir: Path, overrides: Sequence[str] = (), weights: str = "best") -> tuple[Any, Any, list[str]]:
    """(loaded config, model with the run's weights, class names) for a run directory; the model is
    rebuilt from config.yaml and the safetensors weights (nothing in the run is unpickled)."""
    # lazy: torch, ruamel
    from nptrain.config.loader import load_config
    from nptrain.training.run_model import load_run_model

    if weights not in ("best", "last"):
        raise UserError(f"weights {weights!r}: expected best or last")
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise UserError(f"{run_dir}: no config.yaml (not a run directory?)")
    loaded = load_config([cfg_path], list(overrides), check_files=False)
    classes = read_classes(run_dir)
    wpath = run_dir / "weights" / f"{weights}.safetensors"
    if not wpath.is_file():
        raise UserError(f"{run_dir}: no weights/{wpath.name}")
    model = load_run_model(run_dir, loaded, len(classes), wpath)
    return loaded, model.eval(), classes


def evaluate(run_or_path: Union[Run, PathLike, Sequence[PathLike]], artifact: Optional[PathLike] = None, *,
             weights: str = "best", overrides: Union[Mapping[str, Any], Sequence[str], None] = None,
             trust_pickle: bool = False, log: Optional[Callable[[str], None]] = print) -> Evaluation:
    """Evaluate a :class:`Run` or run directory (``weights/best.safetensors``, or ``last``), a config
    (or several, merged; its ``model.checkpoint``), or with ``artifact`` an exported file of a run.
    ``log`` gets warnings such as "random weights" (None: silent)."""
    texts = override_texts(overrides)
    if isinstance(run_or_path, Run):
        paths = [str(run_or_path.dir)]
    elif isinstance(run_or_path, (str, Path)):
        paths = [str(run_or_path)]
    else:
        paths = [str(p) for p in run_or_path]
    if not paths:
        raise UserError("nothing to evaluate: give a run directory or a config file")
    if artifact is not None:
        return _evaluate_artifact(paths, Path(artifact), texts)
    with command_pickles(trust_pickle, named_in_overrides(texts)):
        return _evaluate_model(paths, texts, weights, log or (lambda _m: None))


def _evaluate_artifact(paths: list[str], artifact: Path, overrides: list[str]) -> Evaluation:
    # lazy: torch
    from nptrain.deploy.evaluate_artifact import evaluate_artifact

    if len(paths) != 1 or not Path(paths[0]).is_dir():
        raise UserError("--artifact needs one run directory (nptrain evaluate RUN_DIR --artifact PATH)")
    res = evaluate_artifact(Path(paths[0]), artifact, overrides)
    return Evaluation(dict(res["metrics"]), int(res["samples"]), str(res["primary"]), dict(res["details"]),
                      res["table"] or "", artifact=artifact, runtime=str(res["runtime"]))


def _evaluate_model(paths: list[str], overrides: list[str], weights: str, log: Callable[[str], None]) -> Evaluation:
    # lazy: torch, ruamel
    from nptrain.config.loader import load_config
    from nptrain.data.loader import make_loader
    from nptrain.modeling.builder import build_loss
    from nptrain.training.validation import evaluate as evaluate_loader
    from nptrain.training.setup import Dist, build_data, build_task_model, make_task_metric, pick_device

    first = Path(paths[0])
    wpath: Optional[Path] = None
    if first.is_dir():
        if len(paths) > 1:
            raise UserError(f"{first} is a run directory: evaluate it alone (overrides as key=value)")
        loaded, model, classes = load_run(first, overrides, weights)
        data = build_data(loaded, need_train=False, classes=classes)
        wpath = first / "weights" / f"{weights}.safetensors"
    else:
        loaded = load_config(paths, overrides)
        data = build_data(loaded, need_train=False)
        if not (loaded.model.checkpoint or loaded.model.fx_model_checkpoint):
            log("warning: the config sets no model.checkpoint: evaluating randomly initialised weights")
        model = build_task_model(loaded, len(data.classes))
    env = loaded.run.environment
    device = pick_device(env.gpus, Dist())
    model = model.to(device)
    loader = make_loader(data.valid, batch_size=env.batch_size, shuffle=False, seed=env.seed,
                         num_workers=env.num_workers)
    metric = make_task_metric(loaded, len(data.classes))
    values = evaluate_loader(model, loader, build_loss(loaded.resolved).to(device), metric, loaded.task_spec, device)
    return Evaluation({k: float(v) for k, v in values.items()}, len(data.valid), metric.primary,
                      metric.details(data.classes), metric.table(data.classes) or "", weights=wpath)
