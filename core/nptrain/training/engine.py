"""The training loop: epochs of train + validate, checkpoints, records, and end-of-run export.

Resuming restores model, optimizer, EMA, epoch, history, best result and RNG states. Batches are
a pure function of (seed, epoch) (see ``nptrain.data.loader``) and the LR schedule of the step
counter, so in deterministic mode a resumed run ends bit-identical to an uninterrupted one.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional
import copy
import io

import torch
import torch.distributed as tdist
from torch import nn

from nptrain.config.loader import LoadedConfig
from nptrain.data.loader import iterate, make_loader, sample_seed
from nptrain.errors import UserError
from nptrain.training import checkpoint_io as ckio
from nptrain.training import outputs
from nptrain.training.cpu_load import CpuWindow
from nptrain.training.ema import ModelEMA
from nptrain.training.metrics import Metric
from nptrain.training.optim import build_optimizer, set_lr
from nptrain.training.setup import (
    Dist, backbone_eval, build_data, build_task_model, freeze_backbone, init_distributed, loss_targets,
    main_output, make_task_metric, pick_device, seed_everything, to_cpu,
)
from nptrain.training.speed import configure_speed
from nptrain.training.threads import ContentionWatch
from nptrain.training.run_model import model_for_resume
from nptrain.training.distill_setup import build_distiller
from nptrain.modeling.builder import build_loss
from nptrain.training_io import remove_temps_in
from ruamel.yaml import YAML
from nptrain.training_io import atomic_write_bytes
from nptrain.export_tools import describe_check, onnx_output_name
from nptrain.training.export import export_fx, export_onnx

STATE_FILE = "last_optimizer.pt"


def _progress(iterable, total: int, desc: str, enabled: bool):
    if not enabled:
        return iterable
    # lazy: tqdm
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)


@torch.no_grad()
def evaluate(model: nn.Module, loader, criterion: nn.Module, metric: Metric, task: Any, device: torch.device,
             show: bool = False, memory_format: torch.memory_format = torch.contiguous_format) -> dict[str, float]:
    """Metrics of ``model`` on ``loader`` (its shard), reduced over ranks; ``task`` is the TaskRecord."""
    model.eval()
    for images, target in _progress(iterate(loader), len(loader), "valid", show):
        images = images.to(device, non_blocking=True, memory_format=memory_format)
        targets = loss_targets(task, target, device)
        out = model(images)
        loss = float(criterion(out, targets))
        metric.update(main_output(out).float().cpu(), {k: to_cpu(v) for k, v in targets.items()}, loss)
    metric.reduce()
    return metric.compute()


def count_flops(model: nn.Module, sample: torch.Tensor) -> Optional[int]:
    try:
        from torch.utils.flop_counter import FlopCounterMode

        model = model.eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(sample[:1])
        return int(counter.get_total_flops())
    except Exception:  # noqa: BLE001 - informative only
        return None


class Trainer:
    def __init__(self, loaded: LoadedConfig, *, name: str, resume_dir: Optional[Path] = None,
                 stop_after_epoch: Optional[int] = None, log: Callable[[str], None] = print,
                 on_epoch_end: Optional[Callable[[dict[str, Any]], None]] = None, progress_bars: bool = True) -> None:
        self.on_epoch_end, self.progress_bars = on_epoch_end, progress_bars  # nptrain.train's callback / quiet
        self.loaded, self.run_cfg, self.task = loaded, loaded.run, loaded.model.task
        self.dist: Dist = init_distributed()
        self.log = log if self.dist.main else (lambda _msg: None)
        self.name, self.resume_dir, self.stop_after = name, resume_dir, stop_after_epoch
        tr, env = loaded.run.training, loaded.run.environment
        # typed and range-checked by load_config: nothing here parses config
        self.opt_cfg, self.sched_cfg, self.ema_cfg = tr.optimizer, tr.scheduler, tr.ema
        self.device = pick_device(env.gpus, self.dist)
        seed_everything(env.seed, env.deterministic)
        self.speed = configure_speed(loaded, self.device, ranks_here=int(os.environ.get("LOCAL_WORLD_SIZE", "1")),
                                     log=self.log)
        self.data = build_data(loaded)
        self.num_classes = len(self.data.classes)
        self.memory_format = self.speed.memory_format
        if resume_dir is not None:  # the run's own weights, never the pickle its config may name
            model = model_for_resume(loaded, self.num_classes, resume_dir, log=self.log)
        else:
            model = build_task_model(loaded, self.num_classes, log=self.log)
        self.model = model.to(self.device, memory_format=self.memory_format)
        if loaded.model.freeze_backbone:
            n = freeze_backbone(self.model)
            self.log(f"freeze_backbone: {n} backbone tensors frozen, backbone BatchNorm kept in eval mode")
        self.criterion = self._build_loss().to(self.device)
        self._metric()  # built once now so a metric that cannot be made fails before the first epoch
        self.distiller = self._build_distiller()  # before the optimizer: its projections train too
        self.optimizer = build_optimizer(self.model, self.opt_cfg)
        if self.distiller is not None:
            self.distiller.add_to_optimizer(self.optimizer, self.opt_cfg.lr, self.opt_cfg.weight_decay)
        self.ema = ModelEMA(self.model, self.ema_cfg) if self.ema_cfg else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.speed.precision.scaler)
        bs = env.batch_size
        self.train_loader = make_loader(self.data.train, batch_size=bs, shuffle=True, seed=env.seed,
                                        num_workers=env.num_workers, rank=self.dist.rank,
                                        world_size=self.dist.world_size,
                                        drop_last=len(self.data.train) // self.dist.world_size > bs)
        self.valid_loader = make_loader(self.data.valid, batch_size=bs, shuffle=False, seed=env.seed,
                                        num_workers=env.num_workers, rank=self.dist.rank,
                                        world_size=self.dist.world_size)
        self.ddp: nn.Module = self.model
        if self.dist.world_size > 1:
            self.ddp = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.ddp = self.speed.training_module(self.ddp)
        self.contention = ContentionWatch()
        self.start_epoch, self.history, self.best = 0, [], None
        self.state_extra: dict[str, Any] = {}
        self.pictures: Any = None  # nptrain.report.best_epoch.BestPictures on rank 0 with logging.plot
        self.plot_throttle: Any = None

    def _build_distiller(self):
        if self.run_cfg.training.distillation is None:
            return None

        return build_distiller(self.loaded, self.model, self.data, self.device, self.memory_format, log=self.log)

    def _build_loss(self) -> nn.Module:
        return build_loss(self.loaded.resolved)

    # -- state -------------------------------------------------------------------------
    def eval_model(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.model

    def state(self, epoch: int) -> dict[str, Any]:
        return {"epoch": epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "ema": self.ema.state_dict() if self.ema else None, "scaler": self.scaler.state_dict(),
                "history": self.history, "best": self.best, "rng": ckio.rng_state(),
                "classes": self.data.classes, "world_size": self.dist.world_size,
                # training-only 1x1 projections of feature distillation (never in weights/*.safetensors)
                **({"distill": self.distiller.state_dict()} if self.distiller is not None else {})}

    def restore(self, path: Path) -> None:
        state = ckio.load_state(path)
        if not isinstance(state, dict) or not {"model", "optimizer", "epoch"} <= set(state):
            # e.g. NetsPresso's <task>_<model>_*_optimizer.pth (model.checkpoint.optimizer_path): no model, no RNG
            raise UserError(f"{path}: not an nptrain training state (a run's weights/last_optimizer.pt); "
                            "an optimizer-only file cannot resume a run")
        if state.get("classes") != self.data.classes:
            raise UserError(f"{path}: the checkpoint was trained on classes {state.get('classes')}, "
                            f"the data now has {self.data.classes}")
        self.model.load_state_dict(state["model"])
        if self.distiller is not None:  # before the optimizer, whose groups include the projections
            self.distiller.load_state_dict(state.get("distill"), str(path))
        elif state.get("distill"):
            raise UserError(f"{path}: saved while distilling with feature projections; resume with the same "
                            "training.distillation")
        self.optimizer.load_state_dict(state["optimizer"])
        if self.ema is not None:
            if not state.get("ema"):
                raise UserError(f"{path}: training.ema is on but the checkpoint has no EMA state")
            self.ema.load_state_dict(state["ema"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.start_epoch, self.history, self.best = int(state["epoch"]), list(state["history"]), state["best"]
        ckio.set_rng_state(state["rng"])
        self.log(f"resumed from {path} after epoch {self.start_epoch}")

    # -- loop --------------------------------------------------------------------------
    def train_epoch(self, epoch: int, show: bool) -> dict[str, float]:
        tr = self.run_cfg.training
        seed = self.run_cfg.environment.seed
        self.ddp.train()
        if self.loaded.model.freeze_backbone:
            backbone_eval(self.model)
        loader = self.train_loader
        loader.sampler.set_epoch(epoch)
        set_loss_epoch(self.criterion, epoch)
        n_iter = len(loader)
        sums: dict[str, float] = {}
        seen, t0 = 0, time.perf_counter()
        bar = _progress(iterate(loader), n_iter, f"epoch {epoch + 1}/{tr.epochs}", show)
        lr = 0.0
        window = CpuWindow.start()
        step_start = t0
        for i, (images, target) in enumerate(bar):
            lr = set_lr(self.optimizer, self.sched_cfg, epoch + i / n_iter, tr.epochs)
            images = images.to(self.device, non_blocking=True, memory_format=self.memory_format)
            targets = loss_targets(self.loaded.task_spec, target, self.device)
            if self.data.mixing is not None:
                # per-batch generator: same mix for the same (seed, epoch, step) on every resume
                gen = torch.Generator().manual_seed(sample_seed(seed + 17, epoch, i * 1009 + self.dist.rank))
                images, targets["labels"] = self.data.mixing(images.cpu(), targets["labels"].cpu(), self.num_classes, gen)
                images = images.to(self.device, memory_format=self.memory_format)
                targets["labels"] = targets["labels"].to(self.device)
            with self.speed.precision.autocast():
                out = self.ddp(images)
                loss = self.criterion(out, targets)
                if self.distiller is not None:  # the teacher's forward runs here, inside the timed step
                    loss = self.distiller.mix(loss, out, images, targets)
            if not torch.isfinite(loss):
                raise UserError(f"loss became {float(loss)} at epoch {epoch + 1} step {i}; lower training.optimizer.lr")
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if self.distiller is not None:
                self.distiller.sync_grads(self.dist.world_size)
            if tr.max_norm:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), tr.max_norm)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.ema is not None:
                self.ema.update(self.model)
            b = images.shape[0]
            seen += b
            sums["loss"] = sums.get("loss", 0.0) + float(loss.detach()) * b
            now = time.perf_counter()
            self.contention.step(now - step_start, first_of_epoch=i == 0)
            step_start = now
            for k, v in getattr(self.criterion, "last", {}).items():
                if len(getattr(self.criterion, "last", {})) > 1:
                    sums[f"loss_{k}"] = sums.get(f"loss_{k}", 0.0) + v * b
            for k, v in (self.distiller.last.items() if self.distiller is not None else ()):
                sums[f"loss_{k}"] = sums.get(f"loss_{k}", 0.0) + v * b
            if show:
                bar.set_postfix(loss=f"{sums['loss'] / seen:.4f}", lr=f"{lr:.2e}",
                                img_s=f"{seen / (time.perf_counter() - t0):.0f}")
        totals = torch.tensor([seen] + list(sums.values()), dtype=torch.float64)
        if self.dist.world_size > 1:
            tdist.all_reduce(totals)
            # DDP keeps parameters in sync but each rank updates its own BatchNorm statistics:
            # take rank 0's so every rank (and the saved file) holds the same model
            for buf in self.model.buffers():
                tdist.broadcast(buf, 0)
            if self.ema is not None:
                for buf in self.ema.module.buffers():
                    tdist.broadcast(buf, 0)
        count = max(float(totals[0]), 1.0)
        row = {f"train_{k}": float(v) / count for k, v in zip(sums, totals[1:].tolist())}
        row["lr"] = lr
        row["train_img_per_s"] = seen * self.dist.world_size / max(time.perf_counter() - t0, 1e-9)
        note = self.contention.note(epoch + 1, window.stop()["foreign_cpu_frac"], self.speed.threads.threads)
        if note:
            self.log(note)
        return row

    def fit(self) -> Optional[Path]:
        tr, lg = self.run_cfg.training, self.run_cfg.logging
        run_dir = self._prepare_run_dir()
        if self.start_epoch >= tr.epochs:
            self.log(f"run already finished ({self.start_epoch}/{tr.epochs} epochs): nothing to do "
                     "(raise training.epochs to continue)")
            return run_dir
        show = self.dist.main and sys.stderr.isatty() and self.progress_bars
        tb = outputs.TensorBoard(run_dir / "tensorboard", purge_step=self.start_epoch + 1) \
            if self.dist.main and lg.tensorboard else None
        wall0 = time.perf_counter()
        last = self.session_last = tr.epochs if self.stop_after is None else min(tr.epochs, self.stop_after)
        if self.dist.main and run_dir is not None and lg.plot:
            # lazy: layer (README map: training/ may not import report)
            from nptrain.report.best_epoch import BestPictures, Throttle

            self.plot_throttle = Throttle()
            self.pictures = BestPictures(run_dir, loaded=self.loaded, dataset=self.data.valid, classes=self.data.classes,
                                         device=self.device, memory_format=self.memory_format, tensorboard=tb, log=self.log)
        for epoch in range(self.start_epoch, last):
            t0 = time.perf_counter()
            row: dict[str, Any] = {"epoch": epoch + 1}
            row.update(self.train_epoch(epoch, show))
            saves = lg.model_save_options
            if scheduled(epoch + 1, saves.validation_epoch, tr.epochs, saves.count_from_first_epoch):
                metric = self._metric()
                vals = evaluate(self.eval_model(), self.valid_loader, self.criterion, metric, self.loaded.task_spec,
                                self.device, show, self.memory_format)
                row.update({f"valid_{k}": v for k, v in vals.items()})
                self._update_best(row, metric, run_dir)
                if lg.num_save_samples and self.dist.main and run_dir is not None:
                    self._save_samples(run_dir, epoch + 1)
            row["time_s"] = time.perf_counter() - t0
            self.history.append(row)
            if self.dist.main:
                self._save_epoch(run_dir, epoch + 1, tb)
                self.log(self._line(row, tr.epochs))
                if self.on_epoch_end is not None:
                    self.on_epoch_end(dict(row))
        self.wall = time.perf_counter() - wall0
        if self.distiller is not None:  # training is over: the exported copy carries no feature hooks
            self.distiller.close()
        if self.pictures is not None:
            self.pictures.flush(self.eval_model())
        if tb is not None:
            tb.close()
        if self.dist.main and run_dir is not None and last == tr.epochs:
            self._finish(run_dir)
        if self.dist.world_size > 1:
            tdist.barrier()
        return run_dir

    def _metric(self) -> Metric:
        return make_task_metric(self.loaded, self.num_classes)

    def _update_best(self, row: dict[str, Any], metric: Metric, run_dir: Optional[Path]) -> None:
        by_loss = self.run_cfg.logging.model_save_options.best_model_criterion == "loss"
        key = "valid_loss" if by_loss else f"valid_{metric.primary}"
        value = row[key]
        lower_wins = by_loss or not metric.higher_is_better  # a task's metric may be an error (lower is better)
        better = self.best is None or (value < self.best["value"] if lower_wins else value > self.best["value"])
        if better:
            self.best = {"epoch": row["epoch"], "key": key, "value": value,
                         "metrics": {k: v for k, v in row.items() if k.startswith("valid_")}}
            self.best.update(metric.details(self.data.classes))  # per-class IoU / AP
            if self.dist.main and run_dir is not None:
                ckio.save_weights(self.eval_model(), run_dir / "weights" / "best.safetensors")
                if self.pictures is not None:  # confusion matrix / PR curve / validation samples
                    self.pictures.on_best(metric, self.eval_model(), row["epoch"], final=row["epoch"] == self.session_last)

    def _line(self, row: dict[str, Any], epochs: int) -> str:
        parts = [f"epoch {row['epoch']}/{epochs}", f"loss {row['train_loss']:.4f}"]
        parts += [f"val_{k[6:]} {v:.4f}" for k, v in row.items() if k.startswith("valid_")]
        parts += [f"lr {row['lr']:.2e}", f"{row['train_img_per_s']:.0f} img/s", f"{row['time_s']:.1f}s"]
        return "  ".join(parts)

    # -- files -------------------------------------------------------------------------
    def _prepare_run_dir(self) -> Optional[Path]:
        lg = self.run_cfg.logging
        run_dir: Optional[Path] = None
        if self.resume_dir is not None:
            run_dir = self.resume_dir
            if self.dist.main:  # files a killed write left half-done; the finished ones are in place
                for folder in (run_dir, run_dir / "weights"):
                    remove_temps_in(folder)
            state_path = run_dir / "weights" / STATE_FILE
            self.restore(state_path)
        else:
            if self.loaded.model.resume_optimizer_checkpoint:
                self.restore(Path(self.loaded.model.resume_optimizer_checkpoint))
            if self.dist.main:
                run_dir = outputs.new_run_dir(lg.output_dir, self.task, self.name)
        if self.dist.main and run_dir is not None:
            self._write_config(run_dir)
            outputs.write_json(run_dir / "classes.json", self.data.classes)
            self.log(f"run dir: {run_dir}")
        return run_dir

    def _write_config(self, run_dir: Path) -> None:
        yaml = YAML()
        yaml.default_flow_style = False
        buf = io.StringIO()
        yaml.dump(self.loaded.unstructure(), buf)
        atomic_write_bytes(run_dir / "config.yaml", buf.getvalue().encode())

    def _save_samples(self, run_dir: Path, epoch: int) -> None:
        # lazy: PIL
        from nptrain.training.samples import save_samples

        save_samples(self.eval_model(), self.data.valid, self.loaded, self.data.classes,
                     self.run_cfg.logging.num_save_samples, run_dir / "samples" / f"epoch_{epoch:04d}", self.device)

    def _save_epoch(self, run_dir: Path, epoch: int, tb: Optional[outputs.TensorBoard]) -> None:
        lg = self.run_cfg.logging
        ckio.save_weights(self.eval_model(), run_dir / "weights" / "last.safetensors")
        saves = lg.model_save_options
        if saves.save_checkpoint_epoch and scheduled(epoch, saves.save_checkpoint_epoch, self.run_cfg.training.epochs,
                                                     saves.count_from_first_epoch):
            ckio.save_weights(self.eval_model(), run_dir / "weights" / f"epoch_{epoch:04d}.safetensors")
        if lg.model_save_options.save_optimizer_state:
            ckio.save_state(self.state(epoch), run_dir / "weights" / STATE_FILE)
        if lg.csv:
            outputs.write_results_csv(run_dir / "results.csv", self.history)
        if lg.plot and self.plot_throttle.due(final=epoch == self.session_last):
            msg = outputs.plot_results(run_dir / "results.png", self.history)
            if msg:
                self.log(msg)
        if tb is not None:
            tb.log(self.history[-1], epoch)

    def _finish(self, run_dir: Path) -> None:
        lg = self.run_cfg.logging
        # a copy on CPU: exporting must not move or alter the trained model
        model = _copy_model(self.eval_model()).cpu().eval()
        best_path = run_dir / "weights" / "best.safetensors"
        if best_path.is_file():  # export what weights/best holds
            # lazy: safetensors
            from safetensors.torch import load_file

            model.load_state_dict(load_file(str(best_path)))
        sample = torch.stack([self.data.valid[(i, 0)][0] for i in range(min(2, len(self.data.valid)))])
        size = lg.model_save_options.sample_input_size
        if size:  # FLOPs and exports at the configured input size
            sample = torch.nn.functional.interpolate(sample, size=(int(size[0]), int(size[1])), mode="bilinear",
                                                     align_corners=False)
        summary: dict[str, Any] = {
            "task": self.task, "name": self.name, "classes": self.data.classes,
            "epochs": self.run_cfg.training.epochs,
            "params": sum(p.numel() for p in model.parameters()),
            "flops": count_flops(model, sample), "input_shape": list(sample.shape[1:]),
            "best": self.best, "last": self.history[-1] if self.history else None,
            # epochs' time summed over every (resumed) session; this session's wall time separately
            "wall_time_s": round(sum(r.get("time_s", 0.0) for r in self.history), 2),
            "session_wall_time_s": round(self.wall, 2),
            "world_size": self.dist.world_size,
        }
        exports: dict[str, Any] = {}
        if lg.fx_export:
            exports["fx"] = export_fx(model, run_dir / "weights" / "model_fx.pt")
            self.log("export fx: " + ("weights/model_fx.pt" if exports["fx"]["ok"] else f"FAILED {exports['fx']['error']}"))
        if lg.onnx_export:
            # the same export (names, dynamic batch, opset) as `nptrain export RUN_DIR`
            exports["onnx"] = res = export_onnx(model, sample, run_dir / "weights" / "model.onnx", lg.onnx_opset,
                                                output_name=onnx_output_name(self.task))
            if res["ok"]:
                self.log(f"export onnx: weights/model.onnx (opset {res['opset']}, dynamic batch, output "
                         f"'{res['output_name']}'), onnxruntime {describe_check(res)}")
            else:
                self.log(f"export onnx: FAILED {res['error']} (weights are saved; the run itself succeeded)")
        for res in exports.values():  # which weights the files hold, as `nptrain export` says
            res["weights"] = "best" if best_path.is_file() else "last"
        summary["export"] = exports
        outputs.write_json(run_dir / "summary.json", summary)
        if self.best:
            self.log(f"best epoch {self.best['epoch']}: {self.best['key'][6:]} {self.best['value']:.4f}  "
                     f"({summary['wall_time_s']:.1f}s)  → {run_dir}")
            table = self._metric().format_details(self.best)
            if table:
                self.log(table)
        # lazy: layer (README map: training/ may not import report)
        from nptrain.report.next_steps import example_image, next_steps

        for line in next_steps(run_dir, example_image(self.data.valid)):
            self.log(line)


def scheduled(epoch: int, every: int, last: int, from_first: bool) -> bool:
    """Whether 1-based ``epoch`` is one of every ``every``-th: N, 2N, ... or, ``from_first``, 1, 1+N, 1+2N, ...
    (NetsPresso Trainer's schedule); the last epoch always is."""
    if epoch == last:
        return True
    return (epoch - 1) % every == 0 if from_first else epoch % every == 0


def set_loss_epoch(criterion: nn.Module, epoch: int) -> None:
    """Tell every criterion with a ``set_epoch`` (e.g. ``yolox_loss``, whose L1 term starts at an
    epoch) which epoch is starting; called each epoch, so a resumed run restores it as well."""
    for module in criterion.modules():  # the configured losses sit inside a WeightedLoss
        fn = getattr(module, "set_epoch", None)
        if callable(fn):
            fn(epoch)


def _copy_model(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model)


def run_training(loaded: LoadedConfig, *, name: str, resume_dir: Optional[Path] = None,
                 stop_after_epoch: Optional[int] = None, log: Callable[[str], None] = print,
                 on_epoch_end: Optional[Callable[[dict[str, Any]], None]] = None,
                 progress_bars: bool = True) -> Optional[Path]:
    trainer = Trainer(loaded, name=name, resume_dir=resume_dir, stop_after_epoch=stop_after_epoch, log=log,
                      on_epoch_end=on_epoch_end, progress_bars=progress_bars)
    try:
        return trainer.fit()
    finally:
        if tdist.is_available() and tdist.is_initialized():
            tdist.destroy_process_group()
