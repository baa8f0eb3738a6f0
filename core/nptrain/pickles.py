"""When nptrain may unpickle a file: only one this command line names, or any after ``--trust-pickle``.

A pickle (``torch.load(weights_only=False)``) runs code from the file while it loads. Run
directories, configs and zoo entries may come from someone else, so a ``.pt`` that only a config or a
run directory points at is refused until the user opts in. Commands set the policy for their
duration with :func:`trust_pickles`; Python callers do the same (``with trust_pickles(): ...``).
The default, outside any such block, trusts nothing.
"""
from __future__ import annotations

import contextlib
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional
from nptrain.errors import UserError

# (trust every pickle, real paths of the pickles the command line named)
_POLICY: ContextVar[tuple[bool, frozenset[str]]] = ContextVar("nptrain_pickle_policy", default=(False, frozenset()))

TRUST_FLAG = "--trust-pickle"
TRUST_HELP = ("allow unpickling torch.fx .pt files that a config or run directory points at "
              "(runs code from the file: only for files you trust)")


def _real(path: str | Path) -> str:
    return os.path.realpath(os.path.expanduser(str(path)))


@contextlib.contextmanager
def trust_pickles(paths: Optional[Iterable[str | Path]] = None) -> Iterator[None]:
    """Within the block, allow unpickling ``paths`` (the files a command line named), or every
    pickle when ``paths`` is None (``--trust-pickle``)."""
    token = _POLICY.set((True, frozenset()) if paths is None else (False, frozenset(_real(p) for p in paths)))
    try:
        yield
    finally:
        _POLICY.reset(token)


def command_pickles(trust_all: bool, named: Iterable[str | Path] = ()) -> contextlib.AbstractContextManager:
    """The policy of one command: everything with ``--trust-pickle``, else only the files it named."""
    return trust_pickles(None if trust_all else list(named))


def named_in_overrides(overrides: Iterable[str], field: str = "model.fx_model_checkpoint") -> list[str]:
    """Values of ``field=VALUE`` overrides: a path typed on the command line counts as named."""
    prefix = field + "="
    return [o[len(prefix):] for o in overrides if o.startswith(prefix) and o[len(prefix):]]


def trusted(path: str | Path) -> bool:
    trust_all, named = _POLICY.get()
    return trust_all or _real(path) in named


def refusal(path: str | Path, alternative: str) -> str:
    """The message of a refused pickle: what it is, how to opt in, what to use instead."""
    return (f"{path} is a pickle (loading it runs code from the file); nptrain unpickles only files the "
            f"command line names: pass {TRUST_FLAG} if you trust it, or {alternative}")


def load_graph_module(path: str | Path, *, refuse: Callable[[str], Exception], log: Callable[[str], None] = print):
    """Unpickle the torch.fx GraphModule at ``path`` when the policy allows it; otherwise raise
    ``refuse(message)`` (a located config error or a plain UserError, the caller's choice)."""
    import torch

    p = Path(path).expanduser()
    if not trusted(p):
        raise refuse(refusal(p, "use the weights-only model.safetensors that nptrain compress wrote beside it"))
    if not p.is_file():
        raise UserError(f"torch.fx model not found: {p}")
    log(f"note: unpickling the fx model {p} with torch.load(weights_only=False) (runs code from the file)")
    try:
        obj = torch.load(str(p), map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file: say which one
        raise UserError(f"cannot read {p}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}") from None
    if not isinstance(obj, torch.fx.GraphModule):
        raise UserError(f"{p} holds a {type(obj).__name__}, not a torch.fx GraphModule")
    return obj
