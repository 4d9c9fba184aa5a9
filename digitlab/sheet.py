"""The sheet a photo shows lying on a desk: where the desk is, and how the sheet slants.

Taught in ``notebooks/06_segmenting_sequences.ipynb``. A phone photo of a
page often shows what the page lies on. The **desk** around it (:func:`desk`,
:func:`sheet`), darker than the paper and as wide as a margin (or a wedge in
the corners of a photo taken askew), is no paper and no ink:
:func:`on_the_page` paints it the page's paper before anything else is
measured (:func:`digitlab.preprocess.to_ink`), and the lines printed on the
sheet, which stop at its edge and run along it, are measured along the page
alone, level or at about the slant of its edges
(:func:`digitlab.paper.printed_lines`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: A sheet photographed on a desk is the photo's largest light region, smoothed over this many pixels (a
#: Gaussian's sigma) so that noise and the writing's own gaps do not break its outline ...
PAGE_SMOOTHING = 2.0
#: ... when that region's outline is convex and straight within this fraction of its length, and one to four of
#: its sides run inside the photo (a sheet's straight edges, seen straight or askew; the rest run along the photo's
#: border, where the sheet goes on beyond it or the photo's corner cuts it off; a blob of ink is no such figure) ...
PAGE_OUTLINE = 0.02
#: ... filling at least this fraction of the photo, and leaving at least this much to the desk.
PAGE_AREA, DESK_AREA = 0.3, 0.02
#: The sheet's slant is measured along its edges in chords this many pixels of its outline long: long enough that
#: a pixel's step makes a few degrees at most, short enough that a wedge of desk in a photo's corner holds several.
SLANT_CHORD = 16
#: The sheet is wide and whole: a light region narrower than this many pixels (a light stroke of a pen) is no
#: paper, and a dark line narrower than this many (a printed line, a stroke of the writing) does not cut it.
PAPER_NARROWEST, LINE_WIDEST = 5, 17
#: The desk is darker than the paper by at least this much of the whole range (0 to 1): a pale table top under
#: white paper, dark wood; a part of the sheet in a shadow as dark, if nothing is written in it ...
DESK_DARKER = 0.15
#: ... and nothing on it is darker than it by this fraction of the step from it up to the paper: a part of the
#: sheet in a shadow with writing in it is paper, and the writing ink; a desk's grain and a photo's noise are faint.
DESK_BLANK = 0.25


@dataclass(frozen=True)
class Sheet:
    """A sheet photographed on a desk (:func:`sheet`): ``desk``, where the photo shows the desk (a bool mask), and
    ``slant``, the slant of the sheet's straight edges in degrees from the photo's rows and columns, whichever are
    nearer (positive: its rows rise to the right, as :func:`digitlab.tilt.line_tilt` counts). A sheet's printed
    lines run along its edges."""

    desk: np.ndarray
    slant: float


def sheet(gray: np.ndarray) -> Sheet | None:
    """A photo of a sheet laid on a desk: where it shows the desk, and how its sheet slants (:class:`Sheet`); None
    if the photo (``gray``, 0 to 1, dark on light) shows no desk.

    The sheet is the largest region as light as blank paper in the photo
    smoothed by :data:`PAGE_SMOOTHING` (within half :data:`DESK_DARKER` of
    the brightest pixels, which its blank paper is: the brightest half of
    :data:`PAGE_AREA`), its narrow parts taken away and the thin dark lines
    across it filled in (:data:`PAPER_NARROWEST`, :data:`LINE_WIDEST`: a
    ruled sheet stays one region, light strokes make none), when its
    outline is convex, its sides inside the photo one to four straight
    edges (:data:`PAGE_OUTLINE`), and it fills :data:`PAGE_AREA` of the
    photo. The desk is the rest, when it is :data:`DESK_AREA` of the photo
    at least, :data:`DESK_DARKER` than the sheet's paper, and blank
    (:data:`DESK_BLANK`). The sheet's slant is that of its edges inside the
    photo (:data:`SLANT_CHORD`).
    """
    smooth = cv2.GaussianBlur(cv2.convertScaleAbs(gray, alpha=255.0), (0, 0), PAGE_SMOOTHING)  # uint8: fast
    below = np.cumsum(cv2.calcHist([smooth], [0], None, [256], [0, 256]))  # a percentile of uint8, in one pass
    blank = float(np.searchsorted(below, (1 - PAGE_AREA / 2) * below[-1]))
    light = (smooth >= blank - 255.0 * DESK_DARKER / 2).view(np.uint8)
    # Beyond the photo, the sheet or the desk goes on as at its edge: a strip of desk along the edge is no thin line.
    reach = LINE_WIDEST // 2
    light = cv2.copyMakeBorder(light, reach, reach, reach, reach, cv2.BORDER_REPLICATE)
    light = cv2.morphologyEx(light, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (PAPER_NARROWEST,) * 2))
    light = cv2.morphologyEx(light, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (LINE_WIDEST,) * 2))
    light = np.ascontiguousarray(light[reach:-reach, reach:-reach])
    regions, _ = cv2.findContours(light, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not regions:
        return None
    region = max(regions, key=cv2.contourArea)
    corners = cv2.approxPolyDP(region, PAGE_OUTLINE * cv2.arcLength(region, True), True)
    if not cv2.isContourConvex(corners) or cv2.contourArea(corners) < PAGE_AREA * gray.size:
        return None
    if not 1 <= _edges_inside(corners, gray.shape) <= 4:
        return None
    page = np.zeros(gray.shape, np.uint8)
    cv2.fillConvexPoly(page, cv2.convexHull(region), 1)  # the region itself, not its straightened outline
    outside = page == 0
    if outside.mean() < DESK_AREA:
        return None
    paper, level = float(np.median(gray[~outside])), float(np.median(gray[outside]))
    if level > paper - DESK_DARKER:
        return None
    darkest = float(smooth[outside].min()) / 255.0  # smoothed: a stroke's darkness, not a noisy pixel's
    if darkest < level - DESK_BLANK * (paper - level):
        return None
    # The sheet's edge, blurred in the photo and smoothed here, is desk too: as a line along the page, it is no ink.
    edge = 2 * int(np.ceil(3 * PAGE_SMOOTHING)) + 1
    outside = cv2.dilate(outside.view(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (edge, edge))) > 0
    return Sheet(outside, _slant(region, gray.shape))


def desk(gray: np.ndarray) -> np.ndarray | None:
    """Where a photo of a sheet laid on a desk shows the desk: a bool mask of ``gray`` (0 to 1, dark on light),
    or None if the photo shows no desk (:func:`sheet`)."""
    found = sheet(gray)
    return None if found is None else found.desk


def _edges_inside(corners: np.ndarray, shape: tuple[int, int]) -> int:
    """How many sides of the outline ``corners`` (``cv2.approxPolyDP``'s) run inside a photo of ``shape``, rather
    than along one of its borders (both ends within a pixel of its first or last row or column)."""
    height, width = shape
    ends = np.stack([corners[:, 0], np.roll(corners[:, 0], -1, axis=0)], axis=1)  # each side's two ends, x and y
    x, y = ends[..., 0], ends[..., 1]
    along = (x <= 1).all(1) | (x >= width - 2).all(1) | (y <= 1).all(1) | (y >= height - 2).all(1)
    return int(np.count_nonzero(~along))


def _slant(outline: np.ndarray, shape: tuple[int, int]) -> float:
    """The slant in degrees of a sheet whose ``outline`` (every pixel of it, in order) a photo of ``shape`` shows:
    the mean direction of the outline's chords of :data:`SLANT_CHORD` pixels inside the photo (along the sheet's
    edges; the rest runs along the photo's border), a quarter turn apart counted as one (its rows' and its columns')."""
    height, width = shape
    starts = outline[:, 0].astype(np.float64)
    ends = np.roll(starts, -SLANT_CHORD, axis=0)
    inside = [(x > 1) & (x < width - 2) & (y > 1) & (y < height - 2) for x, y in (starts.T, ends.T)]
    run, rise = (ends - starts)[inside[0] & inside[1]].T
    directions = np.exp(4j * np.arctan2(-rise, run))  # rows grow downwards; four times the angle: a quarter turn is 0
    return float(np.degrees(np.angle(directions.sum())) / 4)


def on_the_page(gray: np.ndarray, outside: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None, float]:
    """``gray`` (0 to 1, dark on light) with what lies outside the page painted the page's paper (the median of
    the page); the mask of it, or None; and the slant of the sheet's edges in degrees (:class:`Sheet`), 0 unless a
    desk shows them. ``outside`` is that mask if it is known already (a bool mask; a page turned level), else the
    desk around the page (:func:`sheet`), if the photo shows one."""
    slant = 0.0
    if outside is None and (found := sheet(gray)) is not None:
        outside, slant = found.desk, found.slant
    if outside is None or outside.all() or not outside.any():
        return gray, None, 0.0
    gray = gray.copy()
    gray[outside] = np.median(gray[~outside])
    return gray, outside, slant
