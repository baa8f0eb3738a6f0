"""The run directory's files while training: creating (or reopening for ``--resume``) the folder, the resolved
``config.yaml``, each epoch's weights, training state, results.csv/png, TensorBoard scalars and sample pictures.

:class:`RunDirectory` is a part of :class:`nptrain.training.engine.Trainer` (it reads its ``loaded``, ``run_cfg``,
``dist``, ``data``, ``history``, ``resume_dir`` and calls its ``restore``, ``state``, ``eval_model``, ``log``).
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Optional

import torch.distributed as tdist
from ruamel.yaml import YAML

from nptrain.training import checkpoint_io as ckio
from nptrain.training import outputs
from nptrain.training.stopping import STATE_FILE
from nptrain.training_io import atomic_write_bytes, remove_temps_in


class RunDirectory:
    loaded: Any
    run_cfg: Any
    dist: Any
    data: Any
    history: list
    resume_dir: Optional[Path]
    run_dir: Optional[Path]
    saved: Optional[str]
    task: str
    name: str
    plot_throttle: Any

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
                self.saved = None  # that state is not this new run directory's
            if self.dist.main:
                run_dir = outputs.new_run_dir(lg.output_dir, self.task, self.name)
        self.run_dir = run_dir
        if self.dist.world_size > 1:  # every rank's messages name the run directory rank 0 made
            shared = [str(run_dir) if run_dir is not None else None]
            tdist.broadcast_object_list(shared, 0)
            self.run_dir = Path(shared[0]) if shared[0] else None
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


def scheduled(epoch: int, every: int, last: int, from_first: bool) -> bool:
    """Whether 1-based ``epoch`` is one of every ``every``-th: N, 2N, ... or, ``from_first``, 1, 1+N, 1+2N, ...
    (NetsPresso Trainer's schedule); the last epoch always is."""
    if epoch == last:
        return True
    return (epoch - 1) % every == 0 if from_first else epoch % every == 0
