"""``nptrain.predict`` / ``nptrain predict``: a run's model on image files, as typed results.

Classification gives :class:`ClassScores`, segmentation :class:`SegmentationMask` (class ids at the
image's own size: logits resized back before the argmax), detection :class:`Detections` (boxes in
the image's own pixels: the inference pipeline's resize/pad geometry inverted). With ``output`` the
files ``nptrain predict`` writes go there too (see :mod:`nptrain.api.predict_files`). The result
types are defined in :mod:`nptrain.api.prediction_results` and importable from here too.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from nptrain.api.runs import Run, run_dir_of
from nptrain.errors import UserError
from nptrain.api.evaluate import load_run
from nptrain.pickles import command_pickles
from nptrain.api.predict_files import write_predictions
from nptrain.api.prediction_results import ClassScores, Detections, Prediction, Predictions, SegmentationMask

PathLike = Union[str, Path]


def expand_images(items: Sequence[PathLike]) -> list[str]:
    """Image paths in the order given; a folder stands for the images directly inside it, sorted."""
    # lazy: torch
    from nptrain.data.datasets import IMAGE_SUFFIXES, list_images

    out: list[str] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = [str(p) for p in list_images(path)]
            if not found:
                raise UserError(f"{path}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
            out.extend(found)
        elif not path.is_file():
            raise UserError(f"image not found: {path}")
        else:
            out.append(str(item))
    return out


def predict(run: Union[Run, PathLike], images: Union[PathLike, Sequence[PathLike]], *, weights: str = "best",
            topk: int = 1, score_thresh: float = 0.3, output: Optional[PathLike] = None,
            trust_pickle: bool = False) -> Predictions:
    """Predict ``images`` (files, or folders standing for the images inside) with ``run``'s
    ``weights`` (best or last). ``topk``: classes kept per image (classification); ``score_thresh``:
    lowest detection score kept. ``output``: a folder to write the pictures and tables into."""
    run_dir = run_dir_of(run)
    paths = expand_images([images] if isinstance(images, (str, Path)) else list(images))
    with command_pickles(trust_pickle):
        loaded, model, classes = load_run(run_dir, [], weights)
    out = Path(output) if output is not None else None
    # the task's predictor (TaskRecord.predict): the built-in ones below, a plugin task's own
    found = loaded.task_spec.part("predict")(loaded, model, classes, paths, out,
                                             PredictOptions(topk=topk, score_thresh=score_thresh))
    return found if isinstance(found, Predictions) else Predictions(list(found or ()))


@dataclass(frozen=True)
class PredictOptions:
    """What ``nptrain predict`` lets a user choose, passed to every task's predictor."""
    topk: int = 1  # classification: classes kept per image
    score_thresh: float = 0.3  # detection: lowest score kept


# the built-in tasks' predictors (TaskRecord.predict): (loaded, model, classes, image paths, out dir or
# None, PredictOptions) -> Predictions; with an out dir they also write nptrain predict's files there
def predict_classification(loaded: Any, model: Any, classes: list[str], paths: list[str], out: Optional[Path],
                           options: PredictOptions) -> Predictions:
    if options.topk < 1:
        raise UserError("--topk must be at least 1")
    return _written(loaded, classes, list(_classify(loaded, model, classes, paths, options.topk)), out)


def predict_segmentation(loaded: Any, model: Any, classes: list[str], paths: list[str], out: Optional[Path],
                         options: PredictOptions) -> Predictions:
    if len(classes) > 256:
        raise UserError(f"predict writes 8-bit palette masks; this run has {len(classes)} classes (at most 256)")
    return _written(loaded, classes, list(_segment(loaded, model, classes, paths)), out)


def predict_detection(loaded: Any, model: Any, classes: list[str], paths: list[str], out: Optional[Path],
                      options: PredictOptions) -> Predictions:
    if not 0.0 <= options.score_thresh < 1.0:
        raise UserError(f"--score-thresh must be in [0, 1), got {options.score_thresh}")
    return _written(loaded, classes, list(_detect(loaded, model, classes, paths, options.score_thresh)), out)


