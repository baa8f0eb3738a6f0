"""``nptrain run CONFIG... [key=value...] [--resume RUN_DIR] [--nproc N]``.

The work is :func:`nptrain.api.train.train` (``nptrain.train`` in Python); this module parses the
command line. Relative paths inside configs (data folders, checkpoints, output_dir) are resolved against the
current directory. ``--nproc N`` re-launches the same command under
``torch.distributed.run`` (torchrun) with N processes; ``torchrun -m nptrain run ...`` works directly.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys

from nptrain.pickles import TRUST_HELP
from nptrain.api.train import train
from nptrain.cli.cmd_config import split_items


def add_arguments(parser: argparse.ArgumentParser, *, remainder: bool = True) -> None:
    # REMAINDER + a second intermixed parse in run(): options may come after the config/overrides
    parser.add_argument("items", nargs=argparse.REMAINDER if remainder else "*", metavar="CONFIG|key=value",
                        help="config files (merged in order) then overrides like training.epochs=5")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint "
                        "(config defaults to RUN_DIR/config.yaml; overrides such as training.epochs=20 apply)")
    parser.add_argument("--nproc", type=int, default=1, metavar="N",
                        help="train with N processes via torchrun (DDP; gloo on CPU, nccl on CUDA)")
    parser.add_argument("--name", help="run name (default: logging.run_name, else model.name, else the config file's stem)")
    parser.add_argument("--trust-pickle", action="store_true", help=TRUST_HELP)


def _launch_torchrun(args: argparse.Namespace) -> int:
    argv = [a for a in sys.argv[1:]]
    # drop --nproc N / --nproc=N so the children run single-rank code paths under torchrun
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--nproc":
            skip = True
            continue
        if a.startswith("--nproc="):
            continue
        out.append(a)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}",
           "-m", "nptrain", *out]
    print("launching:", " ".join(cmd), flush=True)
    child = subprocess.Popen(cmd)
    got: list[int] = []

    def forward(signum: int, _frame: object) -> None:  # SIGTERM reaches this process only: pass it on
        got.append(signum)
        child.send_signal(signum)

    old = signal.signal(signal.SIGTERM, forward)
    try:
        while True:
            try:
                rc = child.wait()
                break
            except KeyboardInterrupt:  # Ctrl-C reached the ranks too (one process group): wait while they save
                got.append(signal.SIGINT)
    finally:
        signal.signal(signal.SIGTERM, old)
    # torchrun reports a rank's failure as 1: a run stopped by a signal exits as the signal says (130, 143)
    return 128 + int(got[0]) if got and rc != 0 else rc


def _reparse(args: argparse.Namespace) -> argparse.Namespace:
    """Options given after the first config path landed in ``items``: parse them properly."""
    sub = argparse.ArgumentParser(prog="nptrain run", add_help=False)
    add_arguments(sub, remainder=False)
    others = {k: v for k, v in vars(args).items() if k != "items"}
    sub.set_defaults(**others)
    # the namespace must not carry ``items`` already: with none given (``run --resume RUN_DIR``)
    # argparse warns "Do not expect items in Namespace(...)"
    return sub.parse_intermixed_args(args.items, namespace=argparse.Namespace(**others))


def run(args: argparse.Namespace) -> int:
    # lazy: layer (README map: cli/ may not import training)
    from nptrain.training.threads import set_spin_env

    set_spin_env()  # before torch loads: OpenMP reads its wait policy once (docs/training.md#speed)
    args = _reparse(args)
    if args.nproc > 1 and int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return _launch_torchrun(args)

    paths, overrides = split_items(args.items)
    train(paths, overrides, name=args.name, resume=args.resume, trust_pickle=args.trust_pickle)
    return 0
