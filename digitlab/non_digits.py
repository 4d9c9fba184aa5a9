"""Examples of "not one digit", made from MNIST digits, for a recognizer that can say no.

Taught in ``notebooks/06_segmenting_sequences.ipynb``.

A reader that groups pieces of ink into digits (:mod:`digitlab.decode`) asks
its recognizer about every plausible grouping: a 5's body without its bar,
the bar alone, two touching digits as one, a digit with a sliver of its
neighbour. A 10-class softmax must call each of them some digit, often
confidently. Trained with an 11th class, :data:`NOT_A_DIGIT`, on such
examples, it learns to give a wrong grouping a low score itself, so no
threshold has to guess which groupings are wrong (LeCun, Bottou, Bengio and
Haffner, 1998, on recognition-based segmentation).

The examples are normalised as the reader normalises a candidate: relative
to the height of a digit of the same writing
(:func:`digitlab.preprocess.normalize_digit` with ``height``), so a piece
stays smaller than a digit. Five kinds, the first three made from MNIST digits:

- :func:`digit_piece`: the top or the bottom of a digit, cut along a slanted line;
- :func:`digit_pair`: two digits side by side, touching, overlapping or a little apart;
- :func:`digit_with_sliver`: a digit with the near side of another touching it;
- :func:`speck`: a dot or a short dash, far smaller than a digit;
- :func:`clutter`: ink of a digit's size that no pen drew: a clump of dust, a
  blob of a noisy photo's grain. On a page of such ink the reader's digit
  height comes from the clutter itself, so it is normalised as a digit is.

:func:`with_non_digits` adds them to a training set (``digitlab train --model
candidate_cnn``), and also shrinks some real digits, as a digit written
smaller than its neighbours is normalised.
"""

from __future__ import annotations

import cv2
import numpy as np

from digitlab.preprocess import ink_box, normalize_digit

#: The 11th class: "this ink is not one digit".
NOT_A_DIGIT = 10
CLASS_NAMES = tuple(str(digit) for digit in range(10)) + ("not a digit",)
#: How the examples are shared among the five kinds (pieces, pairs, slivers, specks, clutter).
KIND_SHARES = (0.35, 0.25, 0.2, 0.1, 0.1)
#: Non-digit examples added per training digit by ``digitlab train --model candidate_cnn``.
NON_DIGIT_FRACTION = 0.3
#: Fraction of the training digits drawn smaller than the writing's digit height, and how much smaller.
SMALLER_FRACTION = 0.2
SMALLER_SCALE = (0.65, 1.0)
#: How much of a digit's ink a piece keeps.
PIECE_INK = (0.15, 0.55)
#: How much of its neighbour's ink a sliver keeps, from the side facing the digit.
SLIVER_INK = (0.1, 0.4)
#: Clutter is never more than this many times as long as it is broad (the sides of the smallest turned
#: rectangle around it): a pen's stroke, a 1 or a piece of a broken digit, is longer.
CLUTTER_ELONGATION = 2.0


def _ink(image) -> np.ndarray:
    """A 28x28 digit as float ink in [0, 1], trimmed to its ink."""
    image = np.asarray(image, dtype=np.float32)
    if image.max() > 1.0:
        image = image / 255.0
    box = ink_box(image)
    if box is None:
        raise ValueError("a digit without ink cannot make an example.")
    x, y, w, h = box
    return image[y:y + h, x:x + w]


def _side(ink: np.ndarray, angle_degrees: float, keep: float, first: bool) -> np.ndarray:
    """The part of ``ink`` on one side of a straight cut holding about ``keep`` of the ink.

    The cut runs at ``angle_degrees`` from the horizontal when cutting top
    from bottom; ``first`` keeps the top (or, with a steep angle, the left).
    """
    rows, cols = np.mgrid[0:ink.shape[0], 0:ink.shape[1]].astype(np.float32)
    angle = np.radians(angle_degrees)
    across = rows * np.cos(angle) - cols * np.sin(angle)  # distance across the cut line
    order = np.argsort(across, axis=None, kind="stable")
    cumulative = np.cumsum(ink.ravel()[order]) / max(float(ink.sum()), 1e-6)
    position = across.ravel()[order][min(int(np.searchsorted(cumulative, keep if first else 1 - keep)),
                                          order.size - 1)]
    return ink * (across <= position if first else across > position)


