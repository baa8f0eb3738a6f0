"""MLflow tracking of a run (``logging.mlflow``), on rank 0: the resolved config as parameters, each epoch's numbers
as metrics with the epoch as step, and at the end the pictures, records, summary and (``log_models``) the best
weights and the ONNX export as artifacts.

The run directory records the MLflow run in ``mlflow.json``, so ``--resume`` continues the same MLflow run. A tracking
server that is down or refuses never stops or slows training: the first failure is one warning, nothing more is
sent during training (what could not be sent is kept), one more try is made at the end, and the last line says what
still could not be sent. Everything is always in the run directory.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Optional

from nptrain.config.mlflow_section import MlflowConfig
from nptrain.errors import UserError
from nptrain.quiet_library import quiet_library
from nptrain.run_files import read_run_json
from nptrain.training_io import atomic_write_bytes

RECORD = "mlflow.json"
# MLflow's limits (mlflow.utils.validation): parameter values, keys, and entries per log_batch call
MAX_VALUE, MAX_KEY, PARAMS_PER_BATCH, METRICS_PER_BATCH = 6000, 250, 100, 1000
# a server that does not answer costs one short wait, never MLflow's default minutes of retries
FAIL_FAST = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
# run-directory files logged as artifacts (those that exist), and the model files with log_models
RECORD_FILES = ("config.yaml", "classes.json", "results.csv", "summary.json")
MODEL_FILES = ("weights/best.safetensors", "weights/model.onnx")


def flatten(tree: Any, prefix: str = "") -> dict[str, str]:
    """``{"training": {"optimizer": {"lr": 0.01}}}`` → ``{"training.optimizer.lr": "0.01"}``; lists as JSON."""
    out: dict[str, str] = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif prefix:
        out[prefix] = tree if isinstance(tree, str) else json.dumps(tree, default=str)
    return out


def default_tracking_uri(output_dir: str) -> str:
    """A local store inside ``logging.output_dir``: ``sqlite:///…/mlflow.db`` (artifacts in ``mlartifacts/``)."""
    return f"sqlite:///{Path(output_dir).absolute() / 'mlflow.db'}"


