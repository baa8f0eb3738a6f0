"""``data.format: huggingface``: classification and segmentation data from the ``datasets`` library.

Where from, in order: ``metadata.repo`` as a local folder (one written by ``save_to_disk``, else a local repo of
parquet/image files), else the Hub id in the cache (``custom_cache_dir`` or the library's default), offline; only
when that misses and the Hub answers is it downloaded. Splits: ``train_split`` (default ``train``) and
``valid_split`` (default ``validation`` when the dataset has one, else a fixed 10% of the train split, seed 0).

Images and masks are read from their encoded bytes through the same code as local files (``nptrain.data.image_io``:
size bound before decoding, 16-bit, float, alpha, mask modes and palettes), each named in messages as
``repo[split][row].feature``. Problems with the metadata (a feature or split the dataset does not have, a label
that is not a class) are :class:`~nptrain.errors.DataFieldError`\\ s, which the run locates at the config's line.
"""
from __future__ import annotations

import io
import os
import socket
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from nptrain.config.sections import DataConfig, HFMetadata
from nptrain.errors import DataFieldError, UserError
from nptrain.hints import suggest

HELD_OUT = 0.1  # the fraction of the train split that validates when the dataset has no validation split
_LOADED: dict[tuple, Any] = {}  # (repo, subset, cache) -> DatasetDict: train and valid are built from one load


class NamedBytes(io.BytesIO):
    """Encoded image bytes that PIL reads like a file and messages print like a location."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(data)
        self.name = name

    def __str__(self) -> str:
        return self.name



class Column(Sequence):
    """Samples as the local datasets hold them, ``(image, label)`` or ``(image, mask)``, read from a
    Hugging Face split row by row; the images are :class:`NamedBytes` (or the file a row names)."""

    def __init__(self, ds: Any, where: str, image: str, label: str, to_label: Optional[Callable[[Any], Any]]) -> None:
        self.ds, self.where, self.image, self.label, self.to_label = ds, where, image, label, to_label

    def __len__(self) -> int:
        return len(self.ds)

    def _source(self, value: Any, index: int, feature: str) -> Any:
        name = f"{self.where}[{index}].{feature}"
        if isinstance(value, dict) and value.get("bytes"):
            return NamedBytes(value["bytes"], name + (f" ({value['path']})" if value.get("path") else ""))
        if isinstance(value, dict) and value.get("path"):
            return Path(value["path"])
        raise UserError(f"{name}: no image in this row")

    def __getitem__(self, index: int) -> tuple[Any, Any]:  # type: ignore[override]
        row = self.ds[int(index)]
        image = self._source(row[self.image], index, self.image)
        if self.to_label is None:  # a mask
            return image, self._source(row[self.label], index, self.label)
        return image, self.to_label(row[self.label])


def load_splits(meta: HFMetadata) -> dict[str, Any]:
    """The dataset's splits (name -> ``datasets.Dataset``), loaded once per process."""
    key = (meta.repo, meta.subset, meta.custom_cache_dir)
    if key not in _LOADED:
        _LOADED[key] = _load(meta)
    return _LOADED[key]


def _datasets() -> Any:
    try:
        # lazy: an optional extra, heavy to import
        import datasets
    except ImportError:
        raise UserError("data.format: huggingface needs the datasets library: pip install 'nptrain[hf]'") from None
    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    return datasets


def _load(meta: HFMetadata) -> dict[str, Any]:
    datasets = _datasets()
    local = Path(meta.repo).expanduser()
    if local.is_dir():
        try:
            if (local / "dataset_dict.json").is_file() or (local / "state.json").is_file():
                loaded = datasets.load_from_disk(str(local))
            else:  # a local repo of parquet / image files
                loaded = datasets.load_dataset(str(local), name=meta.subset, cache_dir=meta.custom_cache_dir)
        except Exception as exc:  # noqa: BLE001 - any failure of a folder that is not a dataset: say which
            raise DataFieldError(("metadata", "repo"), f"cannot read {local} as a Hugging Face dataset: "
                                 f"{type(exc).__name__}: {str(exc)[:200]}") from None
        return _as_splits(loaded)
    cache = Path(meta.custom_cache_dir or os.environ.get("HF_DATASETS_CACHE") or datasets.config.HF_DATASETS_CACHE)
    cache = cache.expanduser().absolute()
    try:
        return _as_splits(_offline(lambda: datasets.load_dataset(meta.repo, name=meta.subset,
                                                                 cache_dir=meta.custom_cache_dir)))
    except Exception:  # noqa: BLE001 - not in the cache (or not readable from it): the Hub, if it answers
        pass
    if _hub_reachable():
        try:
            return _as_splits(datasets.load_dataset(meta.repo, name=meta.subset, cache_dir=meta.custom_cache_dir))
        except Exception as exc:  # noqa: BLE001
            raise DataFieldError(("metadata", "repo"), f"cannot load {meta.repo!r} from the Hugging Face Hub: "
                                 f"{type(exc).__name__}: {str(exc)[:200]}") from None
    subset = f" (subset {meta.subset!r})" if meta.subset else ""
    raise DataFieldError(("metadata", "repo"), f"Hugging Face dataset {meta.repo!r}{subset} is not in the cache "
                         f"{cache} and the Hub cannot be reached: on a machine with network run python -c \"import "
                         f"datasets; datasets.load_dataset({meta.repo!r}).save_to_disk('DIR')\", copy DIR here and set "
                         "data.metadata.repo: DIR (or copy that machine's cache into data.metadata.custom_cache_dir)")


