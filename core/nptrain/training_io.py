"""Atomic file writes: a crash or kill mid-write never leaves a truncated file in place.

Written files get the permissions of any other new file (``0666`` less the umask), not the
``0600`` of a temporary file; temporary files a killed write left behind are removed by the next
write of the same file (and, for run directories, on ``--resume``).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

TEMP_SUFFIX = ".tmp"


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux), so no other thread
    ever creates a file under a temporarily cleared umask."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_prefix(path: Path) -> str:
    return f".{path.name}."


def remove_stale_temps(path: Path) -> int:
    """Delete the temporary files earlier writes of ``path`` left behind (a kill between create and
    rename); one process writes a given file, so none of them is still in use. Returns the count."""
    removed = 0
    prefix = temp_prefix(path)
    try:
        entries = list(os.scandir(path.parent))
    except FileNotFoundError:
        return 0
    for entry in entries:
        middle = entry.name[len(prefix):-len(TEMP_SUFFIX)]
        # mkstemp's 8 random characters: not the temporaries of another file such as NAME.bak
        if entry.name.startswith(prefix) and entry.name.endswith(TEMP_SUFFIX) and len(middle) == 8 \
                and "." not in middle and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def remove_temps_in(folder: Path) -> int:
    """Delete every ``.*.tmp`` (and matplotlib's ``.*.tmp.png``) file directly inside ``folder``:
    leftovers of writes killed mid-way, for a folder one run owns (``--resume``)."""
    removed = 0
    if not folder.is_dir():
        return 0
    for entry in os.scandir(folder):
        if entry.name.startswith(".") and entry.name.endswith((TEMP_SUFFIX, TEMP_SUFFIX + ".png")) \
                and entry.is_file(follow_symlinks=False):
            os.unlink(entry.path)
            removed += 1
    return removed


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then ``os.replace`` over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        # mkstemp creates 0600; the file should read like any other output the user writes
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.filename in (None, tmp):  # a failed write() names no file: name the one being written
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
