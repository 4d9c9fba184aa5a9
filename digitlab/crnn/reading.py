"""Reading lines with a trained CRNN: column phases, extra ink heights, the best text, boxes (notebook 08)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import keras
import numpy as np

from digitlab.crnn.ctc import NUM_CLASSES, Decoded, ctc_log_likelihoods, greedy_decode, softmax
from digitlab.crnn.strips import FRAME_WIDTH, INK_HEIGHT, SIDE_MARGIN, STRIDE, STRIP_HEIGHT, Box, Strip, stack_strips, to_strip
from digitlab.model import MODELS_DIR, compiled_forward, load_model as _load_keras_model

#: Lines are read at this many column phases (moved right 0 to 3 columns), see :func:`read_lines`.
READ_PHASES = STRIDE
#: A hard line (its phases disagree, or a digit is below HARD_BELOW) is read again with its ink this many rows high.
EXTRA_INK_HEIGHTS = (22, 26)
#: Column phases read at each of EXTRA_INK_HEIGHTS (one read as well as four on the development half, in less time).
EXTRA_PHASES = 1
HARD_BELOW = 0.9
DEFAULT_MODEL = MODELS_DIR / "crnn.keras"
#: One model call reads at most this many strip pixels (strips x STRIP_HEIGHT x the widest one's columns,
#: each phase a strip): the shipped CRNN's activations take about 110 MB per million, and calls of half a
#: million run faster per pixel than larger ones (5.2 million pixels a second on 2 cores, 4.4 at a million),
#: so larger calls only cost memory: 289 low bars' strips (31,000 pixels each) at 4 phases in one call took
#: 3.4 GB more than the model.
MAX_BATCH_PIXELS = 2**19
#: :func:`read_lines` reads this many lines at a time, so what it keeps while reading (strips and
#: probabilities, at most about 0.5 MB a line) stays bounded whatever the number of lines.
LINES_PER_GROUP = 256
#: Lines whose strips take more pixels than this in all (at one phase) are read at one phase, with no
#: extra views, so their time grows up to 6 times slower (4 phases, then 2 more views of hard lines):
#: 289 low bars' strips, 9 million pixels, took 23-36 s in full on 2 busy cores, 3 s so. Pages of
#: handwriting (dozens of lines or blobs of touching digits, a few thousand pixels each) and the 256
#: strings a batch of ``string_accuracy`` reads (about 1 million) stay below it, read in full.
FULL_READ_PIXELS = 4 * 2**20


# --- Reading lines --------------------------------------------------------


@dataclass(frozen=True)
class LineReading:
    """What the CRNN read in one line.

    ``boxes`` are approximate (x, y, w, h) in the given image's pixels: the
    line is cut half-way between the frames where CTC emitted neighbouring
    digits, and each part is trimmed to its ink. They are ordered left to
    right and can overlap in height but not in width. ``centres`` are the x
    (image pixels) where each digit was emitted. ``spans`` are each
    digit's (first, last) frame in the reading that was kept, whose strip
    (``to_strip(image, ink_height)``) was moved right by ``shift`` columns
    (see :func:`read_lines`). ``log_likelihood`` is log P(text | line) under
    CTC (:func:`ctc_log_likelihood`), averaged over the phases of the view
    that was kept: the score a segmentation graph compares with the digit
    recognizer's (:mod:`digitlab.decode`).
    """

    values: list[int] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    centres: list[float] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)
    shift: int = 0
    ink_height: int = INK_HEIGHT
    log_likelihood: float = 0.0

    @property
    def text(self) -> str:
        """The digits read, as a string ("" for a line without ink)."""
        return "".join(map(str, self.values))

    @property
    def confidence(self) -> float:
        """The line's confidence: the product of its digits' (1.0 for an empty line)."""
        return float(np.prod(self.confidences)) if self.confidences else 1.0


def _centres(strip: Strip, spans, shift: int = 0) -> list[float]:
    """The image x where each decoded digit was emitted: the middle of its frames. ``shift``: the strip was
    read moved right by this many columns."""
    return [strip.to_image_x(FRAME_WIDTH * (first + last + 1) / 2 - shift) for first, last in spans]


def _boxes_from_alignment(strip: Strip, centres) -> list[Box]:
    """One box per decoded digit: cut half-way between neighbouring digits' ``centres``, trim each part to its ink."""
    ink = strip.ink
    cuts = [0] + [round((a + b) / 2) for a, b in zip(centres, centres[1:])] + [ink.shape[1]]
    line_rows = np.nonzero(ink.any(axis=1))[0]
    boxes = []
    for start, stop in zip(cuts, cuts[1:]):
        start, stop = int(np.clip(start, 0, ink.shape[1] - 1)), int(np.clip(stop, start + 1, ink.shape[1]))
        part = ink[:, start:stop]
        cols, rows = np.nonzero(part.any(axis=0))[0], np.nonzero(part.any(axis=1))[0]
        if cols.size == 0:  # no ink between the cuts: the whole cell at the line's height
            rows, cols = line_rows, np.arange(stop - start)
        boxes.append((start + int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)))
    return boxes


