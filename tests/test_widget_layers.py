"""What DigitPad's canvas layers show after Clear, Undo, drawing and uploads, and where labels go.

Each layer's content is the drawing commands it received since it was last
cleared, recorded as ipycanvas sends them to the front end.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from digitlab.strokes import digit_strokes, pen_path
from digitlab.widget import DigitPad
from pad_events import draw_text, mouse_stroke, send, shown_text, touch_stroke, upload


class Layers:
    """What each canvas layer shows: the drawing commands it received since it was last cleared."""

    def __init__(self):
        self.content = {}

    def record(self, layer_id, command, args, arrays=()):
        if command == "clear":
            self.content[layer_id] = []
        else:
            self.content[layer_id] = self.content.get(layer_id, []) + [(command, args, arrays)]

    def __call__(self, layer) -> list[str]:
        """The names of the commands ``layer`` shows."""
        return [command for command, _, _ in self.content.get(layer.model_id, [])]

    def args(self, layer, command) -> list[list]:
        """The arguments of each ``command`` that ``layer`` shows."""
        return [list(args) for name, args, _ in self.content.get(layer.model_id, []) if name == command]

    def arrays(self, layer, command) -> list[np.ndarray]:
        """The arrays (the points of ``strokeLines``) sent with each ``command`` that ``layer`` shows."""
        return [array for name, _, arrays in self.content.get(layer.model_id, []) if name == command
                for array in arrays]


@pytest.fixture
def shown(monkeypatch):
    """``shown(layer)``: the drawing commands a canvas layer received since it was last cleared (its content);
    ``shown.args(layer, "fillRect")``: their arguments; ``shown.arrays(layer, "strokeLines")``: their points."""
    from ipycanvas import canvas as ipycanvas_canvas

    names = {index: name for name, index in ipycanvas_canvas.COMMANDS.items()}
    layers = Layers()
    real = ipycanvas_canvas._CanvasManager.send_draw_command

    def record(manager, canvas, name, args=[], buffers=[]):
        arrays = [np.frombuffer(buffers[arg["idx"]], dtype=arg["dtype"]).reshape(arg["shape"])
                  for arg in args if isinstance(arg, dict) and "idx" in arg]
        layers.record(canvas.model_id, names[name], args, arrays)
        return real(manager, canvas, name, args, buffers)

    monkeypatch.setattr(ipycanvas_canvas._CanvasManager, "send_draw_command", record)
    return layers


def _scan_jpeg(text: str) -> bytes:
    from PIL import Image

    from digitlab.strokes import rasterize, strokes_size

    strokes = digit_strokes(text)
    buffer = io.BytesIO()
    Image.fromarray(255 - rasterize(strokes, strokes_size(strokes), 14)).convert("RGB").save(buffer, format="JPEG")
    return buffer.getvalue()


class OneBoxPerStroke:
    """A reader without a model: each stroke is a 1, 90 % sure; every photo reads 305."""

    def read_strokes(self, strokes, size, pen_width):
        from digitlab.reader import Digit, Reading

        digits = []
        for stroke in strokes:
            (left, top), (right, bottom) = np.min(stroke, axis=0), np.max(stroke, axis=0)
            box = (int(left), int(top), int(right - left) + 1, int(bottom - top) + 1)
            digits.append(Digit(1, 0.9, box, np.zeros((28, 28), np.float32)))
        return Reading(digits, np.zeros(size + (3,), np.uint8))

    def read(self, image):
        from digitlab.reader import Digit, Reading

        crop = np.zeros((28, 28), np.float32)
        digits = [Digit(value, 0.95, (10 + 20 * i, 10, 15, 20), crop) for i, value in enumerate((3, 0, 5))]
        return Reading(digits, np.zeros((40, 80, 3), np.uint8))


def test_clear_and_undo_leave_no_old_boxes_or_timings(shown):
    pad = DigitPad(reader=OneBoxPerStroke(), auto_read=False)
    mouse_stroke(pad, [(20, 40), (20, 160)])
    mouse_stroke(pad, [(80, 40), (120, 40), (90, 160)])
    pad.read_button.click()
    assert shown(pad.canvas.overlay).count("strokeRect") == 2 and "Read in" in pad.message.value
    pad.undo_button.click()
    assert shown(pad.canvas.overlay) == [] and shown_text(pad.message) == ""  # the 7's box is gone with the 7
    assert "strokeLines" in shown(pad.canvas.ink) and pad.reading is None
    pad.read_button.click()
    assert "strokeRect" in shown(pad.canvas.overlay)
    pad.clear_button.click()
    assert shown(pad.canvas.overlay) == [] and shown(pad.canvas.ink) == []
    assert pad.reading is None and shown_text(pad.message) == "" and "Write digits" in pad.text.value


def test_a_new_stroke_takes_the_old_boxes_and_timing_away(shown):
    pad = DigitPad(reader=OneBoxPerStroke(), auto_read=False)
    mouse_stroke(pad, [(20, 40), (20, 160)])
    pad.read_button.click()
    assert "Read in" in pad.message.value
    touch_stroke(pad, [(80, 40), (80, 160)])
    assert shown(pad.canvas.overlay) == [] and shown_text(pad.message) == "" and pad.reading is None
    pad.auto_read.value = True
    mouse_stroke(pad, [(140, 40), (140, 160)])
    assert shown(pad.canvas.overlay).count("strokeRect") == 3 and "Read in" in pad.message.value


def test_the_stroke_being_drawn_is_shown_along_the_path_it_will_be_drawn_on(shown):
    pad = DigitPad(reader=OneBoxPerStroke(), auto_read=False)
    points = [(60 + 50 * np.cos(t), 120 + 50 * np.sin(t)) for t in np.radians(range(0, 300, 40))]  # a quick hand
    send(pad, "mouse_down", x=points[0][0], y=points[0][1])
    for x, y in points[1:]:
        send(pad, "mouse_move", x=x, y=y)
    live = shown.arrays(pad.canvas.overlay, "strokeLines")
    assert "strokeLine" not in shown(pad.canvas.overlay) and len(live) == len(points) - 2  # no straight chords
    whole = pen_path(points)
    drawn = np.vstack([live[0]] + [piece[1:] for piece in live[1:]])
    assert np.array_equal(drawn, whole[:len(drawn)])  # the curve the stroke gets, up to the newest point
    send(pad, "mouse_up", x=points[-1][0], y=points[-1][1])
    assert shown(pad.canvas.overlay) == [] and np.array_equal(shown.arrays(pad.canvas.ink, "strokeLines")[0], whole)


def test_a_photo_goes_away_when_cleared_or_drawn_over(shown):
    pad = DigitPad(reader=OneBoxPerStroke(), auto_read=False)
    upload(pad, "scan.jpg", _scan_jpeg("305"), "image/jpeg")
    assert pad.photo.layout.display is None and "305" in shown_text(pad.text)
    pad.clear_button.click()
    assert pad.photo.layout.display == "none" and pad.reading is None
    assert "305" not in shown_text(pad.text) and "scan.jpg" not in pad.message.value
    for draw in (mouse_stroke, touch_stroke):
        upload(pad, "scan.jpg", _scan_jpeg("305"), "image/jpeg")
        assert pad.photo.layout.display is None
        draw(pad, [(10, 20), (30, 40)])
        assert pad.photo.layout.display == "none" and pad.reading is None
        assert "305" not in shown_text(pad.text) and "scan.jpg" not in pad.message.value
    upload(pad, "scan.jpg", _scan_jpeg("305"), "image/jpeg")
    pad.undo_button.click()  # a drawing changed by Undo: the photo goes too
    assert pad.photo.layout.display == "none" and shown(pad.canvas.overlay) == []


def test_a_bad_upload_leaves_nothing_of_the_photo_or_drawing_before(shown):
    pad = DigitPad(reader=OneBoxPerStroke(), auto_read=False)
    upload(pad, "scan.jpg", _scan_jpeg("305"), "image/jpeg")
    assert "305" in shown_text(pad.text) and "<img" in pad.crops.value
    upload(pad, "notes.txt", b"not a photo", "text/plain")
    assert "305" not in shown_text(pad.text) and pad.crops.value == "" and pad.reading is None
    assert pad.photo.layout.display == "none" and "notes.txt is not an image" in pad.message.value
    mouse_stroke(pad, [(20, 40), (20, 160)])
    pad.read_button.click()
    assert "strokeRect" in shown(pad.canvas.overlay)
    upload(pad, "empty.png", b"", "image/png")  # the boxes of the drawing's reading go with the reading
    assert pad.reading is None and shown(pad.canvas.overlay) == []
    assert "empty.png is not an image" in pad.message.value


@pytest.mark.slow
def test_clear_and_undo_leave_no_old_boxes_with_the_shipped_reader(shipped_reader, shown):
    pad = DigitPad(reader=shipped_reader, auto_read=False)
    draw_text(pad, "17")
    pad.read()
    assert "strokeRect" in shown(pad.canvas.overlay) and "Read in" in pad.message.value
    pad.undo_button.click()
    assert shown(pad.canvas.overlay) == [] and shown_text(pad.message) == ""
    pad.read()
    pad.clear_button.click()
    assert shown(pad.canvas.overlay) == [] and shown(pad.canvas.ink) == [] and pad.reading is None


def _two_lines(gap: int, pitch: int, count: int = 7):
    """Two lines of ``count`` digits 40x80 px, ``pitch`` px apart, the second line ``gap`` px under the first."""
    from digitlab.reader import Digit, Reading

    crop = np.zeros((28, 28), np.float32)
    digits = [Digit((line + 3 * i) % 10, 0.97 if i % 3 else 0.55, (40 + pitch * i, 25 + (80 + gap) * line, 40, 80),
                    crop, line=line) for line in (0, 1) for i in range(count)]
    return Reading(digits, np.zeros((240, 800, 3), np.uint8))


def _apart(a, b) -> bool:
    (x, y, w, h), (ox, oy, ow, oh) = a, b
    return min(x + w, ox + ow) <= max(x, ox) or min(y + h, oy + oh) <= max(y, oy)


def _assert_tabs_apart(pad, shown, count):
    """The overlay shows ``count`` boxes and tabs, each tab on the canvas, on no other tab, on no other box."""
    tabs, frames = shown.args(pad.canvas.overlay, "fillRect"), shown.args(pad.canvas.overlay, "strokeRect")
    assert len(tabs) == len(frames) == len(shown.args(pad.canvas.overlay, "fillText")) == count
    height, width = pad.size
    for index, (x, y, w, h) in enumerate(tabs):
        assert 0 <= x and x + w <= width and 0 <= y and y + h <= height, (index, (x, y, w, h))
        assert all(_apart(tabs[index], tab) for tab in tabs[:index]), index
        assert all(_apart(tabs[index], box) for other, box in enumerate(frames) if other != index), index


@pytest.mark.parametrize("gap, pitch", [(30, 50), (20, 50), (30, 70)])
def test_labels_of_two_lines_do_not_collide(pad, shown, gap, pitch):
    reading = _two_lines(gap, pitch)
    pad.show(reading)
    _assert_tabs_apart(pad, shown, len(reading.digits))
    texts = [args[0] for args in shown.args(pad.canvas.overlay, "fillText")]
    assert texts[0] in ("0? 55%", "0?")  # an unsure digit keeps its "?", short of room or not
    if pitch == 70:  # room for every tab in full, above its box
        assert texts == [f"{d.value}{'?' if d.confidence < 0.8 else ''} {d.confidence:.0%}" for d in reading.digits]
    for (_, x, _, max_width), (tab_x, _, tab_width, _) in zip(shown.args(pad.canvas.overlay, "fillText"),
                                                               shown.args(pad.canvas.overlay, "fillRect")):
        assert tab_x < x and x + max_width < tab_x + tab_width  # the text is squeezed into its tab if need be


def test_labels_keep_apart_on_a_small_canvas_too(shown):
    from digitlab.reader import Digit, Reading

    pad = DigitPad(width=300, height=120, auto_read=False)
    crop = np.zeros((28, 28), np.float32)
    digits = [Digit(i, 0.9, (20 + 40 * i, 15 + 50 * line, 30, 40), crop, line=line)
              for line in (0, 1) for i in range(6)]
    pad.show(Reading(digits, np.zeros((120, 300, 3), np.uint8)))
    _assert_tabs_apart(pad, shown, len(digits))


def test_a_new_browser_view_gets_the_drawing_and_its_boxes_again(shown):
    pad = DigitPad(reader=OneBoxPerStroke(), auto_read=True)
    mouse_stroke(pad, [(20, 40), (20, 160)])
    assert pad.reading.text == "1"
    for layer in pad.canvas._canvases:
        layer.clear()  # what a new view starts with
    send(pad, "client_ready")
    assert "fillRect" in shown(pad.canvas.paper) and "strokeLines" in shown(pad.canvas.ink)
    assert "strokeRect" in shown(pad.canvas.overlay) and "fillText" in shown(pad.canvas.overlay)
    pad.read_photo(_scan_jpeg("1"), "scan.jpg")  # the reading is of the photo now: no boxes on the drawing
    send(pad, "client_ready")
    assert "strokeLines" in shown(pad.canvas.ink) and shown(pad.canvas.overlay) == []

