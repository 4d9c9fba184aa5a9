"""Real pen strokes (UNIPEN): load them, split their writers, draw them as the pad and as paper.

Taught in ``notebooks/09_real_handwriting.ipynb``. Used by
``benchmarks/real_strokes.py``, where every choice is made on one half of the
writers ("choose") and the other half ("report") is read once the choice is
made.

MNIST is one population of writers (US census staff and students, pen on
paper, scanned and normalised); people drawing on the pad are not. A set of
digits written with a pen on a tablet by other people shows how far a model
trained on MNIST carries. The data (``digits.jsonl.gz``, see its README) is
for evaluation and choosing only: nothing here trains on it, and nothing
drawn from it is saved.

Each sample is a list of strokes in the device's own units. They are drawn
the way :class:`digitlab.widget.DigitPad` draws: scaled to a pixel height,
rasterized by :func:`digitlab.strokes.rasterize` with a round pen, white on
black; :func:`on_paper` turns such an image into dark ink on light paper
with blur and noise, as a photo of a page.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from digitlab.data import DataError
from digitlab.strokes import PEN_WIDTHS, rasterize

#: The environment variable naming the data file (``--data`` overrides it).
ENV_VAR = "DIGITLAB_UNIPEN"
#: Where the project's development copy lies, beside the repository.
DEFAULT_PATH = Path(__file__).resolve().parent.parent.parent / "shared" / "unipen-dev" / "digits.jsonl.gz"
#: sha256 of ``digits.jsonl.gz`` as its README gives it.
SHA256 = "57dad1da62876d53662749532b2f3a158dbd1636d800a480fb5ba337494228c0"
#: The two halves of the writers: choose settings on one, report on the other.
HALVES = ("choose", "report")

#: Digit heights drawn on the pad, in canvas pixels: from small writing to the pad's full height.
PAD_HEIGHTS = (40, 200)
#: The thickest pen drawn, as a fraction of the digit's height (a 14 px pen on a 56 px digit).
THICKEST_PEN = 0.25
#: Blank canvas around the ink, in pixels (the pad's strokes never touch its edge).
MARGIN = 20


@dataclass(frozen=True)
class PenDigit:
    """One digit written by one person: its ``label`` (0-9), ``writer`` and ``strokes``.

    ``strokes`` are (N, 2) float arrays of (x, y) in the device's units, in
    writing order, y down.
    """

    label: int
    writer: str
    strokes: tuple[np.ndarray, ...]

    @property
    def contributor(self) -> str:
        """The institution that collected it (:func:`contributor_of` its writer)."""
        return contributor_of(self.writer)


def contributor_of(writer: str) -> str:
    """The contributor of a writer named ``<contributor>-<number>`` (``"gmd-001"`` -> ``"gmd"``)."""
    return writer.split("-")[0]


# --- Finding and loading ------------------------------------------------------


def find_file(path: str | os.PathLike | None = None) -> Path:
    """The data file: ``path``, else ``$DIGITLAB_UNIPEN``, else :data:`DEFAULT_PATH`.

    Raises :class:`~digitlab.data.DataError` with one line saying where it
    looked when there is no file there.
    """
    if path is not None:
        candidate, source = Path(path), "the path given"
    elif os.environ.get(ENV_VAR):
        candidate, source = Path(os.environ[ENV_VAR]), f"${ENV_VAR}"
    else:
        candidate, source = DEFAULT_PATH, "the default place"
    if not candidate.is_file():
        raise DataError(
            f"real-stroke digits not found at {candidate} ({source}): give the path of digits.jsonl.gz "
            f"with --data or ${ENV_VAR}."
        )
    return candidate


def load_digits(path: str | os.PathLike | None = None, sha256: str | None = SHA256) -> list[PenDigit]:
    """Every digit of the file (see :func:`find_file`), checked against ``sha256`` first.

    ``sha256=None`` skips the check (for files made by tests). Raises
    :class:`~digitlab.data.DataError` naming the file for a wrong checksum, a
    damaged gzip stream or a line that is not a digit sample.
    """
    file = find_file(path)
    packed = file.read_bytes()
    if sha256 is not None and hashlib.sha256(packed).hexdigest() != sha256:
        raise DataError(f"{file}: sha256 does not match the published one ({sha256[:12]}...): damaged or another file.")
    try:
        text = gzip.decompress(packed).decode("utf-8")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as error:
        raise DataError(f"{file}: not a readable gzip file of text ({error}).") from None
    digits = [_parse_line(line, file, number) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not digits:
        raise DataError(f"{file}: holds no digits.")
    return digits


def _parse_line(line: str, file: Path, number: int) -> PenDigit:
    """One JSON line as a :class:`PenDigit`, or a :class:`DataError` naming the line."""
    try:
        record = json.loads(line)
        label = record["label"]
        if not (isinstance(label, str) and len(label) == 1 and label.isdigit()):
            raise ValueError(f"label {label!r} is not one digit")
        strokes = tuple(np.asarray(stroke, dtype=np.float64).reshape(-1, 2) for stroke in record["strokes"])
        if not strokes or any(len(stroke) == 0 for stroke in strokes) or not all(
                np.isfinite(stroke).all() for stroke in strokes):
            raise ValueError("strokes must be non-empty lists of finite (x, y) points")
        return PenDigit(int(label), str(record["writer"]), strokes)
    except (ValueError, KeyError, TypeError) as error:
        raise DataError(f"{file}, line {number}: not a digit sample ({type(error).__name__}: {error}).") from None


# --- The two halves of the writers --------------------------------------------


def split_writers(digits: list[PenDigit]) -> dict[str, set[str]]:
    """The writers in two fixed halves, ``{"choose": {...}, "report": {...}}``.

    Within each contributor (so both halves hold every kind of device), the
    writers go, most prolific first, to the half that has fewer of that
    contributor's digits so far: the halves hold about as many digits each,
    and no writer is in both. The split depends only on the data.
    """
    counts = defaultdict(int)
    for digit in digits:
        counts[digit.writer] += 1
    by_contributor = defaultdict(list)
    for writer, count in counts.items():
        by_contributor[contributor_of(writer)].append((-count, writer))
    halves = {half: set() for half in HALVES}
    for contributor in sorted(by_contributor):
        sizes = dict.fromkeys(HALVES, 0)
        for negative_count, writer in sorted(by_contributor[contributor]):
            smaller = min(HALVES, key=lambda half: sizes[half])  # "choose" on a tie
            halves[smaller].add(writer)
            sizes[smaller] -= negative_count
    return halves


def writers_half(digits: list[PenDigit], half: str) -> list[PenDigit]:
    """The digits of one half of the writers (see :func:`split_writers`)."""
    if half not in HALVES:
        raise ValueError(f"half must be one of {HALVES}, got {half!r}.")
    writers = split_writers(digits)[half]
    return [digit for digit in digits if digit.writer in writers]


# --- Drawing -------------------------------------------------------------------


def fit_strokes(strokes, height: float, origin: tuple[float, float] = (0.0, 0.0)) -> list[np.ndarray]:
    """``strokes`` scaled to ``height`` pixels (keeping the aspect ratio), top-left corner at ``origin``.

    A digit with no height (a dash) is scaled by its width instead.
    """
    points = np.concatenate(strokes)
    low, high = points.min(axis=0), points.max(axis=0)
    extent = high[1] - low[1] if high[1] > low[1] else max(high[0] - low[0], 1e-9)
    factor = height / extent
    return [(np.asarray(stroke) - low) * factor + np.asarray(origin, dtype=np.float64) for stroke in strokes]


def pen_width_for(height: float, rng) -> float:
    """A pen width drawn over the pad's slider range, at most :data:`THICKEST_PEN` of ``height``."""
    thickest = max(PEN_WIDTHS[0], min(PEN_WIDTHS[1], THICKEST_PEN * height))
    return float(rng.uniform(PEN_WIDTHS[0], thickest))


