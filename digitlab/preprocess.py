"""From any image to what the CNN expects.

Taught in ``notebooks/01_mnist_and_preprocessing.ipynb`` (one digit, MNIST's
normalisation) and ``notebooks/06_segmenting_sequences.ipynb`` (whole images).

The steps, one helper each:

1. :func:`load_image` (:mod:`digitlab.image_files`): a path, a PIL image or
   an array -> a numpy array, photos turned upright as their EXIF
   orientation says (:class:`ImageError` for empty, truncated, non-image or
   too large files, checked before decoding);
2. :func:`downscale`: bound the working size of huge images, before any copy;
3. :func:`to_grayscale`: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) of any
   integer, float or bool type -> float32 (H, W) in [0, 1];
4. :func:`to_ink`: automatic polarity -> 1 where there is ink, 0 on paper
   (the desk around a page, the paper's light and its printed lines:
   :mod:`digitlab.paper`);
5. :func:`binarize`: Otsu or adaptive threshold -> a uint8 mask (255 = ink);
6. :func:`normalize_digit`: one digit crop -> 28x28 as MNIST: the longer side
   fitted into 20x20, centred by centre of mass, white on black, 0 to 1.

:func:`prepare` runs steps 1-5 and returns a :class:`Page`; :func:`drawn_page`, for a
pad's canvas, steps 2, 3 and 5 (its pixels are its ink). Once the page is
segmented, :func:`digitlab.stroke_width.thin_ink` thins ink thicker than
MNIST's for its digits' height (a marker, a bold pen) before any digit is
cut out of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from digitlab import image_files
from digitlab.paper import (
    MIN_CONTRAST,
    ONE_LEVEL,
    board_light,
    is_dark_on_light,
    noise_sigma,
    paper_brightness,
    without_noise,
)
from digitlab.sheet import on_the_page

# Step 1 and its errors live in digitlab.image_files; these are what the reader's callers use of it.
ImageError, load_image = image_files.ImageError, image_files.load_image

#: Images are read at most this many pixels on their longer side.
MAX_WORKING_SIDE = 2048
#: Hysteresis: ink this fraction of Otsu's threshold counts where it touches stronger ink.
HYSTERESIS = 0.5
MNIST_SIZE = 28
MNIST_BOX = 20


# --- Reading: digitlab.image_files ------------------------------------------


def downscale(image: np.ndarray, max_side: int = MAX_WORKING_SIDE) -> tuple[np.ndarray, float]:
    """Shrink ``image`` so its longer side is at most ``max_side``; return it and the factor used.

    Done first, on the original type, so a 10000x10000 image never becomes a
    400 MB float array. The factor is 1.0 when nothing changed.
    """
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    height, width = image.shape[:2]
    factor = max_side / max(height, width)
    if factor >= 1:
        return image, 1.0
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    elif image.dtype not in (np.uint8, np.uint16, np.int16, np.float32, np.float64):
        image = image.astype(np.float32)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), factor


# --- Grayscale and polarity -----------------------------------------------


def check_image(image) -> np.ndarray:
    """Validate an array's shape and type; raise :class:`TypeError` or :class:`ImageError`."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected a numpy array, got {type(image).__name__}.")
    if not (image.dtype == bool or np.issubdtype(image.dtype, np.integer)
            or np.issubdtype(image.dtype, np.floating)):
        raise TypeError(f"pixels must be bool, integers or floats, got dtype {image.dtype}.")
    shape_ok = image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4))
    if not shape_ok:
        raise ImageError(
            f"expected an image of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {image.shape}."
        )
    if image.size == 0:
        raise ImageError(f"the image is empty (shape {image.shape}).")
    if np.issubdtype(image.dtype, np.floating) and not np.isfinite(image).all():
        raise ImageError("the image has NaN or infinite pixels; replace them before reading.")
    return image


