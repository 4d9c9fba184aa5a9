"""Driving DigitPad headless, as its front end would: ipycanvas' mouse and touch messages, uploads.

The messages are the ones ipycanvas' front end sends; the MultiCanvas routes
them to the handlers registered on its top layer. Used by ``test_widget.py``
and ``test_widget_layers.py``.
"""

from __future__ import annotations

import re

import numpy as np

from digitlab.strokes import digit_strokes


def send(pad, event, **content):
    pad.canvas._handle_custom_msg({"event": event, **content}, [])


def mouse_stroke(pad, points, end="mouse_up"):
    """Press at the first point, move through the rest, then release (or leave the canvas)."""
    (x, y), rest = points[0], points[1:]
    send(pad, "mouse_down", x=x, y=y)
    for x, y in rest:
        send(pad, "mouse_move", x=x, y=y)
    send(pad, end, x=x, y=y)


def touch_stroke(pad, points):
    (x, y), rest = points[0], points[1:]
    send(pad, "touch_start", touches=[{"x": x, "y": y}])
    for x, y in rest:
        send(pad, "touch_move", touches=[{"x": x, "y": y}])
    send(pad, "touch_end", touches=[])


def densify(stroke, step=4.0):
    """A polyline as the many small moves a real mouse makes."""
    points = [stroke[0]]
    for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
        count = max(1, int(np.hypot(x1 - x0, y1 - y0) // step))
        points += [(x0 + (x1 - x0) * i / count, y0 + (y1 - y0) * i / count) for i in range(1, count + 1)]
    return points


def shown_text(html_widget) -> str:
    """What an HTML widget shows, without tags and unsure marks."""
    return re.sub(r"<[^>]+>", "", html_widget.value).replace("?", "")


def draw_text(pad, text, with_touch=False):
    for stroke in digit_strokes(text, origin=(40, 50), height=120):
        (touch_stroke if with_touch else mouse_stroke)(pad, densify(stroke))


def upload(pad, name, content, mime):
    import datetime

    pad.upload.value = (
        {"name": name, "type": mime, "size": len(content), "content": memoryview(content),
         "last_modified": datetime.datetime.now(datetime.timezone.utc)},
    )