@dataclass(frozen=True)
class PenString:
    """Strokes laid out on a canvas: ``strokes`` in pixels, one ``pen_width``, the ``text`` written,
    the canvas ``size`` (height, width) and the ``writer``. ``sources``: where its digits are in the list
    of digits a benchmark set was built from (:func:`isolated`, :func:`strings`), so a string's reading
    can be compared with its digits' readings alone; empty when laid out by hand."""

    strokes: list[np.ndarray]
    pen_width: float
    text: str
    size: tuple[int, int]
    writer: str
    sources: tuple[int, ...] = ()

    def on_pad(self) -> np.ndarray:
        """White ink on black, uint8: what :class:`~digitlab.widget.DigitPad` hands its reader."""
        return rasterize(self.strokes, self.size, self.pen_width)

    @property
    def height(self) -> float:
        """The writing's height in pixels: from the top of its highest stroke to the bottom of its lowest."""
        rows = np.concatenate([stroke[:, 1] for stroke in self.strokes])
        return float(rows.max() - rows.min())

    def over(self, below: PenString, gap: float) -> PenString:
        """This writing with ``below`` written under it, as tall and with this pen, ``gap`` of the height of paper
        between the ink of the two (their strokes a pen's width further apart): a page of two lines."""
        strokes = np.concatenate(self.strokes)
        top = strokes[:, 1].max() + gap * self.height + self.pen_width
        under = fit_strokes(below.strokes, self.height, (strokes[:, 0].min(), top))
        ink = np.concatenate([strokes, *under])
        size = tuple(int(np.ceil(extent + MARGIN + self.pen_width)) for extent in ink.max(axis=0)[::-1])
        return replace(self, strokes=self.strokes + under, text=f"{self.text}\n{below.text}", size=size,
                       sources=self.sources + below.sources)

    def turned(self, degrees: float) -> PenString:
        """The same writing turned ``degrees`` counter-clockwise, on a canvas large enough: written, or
        photographed, at a slant (:func:`digitlab.tilt.turned_strokes`)."""
        from digitlab.tilt import turned_strokes

        strokes, size, _ = turned_strokes(self.strokes, self.size, degrees)
        return replace(self, strokes=strokes, size=size)