class MlflowTracker:
    def __init__(self, settings: MlflowConfig, *, run_dir: Path, output_dir: str, task: str, config: dict,
                 resume: bool, log: Callable[[str], None]) -> None:
        try:
            # lazy: an optional extra, heavy to import
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise UserError("logging.mlflow needs MLflow: pip install 'nptrain[mlflow]'") from None
        for key, value in FAIL_FAST.items():
            os.environ.setdefault(key, value)
        self.log, self.run_dir = log, run_dir
        self.uri = settings.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(output_dir)
        self.local = self.uri == default_tracking_uri(output_dir)
        self.log_models = settings.log_models
        with quiet_library("mlflow"), quiet_library("alembic"):  # a new local store logs its table creation
            self.client = MlflowClient(tracking_uri=self.uri)
        self.down: Optional[str] = None  # the first failure, once the server is taken as unreachable
        self.pending: list[Any] = []  # metrics not sent while down
        self.run_id: Optional[str] = None
        self.experiment = ""
        # the run directory may come from someone else: its record is read bounded and checked, before any
        # request, so a bad file is its own one-line error and not taken for an unreachable server
        saved = _read_record(run_dir) if resume else None
        self._start_late = lambda: self._start(settings, task, config, None, output_dir)
        if self._try(lambda: self._start(settings, task, config, saved, output_dir)):
            self.log(f"mlflow: run {self.run_id} in experiment '{self.experiment}' at {self.uri}")

    def _start(self, settings: MlflowConfig, task: str, config: dict, saved: Optional[dict], output_dir: str) -> None:
        record = self.run_dir / RECORD
        if saved is not None:  # the same MLflow run continues; its parameters are already there
            self.run_id, self.experiment = saved["run_id"], saved["experiment"]
            self.client.update_run(self.run_id, status="RUNNING")
            return
        self.experiment = settings.experiment or f"nptrain-{task}"
        found = self.client.get_experiment_by_name(self.experiment)
        if found is not None:
            experiment_id = found.experiment_id
        else:
            location = (Path(output_dir).absolute() / "mlartifacts").as_uri() if self.local else None
            experiment_id = self.client.create_experiment(self.experiment, artifact_location=location)
        run = self.client.create_run(experiment_id, run_name=settings.run_name or self.run_dir.name,
                                     tags={"nptrain.run_dir": str(self.run_dir.absolute())})
        self.run_id = run.info.run_id
        atomic_write_bytes(record, json.dumps({"run_id": self.run_id, "experiment": self.experiment,
                                               "tracking_uri": self.uri}, indent=2).encode())
        self._log_params(config)

    def _log_params(self, config: dict) -> None:
        # lazy: an optional extra
        from mlflow.entities import Param

        params = [Param(k[:MAX_KEY], v[:MAX_VALUE]) for k, v in flatten(config).items()]
        for i in range(0, len(params), PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=params[i:i + PARAMS_PER_BATCH])

    def _try(self, send: Callable[[], None]) -> bool:
        if self.down is not None:
            return False
        try:
            # MLflow's table-creation log lines, its and SQLAlchemy's deprecation notes: nothing a user acts on
            with quiet_library("mlflow"), quiet_library("alembic"):
                send()
            return True
        except Exception as exc:  # noqa: BLE001 - any failure of the tracking side must not stop training
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            self.down = first
            self.log(f"warning: mlflow: cannot reach {self.uri} ({type(exc).__name__}: {first}); training goes "
                     "on, the run directory keeps everything, and the end of the run says what was not sent")
            return False

    def epoch(self, row: dict[str, Any], epoch: int) -> None:
        """Send one epoch's numbers (``train_loss``, ``valid_*``, ``lr``, …) with the epoch as step."""
        # lazy: an optional extra
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        metrics = [Metric(k[:MAX_KEY], float(v), stamp, epoch) for k, v in row.items()
                   if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool)]
        self.pending += metrics
        if self.run_id is not None and self._try(self._flush):
            self.pending = []

    def _flush(self) -> None:
        for i in range(0, len(self.pending), METRICS_PER_BATCH):
            self.client.log_batch(self.run_id, metrics=self.pending[i:i + METRICS_PER_BATCH])

    def finish(self, status: str = "FINISHED") -> None:
        """At the end (also of a run that stopped: ``KILLED``, ``FAILED``): one more try if the server was down,
        the artifacts of a finished run, the status; then one line for whatever could still not be sent."""
        self.down = None  # one more chance: the server may be back
        if self.run_id is None:
            self._try(self._start_late)
        artifacts = self._artifacts() if status == "FINISHED" else []
        sent = 0
        if self.run_id is not None and self._try(self._flush):
            self.pending = []
            for path, folder in artifacts:
                if not self._try(lambda: self.client.log_artifact(self.run_id, str(path), artifact_path=folder)):
                    break
                sent += 1
            self._try(lambda: self.client.set_terminated(self.run_id, status=status))
        if self.down is not None:
            epochs = sorted({m.step for m in self.pending})
            span = f" (epochs {epochs[0]}-{epochs[-1]})" if epochs else ""
            self.log(f"warning: mlflow: not sent to {self.uri}: {len(self.pending)} metric values{span}, "
                     f"{len(artifacts) - sent} artifacts; {self.run_dir} has them all")

    def _artifacts(self) -> list[tuple[Path, Optional[str]]]:
        files = [(self.run_dir / name, None) for name in RECORD_FILES]
        files += [(png, None) for png in sorted(self.run_dir.glob("*.png"))]
        if self.log_models:
            files += [(self.run_dir / name, "weights") for name in MODEL_FILES]
        return [(path, folder) for path, folder in files if path.is_file()]


def _read_record(run_dir: Path) -> Optional[dict]:
    """``run_dir/mlflow.json`` (None when absent), bounded in size, with a string ``run_id`` and ``experiment``."""
    saved = read_run_json(run_dir, RECORD)
    if saved is None:
        return None
    if not isinstance(saved, dict) or not all(isinstance(saved.get(k), str) for k in ("run_id", "experiment")):
        raise UserError(f"{run_dir / RECORD}: expected a JSON object with the strings run_id and experiment "
                        "(nptrain writes it when a run starts tracking)")
    return saved