def _written(loaded: Any, classes: list[str], results: list[Prediction], out: Optional[Path]) -> Predictions:
    if out is None:
        return Predictions(results)
    return write_predictions(loaded, classes, results, out)


def _each_image(loaded: Any, paths: list[str], identity: bool = False):
    """(path, raw uint8 CHW image, network input, target) per path through the inference pipeline."""
    import torch

    # lazy: torch
    from nptrain.data.datasets import read_image
    from nptrain.training.setup import inference_transform

    transform = inference_transform(loaded)
    gen = torch.Generator().manual_seed(0)
    for path in paths:
        raw = read_image(Path(path))
        # detection carries the identity affine through the pipeline to learn how it moved the picture
        target = {"affine": torch.tensor([1.0, 1.0, 0.0, 0.0])} if identity else {}
        image, target = transform(raw.float().div(255.0), target, gen)
        yield path, raw, image, target


def _classify(loaded: Any, model: Any, classes: list[str], paths: list[str], topk: int):
    import torch

    k = min(topk, len(classes))
    with torch.no_grad():
        for path, _raw, image, _ in _each_image(loaded, paths):
            probs = model(image[None]).softmax(-1)[0]
            top = probs.topk(k)
            pairs = [(classes[i], i, float(p)) for i, p in zip(top.indices.tolist(), top.values.tolist())]
            yield ClassScores(path, pairs, probs.numpy().copy())


def _segment(loaded: Any, model: Any, classes: list[str], paths: list[str]):
    import torch
    import torch.nn.functional as F

    # lazy: torch
    from nptrain.training.setup import main_output

    with torch.no_grad():
        for path, raw, image, _ in _each_image(loaded, paths):
            logits = main_output(model(image[None]))
            if tuple(logits.shape[-2:]) != tuple(raw.shape[-2:]):
                logits = F.interpolate(logits, size=raw.shape[-2:], mode="bilinear", align_corners=False)
            yield SegmentationMask(path, logits.argmax(1)[0].to(torch.uint8).numpy().copy(), list(classes))


def _detect(loaded: Any, model: Any, classes: list[str], paths: list[str], score_thresh: float):
    import torch

    # lazy: torch
    from nptrain.data.box_geometry import invert_boxes
    from nptrain.detection.boxes import clip_boxes
    from nptrain.detection.postprocess import postprocess
    from nptrain.detection.postprocess import postprocess_config
    from nptrain.training.setup import main_output

    post = postprocess_config(loaded, score_thresh=score_thresh)
    with torch.no_grad():
        for path, raw, image, target in _each_image(loaded, paths, identity=True):
            h, w = raw.shape[-2:]
            det = postprocess(main_output(model(image[None])), post, image_size=tuple(image.shape[-2:]))[0]
            boxes = clip_boxes(invert_boxes(det.boxes, target["affine"]), float(h), float(w))
            ids = det.classes.long().numpy().copy()
            yield Detections(path, boxes.numpy().astype(np.float32).copy(), det.scores.numpy().copy(), ids,
                             [classes[int(c)] for c in ids])


def describe(result: Prediction) -> str:
    """The one line ``nptrain predict`` prints for a result."""
    if isinstance(result, ClassScores):
        return f"{result.image}: " + "  ".join(f"{c} ({p:.3f})" for c, _i, p in result.top)
    if isinstance(result, SegmentationMask):
        where = f"{result.files[0]}  " if result.files else ""
        return f"{result.image}: {where}(" + "  ".join(f"{c} {s:.1%}" for c, s in result.shares().items()) + ")"
    if not isinstance(result, Detections):  # a plugin task's own result type
        return str(result)
    found = ", ".join(f"{c} {s:.2f}" for c, s in zip(result.labels[:5], result.scores[:5].tolist()))
    more = f" (+{len(result) - 5})" if len(result) > 5 else ""
    where = f" -> {result.files[0]}" if result.files else ""
    return f"{result.image}: {len(result)} detection(s){': ' + found + more if len(result) else ''}{where}"

