"""Segmentation: from an ink mask to digit boxes in reading order.

Taught in ``notebooks/06_segmenting_sequences.ipynb``, which also shows what
goes wrong without each step. The steps, one helper each:

1. :func:`find_blobs`: each connected blob of ink, with its box. These are the
   regions that ``cv2.findContours(..., cv2.RETR_EXTERNAL, ...)`` outlines,
   so the holes of 0, 6, 8 and 9 never become extra boxes; the label image
   also lets a crop keep only its own ink when boxes overlap. Marks drawn
   around or along the writing (a frame, a circle, an underline:
   :mod:`digitlab.marks`) are left out: those around it before the digit
   height is measured, those along it after.
2. :func:`estimate_height`: the typical digit height, the unit of every
   threshold below, so the same rules work at any image scale.
3. :func:`drop_specks`: blobs far smaller than a digit; and, once fragments
   are merged, :func:`drop_dots`: solid dots (a tap of the pen, a full stop),
   which are no longer than the stroke is thick, whatever the digit height.
4. :func:`merge_fragments`: pieces of one digit (a 5's top bar, a 4 or a 7
   drawn with two strokes, a broken stroke) joined again: boxes that overlap
   or nearly overlap horizontally, stacked closely enough to be one digit.
5. :func:`order_in_lines`: lines top to bottom, digits left to right.
6. :func:`digitlab.touching.cut_options`: blobs too wide for one digit are
   probably touching digits; candidate cuts at minima of the vertical ink
   projection, among which the reader chooses by the classifier's confidence
   (for blobs only somewhat wide, "no cut" is one of the candidates).

:func:`segment` runs them all.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import cv2
import numpy as np

from digitlab.marks import marks_along, marks_around
from digitlab.reading import PartlyRead
from digitlab.touching import cut_options, segment_ink

Box = tuple[int, int, int, int]  # (x, y, width, height)

# Thresholds, as fractions of the typical digit height.
SPECK_SIZE = 0.2          # blobs smaller than this both ways are dust, before merging
SMALL_SIZE = 0.5          # merged groups still this small are dropped too
FULL_HEIGHT = 0.75        # a blob this tall is a whole digit, never a fragment of another
NEAR_GAP = 0.2            # horizontal gap under which a fragment joins its neighbour...
NEAR_WIDTH = 1.1          # ... if together they are no wider than one digit
STACK_GAP = 0.25          # vertical gap always allowed between fragments of one digit
LOOSE_STACK_GAP = 0.15    # ... while the height is still a first guess (estimate_height)
MAX_MERGED_HEIGHT = 1.3   # merging never makes a digit taller than this
LINE_TOLERANCE = 0.6      # a digit whose centre is this close to a line's belongs to it
TOUCHING_WIDTH = 1.2      # wider than this may be several touching digits (or one wide digit)
CLEARLY_TOUCHING_WIDTH = 1.6  # wider than this is several touching digits
#: Blobs smaller than this many pixels both ways are never digits, whatever their neighbours.
MIN_PIXELS = 5
#: A segment at most this many times as long (either way) as its stroke is thick is a dot, not a
#: digit: a tap of the pen measures 1.0-1.2; the boldest of 30,000 MNIST digits 1.5.
DOT_LENGTH = 1.25
#: At most this many blobs are considered (the largest), so noise cannot stall a reader: merging fragments
#: compares blobs pair by pair, and 3,000 blobs of noise took two minutes to read where 300 take two seconds.
MAX_BLOBS = 300


@dataclass(frozen=True)
class Segment:
    """One digit candidate: its box, the ink blobs (component labels) it is made of,
    its line, and for a blob of touching digits the candidate cut positions
    (x in mask pixels; an empty tuple offers reading it as one wide digit)."""

    box: Box
    labels: tuple[int, ...]
    line: int = 0
    touching: bool = False
    cuts: tuple[tuple[int, ...], ...] = ()


@dataclass(frozen=True)
class Segmentation:
    """What :func:`segment` found: segments in reading order, the label image,
    the digit height and which blobs the segments claimed."""

    segments: list[Segment]
    components: np.ndarray
    digit_height: float
    claimed: np.ndarray  # per component label: does a segment own it, or is it a mark? (see segment_ink)

    @property
    def line_count(self) -> int:
        return 1 + max((segment.line for segment in self.segments), default=-1)


# --- 1. Blobs -------------------------------------------------------------


def find_blobs(mask: np.ndarray) -> tuple[np.ndarray, list[Segment]]:
    """The label image and one :class:`Segment` per 8-connected blob of ink.

    Blobs under :data:`MIN_PIXELS` both ways are left out (no digit is that
    small), and only the :data:`MAX_BLOBS` largest of the others (by ink
    area) are kept: when there are more, a :class:`~digitlab.reading.PartlyRead`
    warning says so, for the reader's caller to show.
    """
    if mask.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {mask.shape}.")
    count, components, stats, _ = cv2.connectedComponentsWithStats(
        (mask > 0).astype(np.uint8), connectivity=8
    )
    stats = stats[1:]  # label 0 is the paper
    sized = np.flatnonzero(np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]) >= MIN_PIXELS)
    if len(sized) > MAX_BLOBS:
        warnings.warn(f"the image has {len(sized):,} pieces of ink the size of a digit or of part of one: only the "
                      f"{MAX_BLOBS} largest are read.", PartlyRead, stacklevel=2)
    order = sized[np.argsort(-stats[sized, cv2.CC_STAT_AREA], kind="stable")[:MAX_BLOBS]]
    blobs = [
        Segment(tuple(int(v) for v in stats[i, :4]), (int(i) + 1,))
        for i in sorted(order)
    ]
    return components, blobs


# --- 2. Scale -------------------------------------------------------------


def digit_height(segments: list[Segment]) -> float:
    """Median height of the segments at least half as tall as the tallest one.

    Specks and fragments are small, so they do not drag it down; 0 when
    there are no segments.
    """
    heights = np.array([segment.box[3] for segment in segments], dtype=float)
    if heights.size == 0:
        return 0.0
    return float(np.median(heights[heights >= heights.max() / 2]))


def estimate_height(blobs: list[Segment]) -> float:
    """The digit height, robust to digits that all fell apart into fragments.

    A first guess from the blobs is too small when every digit is broken, so
    closely stacked fragments are merged (``loose`` rules of
    :func:`belong_together`), unless the gap between them runs between two
    lines of writing (:func:`between_lines`), and the height is measured
    again on the groups.
    """
    first = digit_height(blobs)
    if first == 0:
        return 0.0
    groups = merge_fragments(drop_specks(blobs, first), first, loose=True)
    return max(first, digit_height(groups))


def between_lines(boxes: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """For each pair ``(i, j)`` of ``boxes`` (an (N, 4) array of (x, y, w, h)), one above the other: is the gap
    between them a gap between two lines of writing, rather than a break in one digit?

    It is when there is writing beside the pair, level with one of the two,
    with a row of the gap blank across the nearest of it on either side:
    digits side by side in a line, and another line below. A pen's break is a
    gap in one digit only: its neighbours' ink runs through it. A scratch
    across a whole line runs past the neighbours too, but it cuts every digit
    it crosses on the same two rows and leaves pieces of digits, mostly wider
    than tall: a gap whose nearest writing beside ends and begins on exactly
    the pair's rows, between two pieces not both taller than wide, is such a
    cut. Lines of handwriting do not end on one row, and their digits are
    often wider than tall. Only the nearest neighbours count, so lines a
    little aslant part too.
    """
    x, y, w, h = np.asarray(boxes, dtype=float).T
    first, second = np.asarray(pairs, dtype=int).reshape(-1, 2).T
    if not len(first):
        return np.zeros(0, dtype=bool)
    upper = np.where(y[first] <= y[second], first, second)
    lower = first + second - upper
    left = np.minimum(x[first], x[second])[:, None]
    right = np.maximum((x + w)[first], (x + w)[second])[:, None]
    beside = np.zeros(len(upper), dtype=bool)
    cut_straight = np.ones(len(upper), dtype=bool)
    # The upper piece's nearest neighbours cover the gap from its top down to their bottoms, the lower piece's
    # from their tops down to its bottom; the rows between stay blank.
    blank_from, blank_to = (y + h)[upper], y[lower]
    for piece, is_upper in ((upper, True), (lower, False)):
        level = (y < (y + h)[piece][:, None]) & (y + h > y[piece][:, None])
        edge = y + h if is_upper else y  # where the gap begins below the upper piece, ends above the lower one
        for distance in (left - (x + w), x - right):  # to the pair's left, to its right
            distance = np.where(level & (distance >= 0), distance, np.inf)
            nearest, found = np.argmin(distance, axis=1), np.isfinite(distance.min(axis=1))
            beside |= found
            cut_straight &= ~found | (edge[nearest] == edge[piece])
            if is_upper:
                blank_from = np.where(found, np.maximum(blank_from, (y + h)[nearest]), blank_from)
            else:
                blank_to = np.where(found, np.minimum(blank_to, y[nearest]), blank_to)
    digit_shaped = (h[upper] >= w[upper]) & (h[lower] >= w[lower])
    return beside & (blank_to > blank_from) & (digit_shaped | ~cut_straight)


# --- 3. Specks ------------------------------------------------------------


def drop_specks(segments: list[Segment], height: float, size: float = SPECK_SIZE) -> list[Segment]:
    """Keep segments at least ``size * height`` (and :data:`MIN_PIXELS`) wide or tall."""
    limit = max(size * height, MIN_PIXELS)
    return [segment for segment in segments if max(segment.box[2], segment.box[3]) >= limit]


def stroke_thickness(components: np.ndarray, segment: Segment) -> float:
    """The thickest stroke of ``segment``'s ink, in pixels: twice its largest distance to the paper."""
    x, y, w, h = segment.box
    own = np.isin(components[y:y + h, x:x + w], segment.labels)
    padded = np.pad(own.astype(np.uint8), 1)  # ink at the box's edge still ends there
    return 2.0 * float(cv2.distanceTransform(padded, cv2.DIST_L2, 5).max())