def _to_unit(channels: np.ndarray) -> np.ndarray:
    """Any pixel type -> float32 in [0, 1].

    bool, uint8 and uint16 by their type's range; values already in [0, 1] as they are; whole numbers
    within 0-255 (an 8-bit image held as int64 or float) divided by 255. Anything else is stretched from
    its minimum to its maximum, but only when that spread is real contrast, at least
    :data:`MIN_CONTRAST` of the values' magnitude: a near-uniform image (1000 plus a little noise) is
    blank, not noise stretched into ink.
    """
    if channels.dtype == bool:
        return channels.astype(np.float32)
    if channels.dtype in (np.uint8, np.uint16):
        return channels.astype(np.float32) / np.iinfo(channels.dtype).max
    values = channels.astype(np.float64)
    low, high = float(values.min()), float(values.max())
    if 0.0 <= low and high <= 1.0:
        return values.astype(np.float32)
    if 0.0 <= low and high <= 255.0 and np.array_equal(values, np.round(values)):
        return (values / 255.0).astype(np.float32)
    if high / 2 - low / 2 < MIN_CONTRAST / 2 * max(abs(low), abs(high)):
        return np.zeros(values.shape, dtype=np.float32)
    # Halves first, so that even -1e308 to 1e308 does not overflow.
    return ((values / 2 - low / 2) / (high / 2 - low / 2)).astype(np.float32)


def to_grayscale(image: np.ndarray) -> np.ndarray:
    """float32 (H, W) in [0, 1] from (H, W), (H, W, 1), RGB or RGBA pixels of any type.

    RGBA with transparency (what a canvas gives) is composited over paper of
    the opposite shade to its ink, so both dark and light strokes on a
    transparent background stay visible.
    """
    image = check_image(image)
    if image.ndim == 2:
        return _to_unit(image)
    if image.shape[2] == 1:
        return _to_unit(image[..., 0])
    color = _to_unit(image[..., :3])
    gray = color @ np.float32([0.299, 0.587, 0.114])
    if image.shape[2] == 3:
        return gray.astype(np.float32)
    alpha = _to_unit(image[..., 3]) if image.dtype != bool else image[..., 3].astype(np.float32)
    if alpha.min() >= 1.0:
        return gray.astype(np.float32)
    ink_shade = float((gray * alpha).sum() / max(alpha.sum(), 1e-6))
    paper = 1.0 if ink_shade < 0.5 else 0.0
    return (alpha * gray + (1.0 - alpha) * paper).astype(np.float32)


#: How ink differs from paper: guessed, dark ink on light paper (a scan), or light on dark (a canvas, MNIST).
POLARITIES = ("auto", "dark_on_light", "light_on_dark")


def check_polarity(polarity: str) -> None:
    """Raise ``ValueError`` unless ``polarity`` is one of :data:`POLARITIES`."""
    if polarity not in POLARITIES:
        raise ValueError(f"polarity must be one of {POLARITIES}, got {polarity!r}.")


def to_ink(gray: np.ndarray, polarity: str = "auto", off_page: np.ndarray | None = None) -> np.ndarray:
    """Ink intensity, 1 on ink and 0 on paper (MNIST's white on black).

    ``polarity`` is "auto" (guessed: :func:`digitlab.paper.is_dark_on_light`,
    the ink departs from the paper around it), "dark_on_light" (a scan or a
    photo: inverted) or "light_on_dark" (a canvas, MNIST, a board). Dark ink
    is measured against the paper under it
    (:func:`digitlab.paper.paper_brightness`): how much darker than its own
    paper a pixel is, so a shadow or a darker corner of a photo stays paper,
    and so do the lines printed on it (a ruling, a grid). Unless told the ink
    is light, the desk a photographed sheet lies on is paper too
    (:func:`digitlab.sheet.on_the_page`), found first; the printed lines are
    then measured along the page alone, level or at about the slant of its
    edges. ``off_page`` (a bool mask), when given, is what is known to be no
    page instead of a desk looked for (a photo turned level: its desk, and the
    corners the turn brings in). Light ink is measured against the board
    under it (:func:`digitlab.paper.board_light`): how much lighter than
    its board, for the light there (as the board's level says), as a
    fraction of the way from the lit board up to white. A shadow across a
    board stays board and the chalk in it ink, and a black canvas's ink is
    kept as it is. Last, a camera's noise is smoothed away
    (:func:`digitlab.paper.without_noise`).
    """
    check_polarity(polarity)
    if polarity == "light_on_dark":
        off_page, slant = None, 0.0
    else:
        gray, off_page, slant = on_the_page(gray, off_page)
    invert = is_dark_on_light(gray) if polarity == "auto" else polarity == "dark_on_light"
    if invert:
        ink = 1.0 - gray / paper_brightness(gray, off_page, slant)
    elif (board := board_light(gray)).any():  # the light falls on board and ink alike; the board's level follows it
        lit = float(board.max())
        light = (board + ONE_LEVEL) / (lit + ONE_LEVEL)  # 1 where the board is lit most; counted from below black
        ink = (gray - board) / light / max(1.0 - lit, ONE_LEVEL)
    else:  # a black board (a canvas, MNIST): its ink is the image as it is
        ink = gray
    ink = ink.astype(np.float32, copy=False)
    return np.clip(without_noise(ink, noise_sigma(ink)), 0.0, 1.0)


