"""Two CPU processes (gloo): identical weights on both ranks, and reduced validation metrics equal a
single-process evaluation of those weights."""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest
import torch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


WORKER = """
import os, sys
from pathlib import Path

import torch
import torch.multiprocessing as mp


def worker(rank, world, port, paths, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import torch.distributed as dist

    from nptrain.config.loader import load_config
    from nptrain.training.engine import Trainer

    trainer = Trainer(load_config(paths), name="ddp", log=lambda _m: None)
    trainer.fit()
    torch.save({"model": trainer.model.state_dict(), "row": trainer.history[-1]}, Path(out) / f"rank{rank}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    port, out, *paths = sys.argv[1:]
    mp.start_processes(worker, args=(2, int(port), paths, out), nprocs=2, join=True, start_method="spawn")
"""


@pytest.mark.slow
def test_two_process_ddp(small_config, tmp_path):
    paths = small_config("training: {epochs: 1}\nenvironment: {deterministic: false}\n")
    # spawned children must import the worker: it lives in a script, not in this (importlib-loaded) module
    script = tmp_path / "ddp_worker.py"
    script.write_text(WORKER)
    subprocess.run([sys.executable, str(script), str(_free_port()), str(tmp_path), *paths], check=True, timeout=120)
    r0 = torch.load(tmp_path / "rank0.pt")
    r1 = torch.load(tmp_path / "rank1.pt")
    assert r0["model"].keys() == r1["model"].keys()
    assert all(torch.equal(r0["model"][k], r1["model"][k]) for k in r0["model"])
    timing = {"time_s", "train_img_per_s"}
    assert {k: v for k, v in r0["row"].items() if k not in timing} == \
        {k: v for k, v in r1["row"].items() if k not in timing}  # both ranks hold the same reduced metrics
    # only rank 0 wrote a run directory
    runs = list((tmp_path / "runs" / "classification").iterdir())
    assert [p.name for p in runs] == ["ddp"]

    # single process evaluation of the same weights on the whole validation split
    from nptrain.config.loader import load_config
    from nptrain.data.loader import make_loader
    from nptrain.modeling.builder import build_loss
    from nptrain.training.validation import evaluate
    from nptrain.training.setup import build_data, build_task_model, make_task_metric

    loaded = load_config(paths)
    data = build_data(loaded, need_train=False)
    model = build_task_model(loaded, len(data.classes))
    model.load_state_dict(r0["model"])
    loader = make_loader(data.valid, batch_size=64, shuffle=False, seed=1, num_workers=0)
    single = evaluate(model, loader, build_loss(loaded.resolved), make_task_metric(loaded, 10), loaded.task_spec,
                      torch.device("cpu"))
    assert r0["row"]["valid_top1_accuracy"] == single["top1_accuracy"]
    assert r0["row"]["valid_top5_accuracy"] == single["top5_accuracy"]
    assert r0["row"]["valid_loss"] == pytest.approx(single["loss"], rel=1e-5)