def drop_dots(segments: list[Segment], components: np.ndarray, length: float = DOT_LENGTH) -> list[Segment]:
    """Drop segments no longer either way than ``length`` times their stroke is thick (:func:`stroke_thickness`).

    A lone tap of the pen is a filled disc; scaled up to MNIST's 20x20 box
    it looks like a bold 0, and with no other ink on the page to measure
    against, :func:`drop_specks` cannot call it small.
    """
    return [segment for segment in segments if not _is_dot(segment, components, length)]


def _is_dot(segment: Segment, components: np.ndarray, length: float) -> bool:
    x, y, w, h = segment.box
    longest = max(w, h)
    # Cheap bounds first: a stroke is no thicker than the box is narrow, nor than the disc its ink could fill.
    if longest > length * min(w, h):
        return False
    if longest > length * 2.0 * np.sqrt(np.count_nonzero(components[y:y + h, x:x + w]) / np.pi):
        return False
    return longest <= length * stroke_thickness(components, segment)


# --- 4. Fragments ---------------------------------------------------------


def _union(a: Box, b: Box) -> Box:
    left, top = min(a[0], b[0]), min(a[1], b[1])
    right, bottom = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return left, top, right - left, bottom - top


def belong_together(box, others, height: float, near: bool = True, loose: bool = False) -> np.ndarray:
    """Could ``box`` and each of ``others`` be fragments of one digit? (Arrays of (x, y, w, h) broadcast.)

    - they overlap horizontally by half the narrower box or, with ``near``,
      nearly touch (:data:`NEAR_GAP`) and together are no wider than a digit
      (:data:`NEAR_WIDTH`), as a 5's top bar and its body;
    - the vertical gap between them is small: half the shorter one's height
      or :data:`STACK_GAP` digit heights, whichever is larger;
    - together they are no taller than :data:`MAX_MERGED_HEIGHT` digits;
    - one of them is shorter than :data:`FULL_HEIGHT` (two whole digits
      whose boxes overlap are two digits, read apart).

    ``loose`` is for a ``height`` that may be too small (every digit broken):
    pieces at most :data:`LOOSE_STACK_GAP` apart vertically merge whatever their
    heights, up to twice the usual merged height.
    """
    x, y, w, h = np.moveaxis(np.asarray(box, dtype=float), -1, 0)
    ox, oy, ow, oh = np.moveaxis(np.asarray(others, dtype=float), -1, 0)
    overlap = np.minimum(x + w, ox + ow) - np.maximum(x, ox)
    shorter = np.minimum(h, oh)
    stacked = overlap >= 0.5 * np.minimum(w, ow)
    if near:
        merged_width = np.maximum(x + w, ox + ow) - np.minimum(x, ox)
        stacked |= (overlap >= -NEAR_GAP * height) & (merged_width <= NEAR_WIDTH * height)
    vertical_gap = np.maximum(y, oy) - np.minimum(y + h, oy + oh)
    merged_height = np.maximum(y + h, oy + oh) - np.minimum(y, oy)
    if loose:
        cap = 2 * MAX_MERGED_HEIGHT * height
        return stacked & (vertical_gap <= LOOSE_STACK_GAP * height) & (merged_height <= cap)
    close = vertical_gap <= np.maximum(0.5 * shorter, STACK_GAP * height)
    return (stacked & close & (shorter < FULL_HEIGHT * height)
            & (merged_height <= MAX_MERGED_HEIGHT * height))