# --- Thresholding ---------------------------------------------------------


#: Threshold methods of :func:`binarize`: one global threshold (Otsu's), or a local one.
THRESHOLDS = ("otsu", "adaptive")


def check_threshold(method: str) -> None:
    """Raise ``ValueError`` unless ``method`` is one of :data:`THRESHOLDS`."""
    if method not in THRESHOLDS:
        raise ValueError(f"threshold must be one of {THRESHOLDS}, got {method!r}.")


def binarize(ink: np.ndarray, method: str = "otsu") -> np.ndarray:
    """uint8 mask, 255 on ink: Otsu's global threshold or an adaptive (local) one.

    Otsu suits even lighting (canvases, clean scans); "adaptive" compares each
    pixel with its neighbourhood's mean, for uneven lighting. Either way the
    threshold stays at least :data:`MIN_CONTRAST` above the paper, so a blank
    or faintly noisy image gives an empty mask rather than invented digits.
    Otsu's threshold is applied with hysteresis (:func:`keep_connected`):
    fainter ink counts when it touches clearly dark ink, so the light end of
    a stroke stays part of its digit instead of breaking it in two.
    """
    check_threshold(method)
    pixels = np.clip(ink * 255.0, 0, 255).astype(np.uint8)
    paper = float(np.percentile(pixels[::3, ::3], 10))
    floor = paper + MIN_CONTRAST * 255.0
    if pixels.max() < floor:
        return np.zeros(pixels.shape, dtype=np.uint8)
    otsu, _ = cv2.threshold(pixels, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if method == "otsu":
        strong = pixels > max(otsu, floor)
        weak = pixels > max(otsu * HYSTERESIS, floor)
        return keep_connected(weak, strong)
    block = max(3, (min(pixels.shape) // 8) | 1)
    local = cv2.adaptiveThreshold(pixels, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, block, -10)
    return np.where(pixels > floor, local, 0).astype(np.uint8)


def keep_connected(weak: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """uint8 mask (255) of the 8-connected blobs of ``weak`` that hold a ``strong`` pixel."""
    count, labels = cv2.connectedComponents(weak.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, dtype=np.uint8)  # per blob: 255 if it holds a strong pixel
    keep[labels[strong]] = 255
    keep[0] = 0
    return keep[labels]


# --- All steps -----------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """An image ready for segmentation, at working size.

    ``gray`` (0-1, as given), ``ink`` (0-1, 1 on ink) and ``mask`` (uint8,
    255 on ink) share one shape; ``scale`` is working size / input size.
    """

    gray: np.ndarray
    ink: np.ndarray
    mask: np.ndarray
    scale: float


def prepare(image, polarity: str = "auto", method: str = "otsu", max_side: int = MAX_WORKING_SIDE,
            off_page: np.ndarray | None = None) -> Page:
    """Steps 1-5 in order: load, check, downscale, grayscale, ink, threshold. ``off_page``: what is known to be
    no page in an array ``image`` (a bool mask of its shape; :func:`to_ink`)."""
    image, loaded = image_files.load_scaled(image, max_side)  # a large JPEG is decoded at 1/2-1/8 already
    image, scale = downscale(check_image(image), max_side)
    gray = to_grayscale(image)
    if off_page is not None and off_page.shape != gray.shape:  # downscaled with the image
        off_page = cv2.resize(off_page.view(np.uint8), gray.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
    ink = to_ink(gray, polarity, off_page)
    return Page(gray, ink, binarize(ink, method), scale * loaded)


def drawn_page(canvas: np.ndarray, method: str = "otsu", max_side: int = MAX_WORKING_SIDE) -> Page:
    """Steps 2, 3 and 5 for a canvas drawn from strokes (:func:`digitlab.strokes.rasterize`: white ink on black):
    its pixels are its ink, so there is no polarity to guess, no page, light or noise to measure (step 4)."""
    canvas, scale = downscale(check_image(canvas), max_side)
    ink = to_grayscale(canvas)
    return Page(ink, ink, binarize(ink, method), scale)


# --- One digit, as MNIST --------------------------------------------------


def ink_box(image: np.ndarray) -> tuple[int, int, int, int] | None:
    """Tight (x, y, w, h) around the nonzero pixels of ``image`` (2-D), or None if it has none."""
    x, y, w, h = cv2.boundingRect((np.asarray(image) != 0).view(np.uint8))  # one pass in C
    return None if w == 0 else (x, y, w, h)


def normalize_digit(crop: np.ndarray, height: float | None = None) -> np.ndarray:
    """One digit's ink (white on black, any size) -> float32 28x28 in [0, 1], as MNIST.

    As LeCun et al. made MNIST: trim to the ink, fit the longer side into
    20x20 keeping the aspect ratio (a thin 1 stays thin), brighten so the
    strongest ink is 1, then place it in 28x28 with its centre of mass at the
    centre. An empty crop gives an all-zero image.

    With ``height`` (the height of a digit of the same writing, in the crop's
    pixels), ink smaller than that keeps its size relative to it: the scale
    is fixed by whichever is larger, the ink or ``height``. A 5's detached bar
    then stays a small dash instead of filling the box as a digit would, so
    a recognizer can tell a piece of a digit from a digit
    (:mod:`digitlab.decode`, notebook 06).
    """
    crop = np.asarray(crop, dtype=np.float32)
    if crop.ndim != 2:
        raise ValueError(f"expected a 2-D crop, got shape {crop.shape}.")
    out = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.float32)
    box = ink_box(crop)
    if box is None:
        return out
    x, y, w, h = box
    crop = crop[y:y + h, x:x + w]
    ink_height, ink_width = crop.shape
    factor = MNIST_BOX / max(ink_height, ink_width, height or 0)
    size = (max(1, round(ink_width * factor)), max(1, round(ink_height * factor)))
    digit = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    digit = np.clip(digit / max(float(digit.max()), 1e-6), 0.0, 1.0)

    # Centre of mass to the centre, clipped so the digit stays inside.
    total = float(digit.sum())
    row_mass = float((digit.sum(axis=1) * np.arange(digit.shape[0])).sum()) / total
    col_mass = float((digit.sum(axis=0) * np.arange(digit.shape[1])).sum()) / total
    top = min(max(round(MNIST_SIZE / 2 - row_mass), 0), MNIST_SIZE - digit.shape[0])
    left = min(max(round(MNIST_SIZE / 2 - col_mass), 0), MNIST_SIZE - digit.shape[1])
    out[top:top + digit.shape[0], left:left + digit.shape[1]] = digit
    return out


def to_model_input(images: np.ndarray) -> np.ndarray:
    """MNIST-style uint8 digits (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1]."""
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None]
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] != 1:
        raise ValueError(f"expected (N, 28, 28) or (N, 28, 28, 1) images, got shape {images.shape}.")
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    return images.astype(np.float32)
