"""Faults injected for real into training subprocesses: SIGTERM/SIGINT mid-epoch and mid-validation, a file
system that fills, a loader worker killed with SIGKILL, a training image truncated after ``config check``. Each
asserts the exit status, the one-line message (no traceback, no Python warning) and that resuming reproduces
the uninterrupted run bit for bit.

The faults come from inside the run at a chosen step (a driver script wraps ``set_lr``, called once per step,
or the dataset), so the tests do not depend on timing; the signals are real ``os.kill``s handled by the
process's own handlers, the full disk a real tmpfs where a mount namespace can be made (else ENOSPC raised at
the writer's ``fsync``)."""
from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nptrain.config.loader import load_config
from nptrain.training.engine import run_training

DRIVER = r"""
import os, signal, sys
import nptrain.training.engine as engine
from nptrain.cli.main import main

fault, at = sys.argv[1], int(sys.argv[2])
calls = {"n": 0}

if fault in ("SIGTERM", "SIGINT"):  # a real signal to this process at the step `at`
    set_lr = engine.set_lr
    def counting_set_lr(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == at:
            os.kill(os.getpid(), getattr(signal, fault))
        return set_lr(*args, **kwargs)
    engine.set_lr = counting_set_lr
elif fault == "SIGTERM_VALID":  # during the first validation
    import nptrain.training.validation as validation
    main_output = validation.main_output
    def signalling_main_output(out):
        calls["n"] += 1
        if calls["n"] == at:
            os.kill(os.getpid(), signal.SIGTERM)
        return main_output(out)
    validation.main_output = signalling_main_output
elif fault == "FILL_DISK":  # after epoch `at`'s files: fill the run's file system, or fail its writes
    save_epoch = engine.Trainer._save_epoch
    def filling_save_epoch(self, run_dir, epoch, tb):
        save_epoch(self, run_dir, epoch, tb)
        if epoch == at:
            if os.environ.get("FAKE_ENOSPC"):
                import errno
                def full(fd):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                os.fsync = full
            else:
                with open(run_dir.parents[2] / "ballast", "wb", buffering=0) as fh:
                    try:
                        while True:
                            fh.write(b"\0" * 4096)
                    except OSError:  # full: unbuffered, so closing has nothing left to flush
                        pass
    engine.Trainer._save_epoch = filling_save_epoch
elif fault == "KILL_WORKER":  # a loader worker SIGKILLs itself when it reads sample `at`
    from torch.utils.data import get_worker_info
    from nptrain.data.seeded import SeededDataset
    getitem = SeededDataset.__getitem__
    def dying_getitem(self, item):
        if get_worker_info() is not None and item[0] == at and self.transform is not None:
            os.kill(os.getpid(), signal.SIGKILL)
        return getitem(self, item)
    SeededDataset.__getitem__ = dying_getitem

sys.exit(main(sys.argv[3:]))
"""

STEPS_PER_EPOCH = 22  # 1437 training digits, batch 64, drop_last (tests/training/conftest.py)