def digit_piece(digit, rng: np.random.Generator) -> np.ndarray:
    """The top or bottom of ``digit`` (a 5's bar, a 7's stem, a 9's loop), at its size within the digit."""
    ink = _ink(digit)
    piece = _side(ink, rng.uniform(-35, 35), rng.uniform(*PIECE_INK), first=bool(rng.random() < 0.5))
    return normalize_digit(piece, height=ink.shape[0])


def _place(canvas_parts, heights) -> np.ndarray:
    """Ink parts pasted (max) at their (x, y) offsets on one canvas; ``canvas_parts`` = [(ink, x, y)]."""
    right = max(x + ink.shape[1] for ink, x, y in canvas_parts)
    bottom = max(y + ink.shape[0] for ink, x, y in canvas_parts)
    left = min(x for _, x, _ in canvas_parts)
    top = min(y for _, _, y in canvas_parts)
    canvas = np.zeros((bottom - top, right - left), np.float32)
    for ink, x, y in canvas_parts:
        region = canvas[y - top:y - top + ink.shape[0], x - left:x - left + ink.shape[1]]
        np.maximum(region, ink, out=region)
    return normalize_digit(canvas, height=max(heights))


def _resized(ink: np.ndarray, scale: float) -> np.ndarray:
    size = (max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale)))
    return cv2.resize(ink, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def digit_pair(first, second, rng: np.random.Generator) -> np.ndarray:
    """Two digits side by side, from overlapping by a third of a digit's width to a quarter of one apart."""
    left, right = _ink(first), _resized(_ink(second), rng.uniform(0.8, 1.25))
    width = (left.shape[1] + right.shape[1]) / 2
    x = left.shape[1] + round(rng.uniform(-0.35, 0.25) * width)
    y = round(rng.uniform(-0.15, 0.15) * left.shape[0])
    return _place([(left, 0, 0), (right, x, y)], (left.shape[0], right.shape[0]))


def digit_with_sliver(digit, neighbour, rng: np.random.Generator) -> np.ndarray:
    """``digit`` with the facing side of ``neighbour`` touching it, as a wrong cut of touching digits leaves it."""
    ink, other = _ink(digit), _ink(neighbour)
    on_right = bool(rng.random() < 0.5)  # the sliver is the neighbour's left side, right of the digit
    sliver = _side(other, -90 + rng.uniform(-15, 15), rng.uniform(*SLIVER_INK), first=on_right)
    columns = np.nonzero(sliver.any(axis=0))[0]
    if columns.size == 0:
        return normalize_digit(ink)
    sliver = sliver[:, columns[0]:columns[-1] + 1]
    overlap = round(rng.uniform(0.0, 0.2) * sliver.shape[1])
    x = ink.shape[1] - overlap if on_right else overlap - sliver.shape[1]
    return _place([(ink, 0, 0), (sliver, x, 0)], (ink.shape[0], other.shape[0]))


def speck(rng: np.random.Generator) -> np.ndarray:
    """A dot or a short dash, 5-25 % of a digit's height: dust, a full stop, a stray touch of the pen."""
    height = 40
    canvas = np.zeros((height, height), np.float32)
    length = rng.uniform(0.05, 0.25) * height
    thickness = max(1, round(rng.uniform(0.04, 0.12) * height))
    angle = rng.uniform(0, np.pi)
    centre = np.array([height / 2, height / 2])
    offset = 0.5 * length * np.array([np.cos(angle), np.sin(angle)]) * (rng.random() < 0.6)
    start, end = np.round(centre - offset).astype(int), np.round(centre + offset).astype(int)
    cv2.line(canvas, tuple(map(int, start)), tuple(map(int, end)), 1.0, thickness, cv2.LINE_AA)
    return normalize_digit(canvas, height=height)


def elongation(ink: np.ndarray) -> float:
    """How many times longer than broad ``ink`` is: the sides of the smallest turned rectangle around it."""
    points = cv2.findNonZero((np.asarray(ink) > 0.5).astype(np.uint8))
    if points is None:
        return 0.0
    _, (width, height), _ = cv2.minAreaRect(points)
    return (max(width, height) + 1.0) / (min(width, height) + 1.0)


def clutter(rng: np.random.Generator) -> np.ndarray:
    """Ink of a digit's size that is not pen strokes: a clump of touching specks (dust), or a blob of
    blurred noise cut at a threshold (the grain of a photo), whichever ``rng`` picks; never more elongated
    than :data:`CLUTTER_ELONGATION`, so no pen stroke is taught as clutter."""
    size = 40
    while True:
        canvas = np.zeros((size, size), np.float32)
        if rng.random() < 0.5:  # a clump: each speck touches or overlaps one laid before it
            corner = np.array([size / 2, size / 2])
            for _ in range(rng.integers(2, 7)):
                side = max(2, round(rng.uniform(0.12, 0.35) * size))
                y, x = np.clip(corner + rng.uniform(-0.8, 0.8, 2) * side, 0, size - side).astype(int)
                canvas[y:y + side, x:x + side] = 1.0
                corner = np.array([y, x], np.float32)
        else:  # grain: the largest blob of smooth noise above a high threshold
            grain = cv2.GaussianBlur(rng.normal(size=(size, size)).astype(np.float32), (0, 0), rng.uniform(1.5, 4.0))
            above = (grain > np.quantile(grain, rng.uniform(0.7, 0.85))).astype(np.uint8)
            count, labels, stats, _ = cv2.connectedComponentsWithStats(above, connectivity=8)
            if count > 1:
                canvas = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.float32)
                canvas = cv2.GaussianBlur(canvas, (0, 0), 0.7)
        if ink_box(canvas) is not None and elongation(canvas) <= CLUTTER_ELONGATION:
            return normalize_digit(canvas)


