"""Recognition-based segmentation: which pieces of ink make each digit, decided by the recognizer.

Taught in ``notebooks/06_segmenting_sequences.ipynb``. The method of LeCun,
Bottou, Bengio and Haffner (1998, "heuristic over-segmentation"):

1. :func:`digitlab.ink_pieces.line_pieces`: cut the ink into *pieces*, too
   many rather than too few: every blob of a line, and the parts of a blob
   too wide for one digit between its candidate cuts. A pad gives its
   strokes instead (:func:`digitlab.ink_pieces.stroke_lines`).
2. :func:`candidates`: every run of up to :data:`MAX_PIECES` neighbouring
   pieces might be one digit. Each candidate is normalised relative to the
   line's digit height, so a piece stays small
   (:func:`digitlab.preprocess.normalize_digit`).
3. The recognizer scores every candidate: probabilities of the ten digits
   and of "not one digit" (:func:`digitlab.model.candidate_cnn`).
   :func:`recognizer_edges` makes each candidate an edge of a graph whose
   nodes are the boundaries between pieces: read as its most probable
   digit, or, for a single piece, as no digit at all (a speck). The whole
   line is also an edge, read by the CRNN (:func:`string_edge`) and scored
   by its log-likelihood: a reading that sees every digit in the company
   of its neighbours, touching ones included. The pieces it reads as no
   digit (none of its digits was read near them) pay the price of a speck,
   as on any other path.
4. :func:`best_path`: the reading is the path from the first boundary to
   the last with the highest total log-probability (dynamic programming).

No rule says that a 5's bar belongs to its body or that two touching digits
are two: a grouping wins because the recognizer reads it better than any
other. The only weights are two prices: :data:`DIGIT_COST` per digit read and
:data:`SKIP_COST` per piece read as no digit.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from digitlab.ink_pieces import MAX_PIECES, Piece, line_height, line_pieces
from digitlab.non_digits import NOT_A_DIGIT
from digitlab.preprocess import Page, normalize_digit
from digitlab.reader_memory import DrawingMemory
from digitlab.segment import Box, Segment, Segmentation
from digitlab.touching import segment_ink

#: The graph's two prices, added to a path's cost (-log probability): per digit read (above 0 favours
#: fewer digits) and per piece read as no digit (above 0: ink is seldom there for nothing).
DIGIT_COST = 0.5
SKIP_COST = 6.0
#: The CRNN reads a piece as part of a digit when it emits that digit within this many digit heights of the
#: piece's ink (a digit is about 0.7 heights wide); farther pieces are read as no digit.
READ_REACH = 1.0


@dataclass(frozen=True)
class Candidate:
    """Pieces ``start`` to ``end - 1`` of a line taken as one digit: their ``box`` and the 28x28 ``crop``."""

    start: int
    end: int
    box: Box
    crop: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class Edge:
    """Pieces ``start`` to ``end - 1`` of a line read as the digits ``values`` (none: not a digit, a speck),
    each with its confidence and box; ``cost`` is -log of the reading's probability. ``crop`` is what
    the recognizer saw (None for a string the CRNN read). ``skipped``: how many of its pieces a string
    reads as no digit."""

    start: int
    end: int
    values: tuple[int, ...]
    confidences: tuple[float, ...]
    boxes: tuple[Box, ...]
    cost: float
    crop: np.ndarray | None = field(default=None, repr=False)
    skipped: int = 0


@dataclass(frozen=True)
class Lattice:
    """One line's segmentation graph: its ``pieces``, every scored ``edges`` and the best ``path``."""

    pieces: list[Piece]
    edges: list[Edge] = field(repr=False)
    path: list[Edge]

    @property
    def text(self) -> str:
        return "".join(str(value) for edge in self.path for value in edge.values)


# --- 2. Candidates ----------------------------------------------------------


def candidates(pieces: list[Piece], ink: np.ndarray, height: float, max_pieces: int = MAX_PIECES,
               memory: DrawingMemory | None = None) -> list[Candidate]:
    """Every run of 1 to ``max_pieces`` neighbouring pieces, cropped from ``ink`` (0-1, white on black)
    and normalised relative to the line's digit ``height``. With a ``memory``, the runs whose pieces and ink
    it has seen lately are not cut again (a pad's strokes, read after each new one)."""
    runs = [(start, end) for start in range(len(pieces))
            for end in range(start + 1, min(start + max_pieces, len(pieces)) + 1)]

    def cut(start, end):
        return _crop(pieces[start:end], ink, height)

    crops = [cut(*run) for run in runs] if memory is None else memory.candidates_cut(pieces, ink, height, runs, cut)
    return [Candidate(start, end, union_box([piece.box for piece in pieces[start:end]]), crop)
            for (start, end), crop in zip(runs, crops)]


