"""What a run says when the machine fails it (a full disk; a dead loader worker is ``nptrain.data.loader``'s),
and the free-space check before training. Each message is one line naming what failed, what is intact and the exact command that
continues (docs/training.md#faults)."""
from __future__ import annotations

import errno
import shlex
import shutil
from pathlib import Path
from typing import Optional

from nptrain.errors import RunStopped

# errors of a write that more room (or a larger limit) would have let through
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
# extra room for results.csv/png, pictures, TensorBoard events and summary.json
EXTRA_BYTES = 16 * 2**20


def resume_command(run_dir: Path) -> str:
    return f"nptrain run --resume {shlex.quote(str(run_dir))}"


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def free_bytes(path: Path) -> Optional[int]:
    """Free space on the file system holding ``path`` (or its nearest existing parent)."""
    path = Path(path).absolute()
    for candidate in (path, *path.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def is_disk_fault(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_ERRNOS


def disk_fault(exc: OSError, run_dir: Optional[Path], saved: Optional[str]) -> RunStopped:
    """``exc`` (ENOSPC, EDQUOT, EFBIG) while writing a run file, as one line: the file, the free space, the last
    complete checkpoint and how to continue."""
    target = Path(exc.filename) if exc.filename else None
    free = free_bytes(target.parent if target is not None else (run_dir or Path(".")))
    what = f"{target}: cannot write" if target is not None else "cannot write a run file"
    room = f" ({human_bytes(free)} free there)" if free is not None else ""
    limit = "; a file size limit is set (ulimit -f)" if exc.errno == errno.EFBIG else ""
    if run_dir is None:
        return RunStopped(f"{what}: {exc.strerror}{room}{limit}; nothing was trained yet: free some space and run again")
    kept = f"the last complete checkpoint ({saved}) is intact" if saved else "no checkpoint was complete yet"
    return RunStopped(f"{what}: {exc.strerror}{room}{limit}; {kept}; free some space, then continue with: "
                      f"{resume_command(run_dir)}")


def estimate_run_bytes(model_bytes: int, *, weight_files: int, exports: int, ema: bool) -> int:
    """Bytes the run's files take at most at once: ``weight_files`` safetensors copies of the model, the training
    state (model, two optimizer moments, EMA), ``exports`` exported copies, and room for records."""
    state = model_bytes * (3 + (1 if ema else 0))
    # an atomic write holds the old and the new file for a moment: the largest one counts twice
    return model_bytes * (weight_files + exports) + state * 2 + EXTRA_BYTES


def low_space_warning(run_dir: Path, need: int) -> Optional[str]:
    free = free_bytes(run_dir)
    if free is None or free >= need:
        return None
    return (f"warning: {human_bytes(free)} free on the file system of {run_dir}, and this run's checkpoints and "
            f"exports need about {human_bytes(need)}: it may stop when the disk fills (its last complete "
            "checkpoint stays intact)")