def box_distance(boxes, others) -> np.ndarray:
    """Horizontal plus vertical gap between boxes (0 where they overlap); arrays broadcast."""
    x, y, w, h = np.moveaxis(np.asarray(boxes, dtype=float), -1, 0)
    ox, oy, ow, oh = np.moveaxis(np.asarray(others, dtype=float), -1, 0)
    gap_x = np.maximum(0, np.maximum(x, ox) - np.minimum(x + w, ox + ow))
    gap_y = np.maximum(0, np.maximum(y, oy) - np.minimum(y + h, oy + oh))
    return gap_x + gap_y


def merge_fragments(segments: list[Segment], height: float, loose: bool = False) -> list[Segment]:
    """Merge segments that :func:`belong_together`, closest pair first, until nothing changes.

    Closest first, so a digit's own pieces join before a nearby speck can
    claim one of them. Clearly stacked pieces merge before pieces that only
    nearly touch, so a broken 0 becomes whole before it could be taken for a
    fragment of the digit next to it. With ``loose`` (the height's second
    measure, :func:`estimate_height`), two pieces in two lines of writing
    (:func:`between_lines`) are never merged.
    """
    segments = list(segments)
    for near in (False, True):
        while len(segments) > 1:
            boxes = np.array([segment.box for segment in segments], dtype=float)
            together = belong_together(boxes[:, None], boxes[None, :], height, near, loose)
            np.fill_diagonal(together, False)
            if loose:  # whatever their heights, both ways, unless in two lines of writing (_closest)
                together &= together.T
            distance = np.where(together, box_distance(boxes[:, None], boxes[None, :]), np.inf)
            i, j = _closest(distance, boxes, loose)
            if i is None:
                break
            first, second = segments[i], segments[j]
            segments[i] = Segment(_union(first.box, second.box), first.labels + second.labels)
            del segments[j]
    return segments


