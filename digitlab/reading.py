"""What a read returns: each :class:`Digit` read and the whole :class:`Reading`.

Made by :class:`digitlab.reader.Reader` (notebook 06), shown by the pad (notebook 07).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

#: Below this confidence a digit counts as unsure: orange in annotations and in the pad.
UNSURE_BELOW = 0.8


class PartlyRead(UserWarning):
    """Part of the input is left unread (a second page, more ink than a read takes); the message says which."""


def read_with_notes(read, *args):
    """``read(*args)`` and the :class:`PartlyRead` messages it gave, each once, as ``(result, [message, ...])``,
    for a program to show them its own way (a line on stderr in the CLI, the message line in the widget)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PartlyRead)
        result = read(*args)
    notes = list(dict.fromkeys(str(note.message) for note in caught if issubclass(note.category, PartlyRead)))
    for note in caught:  # anything else goes on as it came
        if not issubclass(note.category, PartlyRead):
            warnings.warn_explicit(note.message, note.category, note.filename, note.lineno)
    return result, notes


@dataclass(frozen=True)
class Digit:
    """One digit read: its ``value`` (0-9), the model's ``confidence`` (0-1),
    its ``box`` (x, y, w, h) in input pixels, the 28x28 ``crop`` the model saw,
    its ``line`` (0 = top), the ``method`` that read it ("contours", "crnn"
    or "auto"; within "auto", "crnn" for a digit of a blob the CRNN read
    whole), and whether it came from ``touching`` digits. A digit the
    CRNN read as part of a line or a blob has an approximate box (from the
    CTC alignment) and its ``crop`` is that box normalised as MNIST, for
    display. ``blobs`` counts the pieces of ink the digit joins: blobs for
    "contours", blobs, parts of blobs or pad strokes for "auto"."""

    value: int
    confidence: float
    box: tuple[int, int, int, int]
    crop: np.ndarray = field(repr=False)
    line: int = 0
    method: str = "contours"
    touching: bool = False
    blobs: int = 1

    def is_unsure(self, below: float = UNSURE_BELOW) -> bool:
        """Whether the reader's confidence in this digit is under ``below``: a digit to check."""
        return float(self.confidence) < below


@dataclass(frozen=True)
class Reading:
    """The result of :meth:`Reader.read`: ``digits`` in reading order, and the ``lines`` they form.

    ``text`` is the lines joined by newlines ("" when nothing is written).
    ``image`` is the input as RGB (at working size if it was downscaled,
    ``scale`` < 1), for :meth:`annotated`.
    """

    digits: list[Digit]
    image: np.ndarray = field(repr=False)
    scale: float = 1.0

    @property
    def lines(self) -> list[str]:
        """The text of each line that holds digits, top to bottom."""
        numbers = sorted({digit.line for digit in self.digits})
        return ["".join(str(digit.value) for digit in self.digits if digit.line == number) for number in numbers]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def unsure(self, below: float = UNSURE_BELOW) -> list[Digit]:
        """The digits read with a confidence under ``below``: the ones to check (orange in the pad)."""
        return [digit for digit in self.digits if digit.is_unsure(below)]

    def with_boxes_grown(self, margin: float, size: tuple[int, int]) -> Reading:
        """This reading with each digit's box ``margin`` pixels larger on every side, within an image of ``size``
        (height, width): a pad read with a thinner pen than the student's still boxes the ink the student sees."""
        grow = round(margin)
        if grow < 1:
            return self
        height, width = size
        digits = []
        for digit in self.digits:
            x, y, w, h = digit.box
            left, top = max(0, x - grow), max(0, y - grow)
            right, bottom = min(width, x + w + grow), min(height, y + h + grow)
            digits.append(replace(digit, box=(left, top, right - left, bottom - top)))
        return replace(self, digits=digits)

    def to_dict(self) -> dict:
        """``{"text", "digits": [{"value", "confidence", "box", "line", "method"}], "lines"}``, for JSON."""
        return {
            "text": self.text,
            "digits": [
                {"value": d.value, "confidence": round(d.confidence, 4), "box": list(d.box), "line": d.line,
                 "method": d.method}
                for d in self.digits
            ],
            "lines": list(self.lines),
        }

    def annotated(self, low_confidence: float = UNSURE_BELOW) -> np.ndarray:
        """RGB uint8 copy of the image with each digit's box and value drawn (OpenCV).

        Boxes in the pad's colours (:mod:`digitlab.colours`): sure digits, and those below ``low_confidence``.
        """
        import cv2

        from digitlab.colours import SURE, UNSURE, rgb

        canvas = self.image.copy()
        thickness = max(1, round(max(canvas.shape[:2]) / 400))
        for digit in self.digits:
            x, y, w, h = (round(v * self.scale) for v in digit.box)
            color = rgb(UNSURE if digit.is_unsure(low_confidence) else SURE)
            cv2.rectangle(canvas, (x, y), (x + w - 1, y + h - 1), color, thickness)
            font_scale = max(0.4, h / 60)
            label_y = y - 3 if y > 14 * font_scale else y + h + round(22 * font_scale)
            cv2.putText(canvas, str(digit.value), (x, label_y), cv2.FONT_HERSHEY_SIMPLEX,
                        font_scale, color, thickness, cv2.LINE_AA)
        return canvas


def reading_of(digits: list[Digit], page) -> Reading:
    """The :class:`Reading` of ``digits`` read on a prepared ``page`` (:class:`digitlab.preprocess.Page`)."""
    return Reading(digits, _display(page.gray), page.scale)


def to_input_pixels(box, scale: float) -> tuple[int, int, int, int]:
    """A box (x, y, w, h) in working pixels, in the pixels of the input that was scaled by ``scale``."""
    if scale == 1.0:
        return tuple(int(v) for v in box)
    x, y, w, h = box
    left, top = int(x / scale), int(y / scale)
    return left, top, max(1, round((x + w) / scale) - left), max(1, round((y + h) / scale) - top)


def _display(gray: np.ndarray) -> np.ndarray:
    """RGB uint8 of a 0-1 grayscale image."""
    pixels = np.clip(gray * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
