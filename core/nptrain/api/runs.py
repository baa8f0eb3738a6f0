""":class:`Run`: a run directory as Python sees it (``nptrain.train`` returns one; every other API
function accepts one or a path)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union
import csv
import io

from nptrain.errors import UserError
from nptrain.run_files import read_run_text, read_summary
from nptrain.run_files import read_classes


class Run:
    """A run directory ``runs/<task>/<name>``. ``summary``, ``best``, ``metrics`` and ``history`` are
    read from its files on each access, so a Run stays true while a resumed session adds epochs."""

    def __init__(self, dir: Union[str, Path]) -> None:  # noqa: A002 - ``run.dir`` is the documented name
        self.dir = Path(dir)
        if not (self.dir / "config.yaml").is_file():
            raise UserError(f"{self.dir}: not a run directory (no config.yaml)")

    def __repr__(self) -> str:
        return f"Run({str(self.dir)!r})"

    def __fspath__(self) -> str:
        return str(self.dir)

    @property
    def summary(self) -> dict[str, Any]:
        """``summary.json`` ({} until the run's last epoch has finished)."""
        return read_summary(self.dir)

    @property
    def task(self) -> str:
        return str(self.summary.get("task") or _config_task(self.dir))

    @property
    def classes(self) -> list[str]:
        return read_classes(self.dir)

    @property
    def best(self) -> Optional[dict[str, Any]]:
        """The best epoch: ``{"epoch", "key" (e.g. valid_top1_accuracy), "value", "metrics", ...}``;
        None before any validation."""
        best = self.summary.get("best")
        return best if isinstance(best, dict) else None

    @property
    def metrics(self) -> dict[str, float]:
        """The best epoch's validation metrics without the ``valid_`` prefix (``top1_accuracy``,
        ``loss``, ``mIoU``, ``mAP50_95``, ...): the numbers of ``weights/best.safetensors``, which
        evaluate, predict and export use by default."""
        best = self.best or {}
        return {k[len("valid_"):]: float(v) for k, v in (best.get("metrics") or {}).items()
                if isinstance(v, (int, float))}

    @property
    def history(self) -> list[dict[str, float]]:
        """One row per epoch, as in ``results.csv`` (empty when the run writes no CSV)."""
        text = read_run_text(self.dir, "results.csv")  # bounded: the run may come from someone else
        if text is None:
            return []
        return [{k: _number(v) for k, v in row.items() if k is not None}
                for row in csv.DictReader(io.StringIO(text, newline=""))]


def _number(text: Optional[str]) -> Any:
    """A CSV cell as the number it was written from (``epoch`` stays an int), None when empty."""
    if text in (None, ""):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _config_task(run_dir: Path) -> str:
    # lazy: ruamel
    from nptrain.config.loader import load_config

    return load_config([str(run_dir / "config.yaml")], ["model.checkpoint=null"], check_files=False).model.task


def run_dir_of(run: Union["Run", str, Path]) -> Path:
    """The directory of a :class:`Run` or path, checked to be a run directory."""
    if isinstance(run, Run):
        return run.dir
    path = Path(run)
    if not path.is_dir():
        raise UserError(f"run directory not found: {path}")
    return Run(path).dir
