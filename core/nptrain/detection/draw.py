"""Drawing detections on a picture (``nptrain predict``): one outline per box in its class colour,
with a filled caption ``<class> <score>`` above it (inside the box when there is no room above)."""
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


def draw_detections(image, boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor,
                    names: Sequence[str]):
    """A copy of the PIL ``image`` with the ``xyxy`` pixel ``boxes`` drawn, highest score on top."""
    from PIL import ImageDraw, ImageFont

    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default()
    colors = box_colors(len(names))
    width = max(1, round(min(out.size) / 200))  # about 2 px on a 400 px picture
    # draw the weakest first so the strongest boxes and captions end up on top
    for i in reversed(range(int(scores.numel()))):
        x1, y1, x2, y2 = (float(v) for v in boxes[i])
        c = int(classes[i])
        color = colors[c]
        draw.rectangle([x1, y1, max(x2 - 1, x1), max(y2 - 1, y1)], outline=color, width=width)
        caption = f"{names[c]} {float(scores[i]):.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), caption, font=font)
        tw, th = right - left, bottom - top
        ty = y1 - th - 2 if y1 - th - 2 >= 0 else y1
        tx = max(min(x1, out.size[0] - tw - 2), 0)  # keep the caption inside the picture
        draw.rectangle([tx, ty, tx + tw + 2, ty + th + 2], fill=color)
        draw.text((tx + 1, ty + 1 - top), caption, fill=_text_color(color), font=font)
    return out