def _offline(load: Callable[[], Any]) -> Any:
    """``load`` with the Hub switched off: the cache only, at once (no network retries)."""
    # lazy: optional extras
    import datasets
    import huggingface_hub.constants as hub

    saved = datasets.config.HF_HUB_OFFLINE, hub.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = hub.HF_HUB_OFFLINE = True
    try:
        return load()
    finally:
        datasets.config.HF_HUB_OFFLINE, hub.HF_HUB_OFFLINE = saved


def _hub_reachable() -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes") or \
            os.environ.get("HF_DATASETS_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
    try:
        with socket.create_connection((host, 443), timeout=3):
            return True
    except OSError:
        return False


def _as_splits(loaded: Any) -> dict[str, Any]:
    return dict(loaded) if hasattr(loaded, "keys") else {"train": loaded}


def split_for(meta: HFMetadata, split: str) -> tuple[Any, str]:
    """The ``datasets.Dataset`` that is nptrain's ``split`` (train/valid) and its name for messages."""
    splits = load_splits(meta)
    if split == "train" or meta.valid_split is not None or "validation" in splits:
        name = meta.train_split if split == "train" else (meta.valid_split or "validation")
        if name not in splits:
            field = "train_split" if split == "train" else "valid_split"
            near = suggest(name, list(splits))
            raise DataFieldError(("metadata", field), f"{meta.repo} has no split {name!r}; it has "
                                 f"{', '.join(splits)}" + (f" (did you mean {near!r}?)" if near else ""))
        ds = splits[name]
        if split == "train" and meta.valid_split is None and "validation" not in splits:
            ds = _held_out(ds)["train"]
            name += f" less the {HELD_OUT:.0%} held out"
        return ds, f"{meta.repo}[{name}]"
    if meta.train_split not in splits:
        raise DataFieldError(("metadata", "train_split"), f"{meta.repo} has no split {meta.train_split!r}; it has "
                             f"{', '.join(splits)}")
    return _held_out(splits[meta.train_split])["test"], f"{meta.repo}[{meta.train_split}: {HELD_OUT:.0%} held out]"


def _held_out(ds: Any) -> Any:
    return ds.train_test_split(test_size=HELD_OUT, seed=0, shuffle=True)


def _feature(ds: Any, meta: HFMetadata, which: str, kind: str) -> Any:
    """The ``datasets`` feature of column ``features.<which>``, which must be an image when ``kind`` is image."""
    # lazy: optional extra
    import datasets

    name = getattr(meta.features, which)
    if name not in ds.features:
        near = suggest(name, list(ds.features))
        raise DataFieldError(("metadata", "features", which), f"{meta.repo} has no feature {name!r}; its features: "
                             f"{', '.join(ds.features)}" + (f" (did you mean {near!r}?)" if near else ""))
    feature = ds.features[name]
    if kind == "image" and not isinstance(feature, datasets.Image):
        raise DataFieldError(("metadata", "features", which), f"feature {name!r} of {meta.repo} holds "
                             f"{type(feature).__name__}, not images")
    return feature


def _undecoded(ds: Any, columns: list[str]) -> Any:
    """The split with only ``columns``, images left as their encoded bytes (decoded by our own reader)."""
    # lazy: optional extra
    import datasets

    ds = ds.select_columns(columns)
    for column in columns:
        if isinstance(ds.features[column], datasets.Image):
            ds = ds.cast_column(column, datasets.Image(decode=False))
    return ds


def classification_split(data: DataConfig, split: str, classes: Optional[list[str]]) -> tuple[Column, list[str]]:
    """``(image, class id)`` samples of ``split`` and the class names (a ClassLabel's names, else the sorted
    distinct values of the label column; ``data.id_mapping`` or the train split's ``classes`` pin them)."""
    # lazy: optional extra
    import datasets

    meta = data.metadata
    ds, where = split_for(meta, split)
    _feature(ds, meta, "image", "image")
    label = _feature(ds, meta, "label", "label")
    column = meta.features.label
    if classes is not None:
        names = list(classes)
    elif isinstance(label, datasets.ClassLabel):
        names = list(label.names)
    else:
        values = sorted(set(ds[column]), key=lambda v: (isinstance(v, str), v))
        names = [str(v) for v in values]
    if isinstance(data.id_mapping, list) and classes is None:
        names = [str(n) for n in data.id_mapping]
    index = {n: i for i, n in enumerate(names)}
    class_label = label if isinstance(label, datasets.ClassLabel) else None

    def to_label(value: Any) -> int:
        name = class_label.int2str(value) if class_label is not None else str(value)
        if name not in index:
            raise UserError(f"{where}: label {value!r} ({name}) is not one of the classes {', '.join(names[:10])}"
                            + (" …" if len(names) > 10 else ""))
        return index[name]

    return Column(_undecoded(ds, [meta.features.image, column]), where, meta.features.image, column, to_label), names


def segmentation_split(data: DataConfig, split: str) -> Column:
    """``(image, mask)`` samples of ``split``; both columns must hold images."""
    meta = data.metadata
    ds, where = split_for(meta, split)
    _feature(ds, meta, "image", "image")
    _feature(ds, meta, "label", "image")
    columns = [meta.features.image, meta.features.label]
    return Column(_undecoded(ds, columns), where, meta.features.image, meta.features.label, None)