def _closest(distance: np.ndarray, boxes: np.ndarray, loose: bool) -> tuple[int | None, int | None]:
    """The closest pair ``(i, j)``, ``i < j``, whose ``distance`` is finite (the pairs that may merge), the
    first in row order among equals; with ``loose``, the closest not in two lines of writing
    (:func:`between_lines`, asked of one pair at a time, closest first: a page whose boxes pair up by the
    hundred asks of a few). ``(None, None)`` when there is none."""
    while True:
        flat = int(np.argmin(distance))
        if not np.isfinite(distance.flat[flat]):
            return None, None
        i, j = sorted(int(k) for k in np.unravel_index(flat, distance.shape))
        if not (loose and between_lines(boxes, np.array([[i, j]]))[0]):
            return i, j
        distance[i, j] = distance[j, i] = np.inf  # whatever their heights: two lines are never merged


# --- 5. Reading order -----------------------------------------------------


def order_in_lines(segments: list[Segment], height: float) -> list[Segment]:
    """Segments in reading order, each with its ``line`` index.

    A segment joins the line whose mean centre is within
    :data:`LINE_TOLERANCE` digit heights of its own centre (looking at
    segments from top to bottom); lines are then read top to bottom, and
    each line left to right by box centre.
    """
    lines: list[list[Segment]] = []
    centres: list[list[float]] = []
    for segment in sorted(segments, key=lambda s: s.box[1] + s.box[3] / 2):
        centre = segment.box[1] + segment.box[3] / 2
        for members, line_centres in zip(lines, centres):
            if abs(centre - float(np.mean(line_centres))) <= LINE_TOLERANCE * height:
                members.append(segment)
                line_centres.append(centre)
                break
        else:
            lines.append([segment])
            centres.append([centre])
    ordered = []
    by_top = sorted(zip(lines, centres), key=lambda pair: np.mean(pair[1]))
    for index, (members, _) in enumerate(by_top):
        for segment in sorted(members, key=lambda s: s.box[0] + s.box[2] / 2):
            ordered.append(Segment(segment.box, segment.labels, index, segment.touching, segment.cuts))
    return ordered


# --- All steps ------------------------------------------------------------


def segment(mask: np.ndarray) -> Segmentation:
    """Steps 1-6: blobs (marks left out), scale, specks, fragments (then small groups and dots), reading order,
    touching digits."""
    components, blobs = find_blobs(mask)
    marks = marks_around(blobs, components, SPECK_SIZE * digit_height(blobs))  # first: a frame would set the height
    blobs = [blob for blob in blobs if blob not in marks]
    height = estimate_height(blobs)
    along = marks_along(blobs, height)
    if along:
        marks += along
        blobs = [blob for blob in blobs if blob not in along]
        height = estimate_height(blobs)
    groups = merge_fragments(drop_specks(blobs, height), height)
    groups = drop_dots(drop_specks(groups, height, SMALL_SIZE), components)
    claimed = np.zeros(int(components.max()) + 1, dtype=bool)
    for group in groups + marks:
        claimed[list(group.labels)] = True
    segments = []
    for group in order_in_lines(groups, height):
        x, y, w, h = group.box
        if w > TOUCHING_WIDTH * max(height, h):
            ink, _, _ = segment_ink(components, group, claimed=claimed)
            cuts = [tuple(x + c for c in option) for option in cut_options(ink, height)]
            if w <= CLEARLY_TOUCHING_WIDTH * max(height, h) or not cuts:
                cuts.insert(0, ())  # "no cut": it may be one wide digit
            group = Segment(group.box, group.labels, group.line, True, tuple(cuts))
        segments.append(group)
    return Segmentation(segments, components, height, claimed)
