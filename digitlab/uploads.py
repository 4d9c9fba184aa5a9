"""Photos uploaded to the draw-and-read pad: decoded safely, and shrunk to be shown.

Taught in ``notebooks/07_draw_and_read.ipynb`` ("Read a photo").
"""

from __future__ import annotations

import io

import numpy as np

PHOTO_MAX_WIDTH = 900  # uploaded photos are shown at most this wide


def open_upload(content: bytes, name: str = "the file"):
    """Uploaded bytes as a PIL image whose header is read and checked, not yet decoded: the reader decodes
    it (turned upright, at the size it works at) as it does every image.

    Raises :class:`ValueError` with a message for students when the bytes are not an image PIL can read
    (a PDF, a text file) or one too large to decode safely (:func:`digitlab.image_files.open_image`).
    """
    from digitlab.image_files import NotAnImageError, open_image
    from digitlab.preprocess import MAX_WORKING_SIDE

    try:
        return open_image(io.BytesIO(bytes(content)), name, max_side=MAX_WORKING_SIDE)
    except NotAnImageError:
        raise ValueError(f"{name} is not an image I can read. "
                         "Upload a photo or scan as PNG, JPEG, BMP, GIF, TIFF or WebP.") from None


def jpeg_bytes(rgb: np.ndarray, max_width: int = PHOTO_MAX_WIDTH) -> bytes:
    """An RGB uint8 image, shrunk to ``max_width`` if wider, as JPEG bytes."""
    import cv2

    height, width = rgb.shape[:2]
    if width > max_width:
        size = (max_width, max(1, round(height * max_width / width)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise ValueError(f"could not encode an image of shape {rgb.shape} as JPEG.")
    return encoded.tobytes()