def combine_views(views) -> tuple[int, int, Decoded]:
    """One line read in several views, each (phases, frames, 11) -> (the view and phase to trust, its decoding).

    Each reading is decoded greedily. When they disagree, every text they
    read is scored by its CTC likelihood summed over all readings
    (:func:`ctc_log_likelihoods`; the views may have different frame counts),
    and the first reading of the best text gives the digits, confidences and
    spans.
    """
    decodings = [[greedy_decode(phase) for phase in view] for view in views]
    texts = [["".join(map(str, decoded.values)) for decoded in view] for view in decodings]
    every_text = [text for view in texts for text in view]
    candidates = sorted({text for text in every_text if text})
    if len(set(every_text)) == 1 or not candidates:
        return 0, 0, decodings[0][0]
    likelihoods = [ctc_log_likelihoods(view, candidates) for view in views]  # (readings, candidates) each
    scores = [sum(float(view[:, index].sum()) for view in likelihoods) for index in range(len(candidates))]
    best = candidates[int(np.argmax(scores))]
    view = next(index for index, view_texts in enumerate(texts) if best in view_texts)
    phase = texts[view].index(best)
    return view, phase, decodings[view][phase]


def combine_phases(probabilities: np.ndarray) -> tuple[int, Decoded]:
    """One line read at several column phases (phases, frames, 11) -> (the phase to trust, its decoding).

    :func:`combine_views` with a single view: when the phases disagree, the
    text CTC finds most likely over all of them wins.
    """
    _, phase, decoded = combine_views([probabilities])
    return phase, decoded


def is_hard(probabilities: np.ndarray, unsure_below: float = HARD_BELOW) -> bool:
    """Is a line's reading (phases, frames, 11) worth more views? Yes if its phases disagree or a digit is unsure."""
    decodings = [greedy_decode(phase) for phase in probabilities]
    if len({tuple(decoded.values) for decoded in decodings}) > 1:
        return True
    return any(confidence < unsure_below for confidence in decodings[0].confidences)


def padded_groups(widths, copies: int = 1) -> list[list[int]]:
    """The indices of strips ``widths`` columns wide, narrowest first, in groups that, each strip read
    ``copies`` times, pad to at most :data:`MAX_BATCH_PIXELS` (a strip wider than that goes alone)."""
    groups: list[list[int]] = []
    for index in sorted(range(len(widths)), key=lambda index: widths[index]):
        if groups and (len(groups[-1]) + 1) * copies * STRIP_HEIGHT * widths[index] <= MAX_BATCH_PIXELS:
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


def frame_probabilities(model: keras.Model, strips) -> list[np.ndarray]:
    """Per-frame class probabilities (frames, 11) for each :class:`Strip`, in as few batched model calls as
    :data:`MAX_BATCH_PIXELS` allows (strips of similar widths together, so little is padding)."""
    forward = compiled_forward(model, (STRIP_HEIGHT, None, 1))
    result: list = [None] * len(strips)
    for group in padded_groups([strip.pixels.shape[1] for strip in strips]):
        probabilities = softmax(np.asarray(forward(stack_strips([strips[index].pixels for index in group]))))
        for row, index in enumerate(group):
            result[index] = probabilities[row, :strips[index].frames]
    return result


def phase_probabilities(model: keras.Model, strips, phases: int = READ_PHASES) -> list[np.ndarray]:
    """Each :class:`Strip` read ``phases`` times, moved right by 0, 1, ... columns: (phases, frames, 11) each.

    The lines stay within their blank margin. All readings go through the
    model in as few batched calls as :data:`MAX_BATCH_PIXELS` allows. With
    STRIDE-column poolings, each phase cuts the digits at other places, so
    the readings' mistakes differ.
    """
    if not 1 <= phases <= SIDE_MARGIN:
        raise ValueError(f"phases must be 1 to SIDE_MARGIN ({SIDE_MARGIN}), got {phases}.")
    result: list = [None] * len(strips)
    for group in padded_groups([strip.pixels.shape[1] for strip in strips], phases):
        moved = [replace(strips[index], pixels=np.roll(strips[index].pixels, shift, axis=1))
                 for index in group for shift in range(phases)]
        probabilities = frame_probabilities(model, moved)
        for start, index in zip(range(0, len(moved), phases), group):
            result[index] = np.stack(probabilities[start:start + phases])
    return result


