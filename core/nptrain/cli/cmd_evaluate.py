"""``nptrain evaluate CONFIG...|RUN_DIR [key=value...]``: metrics on the validation split.

A run directory uses its ``config.yaml``, ``classes.json`` and ``weights/best.safetensors``
(``--weights last`` for the last epoch). A config uses ``model.checkpoint`` or
``model.fx_model_checkpoint`` (a config without either evaluates random weights, with a warning).
``--artifact PATH`` runs a run directory's validation split through an exported file instead
(fp32/int8 ONNX in onnxruntime, OpenVINO IR), with the same metrics.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from nptrain.pickles import TRUST_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("items", nargs="+", metavar="CONFIG|RUN_DIR|key=value")
    parser.add_argument("--weights", choices=["best", "last"], default="best", help="which weights of a run dir")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.add_argument("--artifact", help="evaluate this exported file instead (.onnx fp32/int8, OpenVINO .xml)")
    parser.add_argument("--trust-pickle", action="store_true", help=TRUST_HELP)


def load_run(run_dir: Path, overrides: list[str], weights: str = "best") -> tuple[Any, Any, list[str]]:
    """(loaded config, model with the run's weights, class names) for a run directory; the model is
    rebuilt from config.yaml and the safetensors weights (nothing in the run is unpickled)."""
    from nptrain.config.loader import load_config
    from nptrain.errors import UserError
    from nptrain.training.run_model import load_run_model

    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise UserError(f"{run_dir}: no config.yaml (not a run directory?)")
    loaded = load_config([cfg_path], overrides, check_files=False)
    from nptrain.run_files import read_classes

    classes = read_classes(run_dir)
    wpath = run_dir / "weights" / f"{weights}.safetensors"
    if not wpath.is_file():
        raise UserError(f"{run_dir}: no weights/{wpath.name}")
    model = load_run_model(run_dir, loaded, len(classes), wpath)
    return loaded, model.eval(), classes


def run(args: argparse.Namespace) -> int:
    from nptrain.cli.cmd_config import split_items
    from nptrain.pickles import command_pickles, named_in_overrides

    with command_pickles(args.trust_pickle, named_in_overrides(split_items(args.items)[1])):
        return _evaluate(args)


def _evaluate(args: argparse.Namespace) -> int:
    from nptrain.cli.cmd_config import split_items
    from nptrain.config.loader import load_config
    from nptrain.modeling.builder import build_loss
    from nptrain.training.engine import evaluate
    from nptrain.training.setup import build_data, build_task_model, make_task_metric, pick_device, Dist
    from nptrain.data.loader import make_loader

    if getattr(args, "artifact", None):
        from nptrain.deploy.evaluate_artifact import run_cli

        return run_cli(args.items, args.artifact, args.json)
    paths, overrides = split_items(args.items)
    first = Path(paths[0]) if paths else None
    if first is not None and first.is_dir():
        loaded, model, classes = load_run(first, overrides, args.weights)
        data = build_data(loaded, need_train=False, classes=classes)
    else:
        loaded = load_config(paths, overrides)
        data = build_data(loaded, need_train=False)
        if not (loaded.model.checkpoint or loaded.model.fx_model_checkpoint):
            print("warning: the config sets no model.checkpoint: evaluating randomly initialised weights")
        model = build_task_model(loaded, len(data.classes))
    env = loaded.run.environment
    device = pick_device(env.gpus, Dist())
    model = model.to(device)
    loader = make_loader(data.valid, batch_size=env.batch_size, shuffle=False, seed=env.seed,
                         num_workers=env.num_workers)
    metric = make_task_metric(loaded, len(data.classes))
    values = evaluate(model, loader, build_loss(loaded.resolved).to(device), metric, loaded.task_spec, device)
    details = metric.details(data.classes)  # per-class IoU (segmentation) or AP (detection)
    if args.json:
        print(json.dumps({"samples": len(data.valid), **values, **details}))
    else:
        print(f"{len(data.valid)} validation images: " + "  ".join(f"{k} {v:.4f}" for k, v in values.items()))
        table = metric.table(data.classes)
        if table:
            print(table)
    return 0
