"""Tilted lines of digits: how much they tilt, and a page turned level (``Reader.read``; notebook 06).

A phone seldom photographs a number square: a line tilted by a few degrees
drifts up or down by a good part of a digit's height from its first digit to
its last. The segmentation then finds one line as two, and the CRNN reads
each line's strip taller than its digits. So :meth:`digitlab.reader.Reader.read`
measures the tilt of the lines on its first segmentation (:func:`line_tilt`),
and when they tilt, reads the page turned level (:class:`Levelled`); the
digits' boxes are mapped back into the input's pixels. The pad's reader
turns a slanted drawing's strokes level the same way (:func:`turned_strokes`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from digitlab.preprocess import Page, prepare
from digitlab.reading import Reading, reading_of
from digitlab.segment import Segmentation
from digitlab.sheet import desk

#: Lines tilted less than this (degrees) are read as they are: a level line's digits, each a little higher or lower,
#: seem to tilt by up to 1.5 degrees (nine lines in ten), and turning those reads no better (docs/EXPERIMENTS.md).
LEVEL_FROM_DEGREES = 2.0


def line_tilt(segmentation: Segmentation) -> float:
    """The tilt of the lines in degrees (positive: they rise to the right, as the image is shown), from the
    centres of their digits: one slope fitted to every line at once, each line at its own height.

    Lines of one digit say nothing about the tilt; with fewer than three
    digits in longer lines the tilt is 0.
    """
    lines: dict[int, list[tuple[float, float]]] = {}
    for seg in segmentation.segments:
        x, y, w, h = seg.box
        lines.setdefault(seg.line, []).append((x + w / 2, y + h / 2))
    spread = covariance = 0.0
    digits = 0
    for centres in lines.values():
        if len(centres) < 2:
            continue
        offsets = np.asarray(centres) - np.mean(centres, axis=0)
        spread += float(offsets[:, 0] @ offsets[:, 0])
        covariance += float(offsets[:, 0] @ offsets[:, 1])
        digits += len(centres)
    if digits < 3 or spread == 0.0:
        return 0.0
    return float(np.degrees(np.arctan(-covariance / spread)))  # rows grow downwards


def turned(image: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` turned ``degrees`` counter-clockwise about its centre, on a canvas large enough for all of it,
    and the 2x3 affine matrix that maps its pixels into that canvas.

    Beyond the image, its own edge pixels continue: paper, not a black frame that would read as ink.
    """
    turn, (height, width) = _turn(image.shape[:2], degrees)
    return cv2.warpAffine(image, turn, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), turn


def turned_strokes(strokes, size: tuple[int, int],
                   degrees: float) -> tuple[list[np.ndarray], tuple[int, int], np.ndarray]:
    """A pad's ``strokes`` (on a pad of ``size`` = (height, width)) turned as :func:`turned` turns its image:
    the strokes' points, the size of the canvas that holds them, and the 2x3 affine matrix."""
    turn, canvas = _turn(size, degrees)
    return [np.asarray(stroke, dtype=np.float64) @ turn[:, :2].T + turn[:, 2] for stroke in strokes], canvas, turn


def _turn(size: tuple[int, int], degrees: float) -> tuple[np.ndarray, tuple[int, int]]:
    """The matrix that turns an image of ``size`` (height, width) ``degrees`` about its centre into a canvas
    large enough for all of it, and that canvas's (height, width)."""
    height, width = size
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    cos, sin = abs(turn[0, 0]), abs(turn[0, 1])
    canvas = (int(np.ceil(width * sin + height * cos)), int(np.ceil(width * cos + height * sin)))
    turn[:, 2] += (canvas[1] - width) / 2, (canvas[0] - height) / 2
    return turn, canvas


@dataclass(frozen=True)
class Levelled:
    """A ``page`` whose lines tilt, and ``level``, the same turned level (:func:`turned` or
    :func:`turned_strokes`) and prepared again; or a pad's small writing, and ``level`` the same drawn larger
    (:func:`digitlab.strokes.enlarged`). ``turn`` (a 2x3 affine matrix) maps the input's pixels, in which a
    reading of ``page`` gives its boxes, to those of ``level``'s input, in which a reading of ``level`` gives
    them."""

    page: Page
    level: Page
    turn: np.ndarray

    @classmethod
    def of(cls, page: Page, tilt: float, polarity: str = "auto", method: str = "otsu") -> Levelled:
        """``page``, whose lines tilt by ``tilt`` degrees (:func:`line_tilt`), turned level and prepared
        with ``polarity`` and ``method`` (:func:`digitlab.preprocess.prepare`)."""
        gray, turn = turned(page.gray, -tilt)
        off_page = None
        if polarity != "light_on_dark":
            # What the photo does not show of the page is no page: the desk around a photographed sheet, and the
            # corners the turn brings in, where the photo's edge is drawn out. Both are painted paper, and the page
            # is measured without them (digitlab.preprocess.to_ink), as it was before the turn.
            outside = desk(page.gray)
            shown = np.ones(page.gray.shape, np.float32) if outside is None else (~outside).astype(np.float32)
            off_page = cv2.warpAffine(shown, turn, gray.shape[::-1], flags=cv2.INTER_LINEAR) < 0.5
        level = prepare(gray, polarity=polarity, method=method, off_page=off_page)
        turn[:, 2] /= page.scale  # from working pixels to the input's
        return cls(page, replace(level, scale=level.scale * page.scale), turn)

    def read_back(self, reading: Reading) -> Reading:
        """A reading of :attr:`level` as a reading of :attr:`page`: each box turned back (the box around its
        turned corners, within the input, at least a pixel a side) and shown on the page's own image."""
        back = cv2.invertAffineTransform(self.turn)
        height, width = (max(1, round(side / self.page.scale)) for side in self.page.gray.shape)
        digits = []
        for digit in reading.digits:
            x, y, w, h = digit.box
            corners = np.array([[x, y], [x + w, y], [x, y + h], [x + w, y + h]]) @ back[:, :2].T + back[:, 2]
            # Ink in a corner the turn brought in from outside the input still gets a box on the input.
            left, top = np.floor(np.clip(corners.min(axis=0), 0, (width - 1, height - 1))).astype(int)
            right, bottom = np.ceil(np.clip(corners.max(axis=0), (left + 1, top + 1), (width, height))).astype(int)
            digits.append(replace(digit, box=(int(left), int(top), int(right - left), int(bottom - top))))
        return reading_of(digits, self.page)
