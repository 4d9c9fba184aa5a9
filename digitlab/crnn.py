"""A CRNN read with CTC: whole lines of digits, without cutting them into boxes first.

Taught in ``notebooks/08_beyond_segmentation.ipynb``.

Contours (``notebooks/06_segmenting_sequences.ipynb``) need a gap between
digits; when digits touch or overlap, one blob holds several of them. A CRNN
reads the line as a sequence instead:

1. :func:`to_strip`: the line's ink is fitted into a strip 32 pixels high;
2. :func:`crnn`: convolutions turn every 4 pixel-wide column band into a
   feature vector, 1-D convolutions give it its neighbours' context, and a
   dense layer scores two *frames* of 2 columns each as "blank" or one of the
   ten digits (two frames per band leave room for a blank between two thin
   digits that overlap, such as "11");
3. :func:`ctc_loss` trains it from the text alone (no boxes): CTC sums over
   every alignment of the text to the frames;
4. :func:`greedy_decode` reads it back: the best class of each frame, repeats
   collapsed, blanks dropped ("1 1 _ 1 0 _ 0" -> "1100");
5. :func:`combine_phases`: each line is read at four column phases (moved
   right by 0 to 3 columns, :func:`phase_probabilities`); where the
   readings disagree, the text with the highest CTC likelihood over all four
   (:func:`ctc_log_likelihood`) wins.

:func:`read_line` and :func:`read_lines` do all of this and return a
:class:`LineReading`: the text, the digits, one confidence per digit and an
approximate box per digit (from the CTC alignment). The shipped model is
``digitlab/models/crnn.keras``; ``digitlab train --model crnn`` trains it on
strings of MNIST *training* digits (:func:`training_strings`).
"""

from __future__ import annotations

import contextlib
import json
import time
import weakref
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import keras
import numpy as np
from keras import layers

from digitlab import synth
from digitlab.model import MODELS_DIR, ModelFileError, load_model as _load_keras_model
from digitlab.reader import UNSURE_BELOW

#: Strip geometry: the ink fills INK_HEIGHT rows of STRIP_HEIGHT, SIDE_MARGIN blank columns each side.
STRIP_HEIGHT = 32
INK_HEIGHT = 24
SIDE_MARGIN = 8
#: The convolutions' horizontal stride: one feature vector per 4 strip columns (two 2x poolings).
STRIDE = 4
#: Output frames per feature vector, and the strip columns each frame covers.
SUBFRAMES = 2
FRAME_WIDTH = STRIDE // SUBFRAMES
#: Lines are read at this many column phases (moved right 0 to 3 columns), see :func:`read_lines`.
READ_PHASES = STRIDE
#: A hard line (its phases disagree, or a digit is below HARD_BELOW) is read again with its ink this many rows high.
EXTRA_INK_HEIGHTS = (22, 26)
#: Column phases read at each of EXTRA_INK_HEIGHTS (one read as well as four on the development half, in less time).
EXTRA_PHASES = 1
HARD_BELOW = 0.9
#: Training batches are padded to a multiple of this width (few shapes, few retracings).
BUCKET_WIDTH = 32
#: Training strings are composed in chunks of this many (fresh ones on every pass).
CHUNK_STRINGS = 2048
#: Class 0 is CTC's blank (Keras' ``keras.losses.CTC`` convention); digit d is class d + 1.
BLANK = 0
NUM_CLASSES = 11
MAX_DIGITS = 10
#: A pixel counts as ink (for crops and boxes) above this fraction of the brightest pixel.
INK_THRESHOLD = 0.5
DEFAULT_MODEL = MODELS_DIR / "crnn.keras"

Box = tuple[int, int, int, int]  # (x, y, width, height) in the given image's pixels


# --- From a line image to a strip -----------------------------------------


@dataclass(frozen=True)
class Strip:
    """A line fitted into the CRNN's strip, and how to map strip columns back.

    ``pixels`` is float32 (STRIP_HEIGHT, width) in [0, 1], white ink on black.
    Strip column ``c`` is column ``left + (c - SIDE_MARGIN) / factor`` of the
    original image. ``ink`` is the original image's ink mask (for boxes).
    """

    pixels: np.ndarray
    left: int
    factor: float
    ink: np.ndarray

    @property
    def frames(self) -> int:
        return self.pixels.shape[1] // FRAME_WIDTH

    def to_image_x(self, strip_x: float) -> float:
        return self.left + (strip_x - SIDE_MARGIN) / self.factor


