"""The colours of the draw-and-read pad (:class:`digitlab.widget.DigitPad`) and of annotated readings, one name each.

Taught in ``notebooks/07_draw_and_read.ipynb``. The canvas
(:mod:`digitlab.ink_canvas`) and the HTML under it (:mod:`digitlab.reading_html`)
take their colours from here, as CSS colours; :meth:`digitlab.reading.Reading.annotated` as RGB (:func:`rgb`).
"""

from __future__ import annotations

# The canvas.
PAPER = "#ffffff"
BORDER = "#ced4da"
INK = "#212529"
LIVE_INK = "#1c7ed6"  # the stroke being drawn, until the pen lifts

# A digit read, on the canvas and under it: sure, or below the pad's ``unsure_below``.
SURE = "#2b8a3e"
UNSURE = "#e8590c"

# The text under the canvas.
HINT = "#868e96"  # what to do, and "no digits"
CAPTION = "#495057"  # titles and messages
ERROR = "#c92a2a"  # messages about something that went wrong
CROP_FRAME = "#adb5bd"  # the frame around each 28x28 crop


def rgb(colour: str) -> tuple[int, int, int]:
    """A CSS colour "#rrggbb" as an (r, g, b) tuple of 0-255, for drawing on images (OpenCV, RGB order)."""
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
