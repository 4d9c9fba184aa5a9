"""The HTML the draw-and-read pad shows under its canvas: the digits read, their crops, messages.

Taught in ``notebooks/07_draw_and_read.ipynb``. A :class:`~digitlab.reading.Reading`
is shown as its text in large type and a row of its digits' 28x28 crops, titled
with the model that read them (:func:`crops_title`); a digit whose confidence
is below ``unsure_below`` is unsure: orange, with a "?" after it in the text.
"""

from __future__ import annotations

import base64
import html

import numpy as np

from digitlab.colours import CAPTION, CROP_FRAME, ERROR, HINT, SURE, UNSURE

CROP_ZOOM = 2  # the 28x28 crops are shown at 56x56 screen pixels

#: The model that read a digit, by the digit's ``method``: the CNN of notebooks 03-05 ("contours"), the candidate
#: CNN with its class "not one digit" (method "auto", notebook 06), or the CRNN (notebook 08), which reads a line.
READ_BY = {"contours": "the CNN", "auto": "the candidate CNN", "crnn": "the CRNN, from the whole line"}

HINT_HTML = (f'<span style="font-size:1.1em;color:{HINT}">'
             "Write digits above with the mouse or a finger, then press Read.</span>")
NO_DIGITS_HTML = f'<span style="font-size:2em;color:{HINT}">no digits</span>'


def digit_colour(digit, unsure_below: float) -> str:
    """:data:`~digitlab.colours.UNSURE` for an unsure digit, else :data:`~digitlab.colours.SURE`."""
    return UNSURE if digit.is_unsure(unsure_below) else SURE


def message_html(text: str, error: bool = False) -> str:
    """A one-line message, red when it says what went wrong."""
    return f'<span style="color:{ERROR if error else CAPTION}">{html.escape(text)}</span>'


def reading_html(reading, unsure_below: float) -> tuple[str, str]:
    """The text and the crops of ``reading`` as HTML (``None``: the hint, and no crops)."""
    if reading is None:
        return HINT_HTML, ""
    if not reading.digits:
        return NO_DIGITS_HTML, ""
    return text_html(reading, unsure_below), crops_html(reading, unsure_below)


def text_html(reading, unsure_below: float) -> str:
    """The text in large type, unsure digits in orange with a "?" after them."""
    digits = iter(reading.digits)
    lines = []
    for line in reading.lines:
        parts = []
        for character in line:
            digit = next(digits, None) if character.isdigit() else None
            if digit is not None and digit.is_unsure(unsure_below):
                title = f"unsure: {digit.confidence:.0%}"
                parts.append(f'<span style="color:{UNSURE}" title="{title}">{character}?</span>')
            else:
                parts.append(html.escape(character))
        lines.append("".join(parts))
    unsure = len(reading.unsure(unsure_below))
    note = (
        f'<div style="font-size:0.9em;color:{UNSURE}">{unsure} digit{"s" if unsure > 1 else ""} below '
        f"{unsure_below:.0%} confidence, marked ?</div>" if unsure else ""
    )
    return (
        '<div style="font-size:3em;font-weight:bold;font-family:monospace;line-height:1.2">'
        + "<br>".join(lines) + "</div>" + note
    )


def crops_title(digits) -> str:
    """The title of the crops row, naming the model that read them (:data:`READ_BY`).

    A CNN read the crops of "contours" and "auto" digits: "What the CNN sees"
    (or the candidate CNN). A "crnn" digit was read from its whole line, and
    its crop (cut from the CTC alignment) is only shown: the title counts
    the digits each model read."""
    counts: dict[str, int] = {}
    for digit in digits:
        counts[digit.method] = counts.get(digit.method, 0) + 1
    readers = {method: READ_BY.get(method, f"method {method!r}") for method in counts}
    if len(counts) == 1 and "crnn" not in counts:
        return f"What {readers[next(iter(counts))]} sees (28x28):"
    parts = [f"{'all' if count == len(digits) else count} read by {readers[method]}"
             for method, count in counts.items()]
    return f"The digits at 28x28 ({'; '.join(parts)}):"


def crops_html(reading, unsure_below: float) -> str:
    """The digits' 28x28 crops, enlarged, each captioned with its digit and confidence, under
    :func:`crops_title`."""
    size = 28 * CROP_ZOOM
    tiles = []
    for digit in reading.digits:
        tiles.append(
            '<figure style="margin:0 6px 0 0;text-align:center">'
            f'<img src="{png_data_url(crop_to_uint8(digit.crop))}" width="{size}" height="{size}" '
            f'style="image-rendering:pixelated;border:1px solid {CROP_FRAME}">'
            f'<figcaption style="color:{digit_colour(digit, unsure_below)};font-size:0.85em">'
            f"{digit.value} {digit.confidence:.0%}{' CRNN' if digit.method == 'crnn' else ''}</figcaption></figure>"
        )
    return (
        f'<div style="color:{CAPTION};font-size:0.9em">{html.escape(crops_title(reading.digits))}</div>'
        '<div style="display:flex;flex-wrap:wrap">' + "".join(tiles) + "</div>"
    )


def png_data_url(image: np.ndarray) -> str:
    """A uint8 grey or RGB image as a ``data:image/png`` URL for HTML."""
    import cv2

    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"could not encode an image of shape {image.shape} as PNG.")
    return "data:image/png;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


def crop_to_uint8(crop) -> np.ndarray:
    """A 28x28 crop as the CNN sees it (floats in [0, 1] or uint8) as uint8 grey."""
    crop = np.squeeze(np.asarray(crop))
    if crop.dtype != np.uint8:
        crop = np.clip(crop * 255.0, 0, 255).astype(np.uint8)
    return crop
