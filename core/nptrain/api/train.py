"""``nptrain.train`` / ``nptrain run``: validate the configs, build, train, evaluate and export.

``on_epoch_end(row)`` is called on rank 0 after each epoch with that epoch's numbers (``epoch``,
``train_loss``, ``valid_<metric>``, ``lr``, ``time_s``, ...), for progress in notebooks; ``quiet``
silences the run's own lines (warnings that need the user still reach ``warnings``/stderr).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Union

from nptrain.api.runs import Run
from nptrain.errors import UserError
from nptrain.pickles import command_pickles, named_in_overrides

PathLike = Union[str, Path]
EpochCallback = Callable[[dict[str, Any]], None]


def override_texts(overrides: Union[Mapping[str, Any], Sequence[str], None]) -> list[str]:
    """``{"training.epochs": 5}`` or ``["training.epochs=5"]`` → the command line's ``key=value`` texts
    (values written as JSON, which YAML reads back as the same value)."""
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        out = []
        for key, value in overrides.items():
            if not isinstance(key, str) or not key or "=" in key:
                raise UserError(f"override key {key!r}: expected a dotted field name such as 'training.epochs'")
            out.append(f"{key}={json.dumps(value, default=str)}")
        return out
    if isinstance(overrides, str):
        raise UserError(f"overrides: expected a mapping or a list of 'key=value' strings, got the string {overrides!r}")
    bad = [o for o in overrides if not isinstance(o, str) or "=" not in o]
    if bad:
        raise UserError(f"override {bad[0]!r}: expected 'key=value' (e.g. 'training.epochs=5')")
    return list(overrides)


def _config_paths(config: Union[PathLike, Sequence[PathLike], None]) -> list[str]:
    if config is None:
        return []
    if isinstance(config, (str, Path)):
        return [str(config)]
    return [str(c) for c in config]


def train(config: Union[PathLike, Sequence[PathLike], None] = None,
          overrides: Union[Mapping[str, Any], Sequence[str], None] = None, *, name: Optional[str] = None,
          resume: Union[Run, PathLike, None] = None, trust_pickle: bool = False,
          on_epoch_end: Optional[EpochCallback] = None, quiet: bool = False,
          log: Optional[Callable[[str], None]] = None) -> Optional[Run]:
    """Train from ``config`` (one YAML path or several, merged in order) with ``overrides`` applied
    last, as ``nptrain run`` does; returns the :class:`Run` it wrote. ``resume`` continues a run
    directory from its last checkpoint (its ``config.yaml`` when ``config`` is None). Under torchrun,
    ranks other than 0 write nothing and get None."""
    # lazy: layer (README map: api/ may not import training)
    from nptrain.training.threads import set_spin_env

    if "torch" not in sys.modules:  # as nptrain run does: OpenMP reads its wait policy once, when torch loads
        set_spin_env()
    # lazy: torch, ruamel; layer (README map: api/ may not import training)
    from nptrain.config.loader import load_config
    from nptrain.modeling.builder import check_buildable
    from nptrain.training.outputs import run_name_problem

    say: Callable[[str], None] = (lambda _m: None) if quiet else (log or _print)
    texts = override_texts(overrides)
    paths = _config_paths(config)
    if name is not None and run_name_problem(name):
        raise UserError(f"--name {name!r} {run_name_problem(name)}; "
                        "the run directory is <logging.output_dir>/<task>/<name>")
    resume_dir = Path(resume.dir if isinstance(resume, Run) else resume) if resume is not None else None
    if resume_dir is not None:
        if not (resume_dir / "weights" / "last_optimizer.pt").is_file():
            raise UserError(f"--resume {resume_dir}: no weights/last_optimizer.pt there (not a run directory?)")
        if not paths:
            paths = [str(resume_dir / "config.yaml")]
    if not paths:
        raise UserError("no config file given (nptrain run CONFIG.yaml)")
    loaded = load_config(paths, texts, for_run=True)
    check_buildable(loaded.resolved)  # as config check does: refused params fail before anything is written
    note = loaded.netspresso.user_note()
    if note and os.environ.get("RANK", "0") == "0":
        say(note)
    run_name = name or loaded.run.logging.run_name or loaded.model.name or Path(paths[-1]).stem
    if resume_dir is None and run_name_problem(run_name):
        if not name and not loaded.run.logging.run_name and loaded.model.name:
            raise loaded.located.error(("model", "name"), f"{run_name_problem(run_name)}, so it cannot name the run "
                                       "directory; pass --name NAME")
        raise UserError(f"run name {run_name!r} (from {paths[-1]}) {run_name_problem(run_name)}; pass --name NAME")
    if resume_dir is not None:
        run_name = resume_dir.name
    # lazy: torch
    from nptrain.training.engine import run_training

    with command_pickles(trust_pickle, named_in_overrides(texts)):
        run_dir = run_training(loaded, name=run_name, resume_dir=resume_dir, log=say, on_epoch_end=on_epoch_end,
                               progress_bars=not quiet)
    return Run(run_dir) if run_dir is not None else None


def _print(message: str) -> None:
    print(message, flush=True)
