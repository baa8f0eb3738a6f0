"""The training loop: epochs of train + validate, checkpoints, records, and end-of-run export.

Resuming restores model, optimizer, EMA, epoch, history, best result and RNG states. Batches are
a pure function of (seed, epoch) (see ``nptrain.data.loader``) and the LR schedule of the step
counter, so in deterministic mode a resumed run ends bit-identical to an uninterrupted one, also from a
resume point saved in the middle of an epoch (a signal, a loader fault: ``nptrain.training.stopping``).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import torch
import torch.distributed as tdist
from torch import nn

from nptrain.config.loader import LoadedConfig
from nptrain.data.loader import iterate, make_loader, sample_seed
from nptrain.errors import RunInterrupted, UserError
from nptrain.training.early_stopping import early_stop_reason
from nptrain.training.tracking import MlflowTracker
from nptrain.training.epoch_progress import EpochProgress, for_rank
from nptrain.training.run_faults import disk_fault, is_disk_fault
from nptrain.training.stop_signals import StopSignals
from nptrain.training.validation import ValidationAbandoned, bar as _bar, evaluate
from nptrain.training.stopping import STATE_FILE, StopPoints
from nptrain.training.run_directory import RunDirectory, scheduled
from nptrain.training.run_summary import write_summary_and_exports
from nptrain.training import checkpoint_io as ckio
from nptrain.training import outputs
from nptrain.training.cpu_load import CpuWindow
from nptrain.training.ema import ModelEMA
from nptrain.training.metrics import Metric
from nptrain.training.optim import build_optimizer, set_lr
from nptrain.training.setup import (
    Dist, backbone_eval, build_data, build_task_model, freeze_backbone, init_distributed, loss_targets,
    make_task_metric, pick_device, seed_everything,
)
from nptrain.training.speed import configure_speed
from nptrain.training.threads import ContentionWatch
from nptrain.training.run_model import model_for_resume
from nptrain.training.distill_setup import build_distiller
from nptrain.modeling.builder import build_loss



class Trainer(StopPoints, RunDirectory):
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
        self.stop = StopSignals()
        self.run_dir: Optional[Path] = None
        self.resumable = loaded.run.logging.model_save_options.save_optimizer_state
        self.saved: Optional[str] = None  # the last complete training state on disk, as the user should read it
        self.resume_progress: Optional[EpochProgress] = None  # a resume point in the middle of an epoch
        self.progress = EpochProgress(0)
        self.tracker: Optional[MlflowTracker] = None  # logging.mlflow, rank 0
        self.stopped_early: Optional[dict[str, Any]] = None  # training.early_stopping's epoch and reason
        self.bad_files: dict[str, int] = {}  # data.on_bad_file: skip: message (it names the file) -> times skipped
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
                "classes": self.data.classes, "world_size": self.dist.world_size, "bad_files": dict(self.bad_files),
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
        self.bad_files = {str(k): int(v) for k, v in (state.get("bad_files") or {}).items()}
        self.resume_progress = for_rank(state.get("progress"), self.dist.rank, self.dist.world_size, str(path))
        if self.resume_progress is not None:
            where = f"epoch {self.start_epoch + 1} step {self.resume_progress.step}"
            self.saved = f"weights/{STATE_FILE}, at {where}"
            self.log(f"resumed from {path} at {where}")
        else:
            self.saved = f"weights/{STATE_FILE}, after epoch {self.start_epoch}"
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
        n_iter = len(loader)
        resumed = self.resume_progress if self.resume_progress and self.resume_progress.epoch == epoch else None
        self.resume_progress = None
        part = self.progress = resumed or EpochProgress(epoch)
        loader.sampler.set_epoch(epoch, skip=part.step * loader.batch_size)  # a resume point mid-epoch
        set_loss_epoch(self.criterion, epoch)
        t0 = time.perf_counter() - part.elapsed
        bar = _bar(n_iter, part.step, f"epoch {epoch + 1}/{tr.epochs}", show)
        window = CpuWindow.start()
        step_start = time.perf_counter()
        batches = iterate(loader) if part.step < n_iter else iter(())
        ws = self.dist.world_size
        for i in range(part.step, n_iter):
            try:
                images, target = next(batches)
                fault: Optional[UserError] = None
            except StopIteration:
                break
            except UserError as exc:  # a bad file (data.on_bad_file: stop), a loader worker that died
                images, target, fault = None, {}, exc
            # before the step, so every rank stops at the same one (a rank's fault or signal stops all)
            code = self.stop.agree(ws, fault is not None)
            if code:
                part.elapsed = time.perf_counter() - t0
                raise self._stopped_mid_epoch(part, n_iter, code, fault)
            self._count_bad(target.pop("bad_files", ()))
            if images is None:  # every sample of the batch was skipped as unreadable
                part.step = i + 1
                continue
            lr = part.lr = set_lr(self.optimizer, self.sched_cfg, epoch + i / n_iter, tr.epochs)
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
                raise UserError(f"loss became {float(loss.detach())} at epoch {epoch + 1} step {i}; "
                                "lower training.optimizer.lr")
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
            now = time.perf_counter()
            self.contention.step(now - step_start, first_of_epoch=i == part.step)
            step_start = now
            part.add(self._step_losses(float(loss.detach())), images.shape[0])
            part.step = i + 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{part.sums['loss'] / part.seen:.4f}", lr=f"{lr:.2e}",
                                img_s=f"{part.seen / (time.perf_counter() - t0):.0f}")
        if bar is not None:
            bar.close()
        part.elapsed = time.perf_counter() - t0
        sums, seen = part.sums, part.seen
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
        row["lr"] = part.lr
        row["train_img_per_s"] = seen * self.dist.world_size / max(part.elapsed, 1e-9)
        note = self.contention.note(epoch + 1, window.stop()["foreign_cpu_frac"], self.speed.threads.threads)
        if note:
            self.log(note)
        return row

    def _step_losses(self, loss: float) -> dict[str, float]:
        """The step's logged losses: the total, each term of a multi-term loss, the distiller's terms."""
        out = {"loss": loss}
        last = getattr(self.criterion, "last", {})
        if len(last) > 1:
            out.update({f"loss_{k}": v for k, v in last.items()})
        if self.distiller is not None:
            out.update({f"loss_{k}": v for k, v in self.distiller.last.items()})
        return out

    def _count_bad(self, messages) -> None:
        for message in messages:
            if message not in self.bad_files:
                self.log(f"skipped an unreadable training image (data.on_bad_file: skip): {message}")
            self.bad_files[message] = self.bad_files.get(message, 0) + 1

    def fit(self) -> Optional[Path]:
        """Train the remaining epochs; SIGINT/SIGTERM, a full disk, a dead loader worker or a bad file stop it
        with what was done saved (see :meth:`_stopped_mid_epoch`, ``nptrain.training.run_faults``)."""
        run_dir: Optional[Path] = None
        self.stop.install()
        status = "FAILED"
        try:
            run_dir = self._prepare_run_dir()
            out = self._fit(run_dir)
            status = "FINISHED"
            return out
        except RunInterrupted:
            status = "KILLED"
            raise
        except OSError as exc:
            if not is_disk_fault(exc):
                raise
            raise disk_fault(exc, run_dir if self.saved else None, self.saved) from None
        finally:
            self.stop.uninstall()
            if self.tracker is not None:  # after the summary and exports, so they go as artifacts
                self.tracker.finish(status)

    def _fit(self, run_dir: Optional[Path]) -> Optional[Path]:
        tr, lg = self.run_cfg.training, self.run_cfg.logging
        if self.start_epoch >= tr.epochs:
            if self._write_missing_summary(run_dir, "every epoch is trained but the run stopped before its summary "
                                                    "and exports: writing them"):
                return run_dir
            self.log(f"run already finished ({self.start_epoch}/{tr.epochs} epochs): nothing to do "
                     "(raise training.epochs to continue)")
            return run_dir
        reason = self._early_stop()
        if reason is not None:  # it stopped early before: the same history says so again
            self.stopped_early = {"epoch": self.start_epoch, "reason": reason}
            self._write_missing_summary(run_dir)
            self.log(f"run stopped early after epoch {self.start_epoch} ({reason}): nothing to do (raise "
                     "training.early_stopping.patience or remove it to continue)")
            return run_dir
        if self.dist.main and run_dir is not None:
            self._warn_low_space(run_dir)
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
        if lg.mlflow is not None and self.dist.main and run_dir is not None:
            self.tracker = MlflowTracker(lg.mlflow, run_dir=run_dir, output_dir=lg.output_dir, task=self.task,
                                         config=self.loaded.unstructure(), resume=self.resume_dir is not None,
                                         log=self.log)
        ws = self.dist.world_size
        for epoch in range(self.start_epoch, last):
            t0 = time.perf_counter()
            row: dict[str, Any] = {"epoch": epoch + 1}
            row.update(self.train_epoch(epoch, show))
            saves = lg.model_save_options
            if scheduled(epoch + 1, saves.validation_epoch, tr.epochs, saves.count_from_first_epoch):
                metric = self._metric()
                stop = (lambda: self.stop.signum is not None) if ws == 1 else None
                try:
                    vals = evaluate(self.eval_model(), self.valid_loader, self.criterion, metric, self.loaded.task_spec,
                                    self.device, show, self.memory_format, stop=stop)
                except ValidationAbandoned:  # the epoch's training is kept: a resume validates it
                    raise self._stopped_mid_epoch(self.progress, self.progress.step, self.stop.signum or 0, None) \
                        from None
                row.update({f"valid_{k}": v for k, v in vals.items()})
                self._update_best(row, metric, run_dir)
                if lg.num_save_samples and self.dist.main and run_dir is not None:
                    self._save_samples(run_dir, epoch + 1)
            row["time_s"] = time.perf_counter() - t0
            self.history.append(row)
            if self.dist.main:
                self._save_epoch(run_dir, epoch + 1, tb)
                self.log(self._line(row, tr.epochs))
                if self.tracker is not None:
                    self.tracker.epoch(row, epoch + 1)
                if self.on_epoch_end is not None:
                    self.on_epoch_end(dict(row))
            self.saved = f"weights/{STATE_FILE}, after epoch {epoch + 1}" if self.resumable else None
            code = self.stop.agree(ws)
            if code and epoch + 1 < last:
                raise self._interrupted(code, f"after epoch {epoch + 1}/{tr.epochs}")
            reason = self._early_stop() if epoch + 1 < tr.epochs else None
            if reason is not None:
                self.stopped_early = {"epoch": epoch + 1, "reason": reason}
                self.log(f"early stopping after epoch {epoch + 1}/{tr.epochs}: {reason}")
                break
        self.wall = time.perf_counter() - wall0
        if self.distiller is not None:  # training is over: the exported copy carries no feature hooks
            self.distiller.close()
        if self.pictures is not None:
            self.pictures.flush(self.eval_model())
        if tb is not None:
            tb.close()
        if self.dist.main and run_dir is not None and (last == tr.epochs or self.stopped_early):
            self._finish_or_stop(run_dir)
        if self.dist.world_size > 1:
            tdist.barrier()
        return run_dir

    def _write_missing_summary(self, run_dir: Optional[Path], say: Optional[str] = None) -> bool:
        """On a resume with nothing left to train: the summary and exports a stopped run never wrote, if so
        (``say``: the line to log first)."""
        if not self.dist.main or run_dir is None or (run_dir / "summary.json").is_file():
            return False
        if say:
            self.log(say)
        self.wall = 0.0
        self._finish_or_stop(run_dir)
        return True

    def _finish_or_stop(self, run_dir: Path) -> None:
        """Summary and exports; a signal now stops at once: every epoch is saved, ``--resume`` writes these."""
        if self.stop.signum is not None:
            raise self._interrupted(self.stop.signum, "after the last epoch, before the summary and exports")
        self.stop.raise_now = lambda signum: self._interrupted(signum, "while writing the summary and exports")
        try:
            self._finish(run_dir)
        finally:
            self.stop.raise_now = None

    def _metric(self) -> Metric:
        return make_task_metric(self.loaded, self.num_classes)

    def _criterion(self, metric: Metric) -> tuple[str, bool]:
        """The history key that picks weights/best (and early stopping watches), and whether lower wins."""
        by_loss = self.run_cfg.logging.model_save_options.best_model_criterion == "loss"
        # a task's metric may be an error (lower is better)
        return ("valid_loss" if by_loss else f"valid_{metric.primary}"), by_loss or not metric.higher_is_better

    def _early_stop(self) -> Optional[str]:
        es = self.run_cfg.training.early_stopping
        if es is None:
            return None
        key, lower_wins = self._criterion(self._metric())
        return early_stop_reason(self.history, key, lower_wins, es.patience, es.min_delta)

    def _update_best(self, row: dict[str, Any], metric: Metric, run_dir: Optional[Path]) -> None:
        key, lower_wins = self._criterion(metric)
        value = row[key]
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

    def _finish(self, run_dir: Path) -> None:
        write_summary_and_exports(self, run_dir)


def set_loss_epoch(criterion: nn.Module, epoch: int) -> None:
    """Tell every criterion with a ``set_epoch`` (e.g. ``yolox_loss``, whose L1 term starts at an
    epoch) which epoch is starting; called each epoch, so a resumed run restores it as well."""
    for module in criterion.modules():  # the configured losses sit inside a WeightedLoss
        fn = getattr(module, "set_epoch", None)
        if callable(fn):
            fn(epoch)


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
