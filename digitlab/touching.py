"""Step 6 of :mod:`digitlab.segment`: digits whose ink touches.

Taught in ``notebooks/06_segmenting_sequences.ipynb``. A blob too wide for
one digit is probably several touching ones: :func:`cut_options` proposes
where to cut it, and :func:`segment_ink` gives a segment's own ink (between
two cuts, or whole) without its neighbours', for the crops every reader cuts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from digitlab.preprocess import ink_box

if TYPE_CHECKING:
    from digitlab.segment import Segment

DIGIT_WIDTH = 0.7  # typical width of one digit, in digit heights: to guess how many touch


def segment_ink(components: np.ndarray, segment: Segment, x0: int | None = None,
                x1: int | None = None, grow: int = 0, claimed: np.ndarray | None = None):
    """The ink of ``segment`` without its neighbours' ink, as a boolean array.

    Returns ``(region, region_box, ink_box)``: a boolean array over
    ``region_box``, within columns ``x0:x1`` (absolute), and the tight box
    of the ink. With ``claimed``
    (:attr:`digitlab.segment.Segmentation.claimed`), ink inside the box that
    no segment claimed (faint pieces and specks too small to stand alone)
    counts too: the faint left side of a 0 stays in its crop; a mark's ink
    (:mod:`digitlab.marks`: a frame, an underline) is claimed, and stays out.
    ``grow`` pixels are added around the ink (a dilation, so ``region_box``
    is larger), so a crop of the grayscale image keeps the soft edges that
    the threshold cut off. ``(None, None, None)`` when those columns hold no ink.
    """
    if claimed is None:
        claimed = np.ones(int(components.max()) + 1, dtype=bool)
    allowed = ~claimed
    allowed[list(segment.labels)] = True
    allowed[0] = False
    x, y, w, h = segment.box
    x0 = x if x0 is None else max(x, x0)
    x1 = x + w if x1 is None else min(x + w, x1)
    region = allowed[components[y:y + h, x0:x1]]
    box = ink_box(region)
    if box is None:
        return None, None, None
    box_x, box_y, box_w, box_h = box
    left, top = x0 + box_x, y + box_y
    right, bottom = left + box_w, top + box_h
    own_box = (left, top, box_w, box_h)
    region = region[box_y:box_y + box_h, box_x:box_x + box_w]
    if grow:
        height, width = components.shape
        pad_top, pad_left = min(grow, top), min(grow, left)
        pad_bottom, pad_right = min(grow, height - bottom), min(grow, width - right)
        padded = np.pad(region, ((pad_top, pad_bottom), (pad_left, pad_right))).astype(np.uint8)
        kernel = np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)
        region = cv2.dilate(padded, kernel).astype(bool)
        left, top, right, bottom = left - pad_left, top - pad_top, right + pad_right, bottom + pad_bottom
    return region, (left, top, right - left, bottom - top), own_box


def cut_options(ink: np.ndarray, height: float, max_options: int = 3) -> list[tuple[int, ...]]:
    """Candidate cuts (column offsets into ``ink``) splitting a wide blob into digits.

    The number of digits is guessed from the width (:data:`DIGIT_WIDTH`).
    For two digits: the even split and the ``max_options`` lowest minima of
    the smoothed vertical projection (ink per column) in the middle half; for
    more, each cut at the projection's minimum near where an even split
    would put it.
    """
    width = ink.shape[1]
    count = min(int(np.clip(round(width / (DIGIT_WIDTH * height)), 2, 10)), width // 2)
    if count < 2:
        return []
    window = max(1, round(0.06 * height)) | 1
    projection = np.convolve(ink.sum(axis=0).astype(float), np.ones(window) / window, mode="same")
    if count == 2:
        return _two_way_cuts(projection, height, max_options)
    reach = width / count / 3
    cuts = []
    for index in range(1, count):
        centre = index * width / count
        low, high = int(max(1, centre - reach)), int(min(width - 1, centre + reach)) + 1
        cuts.append(low + int(np.argmin(projection[low:high])) if high > low else round(centre))
    return [tuple(sorted(set(cuts)))]


def _two_way_cuts(projection: np.ndarray, height: float, max_options: int) -> list[tuple[int]]:
    """The even split, then the lowest projection minima of the middle half, apart from each other."""
    width = len(projection)
    low, high = width // 4, max(width // 4 + 1, 3 * width // 4)
    spacing = max(1, round(0.1 * height))
    options = [(width // 2,)]  # where two 0s touch, the projection peaks instead
    for offset in np.argsort(projection[low:high], kind="stable"):
        cut = low + int(offset)
        if all(abs(cut - other[0]) >= spacing for other in options):
            options.append((cut,))
        if len(options) == max_options + 1:
            break
    return options
