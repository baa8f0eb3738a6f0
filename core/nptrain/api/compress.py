"""``nptrain.compress`` / ``nptrain compress``: structured channel pruning of a run or config.

Writes ``model_fx.pt`` (a torch.fx GraphModule, the compressor interchange format),
``model.safetensors`` (weights-only: rebuilt from the config without unpickling),
``compression.yaml`` and ``retrain.yaml`` (the run's config with ``model.fx_model_checkpoint``
pointing at the pruned weights and, for a run directory, ``training.distillation`` with the run as
teacher) into the output folder (default ``RUN_DIR/compressed-<method>-<ratio>``).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from nptrain.api.runs import Run
from nptrain.errors import UserError
from nptrain.pickles import command_pickles
from nptrain.training_io import atomic_write_bytes

METHODS = ("l1", "l2", "bn_scale", "taylor")


@dataclass(frozen=True)
class Compression:
    dir: Path  # the folder written
    params_before: int
    params_after: int
    kept_fraction: float
    max_abs_diff: float  # the fx GraphModule against the pruned eager model
    method: str
    ratio: float
    teacher: Optional[Path] = None  # the run retrain.yaml distils from (None for a config)

    @property
    def retrain_config(self) -> Path:
        """``retrain.yaml``: ``nptrain.train(result.retrain_config)`` fine-tunes the pruned model."""
        return self.dir / "retrain.yaml"


def compress(run: Union[Run, str, Path], ratio: float, *, method: str = "l1", round_to: Optional[int] = 8,
             input_size: Optional[int] = None, output: Union[str, Path, None] = None,
             trust_pickle: bool = False) -> Compression:
    """Remove ``ratio`` of the prunable channels of ``run`` (a :class:`Run`, run directory or config)
    by ``method``, keeping channel counts multiples of ``round_to`` (0 or None: off)."""
    if not isinstance(ratio, (int, float)) or not 0.0 < float(ratio) < 1.0:
        raise UserError(f"--ratio must be between 0 and 1 (the fraction of channels removed), got {ratio!r}")
    if method not in METHODS:
        raise UserError(f"--method {method!r}: expected one of {', '.join(METHODS)}")
    with command_pickles(trust_pickle):
        return _compress(str(run.dir if isinstance(run, Run) else run), float(ratio), method, round_to or 0,
                         input_size, output)


def _compress(target: str, ratio: float, method: str, round_to: int, input_size: Optional[int],
              output: Union[str, Path, None]) -> Compression:
    import torch
    # lazy: torch, ruamel, safetensors
    from ruamel.yaml import YAML
    from safetensors.torch import save

    from nptrain.compression.prune import prune
    from nptrain.compression.source import example_input, load_model_source
    from nptrain.fx_explain import trace_explained
    src = load_model_source(target, input_size=input_size)
    if src.loaded is None:
        raise UserError("compress needs a run directory or config (the architecture rebuilds the pruned weights)")
    base = src.run_dir or Path("runs") / "compressed" / src.name
    out = Path(output) if output is not None else base / f"compressed-{method}-{ratio:g}"
    out.mkdir(parents=True, exist_ok=True)
    x = example_input(src, 2)
    trace_explained(src.model, what=f"compress {src.name}")  # a plugin's untraceable forward, explained
    report = prune(src.model, x, ratio=ratio, method=method, round_to=round_to or None)
    model = src.model.eval()
    traced = torch.fx.symbolic_trace(model)
    with torch.no_grad():
        diff = float((traced(x) - model(x)).abs().max())
    buf = io.BytesIO()
    torch.save(traced, buf)
    atomic_write_bytes(out / "model_fx.pt", buf.getvalue())
    atomic_write_bytes(out / "model.safetensors", save({k: v.contiguous() for k, v in model.state_dict().items()},
                                                        metadata={"nptrain_pruned": "1"}))
    yaml = YAML()
    yaml.default_flow_style = False
    info = {"source": target, "method": method, "ratio": ratio, "round_to": round_to,
            "params_before": report.params_before, "params_after": report.params_after,
            "kept_fraction": round(report.kept_fraction, 4), "kept_whole": report.ignored,
            "input_shape": list(src.input_size)}
    text = io.StringIO()
    yaml.dump(info, text)
    atomic_write_bytes(out / "compression.yaml", text.getvalue().encode())
    config = src.loaded.unstructure()
    config["model"]["checkpoint"] = None
    config["model"]["fx_model_checkpoint"] = str((out / "model.safetensors").resolve())
    if src.run_dir is not None:  # the unpruned run teaches its pruned copy
        # lazy: layer (README map: api/ may not import compression)
        from nptrain.compression.retrain import with_teacher

        config = with_teacher(config, src.run_dir)
    text = io.StringIO()
    yaml.dump(config, text)
    atomic_write_bytes(out / "retrain.yaml", text.getvalue().encode())
    return Compression(out, report.params_before, report.params_after, float(report.kept_fraction), diff, method, ratio,
                       src.run_dir)
