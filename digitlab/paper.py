"""The paper under the ink of a photo: its light, and the lines printed on it.

Taught in ``notebooks/06_segmenting_sequences.ipynb``. Ink is what is darker
than its own paper (:func:`digitlab.preprocess.to_ink`), so everything that
belongs to the paper must be in the paper's brightness:

- its **light** (:func:`paper_light`): a shadow, a darker corner, a gradient
  across the page, which vary slowly;
- its **printed lines** (:func:`printed_lines`): a ruling, a grid, which are
  thin but run across the whole page, as no handwriting does.

:func:`paper_brightness` is the two together.
"""

from __future__ import annotations

import cv2
import numpy as np

#: The paper's light is taken over squares this fraction of the image's shorter side: wider than any
#: stroke of a digit that fits in the image, narrower than the shadows and gradients of a photo's light.
PAPER_WINDOW = 1 / 3
#: ... on a copy whose shorter side is this many pixels: light varies slowly, so detail is not needed.
PAPER_SIDE = 96
#: A printed line runs across the page: a row (or a column) is printed as dark as it is over this fraction of
#: its length. Handwriting crosses a row only in places, and a digit photographed as close as a photo of one
#: digit is taken (a margin of a few percent) leaves more than a tenth of each of its rows and columns blank.
PRINTED_ACROSS = 0.9
#: Printed lines are lighter than the pen (a pale ruling, a grey grid): a row or a column printed as dark as this
#: fraction of the writing's darkest strokes is writing, such as a 4's bar in a photo cropped to its ink.
PRINTED_LIGHTER = 0.75
#: A row's darkness is measured in this many stretches at most (each the mean of its pixels): a printed line
#: is as dark all along, and handwriting and noise are evened out over a stretch.
PRINTED_STRETCHES = 256


def paper_light(gray: np.ndarray) -> np.ndarray:
    """The brightness of the blank paper under each pixel of a dark-on-light image, in (0, 1].

    The brightest level within :data:`PAPER_WINDOW` of the image (a
    morphological closing: dark strokes narrower than the window vanish),
    smoothed, computed small (:data:`PAPER_SIDE`) and enlarged to the image.
    """
    height, width = gray.shape
    factor = min(1.0, PAPER_SIDE / min(height, width))
    small = cv2.resize(gray.astype(np.float32), (max(1, round(width * factor)), max(1, round(height * factor))),
                       interpolation=cv2.INTER_AREA)
    window = max(3, int(min(small.shape) * PAPER_WINDOW) | 1)
    paper = cv2.morphologyEx(small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (window, window)))
    paper = cv2.GaussianBlur(paper, (0, 0), window / 4)  # soft, yet as steep as a shadow's edge
    if factor < 1.0:
        paper = cv2.resize(paper, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.maximum(paper, 1e-3)


def printed_lines(shade: np.ndarray) -> np.ndarray:
    """How dark the page's printed lines make each pixel, 0 to 1, from ``shade`` (0 to 1: how much darker than
    its paper's light each pixel is).

    A row's printed darkness is the darkness it has over
    :data:`PRINTED_ACROSS` of its length, and so is a column's, unless it
    is as dark as the writing (:data:`PRINTED_LIGHTER`); a pixel takes the
    darker of its row's and its column's. Rows and columns that only
    handwriting crosses are printed about 0. Lines at a slant (a page
    photographed turned by more than a degree or so) run across many rows,
    dark over a tenth of each at most: they stay ink.
    """
    rows = _darkness_across(shade)
    columns = _darkness_across(np.ascontiguousarray(shade.T))
    printed = np.maximum(rows[:, None], columns[None, :])
    # The writing: the darkest ink left once the lines are taken out, a stroke's core rather than a speck of noise.
    writing = float(cv2.medianBlur(np.clip(shade - printed, 0.0, 1.0), 3).max())
    rows[rows >= PRINTED_LIGHTER * writing] = 0.0
    columns[columns >= PRINTED_LIGHTER * writing] = 0.0
    return np.maximum(rows[:, None], columns[None, :])


def _darkness_across(shade: np.ndarray) -> np.ndarray:
    """Per row of ``shade``: the darkness that :data:`PRINTED_ACROSS` of the row reaches, beyond what a typical
    row of the page reaches (blank paper's own grain and noise: most rows are blank, even on squared paper)."""
    length = shade.shape[1]
    if length > PRINTED_STRETCHES:
        shade = cv2.resize(shade, (PRINTED_STRETCHES, shade.shape[0]), interpolation=cv2.INTER_AREA)
        length = PRINTED_STRETCHES
    rank = int((1.0 - PRINTED_ACROSS) * (length - 1))
    darkness = np.partition(shade, rank, axis=1)[:, rank]
    return np.maximum(darkness - np.median(darkness), 0.0)


def paper_brightness(gray: np.ndarray) -> np.ndarray:
    """The brightness of the paper under each pixel of a dark-on-light image, in (0, 1]: its light
    (:func:`paper_light`), darkened where lines are printed on it (:func:`printed_lines`)."""
    light = paper_light(gray)
    shade = np.clip(1.0 - gray / light, 0.0, 1.0).astype(np.float32)
    return np.maximum(light * (1.0 - printed_lines(shade)), 1e-3)