def _drive(tmp_path: Path, fault: str, at: int, argv: list[str], prefix: list[str] = ()) -> subprocess.CompletedProcess:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    return subprocess.run([*prefix, sys.executable, str(script), fault, str(at), *argv], capture_output=True,
                          text=True, timeout=300)


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The error stderr ends with: exactly one ``nptrain: error:`` line, no traceback, no Python warning."""
    err = proc.stderr
    assert "Traceback" not in err and "Warning:" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("nptrain: error:")]
    assert len(errors) == 1, err
    return errors[0]


def _same_weights(a: Path, b: Path) -> None:
    x, y = (load_file(str(d / "weights" / "last.safetensors")) for d in (a, b))
    assert x.keys() == y.keys()
    assert all(torch.equal(x[k], y[k]) for k in x), [k for k in x if not torch.equal(x[k], y[k])][:3]


def _same_rows(a: Path, b: Path) -> None:
    """results.csv of both runs equal except the timing columns."""
    def rows(d: Path) -> list[dict[str, str]]:
        import csv

        with open(d / "results.csv") as fh:
            return [{k: v for k, v in r.items() if k not in ("time_s", "train_img_per_s")} for r in csv.DictReader(fh)]

    assert rows(a) == rows(b)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, digits_dir) -> Path:
    """The small digits run trained without a fault, once for the module: none of the settings the tests add
    (workers, cache, extra checkpoint files) changes what it trains."""
    from tests.training.conftest import SMALL_CONFIG

    work = tmp_path_factory.mktemp("uninterrupted")
    config = work / "small.yaml"
    config.write_text(SMALL_CONFIG.format(data=digits_dir, out=work / "runs"))
    return run_training(load_config([str(config)]), name="full", log=lambda _m: None)


@pytest.fixture
def full_run(small_config, uninterrupted):
    """(config paths of ``small_config(extra)``, the uninterrupted run's directory)."""
    def _full(extra: str = "", name: str = "small") -> tuple[list[str], Path]:
        return small_config(extra, name=name), uninterrupted

    return _full


def _resume(paths: list[str], part: Path) -> Path:
    assert run_training(load_config(paths), name="part", resume_dir=part, log=lambda _m: None) == part
    return part


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [("SIGTERM", 143), ("SIGINT", 130)])
def test_signal_mid_epoch_saves_the_step_and_resumes_bit_identical(full_run, tmp_path, sig, code):
    paths, full = full_run()
    at = STEPS_PER_EPOCH + 8  # epoch 2, during step 8: the step finishes, the state after it is saved
    proc = _drive(tmp_path, sig, at, ["run", *paths, "--name", "part"])
    assert proc.returncode == code, proc.stderr
    line = _one_line_error(proc)
    part = next((tmp_path / "runs").rglob("part"))
    assert line == (f"nptrain: error: stopped by {sig} at epoch 2 step 8/{STEPS_PER_EPOCH}: the state is saved "
                    f"(weights/last_optimizer.pt, at epoch 2 step 8/{STEPS_PER_EPOCH}); continue with: "
                    f"nptrain run --resume {part}")
    state = torch.load(part / "weights" / "last_optimizer.pt", weights_only=True)
    assert state["epoch"] == 1 and state["progress"][0]["step"] == 8 and len(state["history"]) == 1
    assert not list((part / "weights").glob(".*.tmp")) and not (part / "summary.json").exists()
    _same_weights(full, _resume(paths, part))
    _same_rows(full, part)
    assert (part / "summary.json").is_file()


@pytest.mark.slow
def test_sigterm_during_validation_keeps_the_epochs_training(full_run, tmp_path):
    """A signal while validating abandons the validation, not the epoch: the resume point is the epoch's last
    step and resuming validates it."""
    paths, full = full_run()
    proc = _drive(tmp_path, "SIGTERM_VALID", 2, ["run", *paths, "--name", "part"])
    assert proc.returncode == 143, proc.stderr
    line = _one_line_error(proc)
    assert f"stopped by SIGTERM at epoch 1 step {STEPS_PER_EPOCH}/{STEPS_PER_EPOCH}" in line
    part = next((tmp_path / "runs").rglob("part"))
    assert not (part / "results.csv").exists()  # epoch 1 never finished its validation
    _same_weights(full, _resume(paths, part))
    _same_rows(full, part)


SECOND_SIGNAL = r"""
import os, signal, sys, time
from nptrain.training.stop_signals import StopSignals, REPEAT_S

stop = StopSignals()
stop.install()
os.kill(os.getpid(), signal.SIGINT)
os.kill(os.getpid(), signal.SIGINT)  # the same Ctrl-C delivered twice (terminal and torchrun's agent)
print("asked", stop.signum, flush=True)
time.sleep(REPEAT_S + 0.2)
os.kill(os.getpid(), signal.SIGTERM)  # a second request: the default action at once
time.sleep(5)
print("still alive", flush=True)
"""


def test_a_second_signal_exits_at_once(tmp_path):
    script = tmp_path / "second.py"
    script.write_text(SECOND_SIGNAL)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["asked", str(int(signal.SIGINT))]
    assert proc.returncode == -signal.SIGTERM