def lay_out(digits: list[PenDigit], rng, gap=(0.1, 0.6), jitter: float = 0.05) -> PenString:
    """Digits of one writer written left to right on a pad, as a person writes a number.

    The string's digit height and pen width are drawn once (:data:`PAD_HEIGHTS`,
    :func:`pen_width_for`); each digit is 90-110 % of that height, moved up or
    down by up to ``jitter`` of it, and followed by a gap of ``gap`` (a
    range, as a fraction of the height) between its strokes and the next
    digit's. The gap between their ink is narrower by the pen's width, so a
    thick pen and a small gap make digits that touch, as people's do.
    """
    if not digits:
        raise ValueError("lay_out needs at least one digit.")
    height = float(rng.uniform(*PAD_HEIGHTS))
    pen_width = pen_width_for(height, rng)
    margin = MARGIN + pen_width
    strokes, left, right, bottom = [], margin, margin, 0.0
    for digit in digits:
        digit_height = height * rng.uniform(0.9, 1.1)
        top = margin + height * (jitter + rng.uniform(-jitter, jitter))
        placed = fit_strokes(digit.strokes, digit_height, (left, top))
        right = max(float(stroke[:, 0].max()) for stroke in placed)
        bottom = max([bottom] + [float(stroke[:, 1].max()) for stroke in placed])
        strokes += placed
        left = right + height * rng.uniform(*gap)
    size = (int(np.ceil(bottom + margin)), int(np.ceil(right + margin)))
    text = "".join(str(digit.label) for digit in digits)
    return PenString(strokes, pen_width, text, size, digits[0].writer)