def non_digits(images, n: int, seed: int = 0) -> np.ndarray:
    """``n`` examples of "not one digit" (float32 (n, 28, 28) in [0, 1]) made from ``images``, seeded.

    The kinds are mixed as :data:`KIND_SHARES` says.
    """
    images = np.asarray(images)
    if len(images) < 2:
        raise ValueError(f"need at least 2 digits to make non-digits from, got {len(images)}.")
    rng = np.random.default_rng(seed)
    kinds = rng.choice(len(KIND_SHARES), size=n, p=np.asarray(KIND_SHARES) / sum(KIND_SHARES))
    examples = np.zeros((n, 28, 28), np.float32)
    for index, kind in enumerate(kinds):
        first, second = images[rng.integers(len(images), size=2)]
        if kind == 0:
            examples[index] = digit_piece(first, rng)
        elif kind == 1:
            examples[index] = digit_pair(first, second, rng)
        elif kind == 2:
            examples[index] = digit_with_sliver(first, second, rng)
        elif kind == 3:
            examples[index] = speck(rng)
        else:
            examples[index] = clutter(rng)
    return examples


def smaller(images, fraction: float = SMALLER_FRACTION, seed: int = 0) -> np.ndarray:
    """A copy of ``images`` in which ``fraction`` of the digits are normalised as if written smaller
    than their neighbours (by :data:`SMALLER_SCALE`), so a small digit is not taken for a piece."""
    images = np.asarray(images)
    rng = np.random.default_rng(seed)
    result = images.copy()
    for index in np.flatnonzero(rng.random(len(images)) < fraction):
        ink = _ink(images[index])
        digit = normalize_digit(ink, height=ink.shape[0] / rng.uniform(*SMALLER_SCALE))
        result[index] = np.round(digit * 255).astype(np.uint8) if images.dtype == np.uint8 else digit
    return result


def with_non_digits(images, labels, fraction: float = NON_DIGIT_FRACTION, seed: int = 0):
    """``images, labels`` with some digits drawn smaller (:func:`smaller`) and ``fraction * len(images)``
    non-digits added, labelled :data:`NOT_A_DIGIT`. uint8 in, uint8 out."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}.")
    images, labels = np.asarray(images), np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(f"got {len(images)} images but {len(labels)} labels.")
    extra = non_digits(images, round(fraction * len(images)), seed)
    if images.dtype == np.uint8:
        extra = np.round(extra * 255).astype(np.uint8)
    return (np.concatenate([smaller(images, seed=seed), extra]),
            np.concatenate([labels, np.full(len(extra), NOT_A_DIGIT, labels.dtype)]))