def read_lines(model: keras.Model, images, phases: int = READ_PHASES,
               extra_ink_heights=EXTRA_INK_HEIGHTS, extra_phases: int = EXTRA_PHASES) -> list[LineReading]:
    """Read several lines (2-D, white ink on black, any size) in as few batched model calls as it takes.

    Each line is read at ``phases`` column phases (:func:`phase_probabilities`),
    all lines together. Hard lines (:func:`is_hard`) are read again, together,
    with their ink scaled to each of ``extra_ink_heights`` rows (at
    ``extra_phases`` phases), and :func:`combine_views` keeps the text CTC
    finds most likely over all readings: each view mends some lines another
    misreads (what each adds: ``docs/EXPERIMENTS.md``). ``phases=1`` with no
    extra heights is the plain greedy reading. Lines without ink read as ""
    without reaching the model. Many lines are read :data:`LINES_PER_GROUP`
    at a time, and each model call holds at most :data:`MAX_BATCH_PIXELS`:
    memory stays bounded, however many lines there are. Lines whose strips
    take more than :data:`FULL_READ_PIXELS` are read at one phase, with no
    extra views, so that the time stays bounded too.
    """
    if not 1 <= phases <= SIDE_MARGIN:
        raise ValueError(f"phases must be 1 to SIDE_MARGIN ({SIDE_MARGIN}), got {phases}.")
    images = list(images)
    if sum(strip.pixels.size for strip in map(to_strip, images) if strip is not None) > FULL_READ_PIXELS:
        phases, extra_ink_heights = 1, ()
    return [reading for start in range(0, len(images), LINES_PER_GROUP)
            for reading in _read_group(model, images[start:start + LINES_PER_GROUP], phases,
                                       extra_ink_heights, extra_phases)]


def _read_group(model, images, phases: int, extra_ink_heights, extra_phases: int) -> list[LineReading]:
    """:func:`read_lines` of a group of lines."""
    strips = [to_strip(image) for image in images]
    inked = [index for index, strip in enumerate(strips) if strip is not None]
    # Each inked line's views: (ink height, strip, its phases' probabilities).
    views = {index: [(INK_HEIGHT, strips[index], probabilities)] for index, probabilities
             in zip(inked, phase_probabilities(model, [strips[index] for index in inked], phases))}
    hard = [index for index in inked if extra_ink_heights and is_hard(views[index][0][2])]
    more = [(index, height, to_strip(images[index], height)) for height in extra_ink_heights for index in hard]
    for (index, height, strip), probabilities in zip(more, phase_probabilities(model, [m[2] for m in more],
                                                                            extra_phases)):
        views[index].append((height, strip, probabilities))
    lines = []
    for index in range(len(strips)):
        if index not in views:
            lines.append(LineReading())
            continue
        view, shift, decoded = combine_views([probabilities for _, _, probabilities in views[index]])
        height, strip, probabilities = views[index][view]
        text = "".join(map(str, decoded.values))
        centres = _centres(strip, decoded.spans, shift)
        lines.append(LineReading(
            decoded.values, decoded.confidences, _boxes_from_alignment(strip, centres) if decoded.values else [],
            centres, decoded.spans, shift, height, float(ctc_log_likelihoods(probabilities, [text]).mean()),
        ))
    return lines


def read_line(model: keras.Model, image) -> LineReading:
    """Read one line: 2-D image, WHITE ink on BLACK (fix the polarity first), any height and width."""
    return read_lines(model, [image])[0]


def plot_alignment(strip: Strip, probabilities: np.ndarray, ax=None):
    """The strip over its per-frame probabilities (one row per class, blank on top), sharing columns.

    Bright cells are likely classes; reading the brightest cell of each
    column left to right is :func:`best_path`. Returns the figure.
    """
    import matplotlib.pyplot as plt

    probabilities = np.asarray(probabilities)
    if probabilities.shape != (strip.frames, NUM_CLASSES):
        raise ValueError(f"the strip has {strip.frames} frames, so its probabilities are ({strip.frames}, "
                         f"{NUM_CLASSES}); got {probabilities.shape}: read this strip, not another.")
    if ax is None:
        figure, ax = plt.subplots(figsize=(min(14, 1 + strip.pixels.shape[1] / 22), 3.2), layout="constrained")
    figure = ax.figure
    width, row = strip.pixels.shape[1], 3  # each class row is drawn 3 strip pixels high
    ax.imshow(strip.pixels, cmap="gray", extent=(0, width, STRIP_HEIGHT, 0), interpolation="nearest")
    ax.imshow(probabilities.T, cmap="magma", vmin=0, vmax=1, interpolation="nearest",
              extent=(0, strip.frames * FRAME_WIDTH, STRIP_HEIGHT + 2 + NUM_CLASSES * row, STRIP_HEIGHT + 2))
    ax.set_xlim(0, width)
    ax.set_ylim(STRIP_HEIGHT + 2 + NUM_CLASSES * row, 0)
    ax.set_yticks([STRIP_HEIGHT + 2 + row * (k + 0.5) for k in range(NUM_CLASSES)],
                  ["blank"] + [str(digit) for digit in range(10)], fontsize=7)
    ax.set_xlabel(f"strip column (one frame = {FRAME_WIDTH} columns)")
    return figure


# --- Saved models ---------------------------------------------------------


def load_model(path: str | Path) -> keras.Model:
    """Load a CRNN ``.keras`` file (:class:`digitlab.model.ModelFileError` if missing or damaged)."""
    return _load_keras_model(path, "--model crnn ")


def load_default() -> keras.Model:
    """The shipped ``digitlab/models/crnn.keras`` (see its model card ``crnn.json`` beside it)."""
    return load_model(DEFAULT_MODEL)
