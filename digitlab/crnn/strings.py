"""Training strings for the CRNN, composed from MNIST digits, and their batches (notebook 08)."""

from __future__ import annotations

import cv2
import keras
import numpy as np

from digitlab import synth
from digitlab.non_digits import clutter
from digitlab.preprocess import ink_box
from digitlab.crnn.ctc import MAX_DIGITS, encode_labels
from digitlab.crnn.strips import SIDE_MARGIN, STRIP_HEIGHT, padded_width, stack_strips, to_strip

#: Training batches are padded to a multiple of this width (few shapes, few retracings).
BUCKET_WIDTH = 32
#: Training strings are composed in chunks of this many (fresh ones on every pass).
CHUNK_STRINGS = 2048

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
#: Shares of the training lines (of every kind) damaged as photos and pens damage writing, their text unchanged:
#: strokes broken by thin gaps (:func:`digitlab.synth.break_strokes`, gaps of BROKEN_GAP of the digits' height),
#: and clutter (dust, a photo's grain: :func:`digitlab.non_digits.clutter`) beside or between the digits, read
#: as nothing. How many blobs a cluttered line gets, their height and the blank around each, in digit heights.
BROKEN_FRACTION = 0.2
BROKEN_GAP = (0.03, 0.1)
CLUTTER_FRACTION = 0.2
CLUTTER_BLOBS = (1, 3)
CLUTTER_HEIGHT = (0.3, 1.0)
CLUTTER_SPACE = (0.1, 0.4)


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


def damaged(strings, seed: int):
    """``strings`` (a :class:`digitlab.synth.StringDataset`) with :data:`BROKEN_FRACTION` of its lines' strokes
    broken and :data:`CLUTTER_FRACTION` of them cluttered (:func:`with_clutter`), seeded; texts unchanged."""
    rng = np.random.default_rng((seed, 3))
    for index, sequence in enumerate(strings.sequences):
        if rng.random() < BROKEN_FRACTION:
            sequence = synth.break_strokes(sequence, width=rng.uniform(*BROKEN_GAP), rng=rng)
        if rng.random() < CLUTTER_FRACTION:
            sequence = with_clutter(sequence, rng)
        strings.sequences[index] = sequence
    return strings


def with_clutter(sequence: synth.DigitString, rng: np.random.Generator) -> synth.DigitString:
    """``sequence`` with :data:`CLUTTER_BLOBS` blobs of clutter, each in new blank columns before its first
    digit, after its last or between two (never through a digit's box), so its text stays the same."""
    ink = synth.ink_of(sequence)
    boxes = list(sequence.boxes)
    digit_height = max(h for _, _, _, h in boxes)
    rows = np.flatnonzero(ink.any(axis=1))
    for _ in range(rng.integers(CLUTTER_BLOBS[0], CLUTTER_BLOBS[1] + 1)):
        blob = clutter(rng)
        x, y, w, h = ink_box(blob)
        scale = rng.uniform(*CLUTTER_HEIGHT) * digit_height / h
        blob = cv2.resize(blob[y:y + h, x:x + w], (max(1, round(w * scale)), max(1, round(h * scale))),
                          interpolation=cv2.INTER_AREA)
        space = round(rng.uniform(*CLUTTER_SPACE) * digit_height)
        outside = np.ones(ink.shape[1] + 1, bool)
        for bx, _, bw, _ in boxes:
            outside[bx + 1:bx + bw] = False  # a column strictly inside a digit's box
        at = int(rng.choice(np.flatnonzero(outside)))
        block = np.zeros((ink.shape[0], blob.shape[1] + 2 * space), np.uint8)
        top = int(rng.integers(rows[0], max(rows[0], rows[-1] + 1 - blob.shape[0]) + 1))
        top = max(0, min(top, ink.shape[0] - blob.shape[0]))
        block[top:top + blob.shape[0], space:space + blob.shape[1]] = np.round(blob[:ink.shape[0]] * 255).astype(np.uint8)
        ink = np.concatenate([ink[:, :at], block, ink[:, at:]], axis=1)
        boxes = [(bx + block.shape[1] if bx >= at else bx, by, bw, bh) for bx, by, bw, bh in boxes]
    return synth.with_ink(sequence, ink, boxes)


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
        f"{polarity} dark on light; {BROKEN_FRACTION * 100:g} % of the training lines with strokes broken (gaps "
        f"{BROKEN_GAP[0] * 100:g}-{BROKEN_GAP[1] * 100:g} % of the height), {CLUTTER_FRACTION * 100:g} % with "
        f"{CLUTTER_BLOBS[0]}-{CLUTTER_BLOBS[1]} blobs of clutter beside or between the digits (crnn.damaged)"
    )


