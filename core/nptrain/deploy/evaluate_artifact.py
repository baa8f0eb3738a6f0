"""``nptrain evaluate RUN_DIR --artifact PATH``: the run's validation split through a deployable
artifact, scored by the same metric code (and detection post-processing) as the PyTorch model."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from nptrain.deploy.runtime import ArtifactRunner, open_artifact
from nptrain.errors import UserError
from nptrain.run_files import read_classes
from nptrain.deploy.metric_cache import store_metrics



class ArtifactModule(nn.Module):
    """An artifact runner behind the ``nn.Module`` call the training engine's ``evaluate`` makes."""

    def __init__(self, runner: ArtifactRunner) -> None:
        super().__init__()
        self.runner = runner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.array(self.runner(x.detach().cpu().contiguous().numpy())))


def check_artifact(runner: ArtifactRunner, sample: torch.Tensor, task: str, classes: list[str],
                   where: str) -> None:
    """Located errors when the artifact cannot be this run's model: input ``(C, H, W)`` or class count."""
    want = list(sample.shape)
    got = runner.input_shape[1:]
    if len(got) != len(want) or any(g is not None and g != w for g, w in zip(got, want)):
        shown = ["?" if g is None else g for g in runner.input_shape]
        raise UserError(f"{runner.path}: input shape {shown} does not match the run's images {[1, *want]} "
                        f"({where}); quantize/export the artifact from this run")
    out = runner(sample.unsqueeze(0).numpy())
    n = len(classes)
    axis = {"classification": 1, "segmentation": 1, "detection": 2}.get(task, 1)
    have = out.shape[axis] - (5 if task == "detection" else 0) if out.ndim > axis else None
    if have != n:
        raise UserError(f"{runner.path}: output shape {list(out.shape)} gives {have} classes; the run has {n} "
                        f"({where}: {', '.join(classes[:5])}{', …' if n > 5 else ''})")


def evaluate_artifact(run_dir: Path, artifact: Path, overrides: list[str], *, threads: Optional[int] = None,
                      batch_size: Optional[int] = None) -> dict[str, Any]:
    """Metrics of ``artifact`` on ``run_dir``'s validation split; also stored in the run's metric cache."""
    # lazy: ruamel; layer (README map: deploy/ may not import data)
    from nptrain.config.loader import load_config
    from nptrain.data.loader import make_loader
    from nptrain.modeling.builder import build_loss
    from nptrain.training.validation import evaluate
    from nptrain.training.setup import build_data, make_task_metric

    if not (run_dir / "config.yaml").is_file():
        raise UserError(f"{run_dir}: no config.yaml (not a run directory?)")
    loaded = load_config([str(run_dir / "config.yaml")], ["model.checkpoint=null", *overrides], check_files=False)
    classes = read_classes(run_dir)
    runner = open_artifact(artifact, threads)
    data = build_data(loaded, need_train=False, classes=classes)
    check_artifact(runner, data.valid[(0, 0)][0], loaded.model.task, classes, f"{run_dir}/classes.json")
    env = loaded.run.environment
    loader = make_loader(data.valid, batch_size=batch_size or env.batch_size, shuffle=False, seed=env.seed,
                         num_workers=env.num_workers)
    metric = make_task_metric(loaded, len(classes))
    values = evaluate(ArtifactModule(runner), loader, build_loss(loaded.resolved), metric, loaded.task_spec,
                      torch.device("cpu"))
    details = metric.details(classes)
    result = {"artifact": str(artifact), "runtime": runner.runtime, "samples": len(data.valid),
              "metrics": values, "primary": metric.primary, "details": details, "table": metric.table(classes)}
    store_metrics(run_dir, artifact, {k: result[k] for k in ("runtime", "samples", "metrics", "primary")})
    return result


def run_cli(items: list[str], artifact: str, as_json: bool) -> int:
    """The ``--artifact`` branch of ``nptrain evaluate``: items are ``RUN_DIR [key=value...]``."""
    # lazy: layer (README map: deploy/ may not import cli)
    from nptrain.cli.cmd_config import split_items

    paths, overrides = split_items(items)
    if len(paths) != 1 or not Path(paths[0]).is_dir():
        raise UserError("--artifact needs one run directory (nptrain evaluate RUN_DIR --artifact PATH)")
    res = evaluate_artifact(Path(paths[0]), Path(artifact), overrides)
    if as_json:
        print(json.dumps({"samples": res["samples"], "artifact": res["artifact"], "runtime": res["runtime"],
                          **res["metrics"], **res["details"]}))
    else:
        print(f"{res['samples']} validation images through {res['artifact']} ({res['runtime']}): "
              + "  ".join(f"{k} {v:.4f}" for k, v in res["metrics"].items()))
        if res["table"]:
            print(res["table"])
    return 0