def _tmpfs_prefix(tmp_path: Path, size_kb: int) -> list[str] | None:
    """A command prefix that runs its command with ``tmp_path/mnt`` a fresh tmpfs of ``size_kb`` (a private
    mount namespace, so no root is needed where user namespaces are allowed), or None where it cannot."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    probe = subprocess.run([unshare, "-rm", "sh", "-c", f"mount -t tmpfs -o size={size_kb}k tmpfs {mnt}"],
                           capture_output=True)
    if probe.returncode != 0:
        return None
    return [unshare, "-rm", "sh", "-c", f'mount -t tmpfs -o size={size_kb}k tmpfs {mnt} && "$0" "$@"; rc=$?; '
            f'cp -a {mnt}/runs {tmp_path}/kept 2>/dev/null; exit $rc']


@pytest.mark.slow
@pytest.mark.parametrize("real", [True, False], ids=["tmpfs", "enospc_at_fsync"])
def test_a_full_disk_names_the_file_keeps_the_checkpoint_and_resumes(full_run, tmp_path, real, monkeypatch):
    paths, full = full_run("logging: {model_save_options: {save_checkpoint_epoch: 1}}")
    out = tmp_path / "mnt" / "runs"
    argv = ["run", *paths, "--name", "part", f"logging.output_dir={out}"]
    if real:
        prefix = _tmpfs_prefix(tmp_path, 4096)
        if prefix is None:
            pytest.skip("no private tmpfs here (unshare -rm and mount refused); the fsync variant covers the path")
        proc = _drive(tmp_path, "FILL_DISK", 1, argv, prefix=prefix)
        kept = tmp_path / "kept"  # the tmpfs is gone with its namespace: the driver's shell copied it out
    else:
        monkeypatch.setenv("FAKE_ENOSPC", "1")
        proc = _drive(tmp_path, "FILL_DISK", 1, argv)
        kept = out
    assert proc.returncode == 3, proc.stderr
    line = _one_line_error(proc)
    part = out / "classification" / "part"
    pattern = (rf"nptrain: error: {re.escape(str(part))}/(weights/)?[\w.]+: cannot write: No space left on device "
               rf"\([\d.]+ [KMGT]?B free there\); the last complete checkpoint \(weights/last_optimizer.pt, after epoch 1\) "
               rf"is intact; free some space, then continue with: nptrain run --resume {re.escape(str(part))}")
    assert re.fullmatch(pattern, line), line
    kept_part = kept / "classification" / "part"
    assert not list((kept_part / "weights").glob(".*.tmp"))  # no partial file where a complete one was
    assert torch.load(kept_part / "weights" / "last_optimizer.pt", weights_only=True)["epoch"] == 1
    _same_weights(full, _resume(paths, kept_part))
    _same_rows(full, kept_part)


@pytest.mark.slow
def test_a_killed_loader_worker_is_one_line_and_the_step_resumes(full_run, tmp_path):
    paths, full = full_run("environment: {num_workers: 2, cache_data: false}")
    proc = _drive(tmp_path, "KILL_WORKER", 700, ["run", *paths, "--name", "part"])
    assert proc.returncode == 3, proc.stderr
    line = _one_line_error(proc)
    part = next((tmp_path / "runs").rglob("part"))
    assert re.fullmatch(
        r"nptrain: error: data loader worker \(pid \d+\) (was killed by signal Killed|exited unexpectedly) at epoch 1 "
        rf"step \d+/{STEPS_PER_EPOCH} \(often the out-of-memory killer\): try environment.num_workers: 0 or fewer "
        r"workers, or a smaller batch_size; the state at this step is saved \(weights/last_optimizer.pt, at epoch 1 "
        rf"step \d+/{STEPS_PER_EPOCH}\), then continue with: nptrain run --resume {re.escape(str(part))}", line), line
    _same_weights(full, _resume(paths, part))
    _same_rows(full, part)


@pytest.fixture
def own_digits(tmp_path, digits_dir):
    """A copy of the digits folders this test may damage, and one training image in it."""
    data = tmp_path / "digits"
    shutil.copytree(digits_dir, data)
    return data, sorted((data / "train").rglob("*.png"))[100]


def _truncate(image: Path) -> bytes:
    whole = image.read_bytes()
    image.write_bytes(whole[: len(whole) // 2])  # the header still reads: only decoding finds it
    return whole


@pytest.mark.slow
def test_an_image_truncated_after_config_check_stops_with_its_path_and_resumes(full_run, own_digits, tmp_path):
    data, image = own_digits
    paths, full = full_run("environment: {cache_data: false}")
    over = [f"data.path.train.image={data}/train", f"data.path.valid.image={data}/valid"]
    check = subprocess.run([sys.executable, "-m", "nptrain", "config", "check", *paths, *over],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    whole = _truncate(image)
    proc = _drive(tmp_path, "NONE", 0, ["run", *paths, *over, "--name", "part"])
    assert proc.returncode == 2, proc.stderr
    line = _one_line_error(proc)
    part = next((tmp_path / "runs").rglob("part"))
    assert re.fullmatch(rf"nptrain: error: cannot read image {re.escape(str(image))}: OSError: .+ at epoch 1 step "
                        rf"\d+/{STEPS_PER_EPOCH}; the state at this step is saved \(weights/last_optimizer.pt, at epoch 1 "
                        rf"step \d+/{STEPS_PER_EPOCH}\); fix or remove the file, or set data.on_bad_file: skip, then "
                        rf"continue with: nptrain run --resume {re.escape(str(part))}", line), line
    image.write_bytes(whole)  # the user fixes the file
    _same_weights(full, _resume(paths, part))  # resuming needs no overrides: the run's config.yaml has them
    _same_rows(full, part)


@pytest.mark.slow
def test_on_bad_file_skip_goes_on_and_counts_the_file(small_config, own_digits, tmp_path):
    data, image = own_digits
    _truncate(image)
    paths = small_config(f"""
        data: {{on_bad_file: skip, path: {{train: {{image: {data}/train}}, valid: {{image: {data}/valid}}}}}}
        environment: {{cache_data: false}}
        """)
    lines: list[str] = []
    run_dir = run_training(load_config(paths), name="skip", log=lines.append)
    import json

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["bad_files"]["skipped_reads"] == 2  # once per epoch
    assert len(summary["bad_files"]["files"]) == 1 and str(image) in summary["bad_files"]["files"][0]
    said = [line for line in lines if line.startswith("skipped an unreadable training image")]
    assert len(said) == 1 and str(image) in said[0]  # said once, counted each time
    assert summary["best"]["value"] > 0.5  # it trained on the rest


def test_on_bad_file_skip_with_cache_data_drops_the_file_at_start(small_config, own_digits):
    data, image = own_digits
    _truncate(image)
    paths = small_config(f"""
        data: {{on_bad_file: skip, path: {{train: {{image: {data}/train}}, valid: {{image: {data}/valid}}}}}}
        training: {{epochs: 1}}
        """)
    run_dir = run_training(load_config(paths), name="skipc", log=lambda _m: None)
    import json

    assert json.loads((run_dir / "summary.json").read_text())["bad_files"]["skipped_reads"] == 1


def test_nan_loss_is_one_line_without_a_warning(small_config, tmp_path):
    paths = small_config("training: {optimizer: {name: sgd, lr: 1.0e+12}}")
    proc = subprocess.run([sys.executable, "-m", "nptrain", "run", *paths], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2
    line = _one_line_error(proc)
    assert re.fullmatch(r"nptrain: error: loss became (nan|inf) at epoch \d+ step \d+; lower training.optimizer.lr", line)
    assert "warning" not in proc.stderr.lower()


def test_warnings_are_one_line_each_said_once(capsys):
    import warnings

    from nptrain.warning_lines import one_line_warnings

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        one_line_warnings()
        for _ in range(3):
            warnings.warn("Converting a tensor with requires_grad=True to a scalar may lead to unexpected behavior.\n"
                          "Consider using tensor.detach() first. (Triggered internally at x.cpp:822.)", UserWarning)
    err = capsys.readouterr().err.splitlines()
    assert err == ["nptrain: warning: Converting a tensor with requires_grad=True to a scalar may lead to unexpected "
                   "behavior. Consider using tensor.detach() first. [UserWarning from test_run_faults.py]"]


def test_low_space_is_warned_before_training(monkeypatch, small_config):
    import nptrain.training.run_faults as faults

    monkeypatch.setattr(faults, "free_bytes", lambda _p: 1000)
    lines: list[str] = []
    run_training(load_config(small_config("training: {epochs: 1}")), name="low", log=lines.append)
    warned = [line for line in lines if line.startswith("warning:") and "free on the file system" in line]
    assert len(warned) == 1
    assert re.search(r"1000 B free on the file system of .+, and this run's checkpoints and exports need about "
                     r"[\d.]+ MB", warned[0]), warned[0]


DDP_WORKER = r"""
import os, signal, sys
from pathlib import Path

