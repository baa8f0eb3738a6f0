"""Prune a trained digits model hard, then retrain it with and without its original as teacher.

The experiment behind ``docs/compression.md``'s distillation figures and ``tests/training/test_distill_proof.py``:
train a teacher, ``nptrain compress`` it at ``ratio``, then for each seed retrain the pruned model the
same number of epochs twice (``training.distillation=null`` and the ``retrain.yaml`` as written, the
unpruned run as teacher) and compare the last epoch's validation top-1.

``python -m nptrain.testing.distill_proof WORK_DIR [--seeds 1 2 3] [--epochs 2] [--ratio 0.6] [--no-mixing]``
prints one line per seed and the mean margin; ``--distill key=value ...`` changes the distilled arm only
(e.g. ``training.distillation.temperature=4``).
"""
from __future__ import annotations

import argparse
import io
import json
import textwrap
from contextlib import redirect_stdout
from pathlib import Path
from typing import Optional, Sequence

import attrs

CONFIG = """
data:
  path:
    train: {{image: {data}/train}}
    valid: {{image: {data}/valid}}
augmentation:
  train:
    - {{name: resize, size: {size}}}
    - {{name: randomresizedcrop, size: {size}, scale: [0.7, 1.0], ratio: [0.85, 1.15]}}
    - {{name: normalize, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}}
  inference:
    - {{name: resize, size: {size}}}
    - {{name: normalize, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}}
model:
  name: simple_cnn
  architecture:
    backbone:
      params: {{stem_channels: 16}}
      stage_params: [{{channels: 16}}, {{channels: 32}}, {{channels: 64}}]
training:
  epochs: {teacher_epochs}
  optimizer: {{name: adamw, lr: 0.003, weight_decay: 0.01}}
  scheduler: {{name: cosine_no_sgdr, warmup_epochs: 0}}
logging: {{output_dir: {out}, onnx_export: false, fx_export: false, tensorboard: false, plot: false, csv: false}}
environment: {{seed: 1, batch_size: 64, deterministic: true, cache_data: true}}
"""
# both retraining arms: the same crops plus mixup/cutmix
MIXING = """
augmentation:
  train:
    - {{name: resize, size: {size}}}
    - {{name: randomresizedcrop, size: {size}, scale: [0.7, 1.0], ratio: [0.85, 1.15]}}
    - {{name: normalize, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}}
    - {{name: mixing, mixup: [0.4, 0.5], cutmix: [1.0, 0.5]}}
"""


@attrs.define
class ProofResult:
    teacher: float  # validation top-1 of the unpruned run
    pruned: float  # the pruned model before retraining
    plain: list[float]  # per seed: retrained without a teacher
    distilled: list[float]  # per seed: retrained with the unpruned run as teacher
    params: tuple[int, int]  # before, after pruning
    plain_loss: list[float] = attrs.Factory(list)  # per seed: last epoch's validation cross-entropy
    distilled_loss: list[float] = attrs.Factory(list)

    @property
    def margins(self) -> list[float]:
        return [d - p for d, p in zip(self.distilled, self.plain)]


def _top1(run_dir: Path) -> float:
    return _last(run_dir, "valid_top1_accuracy")


def _last(run_dir: Path, key: str) -> float:
    summary = json.loads((run_dir / "summary.json").read_text())
    return float(summary["last"][key])


def _run(paths: list[str], overrides: list[str], name: str) -> Path:
    # lazy: torch, ruamel
    from nptrain.config.loader import load_config
    from nptrain.training.engine import run_training

    run_dir = run_training(load_config(paths, overrides, for_run=True), name=name, log=lambda _m: None)
    assert run_dir is not None
    return run_dir


