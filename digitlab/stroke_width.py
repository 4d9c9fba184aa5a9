"""How wide a page's strokes are, and its ink thinned to MNIST's stroke width for its digits' height.

Taught in ``notebooks/07_draw_and_read.ipynb`` (a marker's ink). The reader
thins a page's ink once the page is segmented and its digits' height known
(:meth:`digitlab.reader.Reader.read_page`); a pad's strokes are drawn again
with MNIST's pen instead (:meth:`digitlab.reader.Reader.read_strokes`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from digitlab.preprocess import Page

#: How wide MNIST's strokes are for their height, as :func:`ink_stroke_width` measures them: the median over 2,000 of
#: its training digits, each drawn 1, 4, 6 and 8 times larger (0.121, 0.115, 0.113, 0.113; quartiles 0.10 and 0.14).
#: A photo's ink that is wider is thinned to this (:meth:`digitlab.reader.Reader.read_page`), so MNIST's own digits,
#: however large, are left about as they are.
MNIST_STROKE_WIDTH = 0.115
#: A page's ink is as dark as this percentile of its pixels within the mask: the cores of its strokes, not the few
#: darkest specks of noise (the 90th to the 99th measure MNIST's digits and pens' strokes within 0.005 of the height).
INK_LEVEL_PERCENTILE = 95


def ink_stroke_width(ink: np.ndarray, mask: np.ndarray) -> float:
    """The typical width, in pixels, of the strokes of ``ink`` (0-1) within ``mask`` (uint8, 255 on ink); 0.0 without.

    A stroke ``w`` wide and ``L`` long holds ``w * L`` of ink and is outlined
    by about ``2 * L``, so the width is the ink's mass over half the mask's
    outline (holes included), the mass counted within two pixels of the mask
    (where a blur's soft edges fall under the threshold) and in units of the
    ink's own darkness (:data:`INK_LEVEL_PERCENTILE`). A blur spreads a
    stroke's ink but keeps its mass, and a grey pen is as wide as a black
    one: sharp and blurred photos of one pen measure alike, and MNIST's
    soft-edged digits about alike drawn 28 pixels high or 200.
    """
    inked = (mask > 0).view(np.uint8)
    contours, _ = cv2.findContours(inked, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    outline = sum(cv2.arcLength(contour, True) for contour in contours)
    level = float(np.percentile(ink[inked > 0], INK_LEVEL_PERCENTILE)) if outline else 0.0
    if level <= 0:
        return 0.0
    near = cv2.dilate(inked, np.ones((5, 5), np.uint8)) > 0
    return 2.0 * float(ink[near].sum(dtype=np.float64)) / level / outline


def thin_ink(page: Page, width: float) -> Page:
    """``page`` with its ink eroded until its strokes are about ``width`` pixels wide, if they are wider.

    A thick pen fills the loops of an 8 or a 9 and joins a 1's flag to its
    stem; thinned, the strokes show their shape again, as thick for their
    height as the recognizers learned them (the reader asks for
    :data:`MNIST_STROKE_WIDTH` of the digit height). Thinner strokes are
    left as they are: ink added to a hairline would join it to its
    neighbours. The mask, and so the segmentation, stay as they were:
    eroding them would widen the gaps of a broken stroke and drop its
    specks of ink.
    """
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}.")
    if width < 2:  # not a pixel to take off (below), so nothing to measure: a page of specks or of tiny digits
        return page
    # Erosion takes a pixel off each side per pixel of radius, and at most half of ``width``: it cannot tell a thick
    # stroke from ink that filled a loop, and eroded further a filled 8 shrinks to two dots.
    radius = int(min(ink_stroke_width(page.ink, page.mask) - width, width) // 2)
    if radius < 1:
        return page
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return replace(page, ink=cv2.erode(page.ink, disc))
