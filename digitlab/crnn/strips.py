"""From a line image to the CRNN's strip: the ink fitted into 32 rows (notebook 08)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from digitlab.preprocess import ink_box

#: Strip geometry: the ink fills INK_HEIGHT rows of STRIP_HEIGHT, SIDE_MARGIN blank columns each side.
STRIP_HEIGHT = 32
INK_HEIGHT = 24
SIDE_MARGIN = 8
#: The convolutions' horizontal stride: one feature vector per 4 strip columns (two 2x poolings).
STRIDE = 4
#: Output frames per feature vector, and the strip columns each frame covers.
SUBFRAMES = 2
FRAME_WIDTH = STRIDE // SUBFRAMES
#: A pixel counts as ink (for crops and boxes) above this fraction of the brightest pixel.
INK_THRESHOLD = 0.5

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
    left, top, width, height = ink_box(ink)  # not empty: the brightest pixel is 1
    crop = gray[top:top + height, left:left + width]
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


def padded_width(width, multiple: int = STRIDE):
    """``width`` (columns, or an array of them) rounded up to a multiple of ``multiple``: a batch's width."""
    return -(-width // multiple) * multiple


def stack_strips(strips, multiple: int = STRIDE) -> np.ndarray:
    """Strips of different widths -> one float32 batch (N, STRIP_HEIGHT, W, 1), padded on the right with black."""
    width = padded_width(max(strip.shape[1] for strip in strips), multiple)
    batch = np.zeros((len(strips), STRIP_HEIGHT, width, 1), dtype=np.float32)
    for index, strip in enumerate(strips):
        batch[index, :, :strip.shape[1], 0] = strip
    return batch