def touching_strings(n: int = 200, seed: int = 7, mnist=None):
    """The benchmark's touching strings (:data:`digitlab.synth.BENCHMARK_STRINGS`): 4-8 MNIST *test* digits,
    10-40 % overlap, seeded."""
    return synth.benchmark_strings("touching 4-8, 10-40 %", n, mnist=mnist, seed=seed)


def spaced_strings(n: int = 200, seed: int = 8, mnist=None):
    """5 MNIST *test* digits with gaps (no touching), seeded: what contours read well."""
    return synth.make_dataset(n, length=5, split="test", seed=seed, mnist=mnist, gap=(0.15, 0.5))


def _white_on_black(sequence) -> np.ndarray:
    """A composed string's image with its ink white, through the reader's own polarity fix."""
    from digitlab.preprocess import to_grayscale, to_ink

    return to_ink(to_grayscale(sequence.image), "auto")


def equal_area_runs(widths, count: int) -> list[tuple[int, int]]:
    """Cut lines sorted by width (``widths``, ascending) into ``count`` runs ``(start, end)`` of about equal area.

    A run's area is its lines times its widest line's width, padded to
    BUCKET_WIDTH: what a training step holds in memory grows with it. Runs
    of equal length put the widest lines together, in a batch of two or
    three times the mean area; here the largest area is the smallest any
    ``count`` runs allow (searched by halving, each candidate packed
    greedily), and runs are then halved, longest first, until there are
    ``count``. Needs 1 <= ``count`` <= ``len(widths)``.
    """
    padded = padded_width(np.asarray(widths, dtype=np.int64), BUCKET_WIDTH)
    if np.any(np.diff(padded) < 0):
        raise ValueError("widths must be sorted, narrowest first.")
    if not 1 <= count <= len(padded):
        raise ValueError(f"need 1 to {len(padded)} runs (one line each at most), got {count}.")

    def packed(limit: int) -> list[int]:
        starts = [0]
        for index in range(1, len(padded)):
            if (index - starts[-1] + 1) * padded[index] > limit:
                starts.append(index)
        return starts

    low, high = int(padded[-1]), int(padded[-1]) * len(padded)  # one run of every line always fits ``high``
    while low < high:
        middle = (low + high) // 2
        if len(packed(middle)) <= count:
            high = middle
        else:
            low = middle + 1
    starts = packed(low)
    runs = list(zip(starts, starts[1:] + [len(padded)]))
    while len(runs) < count:
        longest = max(range(len(runs)), key=lambda index: runs[index][1] - runs[index][0])
        start, end = runs[longest]
        middle = (start + end) // 2
        runs[longest:longest + 1] = [(start, middle), (middle, end)]
    return runs


