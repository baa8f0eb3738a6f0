"""How a run that stops on the way says so and saves where it was: a signal, a loader fault, low disk space.

:class:`StopPoints` is a part of :class:`nptrain.training.engine.Trainer` (its attributes ``dist``, ``run_dir``,
``saved``, ``resumable``, ``run_cfg``, ``model``, ``ema`` and its ``state``/``log``); the signals are
:mod:`nptrain.training.stop_signals`', the messages of machine faults :mod:`nptrain.training.run_faults`'.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from nptrain.data.loader import LoaderWorkerDied
from nptrain.errors import RunInterrupted, RunStopped, UserError
from nptrain.training import checkpoint_io as ckio
from nptrain.training.epoch_progress import EpochProgress, gather_objects
from nptrain.training.run_faults import estimate_run_bytes, low_space_warning, resume_command
from nptrain.training.stop_signals import FAULT, signal_name

STATE_FILE = "last_optimizer.pt"


class StopPoints:
    dist: Any
    run_dir: Optional[Path]
    saved: Optional[str]
    resumable: bool
    run_cfg: Any

    def _interrupted(self, signum: int, when: str) -> RunInterrupted:
        kept = f"the state is saved ({self.saved})" if self.saved else self._not_resumable()
        again = f"; continue with: {resume_command(self.run_dir)}" if self.run_dir is not None and self.saved else ""
        return RunInterrupted(f"stopped by {signal_name(signum)} {when}: {kept}{again}", signum)

    def _not_resumable(self) -> str:
        return ("the training state is not kept (logging.model_save_options.save_optimizer_state: false), so the "
                "run cannot be resumed; weights/last.safetensors holds its last complete epoch")

    def _stopped_mid_epoch(self, part: EpochProgress, n_iter: int, code: int, fault: Optional[UserError]) -> UserError:
        """Save a resume point at ``part``'s step (rank 0 writes every rank's progress) and say why the run
        stopped: a signal, this or another rank's loader fault (a dead worker, a bad file)."""
        ws = self.dist.world_size
        reports = gather_objects({"progress": part.to_state(), "fault": str(fault) if fault else "",
                                  "died": isinstance(fault, LoaderWorkerDied)}, ws)
        run_dir = self.run_dir
        where = f"epoch {part.epoch + 1} step {part.step}/{n_iter}"
        if self.dist.main and run_dir is not None and self.resumable:
            state = self.state(part.epoch)
            state["progress"] = [r["progress"] for r in reports]
            ckio.save_state(state, run_dir / "weights" / STATE_FILE)
        if run_dir is not None and self.resumable:
            self.saved = f"weights/{STATE_FILE}, at {where}"
        if code != FAULT:
            return self._interrupted(code, f"at {where}")
        report = next(r for r in reports if r["fault"])
        rank = f" on rank {reports.index(report)}" if ws > 1 else ""
        kept = f"the state at this step is saved ({self.saved})" if self.saved else self._not_resumable()
        again = f", then continue with: {resume_command(run_dir)}" if run_dir is not None and self.saved else ""
        if report["died"]:
            return RunStopped(f"{report['fault']}{rank} at {where} (often the out-of-memory killer): try "
                              f"environment.num_workers: 0 or fewer workers, or a smaller batch_size; {kept}{again}")
        return UserError(f"{report['fault']}{rank} at {where}; {kept}; fix or remove the file, or set "
                         f"data.on_bad_file: skip{again}")

    def _warn_low_space(self, run_dir: Path) -> None:
        lg = self.run_cfg.logging
        saves = lg.model_save_options
        model_bytes = sum(t.numel() * t.element_size() for t in self.model.state_dict().values())
        every = saves.save_checkpoint_epoch
        weight_files = 2 + (self.run_cfg.training.epochs // every + 1 if every else 0)
        need = estimate_run_bytes(model_bytes, weight_files=weight_files,
                                  exports=int(lg.fx_export) + int(lg.onnx_export), ema=self.ema is not None)
        message = low_space_warning(run_dir, need)
        if message:
            self.log(message)