def run_proof(work: Path, *, seeds: Sequence[int] = (1,), epochs: int = 2, teacher_epochs: int = 8,
              ratio: float = 0.6, size: int = 16, distill: Sequence[str] = (), mixing: bool = True) -> ProofResult:
    # lazy: numpy; layer (README map: testing/ may not import cli)
    from nptrain.cli.main import main
    from nptrain.data.digits import write_digits

    work = Path(work)
    data = work / "digits"
    if not (data / "valid").is_dir():  # written once, shared by every run below
        write_digits(data)
    config = work / "teacher.yaml"
    config.write_text(textwrap.dedent(CONFIG).format(data=data, out=work / "runs", size=size,
                                                     teacher_epochs=teacher_epochs))
    teacher = work / "runs" / "classification" / "teacher"
    if not (teacher / "summary.json").is_file():  # reused by a second call with other retraining settings
        teacher = _run([str(config)], [], "teacher")
    out = work / f"pruned-{ratio:g}"
    with redirect_stdout(io.StringIO()):
        assert main(["compress", str(teacher), "--ratio", str(ratio), "-o", str(out)]) == 0
    retrain = [str(out / "retrain.yaml")]
    if mixing:
        (work / "mixing.yaml").write_text(textwrap.dedent(MIXING).format(size=size))
        retrain.append(str(work / "mixing.yaml"))
    # lazy: ruamel
    from ruamel.yaml import YAML

    comp = YAML(typ="safe").load((out / "compression.yaml").read_text())
    pruned = _pruned_top1(retrain)
    res = ProofResult(_top1(teacher), pruned, [], [], (comp["params_before"], comp["params_after"]))
    for seed in seeds:
        common = [f"training.epochs={epochs}", f"environment.seed={seed}"]
        for runs, losses, extra, name in ((res.plain, res.plain_loss, ["training.distillation=null"], "plain"),
                                          (res.distilled, res.distilled_loss, list(distill), "distilled")):
            run_dir = _run(retrain, common + extra, f"{name}-{seed}")
            runs.append(_top1(run_dir))
            losses.append(_last(run_dir, "valid_loss"))
    return res


def _pruned_top1(retrain: list[str]) -> float:
    """The pruned model's validation top-1 before any retraining (as ``nptrain evaluate retrain.yaml``)."""
    import torch

    # lazy: torch, ruamel
    from nptrain.config.loader import load_config
    from nptrain.data.loader import make_loader
    from nptrain.modeling.builder import build_loss
    from nptrain.training.validation import evaluate
    from nptrain.training.setup import build_data, build_task_model, make_task_metric

    loaded = load_config(retrain[:1], ["training.distillation=null"])
    data = build_data(loaded, need_train=False)
    model = build_task_model(loaded, len(data.classes), log=lambda _m: None)
    loader = make_loader(data.valid, batch_size=64, shuffle=False, seed=1, num_workers=0)
    metric = make_task_metric(loaded, len(data.classes))
    return evaluate(model, loader, build_loss(loaded.resolved), metric, loaded.task_spec, torch.device("cpu"))["top1_accuracy"]


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--teacher-epochs", type=int, default=8)
    parser.add_argument("--ratio", type=float, default=0.6)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--distill", nargs="*", default=[], help="overrides for the distilled runs only")
    parser.add_argument("--no-mixing", action="store_true", help="retrain without mixup/cutmix")
    args = parser.parse_args(argv)
    res = run_proof(Path(args.work), seeds=args.seeds, epochs=args.epochs, teacher_epochs=args.teacher_epochs,
                    ratio=args.ratio, size=args.size, distill=args.distill,
                    mixing=not args.no_mixing)
    print(f"teacher top-1 {res.teacher:.4f}; pruned {res.params[0]:,} -> {res.params[1]:,} parameters, "
          f"top-1 before retraining {res.pruned:.4f}")
    for seed, p, d, pl, dl in zip(args.seeds, res.plain, res.distilled, res.plain_loss, res.distilled_loss):
        print(f"seed {seed}: plain {p:.4f}  distilled {d:.4f}  margin {d - p:+.4f}  "
              f"validation loss {pl:.4f} -> {dl:.4f} ({dl / pl:.3f}x)")
    m = res.margins
    print(f"mean plain {sum(res.plain) / len(m):.4f}  mean distilled {sum(res.distilled) / len(m):.4f}  "
          f"mean margin {sum(m) / len(m):+.4f}  min {min(m):+.4f}  over {len(m)} seeds")


if __name__ == "__main__":
    main()
