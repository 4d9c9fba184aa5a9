"""The paper under the ink of a photo: its light, and the lines printed on it; or the board under light ink.

Taught in ``notebooks/06_segmenting_sequences.ipynb``. Which of light and
dark is the paper (:func:`is_dark_on_light`) is asked of each part of the
page: the paper is most of it. Ink is what is darker than its own paper
(:func:`digitlab.preprocess.to_ink`), so everything that belongs to the
paper must be in the paper's brightness:

- its **light** (:func:`paper_light`): a shadow, a darker corner, a gradient
  across the page, which vary slowly;
- its **printed lines** (:func:`printed_lines`): a ruling, a grid, which are
  thin and paler than the pen but run straight across the whole page (level,
  or at the slant of a photo taken turned), as no handwriting does.

:func:`paper_brightness` is the two together. Light ink is measured against
its dark board the same way (:func:`board_light`). The desk a photographed
sheet lies on is found first (:mod:`digitlab.sheet`): the printed lines,
which stop at the sheet's edge and run along it, are measured along the page
alone, level or at about the slant of its edges. A camera's noise
(:func:`noise_sigma`) is measured to be told from ink.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: The paper's light is taken over squares this fraction of the image's shorter side: wider than any
#: stroke of a digit that fits in the image, narrower than the shadows and gradients of a photo's light.
PAPER_WINDOW = 1 / 3
#: ... on a copy whose shorter side is this many pixels: light varies slowly, so detail is not needed.
PAPER_SIDE = 96
#: Which is the paper, the light or the dark, is asked of neighbourhoods this fraction of the image's shorter side:
#: wide enough that paper is most of each, around a marker's strokes and inside its digits' loops.
POLARITY_WINDOW = 1 / 2
#: Below this ink-to-paper contrast (a fraction of the paper's brightness: light falls on both alike) there is no ink.
MIN_CONTRAST = 0.15
#: A camera's noise adds to the light rather than scaling with it, so near black every factor is noise's: levels
#: count from as far below black as makes noise on black paper this many sigmas short of :data:`MIN_CONTRAST`
#: (five: noise that far out is a few pixels of an image, if any).
NOISE_SIGMAS = 5.0
#: One level of an 8-bit image, the least a photo tells apart: levels count from at least this far below black.
ONE_LEVEL = 1 / 255
#: A printed line runs across the page: a row (or a column) is printed as dark as it is over this fraction of
#: its length. Handwriting crosses a row only in places, and a digit photographed as close as a photo of one
#: digit is taken (a margin of a few percent) leaves more than a tenth of each of its rows and columns blank.
PRINTED_ACROSS = 0.9
#: Printed lines are lighter than the pen (a pale ruling, a grey grid): a row or a column printed as dark as this
#: fraction of the writing's darkest strokes is writing, such as a 4's bar in a photo cropped to its ink.
PRINTED_LIGHTER = 0.75
#: Printed lines are looked for at slants up to this many degrees either way: a page photographed turned ...
PRINTED_SLANT = 8.0
#: ... where a line near the page's edge crosses a corner of it: it is measured along the part on the page when
#: that is at least this fraction of its length (shorter, a stroke of the writing might run along all of it).
PRINTED_PIECE = 0.25
#: A line's darkness is measured in this many stretches at most (each the mean of its pixels): a printed line
#: is as dark all along, and handwriting and noise are evened out over a stretch ...
PRINTED_STRETCHES = 256
#: ... and its slant is searched with this many, on this many rows first.
SEARCH_SIZE = 64


def is_dark_on_light(gray: np.ndarray) -> bool:
    """True when the paper of ``gray`` (0 to 1) is lighter than its ink.

    The paper is most of every part of a page and the ink is thin, so the
    paper's level around each pixel is the median of its neighbourhood
    (:data:`POLARITY_WINDOW` of the image, computed small:
    :data:`PAPER_SIDE`), and the ink is what departs from it by a factor,
    darker or lighter: a lamp multiplies paper and ink alike, so ink stays
    :data:`MIN_CONTRAST` darker than its paper (or lighter by the same
    factor) wherever the light falls, while a lamp's pool of light or a
    shadow departs from a neighbourhood by less. Levels count from below
    black by :data:`NOISE_SIGMAS` of the image's own noise, so that a dark
    photo's noise is not ink. Whichever way the departures weigh more (the
    largest counting most: squared) is the ink's; where none is ink (a blank
    page), the paper is light if the image is mostly lighter than mid-grey.
    """
    small = _small(gray)
    low, high = float(small.min()), float(small.max())
    levels = cv2.convertScaleAbs(small - low, alpha=255.0 / max(high - low, 1e-6))  # its range as uint8: a median
    window = max(3, int(min(levels.shape) * POLARITY_WINDOW) | 1)
    paper = cv2.medianBlur(levels, window).astype(np.float32) * ((high - low) / 255.0) + low
    below_black = max(NOISE_SIGMAS * noise_sigma(small) / MIN_CONTRAST, ONE_LEVEL)
    departures = np.log((small + below_black) / (paper + below_black))
    departures[np.abs(departures) < -np.log1p(-MIN_CONTRAST)] = 0.0
    balance = float((departures * np.abs(departures)).sum())  # below 0: the ink is darker
    if balance == 0.0:
        return float(np.median(small)) > 0.5
    return balance < 0.0


def noise_sigma(image: np.ndarray) -> float:
    """The sigma of a camera's noise in ``image``, in its own units: from the median step between neighbours
    along its rows (a Gaussian's, of the difference of two pixels), so the few steps at ink's edges do not count.
    0.0 for a clean image (a canvas, MNIST), whose paper is one level."""
    steps = np.abs(np.diff(image, axis=1))
    if np.count_nonzero(steps) < steps.size - steps.size // 2 or not steps.size:  # most steps are none: 0, fast
        return 0.0
    return 1.4826 * float(np.median(steps)) / np.sqrt(2)


def without_noise(ink: np.ndarray, noise: float) -> np.ndarray:
    """``ink`` smoothed at the scale that brings a camera's noise, of sigma ``noise`` in the ink's units
    (:func:`noise_sigma`), :data:`NOISE_SIGMAS` short of :data:`MIN_CONTRAST`; as it is when ``noise`` is 0.

    The noise of a dark photo is divided by its dim paper: in the ink's
    units it may be a fifth of the paper, and a threshold at any contrast
    then takes it for thousands of specks of ink. Strokes are many pixels
    long and wide, noise is one pixel's: averaged over a Gaussian of ``s``
    pixels, white noise falls ``2 * s * sqrt(pi)`` times, the ink of a
    stroke wider than ``s`` hardly at all.
    """
    scale = NOISE_SIGMAS * noise / (2.0 * np.sqrt(np.pi) * MIN_CONTRAST)
    return cv2.GaussianBlur(ink, (0, 0), scale) if scale > 0 else ink


def paper_light(gray: np.ndarray) -> np.ndarray:
    """The brightness of the blank paper under each pixel of a dark-on-light image, in (0, 1].

    The brightest level within :data:`PAPER_WINDOW` of the image (a
    morphological closing: dark strokes narrower than the window vanish),
    smoothed, computed small (:data:`PAPER_SIDE`) and enlarged to the image
    (:func:`_level`).
    """
    return np.clip(_level(gray, cv2.MORPH_CLOSE, PAPER_WINDOW), 1e-3, 1.0)


def board_light(gray: np.ndarray) -> np.ndarray:
    """The brightness of the bare board under each pixel of a light-on-dark image, in [0, 1]: the mirror of
    :func:`paper_light`, the darkest level within :data:`POLARITY_WINDOW` of the image (a morphological opening:
    light strokes narrower than the window vanish). Wider than the paper's: light ink is mostly a canvas's or
    MNIST's, whose digit fills its image and whose bold strokes are up to a third of it; a black board is 0
    exactly, and its ink stays as it is."""
    return np.clip(_level(gray, cv2.MORPH_OPEN, POLARITY_WINDOW), 0.0, 1.0)


def _level(gray: np.ndarray, operation: int, fraction: float) -> np.ndarray:
    """``gray``'s paper (``cv2.MORPH_CLOSE``) or board (``cv2.MORPH_OPEN``) over squares of ``fraction`` of its
    shorter side, on the small copy (:func:`_small`), smoothed and enlarged to ``gray``'s size.

    Beyond the image the light goes on as at its edge: where it falls towards
    the edge (a vignette, a lamp), a window the border cut would give the paper
    near the edge the light of the paper further in. The smoothing, as wide,
    goes on along the light's slope at the edge (an odd reflection): flat
    beyond it, the steep fall into a vignette's corner would be evened out
    with the brighter paper inside, and its dark paper taken for ink.
    """
    small = _small(gray)
    window = max(3, int(min(small.shape) * fraction) | 1)
    padded = cv2.copyMakeBorder(small, window, window, window, window, cv2.BORDER_REPLICATE)
    level = cv2.morphologyEx(padded, operation, cv2.getStructuringElement(cv2.MORPH_RECT, (window, window)))
    if not level.any():  # a black board (a canvas): 0 all over, smoothed or not, found fast
        return np.zeros(gray.shape, np.float32)
    level = np.pad(level[window:-window, window:-window], window, mode="reflect", reflect_type="odd")
    # Soft, yet as steep as a shadow's edge.
    level = cv2.GaussianBlur(level, (0, 0), window / 4)[window:-window, window:-window]
    if level.shape != gray.shape:
        level = cv2.resize(level, gray.shape[::-1], interpolation=cv2.INTER_LINEAR)
    return level


def _small(gray: np.ndarray) -> np.ndarray:
    """``gray`` as float32, shrunk (averaged) so that its shorter side is :data:`PAPER_SIDE` pixels, if longer."""
    height, width = gray.shape
    factor = min(1.0, PAPER_SIDE / min(height, width))
    return cv2.resize(gray.astype(np.float32), (max(1, round(width * factor)), max(1, round(height * factor))),
                      interpolation=cv2.INTER_AREA)


def printed_lines(shade: np.ndarray, off_page: np.ndarray | None = None, slant: float = 0.0) -> np.ndarray:
    """How dark the page's printed lines make each pixel, 0 to 1, from ``shade`` (0 to 1: how much darker than
    its paper's light each pixel is) on the page: all of it, or all but ``off_page`` (a bool mask).

    A line's printed darkness is the darkness it has over
    :data:`PRINTED_ACROSS` of its length on the page, unless it is as dark
    as the writing (:data:`PRINTED_LIGHTER`). The lines are looked for
    along the rows and along the columns, each family at the slant, within
    :data:`PRINTED_SLANT` of level or of ``slant`` (degrees: the sheet's
    own, as its edges show it, :class:`digitlab.sheet.Sheet`; or a shadow's
    edge, taken for the desk's), at which its lines are darkest (a page
    photographed turned); a pixel takes the darker of its two lines. Lines
    that only handwriting crosses are printed about 0.
    """
    page = shade
    if off_page is not None:
        page = shade.copy()
        page[off_page] = np.nan  # not measured: see _darkness
    rows = _Lines.along(page, slant).on_page()
    columns = _Lines.along(cv2.transpose(page), -slant).on_page(transposed=True)  # the transpose mirrors the slant
    # The writing: the darkest ink left once the lines are taken out, a stroke's core rather than a speck of noise.
    writing = float(cv2.medianBlur(np.clip(shade - np.maximum(rows, columns), 0.0, 1.0), 3).max())
    for lines in (rows, columns):
        lines[lines >= PRINTED_LIGHTER * writing] = 0.0
    return np.maximum(rows, columns)


@dataclass(frozen=True)
class _Lines:
    """A family of parallel lines along the rows of a page of ``shape``, ``slope`` rows down per column to the
    right: line ``k`` runs through row ``k - margin`` at the middle column. ``darkness``: each line's."""

    shape: tuple[int, int]
    slope: float
    margin: int
    darkness: np.ndarray

    @classmethod
    def along(cls, shade: np.ndarray, slant: float = 0.0) -> _Lines:
        """The lines along the rows of ``shade`` at the slant where they are darkest in all, within
        :data:`PRINTED_SLANT` of level or of ``slant`` (degrees, positive: rising to the right).

        The slant is searched coarse to fine, as a drift in rows from the
        page's middle to its ends: every drift in those ranges on the page
        measured in :data:`SEARCH_SIZE` stretches of as many rows (its rows
        shrunk by halves); then on each copy twice as tall up to the page
        itself, the best drift so far doubled and a row either side of it.
        """
        width = shade.shape[1]
        copies = [_stretched(shade, SEARCH_SIZE)]  # the search shears stretches of rows, not pixels
        while copies[-1].shape[0] > SEARCH_SIZE:
            half_height = (copies[-1].shape[1], (copies[-1].shape[0] + 1) // 2)
            copies.append(cv2.resize(copies[-1], half_height, interpolation=cv2.INTER_AREA))
        # The least and the most drift of each window, in the page's rows (which grow downwards).
        windows = [-np.tan(np.radians([centre + PRINTED_SLANT, centre - PRINTED_SLANT])) * width / 2
                   for centre in sorted({0.0, slant})]
        best = 0
        for halvings in range(len(copies) - 1, -1, -1):
            shrink = 2**halvings  # the page's rows per row of this copy
            ranges = [np.arange(np.ceil(least / shrink), np.floor(most / shrink) + 1) for least, most in windows]
            allowed = np.unique(np.concatenate(ranges)).astype(int)  # in this copy's rows
            drifts = allowed if halvings == len(copies) - 1 else np.intersect1d(2 * best + np.arange(-1, 2), allowed)
            best = _best_drift(copies[halvings], drifts, width)
        slope = best / (width / 2)
        level, margin = _sheared(shade, slope, width)
        # A row takes the darkest of itself and its neighbours: a slanted line steps from row to row, its pixels'
        # share of each row varying along it, and the darkness it reaches all along would leave the rest as ink.
        # Off the page (NaN, which OpenCV's dilation does not skip) is below any darkness while dilating, so that a
        # row takes its neighbours' pixels on the page, and is off the page again where all three are.
        cv2.patchNaNs(level, -1.0)
        level = cv2.dilate(level, np.ones((3, 1), np.uint8))
        level[level < 0] = np.nan
        return cls(shade.shape, slope, margin, _darkness(_stretched(level, PRINTED_STRETCHES)))

    def on_page(self, transposed: bool = False) -> np.ndarray:
        """Each pixel's line's darkness: float32 of :attr:`shape`, or, if ``transposed``, of the page whose
        transpose these lines were found on (the lines its columns), in that page's own orientation."""
        height, width = self.shape
        # Line k runs through row k - margin + shift at each column: the columns of one shift take one run of lines.
        shifts = np.round(self.slope * (np.arange(width) - width / 2)).astype(np.int32)
        starts = np.r_[0, np.flatnonzero(np.diff(shifts)) + 1]
        page = np.empty((width, height) if transposed else (height, width), np.float32)
        for start, end in zip(starts, np.r_[starts[1:], width]):
            first = self.margin - shifts[start]
            lines = self.darkness[first:first + height]
            if transposed:
                page[start:end, :] = lines[None, :]
            else:
                page[:, start:end] = lines[:, None]
        return page


def _best_drift(means: np.ndarray, drifts: np.ndarray, width: int) -> int:
    """Of ``drifts`` (in rows of ``means``, from the middle of a page ``width`` wide to its ends), the one along
    which the lines of ``means`` (stretches of its rows) are darkest in all; ties go to the least slant."""
    totals = [_darkness(_sheared(means, drift / (width / 2), width)[0]).sum() for drift in drifts]
    return int(drifts[np.lexsort((np.abs(drifts), -np.asarray(totals)))[0]])


def _stretched(page: np.ndarray, stretches: int) -> np.ndarray:
    """``page`` with each row measured in ``stretches`` at most, each the mean of its pixels."""
    if page.shape[1] <= stretches:
        return page
    return cv2.resize(page, (stretches, page.shape[0]), interpolation=cv2.INTER_AREA)


def _sheared(page: np.ndarray, slope: float, width: int) -> tuple[np.ndarray, int]:
    """``page``, whose columns span a page ``width`` pixels wide, sheared so that each line at ``slope`` is a
    row (line ``k`` of :class:`_Lines` is row ``k``), NaN off the page; and the margin of lines above it."""
    height, columns = page.shape
    step = width / columns  # the page's pixels per column of ``page``
    margin = int(np.ceil(abs(slope) * width / 2))
    # The page's edge pixels once more around it, so that interpolation reaches them; NaN beyond.
    edged = cv2.copyMakeBorder(page, 1, 1, 1, 1, cv2.BORDER_REPLICATE)
    shear = np.float32([[1, 0, 1], [slope * step, 1, slope * (step - width) / 2 - margin + 1]])
    level = cv2.warpAffine(edged, shear, (columns, height + 2 * margin), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=float("nan"))
    return level, margin


def _darkness(level: np.ndarray) -> np.ndarray:
    """Each row's darkness over :data:`PRINTED_ACROSS` of its length on the page, beyond that of a typical row
    (blank paper's own grain and noise: most lines are blank, even on squared paper). A row on the page (not
    NaN) for less than :data:`PRINTED_PIECE` of its length is not measured: 0."""
    on_page = np.isfinite(level).sum(axis=1)
    ranks = ((1.0 - PRINTED_ACROSS) * np.maximum(on_page - 1, 0)).astype(np.intp)
    darkness = np.take_along_axis(np.sort(level, axis=1), ranks[:, None], axis=1)[:, 0]  # NaN sorts last
    measured = on_page >= PRINTED_PIECE * level.shape[1]
    if not measured.any():
        return np.zeros(len(level), np.float32)
    darkness = np.where(measured, darkness - np.median(darkness[measured]), 0.0)
    return np.maximum(darkness, 0.0).astype(np.float32)


def paper_brightness(gray: np.ndarray, off_page: np.ndarray | None = None, slant: float = 0.0) -> np.ndarray:
    """The brightness of the paper under each pixel of a dark-on-light image, in (0, 1]: its light
    (:func:`paper_light`), darkened where lines are printed on it (:func:`printed_lines`).

    ``off_page``, a bool mask (the desk around a photographed sheet,
    :func:`digitlab.sheet.on_the_page`), is no page: the printed lines are
    measured along the page alone, as they run across the page and stop at
    its edge, level or at the sheet's ``slant`` (degrees,
    :func:`printed_lines`).
    """
    light = paper_light(gray)
    shade = np.clip(1.0 - gray / light, 0.0, 1.0).astype(np.float32)
    return np.maximum(light * (1.0 - printed_lines(shade, off_page, slant)), 1e-3)
