"""Writing styles MNIST lacks, added to MNIST digits: a slashed 0, a continental 1, a crossed 7 ...

Taught in ``notebooks/09_real_handwriting.ipynb``.

MNIST's writers were US census staff and students: their zeros have no
slash, their ones no flag, their sevens no bar, and their strokes are pen on
paper, scanned and blurred. People elsewhere, and people drawing on a
screen, write otherwise, and a model that never saw a slashed zero reads it
as an 8. Each function here adds one style to a 28x28 MNIST digit (white on
black) and keeps its label:

- :func:`slash_zero`: a stroke through the 0 (Ø), corner to corner;
- :func:`flag_one`: the up-stroke flag of a continental 1, sometimes a foot;
- :func:`cross_seven`: a bar across the 7's stem;
- :func:`float_five_bar`: a 5 whose top bar floats free of its body;
- :func:`redraw_with_pen`: any digit thinned to its skeleton and drawn again
  with a round pen of uniform width, as a mouse, finger or stylus leaves it.

:func:`add_styles` applies them to a fraction of a training set
(``digitlab train --styles``). Each result is normalised again as MNIST
(:func:`digitlab.preprocess.normalize_digit`), so it is centred and sized as
the reader's crops are.
"""

from __future__ import annotations

import cv2
import numpy as np

from digitlab.preprocess import normalize_digit
from digitlab.strokes import SUBPIXEL_SHIFT
from digitlab.preprocess import ink_box

#: Skeletons are found and redrawn at this many times MNIST's resolution, then shrunk back.
_REDRAW_SCALE = 2
#: Pen widths of :func:`redraw_with_pen`, in MNIST pixels (its digits are 20 px high): a fine
#: stylus to a thick finger.
REDRAW_PEN_WIDTHS = (1.0, 5.0)


# --- Helpers -----------------------------------------------------------------


def _as_float(image) -> np.ndarray:
    image = np.asarray(image)
    if image.shape != (28, 28):
        raise ValueError(f"expected a 28x28 MNIST digit, got shape {image.shape}.")
    return image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)


def _like(result: np.ndarray, original) -> np.ndarray:
    """``result`` (float 0-1) normalised as MNIST, in the dtype of ``original``."""
    result = normalize_digit(result)
    if np.asarray(original).dtype == np.uint8:
        return np.round(result * 255.0).astype(np.uint8)
    return result


