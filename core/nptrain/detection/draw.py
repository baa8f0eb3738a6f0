"""Drawing detections on a picture (``nptrain predict``): one outline per box in its class colour,
with a filled caption ``<class> <score>`` above it, moved inside or below the box when there is no
room above or another caption is there, and always inside the picture."""
from __future__ import annotations

import colorsys
from typing import Sequence

import torch

GOLDEN = 0.618033988749895  # hue step: consecutive class ids get well separated colours for any count


def box_colors(n: int) -> list[tuple[int, int, int]]:
    """``n`` saturated, bright colours (never black or grey, which vanish on photos)."""
    out = []
    for i in range(n):
        r, g, b = colorsys.hsv_to_rgb((0.05 + i * GOLDEN) % 1.0, 0.85, 1.0)
        out.append((round(r * 255), round(g * 255), round(b * 255)))
    return out


def _text_color(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return (0, 0, 0) if luma > 140 else (255, 255, 255)


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _place(box: tuple[float, float, float, float], tw: float, th: float, size: tuple[int, int],
           taken: list[tuple[float, float, float, float]]) -> tuple[float, float]:
    """Top-left corner of a ``tw`` x ``th`` caption for ``box``, always inside the picture: above
    the box, else inside its top, below it, inside its bottom; the first spot that covers no caption
    already placed (the first spot when all do)."""
    x1, y1, x2, y2 = box
    w, h = size
    x = max(0.0, min(x1, w - tw))
    spots = [(x, y1 - th), (x, y1), (x, y2), (x, y2 - th)]
    spots = [(sx, max(0.0, min(sy, h - th))) for sx, sy in spots]
    for sx, sy in spots:
        if not any(_overlaps((sx, sy, sx + tw, sy + th), t) for t in taken):
            return sx, sy
    return spots[0]


def draw_detections(image, boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor,
                    names: Sequence[str]):
    """A copy of the PIL ``image`` with the ``xyxy`` pixel ``boxes`` drawn, highest score on top.

    Pictures with a short side under ``MIN_DISPLAY_SIDE`` are enlarged first (a whole factor), and
    the caption font and line width follow the picture's size, so captions stay legible on 64 px
    tiles and in proportion on large photos."""
    # lazy: PIL; layer (README map: detection/ may not import report)
    from PIL import Image, ImageDraw

    from nptrain.report.prediction_pictures import display_scale, font

    out = image.convert("RGB")
    scale = display_scale(out.size)
    if scale > 1:
        out = out.resize((out.width * scale, out.height * scale), Image.BILINEAR)
    draw = ImageDraw.Draw(out)
    short = min(out.size)
    fnt = font(int(min(max(short / 28, 10), 48)))
    width = max(1, round(short / 200))  # about 2 px on a 400 px picture
    pad = max(1, width)
    colors = box_colors(len(names))
    # captions are placed strongest first (they get the best spots) and drawn weakest first
    # (so the strongest boxes and captions end up on top)
    placed: list[tuple[int, tuple[float, float, float, float], str, tuple[float, float, float, float]]] = []
    taken: list[tuple[float, float, float, float]] = []
    for i in range(int(scores.numel())):
        box = tuple(float(v) * scale for v in boxes[i])
        caption = f"{names[int(classes[i])]} {float(scores[i]):.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), caption, font=fnt)
        tw, th = right - left + 2 * pad, bottom - top + 2 * pad
        tx, ty = _place(box, tw, th, out.size, taken)
        rect = (tx, ty, tx + tw, ty + th)
        taken.append(rect)
        placed.append((i, box, caption, rect))
    for i, (x1, y1, x2, y2), _, _ in reversed(placed):  # every outline first: none crosses a caption
        draw.rectangle([x1, y1, max(x2 - 1, x1), max(y2 - 1, y1)], outline=colors[int(classes[i])], width=width)
    for i, _, caption, rect in reversed(placed):
        color = colors[int(classes[i])]
        draw.rectangle([rect[0], rect[1], rect[2] - 1, rect[3] - 1], fill=color)
        _, top, _, _ = draw.textbbox((0, 0), caption, font=fnt)
        draw.text((rect[0] + pad, rect[1] + pad - top), caption, fill=_text_color(color), font=fnt)
    return out