import torch
import torch.multiprocessing as mp


def worker(rank, world, port, phase, paths, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import torch.distributed as dist
    import nptrain.training.engine as engine
    from nptrain.config.loader import load_config
    from nptrain.errors import RunInterrupted

    def train(name, resume=None):
        trainer = engine.Trainer(load_config(paths), name=name, resume_dir=resume, log=lambda _m: None)
        try:
            trainer.fit()
            return "finished"
        except RunInterrupted as exc:
            return f"{exc.exit_code} {exc}"

    if phase == "first":  # the uninterrupted run, then the one stopped by a signal, in the same processes
        Path(out, f"full{rank}.txt").write_text(train("full"))
        if rank == 1:  # only rank 1 is signalled: rank 0 must stop at the same step and write
            set_lr, calls = engine.set_lr, {"n": 0}
            def signalling(*a, **k):
                calls["n"] += 1
                if calls["n"] == 15:
                    os.kill(os.getpid(), signal.SIGTERM)
                return set_lr(*a, **k)
            engine.set_lr = signalling
        Path(out, f"stop{rank}.txt").write_text(train("part"))
    else:
        Path(out, f"resume{rank}.txt").write_text(train("part", Path(out) / "runs" / "classification" / "part"))
    dist.destroy_process_group()


if __name__ == "__main__":
    port, phase, out, *paths = sys.argv[1:]
    mp.start_processes(worker, args=(2, int(port), phase, paths, out), nprocs=2, join=True, start_method="spawn")
"""


@pytest.mark.slow
def test_sigterm_under_ddp_stops_every_rank_at_one_step_and_resumes(small_config, tmp_path):
    import socket

    paths = small_config("environment: {deterministic: false}")
    script = tmp_path / "ddp_worker.py"
    script.write_text(DDP_WORKER)
    for phase in ("first", "resume"):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        subprocess.run([sys.executable, str(script), str(port), phase, str(tmp_path), *paths], check=True, timeout=300)
        if phase == "first":
            state = torch.load(tmp_path / "runs/classification/part/weights/last_optimizer.pt", weights_only=True)
            assert [p["step"] for p in state["progress"]] == [4, 4]  # every rank's running sums, rank 0 wrote
    for phase in ("full", "stop", "resume"):
        said = [(tmp_path / f"{phase}{r}.txt").read_text() for r in (0, 1)]
        if phase == "stop":
            steps = 11  # 1437 images over 2 ranks, batch 64: 11 steps an epoch; rank 1's step 15 is epoch 2 step 4
            assert said[0] == said[1], said  # both ranks stopped after the same step, with the same message
            assert said[0].startswith(f"143 stopped by SIGTERM at epoch 2 step 4/{steps}: the state is saved"), said
        else:
            assert said == ["finished", "finished"], said
    runs = tmp_path / "runs" / "classification"
    _same_weights(runs / "full", runs / "part")
    _same_rows(runs / "full", runs / "part")
