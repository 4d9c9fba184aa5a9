"""The pieces of ink a line is cut into: step 1 of the segmentation graph (:mod:`digitlab.decode`).

Taught in ``notebooks/06_segmenting_sequences.ipynb`` and, for a pad's strokes,
``notebooks/07_draw_and_read.ipynb``. Pieces are cut too many rather than too
few: the graph can join pieces into one digit, never split one. A photo's
pieces are its blobs, a blob too wide for one digit cut in parts between its
candidate cuts (:func:`line_pieces`); a pad's pieces are its strokes
(:func:`stroke_lines`), which keep a two-stroke 4 or a 5's floating bar two
pieces whether or not they touch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from digitlab.preprocess import Page, ink_box
from digitlab.reader_memory import DrawingMemory
from digitlab.segment import Box, Segment, Segmentation, digit_height
from digitlab.touching import cut_options, segment_ink
from digitlab.strokes import rasterize_window, stroke_points

#: A digit is made of at most this many pieces (a blob cut in parts, or a pad's strokes).
MAX_PIECES = 4
#: At most this many cuts split one wide blob (so the whole blob is still a run of pieces).
MAX_CUTS = MAX_PIECES - 1
#: A blob wider than this many digit heights probably holds touching digits: it is cut in parts (the
#: whole blob stays a candidate).
CUT_WIDER_THAN = 1.2


@dataclass(frozen=True)
class Piece:
    """A piece of ink: a boolean :attr:`mask` over ``region`` (x, y, w, h, grown by a pixel of soft edge),
    and the tight ``box`` of its ink, in working pixels. The mask is kept ``packed``, eight pixels to a
    byte (:meth:`from_mask`): a page's pieces may be hundreds of large, hollow boxes (rings one inside
    another), each a boolean array as large as its box."""

    packed: np.ndarray = field(repr=False)
    region: Box
    box: Box

    @classmethod
    def from_mask(cls, mask: np.ndarray, region: Box, box: Box) -> Piece:
        """A piece whose ``mask`` (h x w of ``region``) is packed."""
        return cls(np.packbits(np.asarray(mask, dtype=bool), axis=None), region, box)

    @property
    def mask(self) -> np.ndarray:
        """The boolean mask over ``region``, unpacked."""
        _, _, width, height = self.region
        return np.unpackbits(self.packed, count=width * height).reshape(height, width).view(bool)


# --- A page's blobs ---------------------------------------------------------


def line_pieces(segmentation: Segmentation) -> list[list[Piece]]:
    """Per line, its pieces in reading order: each blob of each segment, a wide blob cut in parts.

    The segments come in reading order (:func:`digitlab.segment.order_in_lines`), so the pieces that
    segmentation put together stay neighbours, whatever their centres: a broken digit's pieces are
    never interleaved with its neighbour's."""
    lines: list[list[Piece]] = [[] for _ in range(segmentation.line_count)]
    heights = [line_height(segmentation, line) for line in range(segmentation.line_count)]
    for seg in segmentation.segments:  # in reading order; a segment's own pieces left to right
        pieces = [piece for label in seg.labels for piece in
                  _blob_pieces(segmentation, label, _label_box(segmentation.components, seg, label), heights[seg.line])]
        lines[seg.line].extend(sorted(pieces, key=lambda piece: piece.box[0] + piece.box[2] / 2))
    return lines


def _blob_pieces(segmentation: Segmentation, label: int, box: Box, height: float) -> list[Piece]:
    """One blob as a piece, or, wider than :data:`CUT_WIDER_THAN` digit heights, cut in parts
    (:func:`digitlab.touching.cut_options`)."""
    components, claimed = segmentation.components, segmentation.claimed
    blob = Segment(box, (label,))
    if box[2] <= CUT_WIDER_THAN * height:
        mask, region, ink_box = segment_ink(components, blob, grow=1, claimed=claimed)
        return [Piece.from_mask(mask, region, ink_box)]
    ink, _, _ = segment_ink(components, blob, claimed=claimed)
    cuts = sorted(_cut_positions([tuple(box[0] + cut for cut in option) for option in cut_options(ink, height)]))
    bounds = zip([None] + cuts, cuts + [None])
    parts = [segment_ink(components, blob, x0, x1, grow=1, claimed=claimed) for x0, x1 in bounds]
    return [Piece.from_mask(mask, region, ink_box) for mask, region, ink_box in parts if mask is not None]


