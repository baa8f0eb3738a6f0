"""logging.mlflow against a real MLflow tracking server (``mlflow server`` on 127.0.0.1, a free port, a temporary
backend store), read back with ``MlflowClient``: parameters, per-epoch metric history, artifacts equal to the run
directory's files; the local store with no server; the server killed in the middle of a run; resume continuing the
same MLflow run."""
from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from ruamel.yaml import YAML

mlflow = pytest.importorskip("mlflow", reason="the nptrain[mlflow] extra")
from mlflow.tracking import MlflowClient  # noqa: E402

from nptrain.config.loader import load_config  # noqa: E402
from nptrain.errors import ConfigError, UserError  # noqa: E402
from nptrain.training.engine import run_training  # noqa: E402
from nptrain.training.tracking import flatten  # noqa: E402


class Server:
    def __init__(self, root: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.uri = f"http://127.0.0.1:{self.port}"
        self.log = open(root / "server.log", "w")
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'backend.db'}",
             "--artifacts-destination", str(root / "artifacts")],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.5)
        self.stop()
        pytest.fail(f"mlflow server did not start: {(root / 'server.log').read_text()[-2000:]}")

    def stop(self) -> None:
        import os
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # uvicorn's workers too
            self.proc.wait(timeout=30)
        self.log.close()


@pytest.fixture
def server(tmp_path):
    srv = Server(tmp_path)
    yield srv
    srv.stop()


def _run_of(run_dir: Path, uri: str):
    record = json.loads((run_dir / "mlflow.json").read_text())
    client = MlflowClient(uri)
    return client, client.get_run(record["run_id"])


def _csv(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "results.csv") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_a_run_is_tracked_on_a_real_server_which_then_dies(small_config, server, tmp_path):
    paths = small_config(f"""
        logging: {{mlflow: {{tracking_uri: '{server.uri}', experiment: digits}}, plot: true}}
        """)
    lines: list[str] = []
    run_dir = run_training(load_config(paths), name="tracked", log=lines.append)
    client, run = _run_of(run_dir, server.uri)
    assert run.info.status == "FINISHED" and run.info.run_name == "tracked"
    assert client.get_experiment(run.info.experiment_id).name == "digits"
    # parameters: the resolved config, flattened (what config.yaml holds)
    assert run.data.params == flatten(YAML(typ="safe").load((run_dir / "config.yaml").read_text()))
    assert run.data.params["training.epochs"] == "2"
    # metrics: every epoch's numbers with the epoch as step, as results.csv has them
    rows = _csv(run_dir)
    for key in ("train_loss", "valid_loss", "valid_top1_accuracy", "lr"):
        history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))
        assert [s for s, _ in history] == [1, 2]
        assert [v for _, v in history] == pytest.approx([float(r[key]) for r in rows], rel=1e-5)
    # artifacts: the records, pictures and model files, byte for byte
    names = ["config.yaml", "classes.json", "results.csv", "summary.json", "results.png", "confusion_matrix.png",
             "val_samples.png", "weights/best.safetensors"]
    listed = {a.path for a in client.list_artifacts(run.info.run_id)} | \
        {a.path for a in client.list_artifacts(run.info.run_id, "weights")}
    assert set(names) <= listed, listed
    got = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, tracking_uri=server.uri,
                                                   dst_path=str(tmp_path / "down")))
    for name in names:
        assert (got / name).read_bytes() == (run_dir / name).read_bytes(), name
    assert any(line.startswith(f"mlflow: run {run.info.run_id} in experiment 'digits' at {server.uri}")
               for line in lines)
    the_server_dying_mid_run_loses_nothing_and_says_what_was_not_sent(small_config, server)


def the_server_dying_mid_run_loses_nothing_and_says_what_was_not_sent(small_config, server: Server) -> None:
    """(Part of the test above, to start one server, not two.)"""
    paths = small_config(f"""
        training: {{epochs: 3}}
        logging: {{mlflow: {{tracking_uri: '{server.uri}'}}}}
        """, name="dying")
    lines: list[str] = []

    def kill_after_epoch_1(row: dict) -> None:
        if row["epoch"] == 1:
            server.stop()

    started = time.monotonic()
    run_dir = run_training(load_config(paths), name="dying", log=lines.append, on_epoch_end=kill_after_epoch_1)
    assert time.monotonic() - started < 120  # no minutes of retries
    assert (run_dir / "summary.json").is_file() and len(_csv(run_dir)) == 3  # training finished, all kept
    warnings = [line for line in lines if line.startswith("warning: mlflow:")]
    assert len(warnings) == 3, lines  # down during training (once), down again at the end, what was not sent
    assert warnings[0].startswith(f"warning: mlflow: cannot reach {server.uri}")
    assert warnings[-1].startswith(f"warning: mlflow: not sent to {server.uri}: ")
    assert "(epochs 2-3)" in warnings[-1] and f"{run_dir} has them all" in warnings[-1]




def test_the_local_store_needs_no_server(small_config, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    paths = small_config("training: {epochs: 1}\nlogging: {mlflow: true}\n")
    run_dir = run_training(load_config(paths), name="local", log=lambda _m: None)
    uri = f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"
    client, run = _run_of(run_dir, uri)
    assert run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1]
    assert (tmp_path / "runs" / "mlartifacts").is_dir()  # inside logging.output_dir, not the current directory


@pytest.mark.slow
def test_resume_continues_the_same_mlflow_run(small_config, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    paths = small_config("training: {epochs: 3}\nlogging: {mlflow: true}\n")
    part = run_training(load_config(paths), name="part", stop_after_epoch=1, log=lambda _m: None)
    first = json.loads((part / "mlflow.json").read_text())["run_id"]
    run_training(load_config(paths), name="part", resume_dir=part, log=lambda _m: None)
    client, run = _run_of(part, f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    assert run.info.run_id == first and run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(first, "train_loss")] == [1, 2, 3]
    assert len(client.search_runs([run.info.experiment_id])) == 1


def test_a_missing_extra_is_one_line(small_config, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    paths = small_config("training: {epochs: 1}\nlogging: {mlflow: true}\n")
    with pytest.raises(UserError, match=r"^logging.mlflow needs MLflow: pip install 'nptrain\[mlflow\]'$"):
        run_training(load_config(paths), name="noextra", log=lambda _m: None)


def test_mlflow_fields_are_checked(small_config):
    with pytest.raises(ConfigError, match=r"logging.mlflow.experimnt.*did you mean 'experiment'"):
        load_config(small_config("logging: {mlflow: {experimnt: x}}\n"))
    with pytest.raises(ConfigError, match=r"logging.mlflow: expected true, false or a mapping"):
        load_config(small_config("logging: {mlflow: 3}\n"))


def test_a_foreign_mlflow_record_is_one_line(small_config, tmp_path, monkeypatch):
    """The run directory may come from someone else: its mlflow.json is read bounded and checked on resume."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    paths = small_config("training: {epochs: 2}\nlogging: {mlflow: true}\n")
    part = run_training(load_config(paths), name="part", stop_after_epoch=1, log=lambda _m: None)
    (part / "mlflow.json").write_text('["not", "a", "record"]')
    with pytest.raises(UserError, match=r"mlflow.json: expected a JSON object with the strings run_id and experiment"):
        run_training(load_config(paths), name="part", resume_dir=part, log=lambda _m: None)
    (part / "mlflow.json").write_bytes(b"{" + b" " * (17 << 20) + b"}")
    with pytest.raises(UserError, match=r"mlflow.json: larger than 16 MiB; not a run file"):
        run_training(load_config(paths), name="part", resume_dir=part, log=lambda _m: None)
