"""Marks: ink drawn around or along the writing (a frame, a circle, an underline) rather than writing.

Taught in ``notebooks/06_segmenting_sequences.ipynb``. A student circles an
answer, frames a result, underlines it twice. A digit sits beside its
neighbours; a mark reaches around them or along them, as no digit does:

- **around** (:func:`marks_around`): another blob lies inside it, its ink on
  all four sides of the other blob's middle (a frame, a circle, even one not
  quite closed). A digit's loop holds no other writing.
- **along** (:func:`marks_along`): it runs under two blobs side by side or
  over them, across their centres, less than half as tall as each, and it
  is longer than a digit is tall (an underline, an overline, a bracket over
  a number). A digit's own pieces do one or the other, not both: a 5's
  floating bar or a 2's base runs along its one digit; a 0 broken in
  halves has its bottom arc under both, but no longer than the 0 is wide,
  and a 0 is taller than wide.

A mark whose ink touches the digits is one blob with them and stays: the
recognizer reads it as it can.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from digitlab.segment import Segment

#: A mark along the writing is less than this fraction of the height of each blob it runs along.
FLAT = 0.5


def marks_around(blobs: list[Segment], components: np.ndarray, writing: float) -> list[Segment]:
    """The blobs with another blob inside them, their ink on its four sides (:func:`is_around`).

    ``writing``: blobs smaller than this both ways (pixels) are specks, which a
    loop may hold (a dotted 0, noise): no blob is a mark for holding one.
    """
    sized = [blob for blob in blobs if max(blob.box[2], blob.box[3]) >= writing]
    if len(sized) < 2:
        return []
    marks = np.zeros(len(sized), dtype=bool)
    for index, other in np.argwhere(_inside(np.array([blob.box for blob in sized], dtype=float))):
        if not marks[index] and is_around(sized[index], sized[other], components):
            marks[index] = True
    return [blob for blob, mark in zip(sized, marks) if mark]


def marks_along(blobs: list[Segment], height: float) -> list[Segment]:
    """The blobs that run under or over two side by side (:func:`runs_along`) and are longer than ``height``
    (the digit height, :func:`digitlab.segment.estimate_height`)."""
    if len(blobs) < 2:
        return []
    boxes = np.array([blob.box for blob in blobs], dtype=float)
    long = boxes[:, 2] > height
    return [blob for blob, mark in zip(blobs, long & runs_along(boxes)) if mark]


def runs_along(boxes: np.ndarray) -> np.ndarray:
    """Per box (an (N, 4) array of (x, y, w, h)): does it run under two others side by side (its middle row
    below their bottoms, their boxes apart), or over two (above their tops), across their centres, less than
    :data:`FLAT` as tall as each? A 5's floating bar runs over its own body, and perhaps over a digit below
    it in the next line, or under one in the line above: never over two side by side."""
    x, y, w, h = boxes.T
    centre, middle = x + w / 2, (y + h / 2)[:, None]
    along = (centre[None, :] >= x[:, None]) & (centre[None, :] <= (x + w)[:, None]) & (h[:, None] < FLAT * h[None, :])
    found = np.zeros(len(boxes), dtype=bool)
    for side in (along & (middle > (y + h)[None, :]), along & (middle < y[None, :])):  # under them, over them
        first_end = np.where(side, (x + w)[None, :], np.inf).min(axis=1)
        last_start = np.where(side, x[None, :], -np.inf).max(axis=1)
        found |= first_end <= last_start
    return found


def _inside(boxes: np.ndarray) -> np.ndarray:
    """``[i, j]``: does box ``j`` lie strictly inside box ``i``?"""
    x, y, w, h = boxes.T
    return ((x[None, :] > x[:, None]) & (y[None, :] > y[:, None])
            & ((x + w)[None, :] < (x + w)[:, None]) & ((y + h)[None, :] < (y + h)[:, None]))


def is_around(blob: Segment, other: Segment, components: np.ndarray) -> bool:
    """Is ``blob``'s ink (one blob: one label) on all four sides of the middle third of ``other`` (whose box
    lies inside ``blob``'s)?"""
    (label,) = blob.labels
    x, y, w, h = blob.box
    ox, oy, ow, oh = other.box
    rows = slice(oy + oh // 3, oy + oh - oh // 3)
    columns = slice(ox + ow // 3, ox + ow - ow // 3)
    sides = (
        components[rows, x:ox], components[rows, ox + ow:x + w],     # left, right
        components[y:oy, columns], components[oy + oh:y + h, columns],  # above, below
    )
    return all((side == label).any() for side in sides)