def _unit_gray(image) -> np.ndarray:
    """A 2-D uint8, bool or float image -> float32 in [0, 1]."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(
            f"expected a 2-D grayscale line (white ink on black), got shape {image.shape}; "
            "convert colour images with digitlab.preprocess.to_grayscale and to_ink first."
        )
    if image.size == 0:
        raise ValueError(f"the line image is empty (shape {image.shape}).")
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == bool:
        return image.astype(np.float32)
    if not np.issubdtype(image.dtype, np.number):
        raise TypeError(f"pixels must be numbers, got dtype {image.dtype}.")
    image = image.astype(np.float32)
    if not np.isfinite(image).all():
        raise ValueError("the line image has NaN or infinite pixels.")
    high = float(image.max())
    return image / high if high > 1.0 else np.clip(image, 0.0, 1.0)


def to_strip(image, ink_height: int = INK_HEIGHT) -> Strip | None:
    """Fit a line's ink into a STRIP_HEIGHT-pixel strip; None when the line has no ink.

    The ink's rows are scaled to ``ink_height`` pixels (keeping the aspect ratio)
    and centred; SIDE_MARGIN blank columns go on each side and the width is
    rounded up to a whole number of frames. Brightness is stretched so the
    strongest ink is 1.
    """
    if not 1 <= ink_height <= STRIP_HEIGHT:
        raise ValueError(f"ink_height must be 1 to STRIP_HEIGHT ({STRIP_HEIGHT}) rows, got {ink_height}.")
    gray = _unit_gray(image)
    high = float(gray.max())
    if high <= 0.0:
        return None
    gray = gray / high
    ink = gray > INK_THRESHOLD
    rows, cols = np.nonzero(ink.any(axis=1))[0], np.nonzero(ink.any(axis=0))[0]
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    crop = gray[top:bottom, left:right]
    factor = ink_height / crop.shape[0]
    width = max(1, round(crop.shape[1] * factor))
    if width > 40 * ink_height:  # a 2-pixel-high smear would become kilometres of strip
        factor, width = 40 * ink_height / crop.shape[1], 40 * ink_height
    height = max(1, round(crop.shape[0] * factor))
    resized = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    total = width + 2 * SIDE_MARGIN
    total = -(-total // STRIDE) * STRIDE
    pixels = np.zeros((STRIP_HEIGHT, total), dtype=np.float32)
    y = (STRIP_HEIGHT - height) // 2
    pixels[y:y + height, SIDE_MARGIN:SIDE_MARGIN + width] = np.clip(resized, 0.0, 1.0)
    return Strip(pixels, int(left), float(factor), ink)


def stack_strips(strips, multiple: int = STRIDE) -> np.ndarray:
    """Strips of different widths -> one float32 batch (N, STRIP_HEIGHT, W, 1), padded on the right with black."""
    width = max(strip.shape[1] for strip in strips)
    width = -(-width // multiple) * multiple
    batch = np.zeros((len(strips), STRIP_HEIGHT, width, 1), dtype=np.float32)
    for index, strip in enumerate(strips):
        batch[index, :, :strip.shape[1], 0] = strip
    return batch


# --- The model ------------------------------------------------------------


def _conv_bn(x, filters: int, kernel_size, conv=layers.Conv2D):
    """Convolution (no bias: batch norm has one) -> batch norm -> ReLU."""
    x = conv(filters, kernel_size, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


#: Layers of the residual blocks of :func:`crnn` are named "residual_<block>_...".
RESIDUAL_PREFIX = "residual_"


def residual_block_count(model: keras.Model) -> int:
    """How many residual blocks (:func:`crnn`'s ``residual_blocks``) ``model`` has."""
    return sum(layer.name.startswith(RESIDUAL_PREFIX) and layer.name.endswith("_conv_a") for layer in model.layers)


def new_layers(model: keras.Model, source: keras.Model) -> list[str]:
    """The residual blocks' layers (:func:`crnn`) of ``model`` that ``source`` lacks: those a warm start skips.

    ``digitlab train --model crnn --init SOURCE --residual-blocks N`` copies
    every other layer from ``source`` (:func:`digitlab.model.warm_start`)
    and leaves these as they start: adding nothing.
    """
    names = {layer.name for layer in source.layers}
    return [layer.name for layer in model.layers if layer.name.startswith(RESIDUAL_PREFIX) and layer.name not in names]


def crnn(width: int = 16, sequence_units: int = 128, sequence_layers: int = 2,
         kernel_size: int = 5, dropout: float = 0.2, residual_blocks: int = 0) -> keras.Model:
    """A small CRNN: strip (32, W, 1) -> logits (W / 2, 11) for CTC (class 0 is blank).

    - Convolutions: ``width`` filters at full size, then 2x, 4x, 4x, with
      2x2 poolings twice (32 -> 8 rows, W -> W / 4 columns) and 2x1 once more
      (8 -> 4 rows): each column sees a 4-pixel-wide band and its neighbours.
    - ``residual_blocks`` more pairs of 3x3 convolutions on those 4 rows, each
      pair added to its input (He et al., 2016). The second batch norm of
      a pair starts at zero (Goyal et al., 2017), so a new block adds
      nothing until it learns: a trained CRNN grows deeper without losing
      what it reads (:func:`new_layers`, ``digitlab train --init
      --residual-blocks``).
    - The 4 remaining rows are flattened into one feature vector per column.
    - Sequence: ``sequence_layers`` residual 1-D convolutions of ``kernel_size``
      columns (faster than a recurrent layer on a CPU, and wide enough to
      see a whole digit and its neighbours).
    - A dense layer scores SUBFRAMES frames per column: logits, as CTC's
      loss and decoder take them. With one frame per 4 pixels, two
      overlapping "1"s had no room for the blank that must separate them.
    """
    inputs = keras.Input((STRIP_HEIGHT, None, 1), name="strip")
    x = _conv_bn(inputs, width, 3)
    x = layers.MaxPooling2D(2)(x)                          # 16 x W/2
    x = _conv_bn(x, 2 * width, 3)
    x = layers.MaxPooling2D(2)(x)                          # 8 x W/4
    x = _conv_bn(x, 4 * width, 3)
    x = layers.MaxPooling2D((2, 1))(x)                     # 4 x W/4
    x = _conv_bn(x, 4 * width, 3)
    for block in range(1, residual_blocks + 1):
        name = f"{RESIDUAL_PREFIX}{block}"
        y = layers.Conv2D(4 * width, 3, padding="same", use_bias=False, name=f"{name}_conv_a")(x)
        y = layers.ReLU()(layers.BatchNormalization(name=f"{name}_norm_a")(y))
        y = layers.Conv2D(4 * width, 3, padding="same", use_bias=False, name=f"{name}_conv_b")(y)
        y = layers.BatchNormalization(gamma_initializer="zeros", name=f"{name}_norm_b")(y)
        x = layers.ReLU()(layers.Add()([x, y]))
    # (batch, rows, frames, channels) -> (batch, frames, rows * channels)
    x = layers.Permute((2, 1, 3))(x)
    x = layers.Reshape((-1, (STRIP_HEIGHT // 8) * 4 * width))(x)
    x = layers.Dense(sequence_units, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    for _ in range(sequence_layers):
        context = _conv_bn(layers.Dropout(dropout)(x), sequence_units, kernel_size, conv=layers.Conv1D)
        x = layers.Add()([x, context])
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(SUBFRAMES * NUM_CLASSES, name="frame_scores")(x)
    outputs = layers.Reshape((-1, NUM_CLASSES), name="logits")(x)  # (columns, 2 * 11) -> (frames, 11)
    return keras.Model(inputs, outputs, name="crnn")


# --- CTC: labels, loss and decoding ---------------------------------------


def encode_labels(texts, max_digits: int = MAX_DIGITS) -> np.ndarray:
    """Texts of digits -> int32 (N, max_digits): digit d becomes class d + 1, padded with 0 (blank)."""
    labels = np.zeros((len(texts), max_digits), dtype=np.int32)
    for row, text in enumerate(texts):
        if not 1 <= len(text) <= max_digits or not text.isdigit():
            raise ValueError(f"each text must be 1 to {max_digits} digits, got {text!r}.")
        labels[row, :len(text)] = [int(digit) + 1 for digit in text]
    return labels


def ctc_loss() -> keras.losses.Loss:
    """Keras' CTC loss: labels from :func:`encode_labels`, logits (N, frames, 11), blank = class 0."""
    return keras.losses.CTC()


def softmax(logits: np.ndarray) -> np.ndarray:
    """Per-frame probabilities from logits (numpy, last axis)."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class Decoded:
    """A greedy CTC decoding: the digits, their confidences and the frames (first, last) of each."""

    values: list[int]
    confidences: list[float]
    spans: list[tuple[int, int]]


def greedy_decode(probabilities: np.ndarray) -> Decoded:
    """Best path decoding of one line's (frames, 11) probabilities.

    Take each frame's most likely class, merge runs of the same class, drop
    blanks: "1 1 _ 1 0 _ 0" gives 1, 1, 0, 0 ("1100"); a repeated digit needs
    a blank between its two runs. A digit's confidence is the highest
    probability any frame of its run gives it.
    """
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2 or probabilities.shape[1] != NUM_CLASSES:
        raise ValueError(f"expected (frames, {NUM_CLASSES}) probabilities, got shape {probabilities.shape}.")
    best = probabilities.argmax(axis=1)
    values, confidences, spans = [], [], []
    previous = BLANK
    for frame, label in enumerate(best):
        if label != BLANK and label == previous:
            first, _ = spans[-1]
            spans[-1] = (first, frame)
            confidences[-1] = max(confidences[-1], float(probabilities[frame, label]))
        elif label != BLANK:
            values.append(int(label) - 1)
            confidences.append(float(probabilities[frame, label]))
            spans.append((frame, frame))
        previous = label
    return Decoded(values, confidences, spans)


# --- Reading lines --------------------------------------------------------


@dataclass(frozen=True)
class LineReading:
    """What the CRNN read in one line.

    ``boxes`` are approximate (x, y, w, h) in the given image's pixels: the
    line is cut half-way between the frames where CTC emitted neighbouring
    digits, and each part is trimmed to its ink. They are ordered left to
    right and can overlap in height but not in width. ``spans`` are each
    digit's (first, last) frame in the reading that was kept, whose strip
    (``to_strip(image, ink_height)``) was moved right by ``shift`` columns
    (see :func:`read_lines`).
    """

    text: str
    values: list[int] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)
    shift: int = 0
    ink_height: int = INK_HEIGHT

    @property
    def confidence(self) -> float:
        """The line's confidence: the product of its digits' (1.0 for an empty line)."""
        return float(np.prod(self.confidences)) if self.confidences else 1.0


def _boxes_from_alignment(strip: Strip, spans, shift: int = 0) -> list[Box]:
    """One box per decoded digit: cut between neighbouring digits' frames, trim each part to its ink.

    ``shift``: the strip was read moved right by this many columns.
    """
    centres = [strip.to_image_x(FRAME_WIDTH * (first + last + 1) / 2 - shift) for first, last in spans]
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


def ctc_log_likelihood(probabilities: np.ndarray, text: str) -> float | np.ndarray:
    """log P(text | frames) under CTC: the sum over *every* alignment of ``text`` to the frames.

    ``probabilities`` is one reading (frames, 11) or several of the same
    frames count (readings, frames, 11); returns a float or one per reading.
    The forward algorithm runs over ``text`` with blanks around each digit
    ("_1_1_"): a state may stay, move to the next one, or skip a blank
    between two different digits. :func:`ctc_log_likelihoods` scores several
    texts at once.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    single = probabilities.ndim == 2
    result = ctc_log_likelihoods(probabilities[None] if single else probabilities, [text])[:, 0]
    return float(result[0]) if single else result


def ctc_log_likelihoods(probabilities: np.ndarray, texts) -> np.ndarray:
    """:func:`ctc_log_likelihood` of each of ``texts`` in one pass: (readings, frames, 11) -> (readings, texts).

    The texts' state sequences run side by side, each padded at its end with
    impossible states (nothing flows backwards, so they change no figure).
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 3 or probabilities.shape[2] != NUM_CLASSES:
        raise ValueError(f"expected (readings, frames, {NUM_CLASSES}) probabilities, got shape {probabilities.shape}.")
    texts = list(texts)
    if not texts:
        raise ValueError("need at least one text to score.")
    for text in texts:
        if not isinstance(text, str) or (text and not text.isdigit()):
            raise ValueError(f"texts must be strings of digits, got {text!r}.")
    lengths = np.array([len(text) for text in texts])
    states = np.full((len(texts), 2 * lengths.max() + 1), BLANK)     # (texts, states)
    for row, text in enumerate(texts):
        states[row, 1:2 * len(text):2] = [int(digit) + 1 for digit in text]
    possible = np.arange(states.shape[1]) <= 2 * lengths[:, None]
    may_skip = np.zeros(states.shape, dtype=bool)
    may_skip[:, 2:] = (states[:, 2:] != BLANK) & (states[:, 2:] != states[:, :-2])
    # (readings, frames, texts, states); states past a text's end are impossible.
    log_p = np.where(possible, np.log(probabilities[:, :, states] + 1e-30), -np.inf)
    # alpha with two impossible states in front, so the moves are views of it, not new arrays.
    padded = np.full((len(probabilities), len(texts), states.shape[1] + 2), -np.inf)
    alpha, moved, skipped = padded[..., 2:], padded[..., 1:-1], padded[..., :-2]
    alpha[..., :2] = log_p[:, 0, :, :2]
    for frame in range(1, probabilities.shape[1]):
        alpha[:] = np.logaddexp(np.logaddexp(alpha, moved), np.where(may_skip, skipped, -np.inf)) + log_p[:, frame]
    rows = np.arange(len(texts))
    last, before_last = alpha[:, rows, 2 * lengths], alpha[:, rows, np.maximum(2 * lengths - 1, 0)]
    return np.where(lengths > 0, np.logaddexp(last, before_last), last)


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


_COMPILED = weakref.WeakKeyDictionary()


def _forward(model):
    """``model(x, training=False)`` compiled once per model, for any batch size and strip width.

    Calling a Keras model eagerly runs its ~25 layers one by one (about
    25 ms a line here); the compiled graph reads a line in a few ms. Other
    callables (test doubles) are called as they are.
    """
    if not isinstance(model, keras.Model):
        return model
    if model not in _COMPILED:
        import tensorflow as tf

        signature = [tf.TensorSpec((None, STRIP_HEIGHT, None, 1), tf.float32)]
        reference = weakref.ref(model)  # the cache must not keep the model alive

        def forward(batch):
            return reference()(batch, training=False)

        _COMPILED[model] = tf.function(forward, input_signature=signature)
    return _COMPILED[model]


def frame_probabilities(model: keras.Model, strips) -> list[np.ndarray]:
    """Per-frame class probabilities (frames, 11) for each :class:`Strip`, in one batched model call."""
    if not strips:
        return []
    batch = stack_strips([strip.pixels for strip in strips])
    probabilities = softmax(np.asarray(_forward(model)(batch)))
    return [probabilities[index, :strip.frames] for index, strip in enumerate(strips)]


def phase_probabilities(model: keras.Model, strips, phases: int = READ_PHASES) -> list[np.ndarray]:
    """Each :class:`Strip` read ``phases`` times, moved right by 0, 1, ... columns: (phases, frames, 11) each.

    The lines stay within their blank margin and all readings go through
    the model in one batched call. With STRIDE-column poolings, each phase
    cuts the digits at other places, so the readings' mistakes differ.
    """
    if not 1 <= phases <= SIDE_MARGIN:
        raise ValueError(f"phases must be 1 to SIDE_MARGIN ({SIDE_MARGIN}), got {phases}.")
    moved = [replace(strip, pixels=np.roll(strip.pixels, shift, axis=1)) for strip in strips for shift in range(phases)]
    probabilities = frame_probabilities(model, moved)
    return [np.stack(probabilities[start:start + phases]) for start in range(0, len(probabilities), phases)]


def read_lines(model: keras.Model, images, phases: int = READ_PHASES,
               extra_ink_heights=EXTRA_INK_HEIGHTS, extra_phases: int = EXTRA_PHASES) -> list[LineReading]:
    """Read several lines (2-D, white ink on black, any size) in as few batched model calls as it takes.

    Each line is read at ``phases`` column phases (:func:`phase_probabilities`),
    all lines in one call. Hard lines (:func:`is_hard`) are read again, in a
    second call, with their ink scaled to each of ``extra_ink_heights`` rows
    (at ``extra_phases`` phases), and :func:`combine_views` keeps the text CTC
    finds most likely over all readings. On 4,000 touching strings of the
    development half of the test digits (:func:`digitlab.data.test_half`),
    the shipped CRNN reads 93.05 % of the lines right with one phase,
    94.30 % with four, 94.55 % with the extra heights too (extra heights
    are read at one phase each: as good as four, and faster). About a fifth of
    such lines are hard. ``phases=1`` with no extra heights is the plain
    greedy reading. Lines without ink read as "" without reaching the model.
    """
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
            lines.append(LineReading(""))
            continue
        view, shift, decoded = combine_views([probabilities for _, _, probabilities in views[index]])
        height, strip, _ = views[index][view]
        lines.append(LineReading(
            "".join(map(str, decoded.values)), decoded.values, decoded.confidences,
            _boxes_from_alignment(strip, decoded.spans, shift) if decoded.values else [], decoded.spans, shift,
            height,
        ))
    return lines


def read_line(model: keras.Model, image) -> LineReading:
    """Read one line: 2-D image, WHITE ink on BLACK (fix the polarity first), any height and width."""
    return read_lines(model, [image])[0]


# --- Combining with contours ("auto") ------------------------------------

#: Method "auto" swaps an unsure contour digit for the CRNN's only when the CRNN is surer of its own by this much.
SWAP_MARGIN = 0.2


def prefer_crnn(contour_text: str, contour_confidences, touching, line: LineReading,
                unsure_below: float = UNSURE_BELOW) -> bool:
    """Should a line read by contours take the CRNN's whole reading instead? The line rule of method "auto".

    A line with a blob of ``touching`` digits goes to the CRNN (segmentation
    is guessing there). So does a line where the CRNN reads *more* digits
    than contours with a line confidence of at least ``unsure_below``: two
    overlapping digits can make one blob that looks like one digit ("11"
    read as "1"), and no confidence of the CNN shows it. When both read the
    same number of digits, the line stays with contours and the digits are
    weighed one by one (:func:`swap_unsure`). Otherwise (the counts differ)
    the CRNN's reading wins only if contours had a digit below
    ``unsure_below`` *and* the CRNN is the more confident (product of its
    digits' confidences against the contour digits'). A CRNN that reads
    nothing never wins.
    """
    if not line.text:
        return False
    if any(touching):
        return True
    if len(line.text) > len(contour_text) and line.confidence >= unsure_below:
        return True
    if len(line.text) == len(contour_text):
        return False
    contour_confidences = list(contour_confidences)
    unsure = any(confidence < unsure_below for confidence in contour_confidences)
    contour_confidence = float(np.prod(contour_confidences)) if contour_confidences else 0.0
    return unsure and line.confidence > contour_confidence


def swap_unsure(contour_text: str, contour_confidences, contour_blobs, line: LineReading,
                unsure_below: float = UNSURE_BELOW, margin: float = SWAP_MARGIN) -> list[int]:
    """Positions where method "auto" takes the CRNN's digit into a line that keeps its contour reading.

    Only when both read the same number of digits (so position k is the
    same digit for both): a contour digit below ``unsure_below`` that the
    CRNN reads otherwise, with a confidence higher by more than ``margin``,
    and whose segment joins several ink blobs (``contour_blobs``, one count
    per digit: :attr:`digitlab.reader.Digit.blobs`). Only the unsure digit
    changes: taking the CRNN's whole line there would also take its
    mistakes on digits the CNN was sure of.

    These are candidates: :meth:`digitlab.reader.Reader.combine` swaps one
    only if the CRNN, reading the digit's crop by itself, agrees
    (:func:`reads_alone_as`).

    Why only digits of several blobs: a digit in one piece is exactly what
    the CNN was trained on, and on such digits the CRNN is the weaker
    reader; where segmentation had to join pieces (a broken stroke, a bar
    that does not touch), the crop may hold the wrong pieces, and the CRNN,
    which read the line's ink whole, is the better judge. On strings of the
    test digits' development half (seeds 102 and 103, 2,000 per seed and
    set), swapping one-blob digits too read 3,936 strings with gaps where
    this rule reads 3,952 (contours alone 3,951), and the same 3,790 with
    broken strokes. With seeds 100 and 101, all 24 swaps in strings with
    gaps were of one-blob digits (a few ambiguous digits, drawn again and
    again), and 19 of them made the digit wrong.

    The margin was chosen on strings of MNIST *training* digits that no
    shipped model trained on (``benchmarks/read_bench.py --digits
    validation``), where margins of 0.05-0.2 read about alike. On 2,000
    strings per set of those digits and 2,000 of the development half,
    0.2 rather than 0.1 read the same strings with gaps and 4 more with
    broken strokes.
    """
    contour_blobs = list(contour_blobs)
    if len(contour_blobs) != len(contour_text):
        raise ValueError(f"need one blob count per contour digit, got {len(contour_blobs)} for "
                         f"{len(contour_text)} digits.")
    if len(line.text) != len(contour_text):
        return []
    return [
        position
        for position, (contour_digit, crnn_digit, contour_confidence, crnn_confidence, blobs)
        in enumerate(zip(contour_text, line.text, contour_confidences, line.confidences, contour_blobs))
        if contour_digit != crnn_digit and contour_confidence < unsure_below
        and crnn_confidence > contour_confidence + margin and blobs > 1
    ]


def reads_alone_as(model: keras.Model, crops, digits) -> list[bool]:
    """Does the CRNN read each crop, by itself, as exactly its digit? One batched call for all.

    The second opinion of method "auto" before it swaps a digit
    (:func:`swap_unsure`): a CRNN that reads the digit otherwise in its line
    may have been misled by its neighbours. Chosen with the CRNN shipped
    before this one, on strings of training digits no shipped model trained
    on (2,000 per set): asking it lifted "auto" from 99.90 to 99.95 % on
    strings with gaps (contours: 99.95) and from 95.25 to 95.35 % on broken
    strokes; on the 5,000 digits of the seed-0 validation split, from 97.50
    to 97.60 % (contours 97.40) and from 93.70 to 94.00 %.
    """
    if len(crops) != len(digits):
        raise ValueError(f"need one digit per crop, got {len(crops)} crops and {len(digits)} digits.")
    return [reading.text == str(digit) for reading, digit in zip(read_lines(model, list(crops)), digits)]


# --- Pictures -------------------------------------------------------------


def best_path(probabilities: np.ndarray) -> str:
    """Each frame's most likely class as one character: "_" for blank, else the digit."""
    return "".join("_" if label == BLANK else str(label - 1) for label in np.asarray(probabilities).argmax(axis=1))


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


# --- Training strings -----------------------------------------------------

#: How training strings vary (per string; see :func:`digitlab.synth.make_dataset`).
STRING_OPTIONS = {
    "length": (1, MAX_DIGITS),
    "scale": (0.6, 1.5),
    "jitter": (0.0, 0.15),
    "slant": (-0.15, 0.3),
    "stroke": (-1, 2),
    "noise": (0.0, 0.04),
    "invert_fraction": 0.5,
}
#: Gaps from wide to none, then overlaps from none to half a digit.
SPACED_OPTIONS = {"gap": (0.0, 0.8)}
OVERLAPPING_OPTIONS = {"overlap": (0.0, 0.5)}


#: Shares of the training strings: overlapping ones, and (among those) ones with the digits as written.
OVERLAPPING_FRACTION = 0.6
PLAIN_FRACTION = 0.5


def check_fractions(overlapping_fraction: float, plain_fraction: float) -> None:
    """Raise ``ValueError`` unless 0 <= plain_fraction <= overlapping_fraction <= 1 (:func:`training_strings`' shares)."""
    if not 0.0 <= plain_fraction <= overlapping_fraction <= 1.0:
        raise ValueError(f"need 0 <= plain_fraction <= overlapping_fraction <= 1, "
                         f"got {plain_fraction} and {overlapping_fraction}.")


def training_strings(n: int, seed: int = 0, mnist=None, split: str = "train",
                     overlapping_fraction: float = OVERLAPPING_FRACTION, plain_fraction: float = PLAIN_FRACTION):
    """``n`` seeded strings of 1-10 digits: spaced ones, then overlapping ones, both polarities.

    Of the overlapping ones, ``plain_fraction`` of ``n`` keep every digit as
    MNIST wrote it (no change of scale, slant, stroke or height, no noise):
    the harder shapes teach robustness, the plain ones keep the model sharp
    on digits as they come. ``mnist`` is a ``load_mnist()``-style tuple
    ((x_train, y_train), (x_test, y_test)); ``split`` picks which half the
    digits come from (training uses "train").
    """
    check_fractions(overlapping_fraction, plain_fraction)
    overlapping = round(n * overlapping_fraction)
    plain = round(n * plain_fraction)
    strings = synth.make_dataset(n - overlapping, split=split, seed=seed, mnist=mnist,
                                 **STRING_OPTIONS, **SPACED_OPTIONS)
    varied = synth.make_dataset(overlapping - plain, split=split, seed=seed + 1, mnist=mnist,
                                **STRING_OPTIONS, **OVERLAPPING_OPTIONS)
    as_written = synth.make_dataset(plain, split=split, seed=seed + 2, mnist=mnist, length=STRING_OPTIONS["length"],
                                    invert_fraction=STRING_OPTIONS["invert_fraction"], **OVERLAPPING_OPTIONS)
    strings.sequences.extend(varied.sequences + as_written.sequences)
    return strings


def describe_training_strings(overlapping_fraction: float = OVERLAPPING_FRACTION,
                              plain_fraction: float = PLAIN_FRACTION) -> str:
    """What :func:`training_strings` makes with these shares, in words (the model card's ``training_strings``)."""
    options = {**STRING_OPTIONS, **SPACED_OPTIONS, **OVERLAPPING_OPTIONS}

    def percent(name):
        low, high = options[name]
        return f"{low * 100:g}-{high * 100:g} %"

    def span(name):
        low, high = options[name]
        return f"{low:g}-{high:g}"

    stroke_low, stroke_high = options["stroke"]
    invert = options["invert_fraction"]
    polarity = "half" if invert == 0.5 else f"{invert * 100:g} %"
    return (
        f"{(1 - overlapping_fraction) * 100:g} % spaced (gap {percent('gap')}) and "
        f"{(overlapping_fraction - plain_fraction) * 100:g} % overlapping ({percent('overlap')}) with "
        f"scale {span('scale')}, vertical jitter {percent('jitter')}, slant {span('slant')}, "
        f"stroke {stroke_low:+d} to {stroke_high:+d} px, noise {percent('noise')}, "
        f"{plain_fraction * 100:g} % overlapping ({percent('overlap')}) with the digits as written; "
        f"{polarity} dark on light"
    )


def touching_strings(n: int = 200, seed: int = 7, mnist=None):
    """The benchmark's strings: 4-8 MNIST *test* digits, 10-40 % overlap, seeded."""
    return synth.make_dataset(n, length=(4, 8), split="test", seed=seed, mnist=mnist, overlap=(0.1, 0.4))


def spaced_strings(n: int = 200, seed: int = 8, mnist=None):
    """5 MNIST *test* digits with gaps (no touching), seeded: what contours read well."""
    return synth.make_dataset(n, length=5, split="test", seed=seed, mnist=mnist, gap=(0.15, 0.5))


def _white_on_black(sequence) -> np.ndarray:
    """A composed string's image with its ink white, through the reader's own polarity fix."""
    from digitlab.preprocess import to_grayscale, to_ink

    return to_ink(to_grayscale(sequence.image), "auto")


class StripBatches:
    """Batches of (strips, labels) for ``model.fit``: lines of similar width together.

    ``strings`` is either a fixed set of lines (validation: the same lines
    every pass) or a function ``make(count, pass_index, chunk_index)``
    returning ``count`` fresh lines, with ``per_pass`` lines made per pass in
    chunks of CHUNK_STRINGS (training: the model never sees the same composed
    line twice, only the same digits in new company). Within a chunk, lines
    are sorted by width and cut into batches, padded to a multiple of
    BUCKET_WIDTH, so a batch carries little padding and Keras traces only a
    few input shapes; the batches' order is shuffled. :meth:`dataset` gives
    a ``tf.data.Dataset`` whose width is declared variable (a
    ``keras.utils.PyDataset`` would fix it from its first batches).
    """

    def __init__(self, strings, batch_size: int = 64, shuffle: bool = True, seed: int = 0,
                 per_pass: int | None = None, shift: int = 0):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        if not 0 <= shift <= SIDE_MARGIN:
            raise ValueError(f"shift must be 0 to SIDE_MARGIN ({SIDE_MARGIN}) columns, got {shift}.")
        self.shift = shift
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.rng = np.random.default_rng(seed)
        self.passes = 0
        if callable(strings):
            if per_pass is None or per_pass < 1:
                raise ValueError(f"fresh lines need per_pass, the lines to make per pass (at least 1), got {per_pass}.")
            whole, rest = divmod(per_pass, CHUNK_STRINGS)
            self.make, self.fixed = strings, None
            self.chunk_sizes = [CHUNK_STRINGS] * whole + ([rest] if rest else [])
        else:
            self.make, self.fixed = None, self._encode(strings)
            self.chunk_sizes = [len(strings)]

    @staticmethod
    def _encode(strings):
        """Lines -> (uint8 strips, int32 labels), the strips kept small until a batch needs them."""
        strips = [to_strip(_white_on_black(sequence)) for sequence in strings]
        pixels = [np.round(strip.pixels * 255).astype(np.uint8) for strip in strips]
        return pixels, encode_labels([sequence.text for sequence in strings])

    def _chunk(self, pass_index: int, chunk_index: int):
        if self.make is None:
            return self.fixed
        return self._encode(self.make(self.chunk_sizes[chunk_index], pass_index, chunk_index))

    def _split(self, strips) -> list[np.ndarray]:
        """Indices of each batch: sorted by width (ties shuffled), then cut into runs of batch_size."""
        widths = np.array([strip.shape[1] for strip in strips])
        tie_breaker = self.rng.random(len(widths)) if self.shuffle else np.arange(len(widths))
        order = np.lexsort((tie_breaker, widths))
        return np.array_split(order, -(-len(order) // self.batch_size))

    def __len__(self) -> int:
        return sum(-(-size // self.batch_size) for size in self.chunk_sizes)

    def batches(self):
        """One pass: (float32 strips (N, 32, W, 1), int32 labels (N, MAX_DIGITS)) per batch."""
        pass_index, self.passes = self.passes, self.passes + 1
        for chunk_index in range(len(self.chunk_sizes)):
            strips, labels = self._chunk(pass_index, chunk_index)
            order = self._split(strips)
            if self.shuffle:
                self.rng.shuffle(order)
            for members in order:
                lines = [strips[member] for member in members]
                if self.shift:
                    lines = [np.roll(line, offset, axis=1)
                             for line, offset in zip(lines, self.rng.integers(0, self.shift, len(lines)))]
                batch = stack_strips(lines, multiple=BUCKET_WIDTH)
                yield batch / np.float32(255.0), labels[members]

    def dataset(self):
        """The batches as a ``tf.data.Dataset`` (a new pass on every epoch, prefetched)."""
        import tensorflow as tf

        signature = (
            tf.TensorSpec((None, STRIP_HEIGHT, None, 1), tf.float32),
            tf.TensorSpec((None, MAX_DIGITS), tf.int32),
        )
        batches = tf.data.Dataset.from_generator(self.batches, output_signature=signature)
        return batches.apply(tf.data.experimental.assert_cardinality(len(self))).prefetch(2)


# --- Training and evaluation ----------------------------------------------


def string_accuracy(model: keras.Model, strings, batch_size: int = 256) -> float:
    """Fraction of strings read exactly right (every digit, nothing extra)."""
    if len(strings) == 0:
        raise ValueError("need at least one string to measure accuracy.")
    correct = 0
    for start in range(0, len(strings), batch_size):
        chunk = strings.sequences[start:start + batch_size]
        readings = read_lines(model, [_white_on_black(sequence) for sequence in chunk])
        correct += sum(reading.text == sequence.text for reading, sequence in zip(readings, chunk))
    return correct / len(strings)


class StringAccuracy(keras.callbacks.Callback):
    """Adds ``val_string_accuracy`` (exact strings on held-out lines) to each epoch's logs."""

    def __init__(self, strings):
        super().__init__()
        self.strings = strings

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["val_string_accuracy"] = string_accuracy(self.model, self.strings)


#: Quick mode: a few hundred strings, 2 epochs: the loss falls, nothing more.
QUICK_STRINGS = 400
QUICK_EPOCHS = 2


def compile_crnn(model: keras.Model, learning_rate=1e-3) -> keras.Model:
    """Adam (gradients clipped: CTC's early gradients are large) and the CTC loss."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate, clipnorm=5.0), loss=ctc_loss())
    return model


def train(
    model: keras.Model,
    mnist=None,
    strings: int = 48_000,  # per epoch, new ones each time
    validation_strings: int = 1_000,
    epochs: int = 20,
    batch_size: int = 64,
    learning_rate: float = 3e-3,
    quick: bool = False,
    seed: int = 0,
    verbose: int | str = "auto",
    history_path: str | Path | None = None,
    overlapping_fraction: float = OVERLAPPING_FRACTION,
    plain_fraction: float = PLAIN_FRACTION,
) -> dict:
    """Train a CRNN on synthetic strings of MNIST *training* digits; return its history as a dict.

    The training digits are split as for the CNN, the same way for every
    seed (:func:`digitlab.train.split_validation`, ``VALIDATION_SEED``):
    each pass composes ``strings`` *new* training lines from 55,000 digits
    (:class:`StripBatches`, chunk ``k`` of pass ``p`` seeded by
    ``(seed, p, k)``), and ``validation_strings`` fixed lines come from the
    5,000 held out, so the validation figures never see a training digit.
    The test digits are left for the model card. ``overlapping_fraction``
    and ``plain_fraction`` set the training lines' mixture
    (:func:`training_strings`); the validation lines keep the default one,
    so validation figures compare across runs. The learning rate warms up
    then decays (:func:`digitlab.train.warmup_cosine`). ``quick`` trains on
    QUICK_STRINGS lines for QUICK_EPOCHS, with fast batch-norm statistics.
    """
    from digitlab.data import load_mnist
    from digitlab.train import (
        QUICK_BATCH_NORM_MOMENTUM, VALIDATION_SEED, batch_norm_momentum, split_validation, warmup_cosine,
    )

    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}.")
    check_fractions(overlapping_fraction, plain_fraction)  # before loading anything
    if mnist is None:
        mnist = load_mnist()
    keras.utils.set_random_seed(seed)
    if quick:
        strings, epochs = min(strings, QUICK_STRINGS), min(epochs, QUICK_EPOCHS)
        validation_strings = min(validation_strings, QUICK_STRINGS // 4)
    (x_train, y_train), _ = mnist
    fit_digits, val_digits = split_validation(x_train, y_train, 5000, VALIDATION_SEED)

    def fresh_lines(count: int, pass_index: int, chunk_index: int):
        chunk_seed = int(np.random.default_rng((seed, pass_index, chunk_index)).integers(2**31))
        return training_strings(count, seed=chunk_seed, mnist=(fit_digits, fit_digits),
                                overlapping_fraction=overlapping_fraction, plain_fraction=plain_fraction)

    val_lines = training_strings(validation_strings, seed=seed + 100, mnist=(val_digits, val_digits))
    fit_data = StripBatches(fresh_lines, batch_size, shuffle=True, seed=seed, per_pass=strings, shift=STRIDE)
    val_data = StripBatches(val_lines, batch_size, shuffle=False)

    compile_crnn(model, warmup_cosine(epochs * len(fit_data), learning_rate))
    started = time.perf_counter()
    with batch_norm_momentum(model, QUICK_BATCH_NORM_MOMENTUM) if quick else contextlib.nullcontext():
        history = model.fit(fit_data.dataset(), validation_data=val_data.dataset(), epochs=epochs,
                            shuffle=False, verbose=verbose, callbacks=[StringAccuracy(val_lines)])
    result = {key: [float(value) for value in values] for key, values in history.history.items()}
    result.update(epochs=epochs, train_strings_per_epoch=strings, validation_strings=len(val_lines),
                  seconds=round(time.perf_counter() - started, 1))
    if history_path is not None:
        Path(history_path).parent.mkdir(parents=True, exist_ok=True)
        Path(history_path).write_text(json.dumps(result, indent=1))
    return result


# --- Weight averages -------------------------------------------------------


def average_weights(models) -> keras.Model:
    """One CRNN whose every weight is the mean of ``models``' weights: a "model soup" (Wortsman et al., 2022).

    Taught in notebook 08. It reads as fast as one model, unlike an
    ensemble that runs each. It works for models *fine-tuned from one
    parent*, which stay in one valley of the loss; the mean of models
    trained apart lands between valleys and reads nothing. Batch-norm
    statistics are averaged like the weights.
    """
    models = list(models)
    if len(models) < 2:
        raise ValueError(f"need at least two models to average, got {len(models)}.")
    shapes = [[weight.shape for weight in model.get_weights()] for model in models]
    if any(model_shapes != shapes[0] for model_shapes in shapes[1:]):
        raise ValueError("models to average must have the same layers and weight shapes (the same crnn() settings).")
    average = keras.models.clone_model(models[0])
    average.set_weights([np.mean(weights, axis=0) for weights in zip(*(model.get_weights() for model in models))])
    return average


# --- Saved models ---------------------------------------------------------


def load_model(path: str | Path) -> keras.Model:
    """Load a CRNN ``.keras`` file (:class:`digitlab.model.ModelFileError` if missing or damaged)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(
            f"CRNN model file not found: {path}. Train one with `digitlab train --model crnn --out {path}`."
        )
    return _load_keras_model(path)


def load_default() -> keras.Model:
    """The shipped ``digitlab/models/crnn.keras`` (see its model card ``crnn.json`` beside it)."""
    return load_model(DEFAULT_MODEL)