def _cut_positions(options) -> set[int]:
    """The cut positions of a blob's cut options, in the options' order of preference: all cuts of
    an option of several, and the single cuts of two-digit options up to :data:`MAX_CUTS` (so that
    two digits cut in several places can still be read whole)."""
    positions: list[int] = []
    for option in options:
        for cut in option:
            if cut not in positions and (len(positions) < MAX_CUTS or len(option) > 1):
                positions.append(cut)
    return set(positions)


def _label_box(components: np.ndarray, seg: Segment, label: int) -> Box:
    x, y, w, h = seg.box
    rows, cols = np.nonzero(components[y:y + h, x:x + w] == label)
    return x + int(cols.min()), y + int(rows.min()), int(np.ptp(cols)) + 1, int(np.ptp(rows)) + 1


def line_height(segmentation: Segmentation, line: int) -> float:
    """The typical digit height of one line (:func:`digitlab.segment.digit_height` of its segments)."""
    return digit_height([seg for seg in segmentation.segments if seg.line == line]) or segmentation.digit_height


# --- A pad's strokes --------------------------------------------------------


def stroke_lines(page: Page, segmentation: Segmentation, strokes, pen_width,
                 memory: DrawingMemory | None = None) -> list[list[Piece]]:
    """Per line, the pieces of a pad's ``strokes`` (drawn with ``pen_width``, one or one per stroke) on
    ``page``, the strokes' image prepared, left to right. ``memory``: strokes drawn lately, not drawn again
    (:func:`digitlab.strokes.rasterize_window`).

    A stroke belongs to the line of the segment that holds most of its ink;
    a stroke whose ink no segment holds (a speck the segmentation dropped) is
    left out, as a speck on paper is. Strokes are drawn at the page's scale
    (a pad wider than the working side is read shrunk).
    """
    strokes = list(strokes)
    widths = pen_width if np.ndim(pen_width) else [pen_width] * len(strokes)
    line_of_label = np.full(int(segmentation.components.max()) + 1, -1)
    for seg in segmentation.segments:
        line_of_label[list(seg.labels)] = seg.line
    lines: list[list[Piece]] = [[] for _ in range(segmentation.line_count)]
    for stroke, width in zip(strokes, widths):
        window, (x, y) = rasterize_window(stroke_points(stroke) * page.scale, width * page.scale, page.ink.shape,
                                          memory=memory)
        mask = window > 0
        found = line_of_label[segmentation.components[y:y + mask.shape[0], x:x + mask.shape[1]][mask]]
        found = found[found >= 0]
        if found.size:
            lines[int(np.bincount(found).argmax())].extend(stroke_pieces([mask], corners=[(x, y)]))
    return [sorted(pieces, key=lambda piece: piece.box[0] + piece.box[2] / 2) for pieces in lines]


def stroke_pieces(stroke_masks, corners=None) -> list[Piece]:
    """A pad's strokes as pieces, in the order given: each a boolean mask over the pad's image (soft edges
    included), or over the part of it whose (x, y) corner is the same item of ``corners``.

    Strokes are better pieces than blobs: a two-stroke 4 or a 5 with its bar
    are two pieces whether or not the strokes touch, and two digits whose
    strokes touch are still apart. Empty masks are skipped.
    """
    pieces = []
    for mask, (left, top) in zip(stroke_masks, corners or [(0, 0)] * len(stroke_masks)):
        mask = np.asarray(mask, dtype=bool)
        box = ink_box(mask)
        if box is not None:
            x, y, w, h = box
            box = (x + left, y + top, w, h)
            pieces.append(Piece.from_mask(mask[y:y + h, x:x + w], box, box))
    return pieces