def on_paper(pad_image: np.ndarray, rng, printed: np.ndarray | None = None) -> np.ndarray:
    """A pad image (white ink on black) as a photo of ink on paper: dark on light, blurred, noisy.

    Paper brightness 0.75-0.95, ink 0.05-0.35, a Gaussian blur of 0.5-1.5 px
    and pixel noise of 1-5 % (standard deviation), drawn from ``rng``.
    ``printed``: the paper's own lines (:func:`rulings`), 0 to 1 of the ink's
    darkness, under the ink; they draw nothing from ``rng``, so the same
    ``rng`` photographs the same writing on plain and on ruled paper alike.
    """
    import cv2

    ink = pad_image.astype(np.float32) / 255.0
    if printed is not None:
        ink = np.maximum(ink, printed)
    paper, pen = rng.uniform(0.75, 0.95), rng.uniform(0.05, 0.35)
    gray = paper - (paper - pen) * ink
    gray = cv2.GaussianBlur(gray, (0, 0), float(rng.uniform(0.5, 1.5)))
    gray += rng.normal(0.0, rng.uniform(0.01, 0.05), gray.shape).astype(np.float32)
    return np.clip(gray * 255.0 + 0.5, 0, 255).astype(np.uint8)


def on_desk(photo: np.ndarray, rng) -> np.ndarray:
    """A photo of a sheet (:func:`on_paper`) as one that shows the desk the sheet lies on, around the same sheet.

    The desk shows beside each side of the sheet with even odds (beside one
    at least), 5-50 % of the sheet's shorter side wide; its shade is 0.05-0.6
    (dark wood to a pale table top; the paper's is 0.75-0.95), with pixel
    noise of 1-5 %, and the sheet's edge is blurred as a photo blurs it (1
    px). Drawn from ``rng``, which the sheet draws nothing from: the photo of
    the sheet within is ``photo``, but along its edge.
    """
    import cv2

    shown = rng.random(4) < 0.5
    shown[rng.integers(4)] = True
    top, bottom, left, right = (np.where(shown, rng.uniform(0.05, 0.5, 4), 0.0) * min(photo.shape)).astype(int)
    shade, noise = float(rng.uniform(0.05, 0.6)), float(rng.uniform(0.01, 0.05))
    sheet = cv2.copyMakeBorder(np.ones(photo.shape, np.uint8), top, bottom, left, right, cv2.BORDER_CONSTANT, value=0)
    gray = cv2.copyMakeBorder(photo.astype(np.float32) / 255.0, top, bottom, left, right, cv2.BORDER_CONSTANT,
                              value=shade)
    return _on_the_desk(gray, sheet, noise, rng)


def askew(photo: np.ndarray, rng) -> np.ndarray:
    """A photo of a sheet (:func:`on_paper`) taken a little turned on a desk: the sheet turned 2-8 degrees either
    way in a frame as big as the photo, as big as the whole turned sheet, or in between, so that the desk shows
    at the frame's corners or beside the sheet's sides; the frame holds all the writing. The desk as in
    :func:`on_desk`. Drawn from ``rng``, which the sheet draws nothing from.
    """
    import cv2

    degrees = float(rng.uniform(2.0, 8.0) * rng.choice([-1, 1]))
    shade, noise, between = float(rng.uniform(0.05, 0.6)), float(rng.uniform(0.01, 0.05)), float(rng.random())
    height, width = photo.shape
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    cos, sin = abs(turn[0, 0]), abs(turn[0, 1])
    whole = np.array([height * cos + width * sin, width * cos + height * sin])  # rows and columns
    paper = float(np.median(photo))
    ink_rows, ink_columns = np.nonzero(photo < paper - 0.25 * (paper - float(photo.min())))  # the writing, roughly
    turned = np.stack([ink_columns, ink_rows], axis=1) @ turn[:, :2].T + turn[:, 2] - (width / 2, height / 2)
    writing = 2 * np.abs(turned).max(axis=0)[::-1] + 8 if len(ink_rows) else 0  # its turned extent, and a margin
    least = np.maximum((height, width), writing)
    rows, columns = np.round(least + between * np.maximum(whole - least, 0)).astype(int)
    turn[:, 2] += ((columns - width) / 2, (rows - height) / 2)
    gray = cv2.warpAffine(photo.astype(np.float32) / 255.0, turn, (columns, rows), borderValue=-1.0)
    sheet = (gray >= 0).view(np.uint8)
    gray[sheet == 0] = shade
    return _on_the_desk(gray, sheet, noise, rng)