def _ink_box(ink: np.ndarray) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the pixels above half intensity (:func:`digitlab.preprocess.ink_box`)."""
    box = ink_box(ink > 0.5)
    if box is None:
        raise ValueError("the digit has no ink to add a style to.")
    return box


def stroke_width(ink: np.ndarray) -> float:
    """The digit's typical stroke width in pixels: its ink area over its skeleton's length."""
    mask = ink > 0.5
    length = max(1, int(skeletonize(mask[None])[0].sum()))
    return float(np.clip(mask.sum() / length, 1.0, 4.0))


def _draw_line(ink: np.ndarray, start, end, width: float) -> np.ndarray:
    """``ink`` with a round-capped line from ``start`` to ``end`` (x, y), ``width`` pixels wide, anti-aliased.

    Drawn as :func:`digitlab.strokes.rasterize` draws a stroke, but straight onto the float ink, so
    the anti-aliased edge keeps its fractions (the pad's uint8 canvas would round them).
    """
    layer = np.zeros_like(ink)
    scale = 1 << SUBPIXEL_SHIFT
    points = [tuple(int(round(v * scale)) for v in point) for point in (start, end)]
    cv2.line(layer, points[0], points[1], 1.0, max(1, int(round(width))), cv2.LINE_AA, SUBPIXEL_SHIFT)
    for point in points:
        cv2.circle(layer, point, int(round(width / 2 * scale)), 1.0, cv2.FILLED, cv2.LINE_AA, SUBPIXEL_SHIFT)
    return np.maximum(ink, layer)


# --- One style each ------------------------------------------------------------


def slash_zero(image, rng) -> np.ndarray:
    """A 0 with a stroke through it, from below its bottom-left to above its top-right (Ø)."""
    ink = _as_float(image)
    x, y, w, h = _ink_box(ink)
    # Written across the whole 0 and beyond it at both ends, as people slash their zeros.
    start = (x + w * rng.uniform(-0.2, 0.15), y + h * rng.uniform(0.95, 1.2))
    end = (x + w * rng.uniform(0.85, 1.2), y + h * rng.uniform(-0.2, 0.05))
    return _like(_draw_line(ink, start, end, stroke_width(ink)), image)


def flag_one(image, rng, foot: float = 0.3) -> np.ndarray:
    """A continental 1: a flag from the top of the stem down to the left, and with probability ``foot`` a foot.

    A flag that would reach beyond the 28-pixel image stops at its edge.
    """
    ink = _as_float(image)
    x, y, w, h = _ink_box(ink)
    width = stroke_width(ink)
    top_x = float(np.flatnonzero(ink[y] > 0.5).mean())
    # 10-60 degrees below the horizontal: people's flags are steep (about 50 degrees), and a shallow one still
    # shows on a 1 that leans right. 0.3-0.9 of the height long: most people's flags are a quarter of it, but
    # some who write continental ones draw them as long as the stem.
    length, angle = h * rng.uniform(0.3, 0.9), np.radians(rng.uniform(10, 60))
    ink = _draw_line(ink, (top_x, y), (top_x - length * np.cos(angle), y + length * np.sin(angle)), width)
    if rng.random() < foot:
        bottom = y + h - 1
        bottom_x = float(np.flatnonzero(ink[bottom] > 0.5).mean())
        half = h * rng.uniform(0.15, 0.25)
        ink = _draw_line(ink, (bottom_x - half, bottom), (bottom_x + half, bottom), width)
    return _like(ink, image)


def cross_seven(image, rng) -> np.ndarray:
    """A 7 with a short bar across its stem, a little below half its height."""
    ink = _as_float(image)
    x, y, w, h = _ink_box(ink)
    row = int(round(y + h * rng.uniform(0.45, 0.6)))
    stem = np.flatnonzero(ink[row] > 0.5)
    if stem.size == 0:
        return _like(ink, image)
    centre, half, tilt = float(stem.mean()), w * rng.uniform(0.2, 0.35), h * rng.uniform(-0.05, 0.05)
    return _like(_draw_line(ink, (centre - half, row + tilt), (centre + half, row - tilt), stroke_width(ink)), image)


def float_five_bar(image, rng) -> np.ndarray:
    """A 5 whose top bar is a separate piece: the bar, right of the stem, lifted and moved right."""
    ink = _as_float(image)
    x, y, w, h = _ink_box(ink)
    band = int(round(y + h * rng.uniform(0.18, 0.28)))
    stem_right = x + int(round(w * rng.uniform(0.3, 0.4)))
    bar = np.zeros_like(ink)
    bar[:band, stem_right:] = ink[:band, stem_right:]
    body = ink - bar
    lift, shift = rng.uniform(2.0, 4.0), rng.uniform(0.0, 3.0)  # MNIST pixels (the digit is 20 high)
    moved = cv2.warpAffine(bar, np.float32([[1, 0, shift], [0, 1, -lift]]), (28, 28), flags=cv2.INTER_LINEAR)
    return _like(np.maximum(body, moved), image)


def redraw_with_pen(image, rng, pen_width: float | None = None) -> np.ndarray:
    """The digit thinned to its skeleton and drawn again with a round pen ``pen_width`` MNIST pixels wide.

    ``pen_width`` defaults to a draw from :data:`REDRAW_PEN_WIDTHS`. The pen is
    uniform, as on a screen: no thin and thick parts, no blur of a scan.
    """
    ink = _as_float(image)
    width = float(rng.uniform(*REDRAW_PEN_WIDTHS)) if pen_width is None else float(pen_width)
    if width <= 0:
        raise ValueError(f"pen_width must be positive, got {pen_width}.")
    size = 28 * _REDRAW_SCALE
    large = cv2.resize(ink, (size, size), interpolation=cv2.INTER_LINEAR) > 0.5
    skeleton = skeletonize(large[None])[0].astype(np.float32)
    diameter = max(1, int(round(width * _REDRAW_SCALE)))
    if diameter > 1:
        pen = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (diameter, diameter))
        skeleton = cv2.dilate(skeleton, pen)
    redrawn = cv2.resize(skeleton, (28, 28), interpolation=cv2.INTER_AREA)
    return _like(redrawn, image)


#: The style each digit class can take (classes not named here only get :func:`redraw_with_pen`).
CLASS_STYLES = {0: slash_zero, 1: flag_one, 5: float_five_bar, 7: cross_seven}


# --- Thinning -----------------------------------------------------------------


def skeletonize(masks: np.ndarray) -> np.ndarray:
    """One-pixel-wide skeletons of a batch of binary images (N, H, W), by Zhang-Suen thinning.

    Each pass removes the boundary pixels whose removal keeps the shape
    connected (two sub-steps: south-east, then north-west boundaries), until
    nothing changes. Vectorised over the whole batch.
    """
    image = np.pad(np.asarray(masks, dtype=bool), ((0, 0), (1, 1), (1, 1))).astype(np.uint8)
    while True:
        changed = False
        for step in (0, 1):
            p = image
            # Neighbours P2..P9, clockwise from north.
            n = [p[:, :-2, 1:-1], p[:, :-2, 2:], p[:, 1:-1, 2:], p[:, 2:, 2:],
                 p[:, 2:, 1:-1], p[:, 2:, :-2], p[:, 1:-1, :-2], p[:, :-2, :-2]]
            count = sum(neighbour.astype(np.int8) for neighbour in n)
            transitions = sum(((n[k] == 0) & (n[(k + 1) % 8] == 1)).astype(np.int8) for k in range(8))
            north, east, south, west = n[0], n[2], n[4], n[6]
            if step == 0:
                side = (north & east & south) == 0
                other = (east & south & west) == 0
            else:
                side = (north & east & west) == 0
                other = (north & south & west) == 0
            remove = (p[:, 1:-1, 1:-1] == 1) & (count >= 2) & (count <= 6) & (transitions == 1) & side & other
            if remove.any():
                image[:, 1:-1, 1:-1][remove] = 0
                changed = True
        if not changed:
            return image[:, 1:-1, 1:-1].astype(bool)


# --- A training set with styles -------------------------------------------------


def add_styles(images: np.ndarray, labels: np.ndarray, fraction: float = 0.3, seed: int = 0) -> np.ndarray:
    """A copy of ``images`` in which ``fraction`` of the digits are restyled (labels unchanged).

    Each restyled digit of a class in :data:`CLASS_STYLES` gets its class's
    style with probability one half; each restyled digit, whatever its class,
    is redrawn with a uniform pen (:func:`redraw_with_pen`) with probability
    one half; a digit drawn for neither keeps its MNIST look. Seeded.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}.")
    images = np.asarray(images)
    if len(images) != len(labels):
        raise ValueError(f"got {len(images)} images but {len(labels)} labels.")
    rng = np.random.default_rng(seed)
    styled = images.copy()
    for index in np.flatnonzero(rng.random(len(images)) < fraction):
        digit, label = styled[index], int(labels[index])
        if label in CLASS_STYLES and rng.random() < 0.5:
            digit = CLASS_STYLES[label](digit, rng)
        if rng.random() < 0.5:
            digit = redraw_with_pen(digit, rng)
        styled[index] = digit
    return styled
