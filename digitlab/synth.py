"""Synthetic digit strings composed from MNIST digits, with their truth.

Taught in ``notebooks/06_segmenting_sequences.ipynb``. Used by the tests, the
benchmarks, the sample images in ``data/samples/`` and to train readers that
need whole strings.

:func:`make_sequence` lays out given digit images left to right and returns
the image, its text and one box per digit. :func:`make_dataset` draws a
seeded set of strings from one split of MNIST. Digits are composed by
pixel-wise maximum, so overlapping digits (``overlap`` up to 0.5) keep all
their ink, as ink on paper does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from digitlab.preprocess import ink_box

Box = tuple[int, int, int, int]  # (x, y, width, height) in pixels

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "data" / "samples"


# --- One string -----------------------------------------------------------


@dataclass(frozen=True)
class DigitString:
    """A composed string: ``image`` (uint8), its ``text`` and one ``box`` per digit.

    ``boxes[i]`` is the ink box (x, y, w, h) of ``labels[i]`` in ``image``;
    boxes may overlap when the digits do. ``inverted`` says whether the ink
    is dark on light paper.
    """

    image: np.ndarray
    boxes: list[Box]
    labels: list[int]
    inverted: bool = False

    @property
    def text(self) -> str:
        return "".join(map(str, self.labels))


def _shape_digit(image: np.ndarray, scale: float, slant: float, stroke: int) -> np.ndarray:
    """One digit, trimmed to its ink, scaled, slanted (shear) and thickened or thinned."""
    box = ink_box(image)
    if box is None:
        raise ValueError("a digit image has no ink (all zeros).")
    x, y, w, h = box
    digit = np.pad(image[y:y + h, x:x + w], 2)
    if scale != 1.0:
        size = (max(1, round(digit.shape[1] * scale)), max(1, round(digit.shape[0] * scale)))
        digit = cv2.resize(digit, size, interpolation=cv2.INTER_LINEAR)
    if slant:
        height, width = digit.shape
        shift = abs(slant) * height
        shear = np.float32([[1, -slant, max(0.0, slant) * height], [0, 1, 0]])
        digit = cv2.warpAffine(digit, shear, (int(np.ceil(width + shift)), height), flags=cv2.INTER_LINEAR)
    if stroke:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(stroke) + 1,) * 2)
        padded = np.pad(digit, abs(stroke))
        changed = cv2.dilate(padded, kernel) if stroke > 0 else cv2.erode(padded, kernel)
        digit = changed if changed.any() else padded  # never erase a digit entirely
    box = ink_box(digit)
    x, y, w, h = box
    return digit[y:y + h, x:x + w]


def make_sequence(
    digit_images,
    labels,
    gap: float = 0.25,
    overlap: float = 0.0,
    scale: float = 1.0,
    jitter: float = 0.0,
    slant: float = 0.0,
    stroke: int = 0,
    invert: bool = False,
    noise: float = 0.0,
    margin: float = 0.5,
    height: int | None = None,
    rng=None,
) -> DigitString:
    """Compose MNIST-style digits (white on black, 28x28 uint8) into one string image.

    - ``gap``: blank space between neighbours, as a fraction of the digit height
      (ignored where ``overlap`` > 0).
    - ``overlap``: fraction (0 to 0.5) of the narrower neighbour's width that
      two neighbours share; the ink is combined by pixel-wise maximum.
    - ``scale``: size factor (1.0 keeps MNIST's ~20 px ink height).
    - ``jitter``: random vertical offsets, up to this fraction of the height.
    - ``slant``: horizontal shear (0.2 leans the digits right by 20 % of their height).
    - ``stroke``: pixels to thicken (> 0) or thin (< 0) the strokes, after scaling.
    - ``invert``: dark ink on light paper, like a scan.
    - ``noise``: standard deviation of Gaussian pixel noise, as a fraction of 255.
    - ``margin``: blank border, as a fraction of the digit height.
    - ``height``: resize the result to this many pixels high (boxes follow).

    Returns a :class:`DigitString`; its ``boxes`` are where each digit's ink is.
    """
    labels = [int(label) for label in labels]
    if len(digit_images) != len(labels) or not labels:
        raise ValueError(f"need one label per digit image and at least one digit, got "
                         f"{len(digit_images)} images and {len(labels)} labels.")
    if not 0 <= overlap <= 0.5:
        raise ValueError(f"overlap must be between 0 and 0.5, got {overlap}.")
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}.")
    rng = np.random.default_rng(rng)
    digits = [_shape_digit(np.asarray(image, dtype=np.uint8), scale, slant, stroke) for image in digit_images]
    canvas, boxes = _lay_out(digits, gap, overlap, jitter, margin, rng)
    if height is not None:
        factor = height / canvas.shape[0]
        canvas = cv2.resize(canvas, (max(1, round(canvas.shape[1] * factor)), height),
                            interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
        boxes = [_scale_box(box, factor) for box in boxes]
    return DigitString(_on_paper(canvas, noise, invert, rng), boxes, labels, bool(invert))


def _lay_out(digits: list[np.ndarray], gap: float, overlap: float, jitter: float, margin: float,
             rng) -> tuple[np.ndarray, list[Box]]:
    """The digits left to right on a black canvas, each centred vertically on one line (then jittered),
    combined by pixel-wise maximum where they overlap; and each digit's ink box."""
    digit_height = max(digit.shape[0] for digit in digits)
    border = max(2, round(margin * digit_height))
    shift = round(jitter * digit_height)
    lefts, tops, x = [], [], border
    for index, digit in enumerate(digits):
        if index > 0:
            if overlap > 0:
                narrower = min(digit.shape[1], digits[index - 1].shape[1])
                x -= round(overlap * narrower)
            else:
                x += round(gap * digit_height)
        lefts.append(x)
        offset = int(rng.integers(-shift, shift + 1)) if shift else 0
        tops.append(border + shift + (digit_height - digit.shape[0]) // 2 + offset)
        x += digit.shape[1]

    canvas = np.zeros((digit_height + 2 * (border + shift), x + border), dtype=np.uint8)
    boxes = []
    for digit, left, top in zip(digits, lefts, tops):
        region = canvas[top:top + digit.shape[0], left:left + digit.shape[1]]
        np.maximum(region, digit, out=region)
        boxes.append((left, top, digit.shape[1], digit.shape[0]))
    return canvas, boxes


def _on_paper(canvas: np.ndarray, noise: float, invert: bool, rng) -> np.ndarray:
    """The uint8 image of a composed canvas, with Gaussian noise and, for ``invert``, dark ink on light paper."""
    image = canvas.astype(np.float32)
    if noise:
        image += rng.normal(0.0, noise * 255.0, image.shape)
    if invert:
        image = 255.0 - image
    return np.clip(image, 0, 255).astype(np.uint8)


def _scale_box(box: Box, factor: float) -> Box:
    x, y, w, h = box
    left, top = round(x * factor), round(y * factor)
    return left, top, max(1, round((x + w) * factor) - left), max(1, round((y + h) * factor) - top)


# --- Damage: broken strokes and specks ------------------------------------


def break_strokes(sequence: DigitString, cuts_per_digit: int = 1, width: float = 0.06, rng=None) -> DigitString:
    """Erase thin horizontal bands across each digit, as a pen lifted mid-stroke.

    Each band is ``width`` times the digit height (at least one pixel) and
    lies in the middle 60 % of the digit, so most digits fall into two or
    more pieces that :mod:`digitlab.segment` must merge again.
    """
    rng = np.random.default_rng(rng)
    image = ink_of(sequence).copy()
    for x, y, w, h in sequence.boxes:
        band = max(1, round(width * h))
        for _ in range(cuts_per_digit):
            top = y + int(rng.integers(round(0.2 * h), max(round(0.2 * h) + 1, round(0.8 * h) - band)))
            image[top:top + band, x:x + w] = 0
    return with_ink(sequence, image)


def add_specks(sequence: DigitString, count: int = 6, size: float = 0.06, rng=None) -> DigitString:
    """Add ``count`` round specks of dust, ``size`` times the digit height across.

    Specks go anywhere in the image except on the digits' own boxes, so the
    truth stays the same and the reader must ignore them.
    """
    rng = np.random.default_rng(rng)
    image = ink_of(sequence).copy()
    digit_height = max(h for _, _, _, h in sequence.boxes)
    radius = max(1, round(size * digit_height / 2))
    occupied = np.zeros(image.shape, dtype=bool)
    for x, y, w, h in sequence.boxes:
        occupied[max(0, y - 2 * radius):y + h + 2 * radius, max(0, x - 2 * radius):x + w + 2 * radius] = True
    free = np.argwhere(~occupied)
    if free.size:
        for row, col in free[rng.integers(0, len(free), size=count)]:
            cv2.circle(image, (int(col), int(row)), radius, 255, thickness=-1)
    return with_ink(sequence, image)


def ink_of(sequence: DigitString) -> np.ndarray:
    """``sequence``'s image with its ink white on black, whichever way it was composed."""
    return 255 - sequence.image if sequence.inverted else sequence.image


def with_ink(sequence: DigitString, ink: np.ndarray, boxes=None) -> DigitString:
    """``sequence`` with new white-on-black ``ink`` (turned back to its polarity), and new ``boxes`` if given."""
    image = 255 - ink if sequence.inverted else ink
    return DigitString(image, sequence.boxes if boxes is None else boxes, sequence.labels, sequence.inverted)


# --- Seeded datasets ------------------------------------------------------


@dataclass
class StringDataset:
    """``n`` composed strings: images (of varying widths), texts, per-digit boxes and labels."""

    sequences: list[DigitString] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index) -> DigitString:
        return self.sequences[index]

    @property
    def images(self) -> list[np.ndarray]:
        return [sequence.image for sequence in self.sequences]

    @property
    def texts(self) -> list[str]:
        return [sequence.text for sequence in self.sequences]

    @property
    def boxes(self) -> list[list[Box]]:
        return [sequence.boxes for sequence in self.sequences]

    @property
    def labels(self) -> list[list[int]]:
        return [sequence.labels for sequence in self.sequences]


#: Options drawn as whole numbers when given as a (low, high) range.
INTEGER_OPTIONS = ("length", "stroke", "height")


def _draw(name: str, value, rng):
    """A fixed option, or a uniform draw from a (low, high) range (inclusive for integers)."""
    if not isinstance(value, tuple):
        return value
    low, high = value
    if low > high:
        raise ValueError(f"{name} must be a number or a (low, high) range with low <= high, got {value}.")
    if name in INTEGER_OPTIONS:
        return int(rng.integers(low, high + 1))
    return float(rng.uniform(low, high))


def make_dataset(
    n: int,
    length=5,
    split: str = "test",
    seed: int = 0,
    invert_fraction: float = 0.0,
    broken: bool = False,
    specks: int = 0,
    mnist=None,
    **options,
) -> StringDataset:
    """``n`` seeded strings of MNIST digits from one ``split`` ("train" or "test").

    ``length`` and every :func:`make_sequence` option (``gap``, ``overlap``,
    ``scale``, ``jitter``, ``slant``, ``stroke``, ``noise``,
    ``height``) take a value or a ``(low, high)`` range drawn per string (whole numbers for
    :data:`INTEGER_OPTIONS`), e.g.
    ``make_dataset(1000, length=(1, 10), overlap=(0.0, 0.5), invert_fraction=0.5)``.
    ``broken`` cuts strokes (:func:`break_strokes`), ``specks`` adds that many
    specks (:func:`add_specks`). ``mnist`` is ``load_mnist()``'s result
    (loaded when omitted). The same arguments always give the same strings, and
    string ``i`` depends only on ``seed`` and ``i``: adding damage or asking for
    more strings leaves the others as they were.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    if n < 0:
        raise ValueError(f"n must be at least 0, got {n}.")
    if mnist is None:
        from digitlab.data import load_mnist

        mnist = load_mnist()
    images, labels = mnist[0] if split == "train" else mnist[1]
    dataset = StringDataset()
    for index in range(n):
        rng = np.random.default_rng((seed, index))  # one stream per string: damage changes nothing else
        count = _draw("length", length, rng)
        if not 1 <= count:
            raise ValueError(f"length must be at least 1, got {count}.")
        chosen = rng.integers(0, len(images), size=count)
        drawn = {name: _draw(name, value, rng) for name, value in options.items()}
        sequence = make_sequence(images[chosen], labels[chosen], invert=bool(rng.random() < invert_fraction),
                                 rng=rng, **drawn)
        if broken:
            sequence = break_strokes(sequence, rng=rng)
        if specks:
            sequence = add_specks(sequence, count=specks, rng=rng)
        dataset.sequences.append(sequence)
    return dataset


# --- The reading benchmark's strings ---------------------------------------

#: The three kinds of strings every reader is measured on (``benchmarks/read_bench.py``,
#: the reader's accuracy floors, the CRNN's card): name -> :func:`make_dataset` options.
BENCHMARK_STRINGS = {
    "5 digits, gaps": {"length": 5, "seed": 0, "gap": (0.2, 0.6), "jitter": 0.1},
    "broken strokes + specks": {"length": 5, "seed": 1, "gap": (0.2, 0.6), "broken": True, "specks": 6},
    "touching 4-8, 10-40 %": {"length": (4, 8), "seed": 7, "overlap": (0.1, 0.4)},
}


def benchmark_strings(name: str, n: int, mnist=None, **changes) -> StringDataset:
    """``n`` strings of the benchmark set ``name`` (:data:`BENCHMARK_STRINGS`) from MNIST's test digits.

    ``changes`` override the set's options (e.g. another ``seed`` for fresh strings of the same kind).
    """
    if name not in BENCHMARK_STRINGS:
        raise ValueError(f"name must be one of {list(BENCHMARK_STRINGS)}, got {name!r}.")
    return make_dataset(n, split="test", mnist=mnist, **{**BENCHMARK_STRINGS[name], **changes})


# --- The sample images in data/samples/ -----------------------------------

#: name -> (lines of text, make_sequence options, description)
SAMPLES = {
    "4096.png": (["4096"], {"scale": 3.0}, "four digits with gaps"),
    "scan_31415.png": (["31415"], {"scale": 3.0, "invert": True, "noise": 0.04},
                       "dark ink on light paper with noise, like a scan"),
    "two_lines.png": (["1234", "5678"], {"scale": 2.5}, "two lines"),
    "overlapping_27.png": (["27"], {"scale": 3.0, "overlap": 0.2}, "a pair whose boxes overlap; its ink does not touch"),
}


def _first_of_each_digit(images, labels) -> dict:
    return {digit: images[int(np.argmax(labels == digit))] for digit in range(10)}


def make_samples(folder: str | Path = SAMPLES_DIR, mnist=None) -> list[dict]:
    """Write the sample images (from MNIST *test* digits) and ``samples.json`` to ``folder``.

    Each digit is the first test image of its class, so the files are the
    same on every machine. Returns the entries of ``samples.json``.
    """
    import json

    from PIL import Image

    if mnist is None:
        from digitlab.data import load_mnist

        mnist = load_mnist()
    first = _first_of_each_digit(*mnist[1])
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, (lines, options, description) in SAMPLES.items():
        rows = [make_sequence([first[int(c)] for c in line], [int(c) for c in line], rng=0, **options).image
                for line in lines]
        paper = 255 if options.get("invert") else 0
        width = max(row.shape[1] for row in rows)
        image = np.vstack([np.pad(row, ((0, 0), (0, width - row.shape[1])), constant_values=paper)
                           for row in rows])
        Image.fromarray(image).save(folder / name, optimize=True)
        entries.append({"file": name, "text": "\n".join(lines), "lines": lines, "description": description})
    (folder / "samples.json").write_text(json.dumps(entries, indent=2) + "\n")
    return entries