def union_box(boxes) -> Box:
    """The smallest box (x, y, w, h) holding all ``boxes``."""
    left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
    right, bottom = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    return left, top, right - left, bottom - top


def _crop(pieces: list[Piece], ink: np.ndarray, height: float) -> np.ndarray:
    """The ink of ``pieces`` (their masks combined over the region covering them), normalised for ``height``."""
    x, y, w, h = union_box([piece.region for piece in pieces])
    mask = np.zeros((h, w), dtype=bool)
    for piece in pieces:
        left, top, width, rows = piece.region
        mask[top - y:top - y + rows, left - x:left - x + width] |= piece.mask
    return normalize_digit(ink[y:y + h, x:x + w] * mask, height=height)


# --- 3. Scores, and 4. the best path ------------------------------------------


def recognizer_edges(found: list[Candidate], probabilities: np.ndarray) -> list[Edge]:
    """The edges the recognizer's ``probabilities`` (one row per candidate) give.

    A candidate is read as its most probable digit. With an 11th column,
    "not one digit", a single piece may also be read as no digit at all.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if len(probabilities) != len(found):
        raise ValueError(f"got {len(probabilities)} rows of probabilities for {len(found)} candidates.")
    edges = []
    for candidate, row in zip(found, probabilities):
        value = int(np.argmax(row[:10]))
        edges.append(Edge(candidate.start, candidate.end, (value,), (float(row[value]),), (candidate.box,),
                          _cost(row[value]), candidate.crop))
        if candidate.end - candidate.start == 1 and len(row) > NOT_A_DIGIT:
            edges.append(Edge(candidate.start, candidate.end, (), (), (), _cost(row[NOT_A_DIGIT]), candidate.crop))
    return edges


def string_edge(start: int, end: int, values, confidences, boxes, log_likelihood: float, skipped: int = 0) -> Edge:
    """An edge for pieces read together as a string of digits (the CRNN's reading of a line), scored by
    its log-likelihood: on the same scale as the recognizer's edges. ``skipped`` of its pieces are read as
    no digit (:func:`unread_pieces`)."""
    return Edge(start, end, tuple(int(v) for v in values), tuple(float(c) for c in confidences),
                tuple(tuple(int(v) for v in box) for box in boxes), -float(log_likelihood), skipped=skipped)


def unread_pieces(pieces: list[Piece], centres, height: float, reach: float = READ_REACH) -> int:
    """How many ``pieces`` lie farther than ``reach`` digit heights (``height`` pixels each) from every x in
    ``centres``, where a string's digits were read: pieces the string reads as no digit."""
    limit = reach * height
    return sum(all(max(x - centre, 0.0, centre - (x + w)) > limit for centre in centres)
               for x, _, w, _ in (piece.box for piece in pieces))


def string_boxes(edge: Edge, pieces: list[Piece]) -> list[Box]:
    """The boxes of a CRNN edge's digits, exact where its pieces allow.

    The CRNN's boxes come from its alignment: approximate. Each piece of the
    edge's run goes to the digit whose box centre is nearest its own; when
    every digit gets a piece, a digit's box is the union of its pieces' boxes
    (separate digits, or a digit in several strokes, get their ink's box);
    otherwise (a blob holding two digits) the alignment's boxes stay.
    """
    centres = [x + w / 2 for x, _, w, _ in edge.boxes]
    owned: list[list[Box]] = [[] for _ in edge.boxes]
    for piece in pieces[edge.start:edge.end]:
        middle = piece.box[0] + piece.box[2] / 2
        owned[int(np.argmin([abs(middle - centre) for centre in centres]))].append(piece.box)
    if not all(owned):
        return list(edge.boxes)
    return [union_box(boxes) for boxes in owned]


def _cost(probability: float) -> float:
    return -float(np.log(max(float(probability), 1e-12)))


def best_path(piece_count: int, edges: list[Edge], digit_cost: float = DIGIT_COST,
              skip_cost: float = SKIP_COST) -> list[Edge]:
    """The cheapest path of ``edges`` from boundary 0 to boundary ``piece_count``: the reading of a line.

    Nodes are the boundaries between pieces; an edge from ``start`` to
    ``end`` reads the pieces between them. Every piece is read exactly once,
    as part of a digit or as no digit. An edge costs its ``cost`` plus
    ``digit_cost`` per digit it reads, or ``skip_cost`` if it reads none,
    plus ``skip_cost`` per piece a string reads as no digit (``Edge.skipped``).
    Dynamic programming over the boundaries, left to right (Viterbi).
    """
    cost = np.full(piece_count + 1, np.inf)
    cost[0] = 0.0
    back: list[Edge | None] = [None] * (piece_count + 1)
    for edge in sorted(edges, key=lambda edge: edge.end):
        if not 0 <= edge.start < edge.end <= piece_count:
            raise ValueError(f"an edge from {edge.start} to {edge.end} does not fit {piece_count} pieces.")
        total = (cost[edge.start] + edge.cost + skip_cost * edge.skipped
                 + (digit_cost * len(edge.values) if edge.values else skip_cost))
        if total < cost[edge.end]:
            cost[edge.end], back[edge.end] = total, edge
    if piece_count and back[piece_count] is None:
        raise ValueError("the edges do not connect the first piece to the last.")
    path, node = [], piece_count
    while node > 0:
        path.append(back[node])
        node = back[node].start
    return path[::-1]


# --- All steps -----------------------------------------------------------------


def lattices(page: Page, segmentation: Segmentation, recognize, crnn_model=None, lines=None,
             digit_cost: float = DIGIT_COST, skip_cost: float = SKIP_COST,
             memory: DrawingMemory | None = None) -> list[Lattice]:
    """Each line's segmentation graph, scored, with its best path: steps 1-4 for a whole page.

    ``recognize`` maps (N, 28, 28) crops to (N, 11) probabilities; the
    candidates of all lines go to it in one call. ``lines`` (pieces per
    line, e.g. :func:`digitlab.ink_pieces.stroke_lines`) defaults to the segmentation's blobs
    and the parts of its blobs of touching digits (:func:`digitlab.ink_pieces.line_pieces`).
    ``crnn_model`` (if given) also reads each line whole, in one more call, at its column phases only: the
    extra views of hard lines that mend the CRNN's own readings change about one reading of the graph's in
    3,000 (docs/EXPERIMENTS.md). It reads on a thread of its own while the candidates are cut and classified.
    ``memory`` remembers the candidates cut (:func:`candidates`).
    """
    lines = line_pieces(segmentation) if lines is None else lines
    # TensorFlow lets go of Python's lock while it computes: on two cores, the CRNN and the candidates overlap.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="digitlab-crnn") as crnn_thread:
        reading_lines = (None if crnn_model is None
                         else crnn_thread.submit(_crnn_strings, page, segmentation, lines, crnn_model))
        found = [candidates(pieces, page.ink, line_height(segmentation, line), memory=memory)
                 for line, pieces in enumerate(lines)]
        crops = [candidate.crop for line in found for candidate in line]
        probabilities = recognize(np.stack(crops)) if crops else np.zeros((0, NOT_A_DIGIT + 1), np.float32)
        strings = {} if reading_lines is None else reading_lines.result()
    result, start = [], 0
    for line, (pieces, line_candidates) in enumerate(zip(lines, found)):
        edges = recognizer_edges(line_candidates, probabilities[start:start + len(line_candidates)])
        edges += strings.get(line, [])
        start += len(line_candidates)
        result.append(Lattice(pieces, edges, best_path(len(pieces), edges, digit_cost, skip_cost)))
    return result


def _crnn_strings(page: Page, segmentation: Segmentation, lines, crnn_model) -> dict[int, list[Edge]]:
    """Per line, a :func:`string_edge` for the whole line read by the CRNN (all lines in one call)."""
    from digitlab import crnn

    read = [line for line, pieces in enumerate(lines) if pieces]
    strips, origins = [], []
    for line in read:
        box = union_box([piece.box for piece in lines[line]])
        strip, origin = ink_strip(page, segmentation.components, box, _line_labels(segmentation, line),
                                  segmentation.claimed)
        strips.append(strip)
        origins.append(origin)
    readings = crnn.read_lines(crnn_model, strips, extra_ink_heights=()) if strips else []
    edges: dict[int, list[Edge]] = {}
    for line, (x0, y0), reading in zip(read, origins, readings):
        if reading.values:
            boxes = [(x0 + x, y0 + y, w, h) for x, y, w, h in reading.boxes]
            skipped = unread_pieces(lines[line], [x0 + x for x in reading.centres], line_height(segmentation, line))
            edges[line] = [string_edge(0, len(lines[line]), reading.values, reading.confidences, boxes,
                                       reading.log_likelihood, skipped)]
    return edges


def _line_labels(segmentation: Segmentation, line: int) -> tuple[int, ...]:
    """The blobs (component labels) of a line's segments."""
    return tuple(sorted({label for seg in segmentation.segments if seg.line == line for label in seg.labels}))


def ink_strip(page: Page, components: np.ndarray, box: Box, labels, claimed=None) -> tuple[np.ndarray, tuple[int, int]]:
    """The ink of the blobs ``labels`` within ``box``, with a pixel of soft edge, as a uint8 strip for the
    CRNN (white on black), and the strip's (x, y) corner in working pixels. ``claimed``: as
    :func:`digitlab.touching.segment_ink` takes it (None: no other ink, even specks no segment claimed)."""
    own, (x, y, w, h), _ = segment_ink(components, Segment(box, tuple(labels)), grow=1, claimed=claimed)
    return np.round(page.ink[y:y + h, x:x + w] * own * 255).astype(np.uint8), (x, y)