class StripBatches:
    """Batches of (strips, labels) for ``model.fit``: lines of similar width together.

    ``strings`` is either a fixed set of lines (validation: the same lines
    every pass) or a function ``make(count, pass_index, chunk_index)``
    returning ``count`` fresh lines, with ``per_pass`` lines made per pass in
    chunks of CHUNK_STRINGS (training: the model never sees the same composed
    line twice, only the same digits in new company). Within a chunk, lines
    are sorted by width and cut into as many batches as ``batch_size`` lines
    each would make, of about equal area (:func:`equal_area_runs`: many
    short lines or a few long ones), padded to a multiple of BUCKET_WIDTH, so
    a batch carries little padding, a training step's memory does not depend
    on how wide the widest lines are, and Keras traces only a few input
    shapes; the batches' order is shuffled. A fresh (training) line weighs
    its batch's size over the mean batch size, so that it counts in the
    gradient as much as in batches of equal size; a fixed (validation) line
    weighs 1, so that Keras' validation loss (a mean over batches weighted
    by their sizes) is the mean per line. With ``steps_per_batch`` above 1
    each batch comes as that many consecutive steps, its lines dealt to them
    in turn (so each step is about as wide as the batch and holds a part of
    its area), for an optimizer that adds the steps' gradients up before it
    updates (gradient accumulation): the batch's update (but that a step is
    padded only to its own widest line), a smaller step in memory.
    :meth:`dataset` gives a ``tf.data.Dataset`` whose width is declared
    variable (a ``keras.utils.PyDataset`` would fix it from its first
    batches).
    """

    def __init__(self, strings, batch_size: int = 64, shuffle: bool = True, seed: int = 0,
                 per_pass: int | None = None, shift: int = 0, steps_per_batch: int = 1):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        if not 1 <= steps_per_batch <= batch_size:
            raise ValueError(f"steps_per_batch must be 1 to batch_size ({batch_size}), got {steps_per_batch}.")
        if not 0 <= shift <= SIDE_MARGIN:
            raise ValueError(f"shift must be 0 to SIDE_MARGIN ({SIDE_MARGIN}) columns, got {shift}.")
        self.shift = shift
        self.batch_size = batch_size
        self.steps_per_batch = steps_per_batch
        self.shuffle = shuffle
        self.rng = np.random.default_rng(seed)
        self.passes = 0
        self._pass = None  # the generator of the pass under way (dataset)
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
        """Indices of each batch: sorted by width (ties shuffled), then cut into runs of about equal area."""
        widths = np.array([strip.shape[1] for strip in strips])
        tie_breaker = self.rng.random(len(widths)) if self.shuffle else np.arange(len(widths))
        order = np.lexsort((tie_breaker, widths))
        runs = equal_area_runs(widths[order], self._batch_count(len(order)))
        return [order[start:end] for start, end in runs]

    def _batch_count(self, lines: int) -> int:
        """Batches in a chunk of ``lines``: as many as ``batch_size`` lines each would make."""
        return -(-lines // self.batch_size)

    def __len__(self) -> int:
        """Steps in a pass: each batch's ``steps_per_batch`` steps."""
        return sum(self._batch_count(size) for size in self.chunk_sizes) * self.steps_per_batch

    def batches(self):
        """One pass: (float32 strips (N, 32, W, 1), int32 labels (N, MAX_DIGITS), float32 weights (N,)) per step."""
        pass_index, self.passes = self.passes, self.passes + 1
        for chunk_index in range(len(self.chunk_sizes)):
            strips, labels = self._chunk(pass_index, chunk_index)
            order = self._split(strips)
            mean_size = len(strips) / len(order)
            if self.shuffle:
                self.rng.shuffle(order)
            for members in order:
                weight = len(members) / mean_size if self.make is not None else 1.0
                for step in range(self.steps_per_batch):
                    # A batch of fewer lines than steps gives its lines again: the mean of equal gradients is theirs.
                    part = members[step::self.steps_per_batch] if step < len(members) else members
                    yield self._step(strips, labels, part, weight)

    def _step(self, strips, labels, members, weight: float):
        """The lines ``members`` as one step's (strips, labels, weights), shifted if asked."""
        lines = [strips[member] for member in members]
        if self.shift:
            lines = [np.roll(line, offset, axis=1)
                     for line, offset in zip(lines, self.rng.integers(0, self.shift, len(lines)))]
        batch = stack_strips(lines, multiple=BUCKET_WIDTH)
        return batch / np.float32(255.0), labels[members], np.full(len(members), weight, dtype=np.float32)

    def dataset(self):
        """The batches as a ``tf.data.Dataset`` (a new pass on every epoch, prefetched).

        Built on a range of batch numbers mapped through ``tf.numpy_function``
        rather than ``Dataset.from_generator``: the generator dataset sets
        glibc's trim threshold to 128 KiB for the whole process, which freezes
        glibc's mmap threshold wherever it happens to be; frozen low, each
        large tensor freed goes back to the kernel and is faulted in again,
        and a training spent a third of its CPU time in the kernel. On a
        Keras backend other than TensorFlow (JAX on a GPU machine), the same
        batches in the same order as a ``keras.utils.PyDataset``.
        """
        if keras.backend.backend() != "tensorflow":
            return _PassInOrder(self)
        import tensorflow as tf

        def batch(index):
            strips, labels, weights = tf.numpy_function(self._batch_at, [index], (tf.float32, tf.int32, tf.float32))
            strips.set_shape((None, STRIP_HEIGHT, None, 1))
            labels.set_shape((None, MAX_DIGITS))
            weights.set_shape((None,))
            return strips, labels, weights

        return tf.data.Dataset.range(len(self)).map(batch).prefetch(2)

    def _batch_at(self, index):
        """Batch ``index`` of the pass under way; batch 0 starts a new pass (batches come in order)."""
        if index == 0:
            self._pass = self.batches()
        return next(self._pass)


class _PassInOrder(keras.utils.PyDataset):
    """:meth:`StripBatches.dataset` for backends other than TensorFlow: a pass's steps, asked for in order.

    The lines are made a chunk at a time as the pass goes, so step ``i`` exists only after step ``i - 1``:
    Keras' JAX trainer asks in order, from one thread (no workers here); any other order is refused.
    """

    def __init__(self, batches: StripBatches):
        super().__init__()
        self.batches = batches
        self.next_step = 0

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int):
        if index not in (0, self.next_step):
            raise ValueError(f"the CRNN's training lines are made in order, a pass at a time: step {index} was "
                             f"asked for when step {self.next_step} was next.")
        self.next_step = index + 1
        return self.batches._batch_at(index)
