"""Method "contours": each segment read alone by the ten-class CNN, the seed's pipeline.

Taught in ``notebooks/06_segmenting_sequences.ipynb``. :class:`digitlab.reader.Reader` runs its four steps:
it finds the boxes (:meth:`~digitlab.reader.Reader.find_boxes`), takes each segment's candidate readings here
(:func:`options`), classifies all their crops in one call (:meth:`~digitlab.reader.Reader.classify`), and
keeps each segment's most confident reading (:func:`assemble`). Method "auto" (:mod:`digitlab.decode`) lets
the recognizer group the pieces instead.
"""

from __future__ import annotations

import numpy as np

from digitlab.preprocess import Page, normalize_digit
from digitlab.reading import Digit, Reading, reading_of, to_input_pixels
from digitlab.segment import SMALL_SIZE, Segmentation
from digitlab.touching import segment_ink

#: One way to read a segment: its pieces, each a (28x28 crop, box) pair.
Option = list[tuple[np.ndarray, tuple]]


def options(page: Page, segmentation: Segmentation) -> list[list[Option]]:
    """Step 2: per segment, its candidate readings (:data:`Option`: pieces of (28x28 crop, box)).

    A segment has one candidate (itself, one piece), or one per candidate
    cut when it is probably touching digits. Each crop holds only the
    segment's own ink (plus a pixel of soft edge), normalised as MNIST.
    """
    return [_segment_options(page, segmentation, seg) for seg in segmentation.segments]


def assemble(page: Page, segmentation: Segmentation, candidates, probabilities) -> Reading:
    """Step 4: keep each segment's most confident candidate; build the :class:`~digitlab.reading.Reading`.

    ``probabilities`` has one row per crop of ``candidates``, in order
    (step 3, :meth:`digitlab.reader.Reader.classify`). A candidate's score
    is the mean log confidence of its pieces.
    """
    digits, start = [], 0
    for seg, segment_options in zip(segmentation.segments, candidates):
        best, best_score = None, -np.inf
        for pieces in segment_options:
            chosen = probabilities[start:start + len(pieces)]
            start += len(pieces)
            score = float(np.mean(np.log(chosen.max(axis=1) + 1e-9)))
            if score > best_score:
                best, best_score = (pieces, chosen), score
        if best is None:
            continue
        for (crop, box), probs in zip(*best):
            digits.append(Digit(
                value=int(np.argmax(probs)),
                confidence=float(np.max(probs)),
                box=to_input_pixels(box, page.scale),
                crop=crop,
                line=seg.line,
                method="contours",
                touching=seg.touching,
                blobs=len(seg.labels),
            ))
    return reading_of(digits, page)


def _segment_options(page: Page, segmentation: Segmentation, seg) -> list[Option]:
    """One option per candidate cut of a touching segment whose pieces all hold ink of a digit's size;
    the segment whole when it is not touching, or when no cut gives such pieces."""
    smallest = SMALL_SIZE * segmentation.digit_height
    found = []
    for cuts in seg.cuts if seg.touching else [()]:
        pieces = [_piece(page, segmentation, seg, x0, x1) for x0, x1 in zip((None,) + cuts, cuts + (None,))]
        if all(piece is not None and (not cuts or max(piece[1][2:]) >= smallest) for piece in pieces):
            found.append(pieces)
    return found or [[_piece(page, segmentation, seg)]]


def _piece(page: Page, segmentation: Segmentation, seg, x0=None, x1=None) -> tuple[np.ndarray, tuple] | None:
    """The 28x28 crop and box of ``seg``'s own ink between columns ``x0`` and ``x1``; None without ink."""
    own, region, box = segment_ink(segmentation.components, seg, x0, x1, grow=1, claimed=segmentation.claimed)
    if own is None:
        return None
    x, y, w, h = region
    return normalize_digit(page.ink[y:y + h, x:x + w] * own), box