def _on_the_desk(gray: np.ndarray, sheet: np.ndarray, noise: float, rng) -> np.ndarray:
    """``gray`` (0 to 1), a sheet (where ``sheet`` is 1) on a desk, with the desk's pixel ``noise`` (drawn from
    ``rng``) and the sheet's edge blurred as a photo blurs it, as uint8."""
    import cv2

    gray += np.where(sheet == 0, rng.normal(0.0, noise, gray.shape), 0.0).astype(np.float32)
    edge = cv2.morphologyEx(sheet, cv2.MORPH_GRADIENT, np.ones((5, 5), np.uint8)) > 0  # 2 px either side
    gray[edge] = cv2.GaussianBlur(gray, (0, 0), 1.0)[edge]
    return np.clip(gray * 255.0 + 0.5, 0, 255).astype(np.uint8)


def rulings(size: tuple[int, int], height: float, rng, squared: bool = False) -> np.ndarray:
    """The lines printed on a sheet of ruled or squared paper, for :func:`on_paper`: float32 of ``size``,
    0 where the paper is blank and the lines' darkness, 20-60 % of the ink's, where they are.

    Lines every 1.2-1.6 ``height`` (the writing's height: a school notebook's
    ruling under a number written to fit it) or, ``squared``, a grid every
    0.7-1.0 of it (a number written over about one square a digit); 1 or 2
    pixels wide, at a random offset. Drawn from ``rng``.
    """
    spacing = height * (rng.uniform(0.7, 1.0) if squared else rng.uniform(1.2, 1.6))
    darkness, width = float(rng.uniform(0.2, 0.6)), int(rng.integers(1, 3))
    lines = np.zeros(size, np.float32)
    for row in np.arange(rng.uniform(0, spacing), size[0], spacing).astype(int):
        lines[row:row + width, :] = darkness
    if squared:
        for column in np.arange(rng.uniform(0, spacing), size[1], spacing).astype(int):
            lines[:, column:column + width] = darkness
    return lines


# --- Seeded benchmark sets -------------------------------------------------------


def isolated(digits: list[PenDigit], seed: int = 0) -> list[PenString]:
    """Each digit alone on a pad, at a seeded height and pen width (one :class:`PenString` each)."""
    rng = np.random.default_rng(seed)
    return [replace(lay_out([digit], rng), sources=(index,)) for index, digit in enumerate(digits)]


def strings(digits: list[PenDigit], count: int, seed: int = 1, length=(3, 8)) -> list[PenString]:
    """``count`` strings of ``length`` (a range) digits, each of ONE writer, laid out as on the pad.

    Each string's writer is the writer of a digit drawn at random, so
    writers count in proportion to the digits they wrote and every digit is
    used about equally often (drawing writers uniformly would repeat the few
    digits of small writers in many strings, one odd digit weighing like
    dozens); then that writer's digits without replacement (with
    replacement if they wrote fewer than the string needs).
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}.")
    by_writer = defaultdict(list)  # each writer's digits, by their place in ``digits``
    for index, digit in enumerate(digits):
        by_writer[digit.writer].append(index)
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(count):
        own = by_writer[digits[rng.integers(len(digits))].writer]
        size = int(rng.integers(length[0], length[1] + 1))
        sources = tuple(own[i] for i in rng.choice(len(own), size=size, replace=size > len(own)))
        lines.append(replace(lay_out([digits[index] for index in sources], rng), sources=sources))
    return lines
