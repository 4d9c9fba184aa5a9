"""DigitPad driven headless: synthetic mouse and touch messages, buttons, uploads.

The messages are the ones ipycanvas' front end sends; the MultiCanvas routes
them to the handlers registered on its top layer.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

from digitlab.strokes import digit_strokes
from digitlab.widget import DigitPad



# --- Sending front-end events -----------------------------------------------


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


@pytest.fixture
def pad():
    return DigitPad(auto_read=False)


@pytest.fixture(scope="module")
def shipped_reader():
    from digitlab.reader import Reader

    return Reader.default()


# --- Drawing ----------------------------------------------------------------


def test_a_mouse_stroke_is_kept_in_python(pad):
    mouse_stroke(pad, [(10, 20), (30, 40), (50, 40)])
    assert pad.strokes == [[(10, 20), (30, 40), (50, 40)]]
    assert pad.pen_widths == [pad.pen.value]
    assert pad.image.shape == (pad.canvas.height, pad.canvas.width)
    assert pad.image[20, 10] == 255 and pad.image[40, 50] == 255


def test_moves_without_the_button_down_draw_nothing(pad):
    send(pad, "mouse_move", x=10, y=10)
    send(pad, "mouse_move", x=50, y=50)
    send(pad, "mouse_up", x=50, y=50)
    assert pad.strokes == []
    assert pad.image.max() == 0


def test_leaving_the_canvas_ends_the_stroke(pad):
    mouse_stroke(pad, [(10, 20), (30, 40)], end="mouse_out")
    send(pad, "mouse_move", x=200, y=200)  # back over the canvas, button already released
    assert pad.strokes == [[(10, 20), (30, 40)]]


def test_touch_draws_strokes_too(pad):
    touch_stroke(pad, [(10, 20), (30, 40), (60, 80)])
    touch_stroke(pad, [(100, 20), (100, 90)])
    assert pad.strokes == [[(10, 20), (30, 40), (60, 80)], [(100, 20), (100, 90)]]


def test_a_stroke_ends_only_when_the_last_finger_lifts(pad):
    send(pad, "touch_start", touches=[{"x": 10, "y": 10}])
    send(pad, "touch_move", touches=[{"x": 20, "y": 10}, {"x": 200, "y": 100}])
    send(pad, "touch_end", touches=[{"x": 20, "y": 10}])
    assert pad.strokes == []
    send(pad, "touch_end", touches=[])
    assert pad.strokes == [[(10, 10), (20, 10)]]


def test_touch_cancel_keeps_what_was_drawn(pad):
    send(pad, "touch_start", touches=[{"x": 10, "y": 10}])
    send(pad, "touch_move", touches=[{"x": 40, "y": 10}])
    send(pad, "touch_cancel", touches=[])
    assert pad.strokes == [[(10, 10), (40, 10)]]


def test_a_click_is_a_dot(pad):
    send(pad, "mouse_down", x=30, y=30)
    send(pad, "mouse_up", x=30, y=30)
    assert pad.strokes == [[(30, 30)]]
    assert pad.image[30, 30] == 255


def test_the_pen_slider_sets_the_width_of_new_strokes(pad):
    pad.pen.value = 4
    mouse_stroke(pad, [(20, 30), (120, 30)])
    pad.pen.value = 20
    mouse_stroke(pad, [(20, 100), (120, 100)])
    assert pad.pen_widths == [4, 20]
    thin, thick = (np.count_nonzero(pad.image[rows, 70] > 127) for rows in (slice(0, 60), slice(60, 160)))
    assert thin < thick


def test_each_stroke_keeps_its_own_pen_width(pad):
    import dataclasses

    from digitlab.ink_canvas import Stroke

    pad.pen.value = 6
    mouse_stroke(pad, [(20, 30), (120, 30)])
    pad.pen.value = 30
    send(pad, "mouse_down", x=60, y=90)
    pad.pen.value = 8  # the width when the pen lifts is the stroke's
    send(pad, "mouse_up", x=60, y=90)
    assert pad.canvas.strokes == [Stroke(((20, 30), (120, 30)), 6), Stroke(((60, 90),), 8)]
    assert (pad.strokes, pad.pen_widths) == ([[(20, 30), (120, 30)], [(60, 90)]], [6, 8])
    with pytest.raises(dataclasses.FrozenInstanceError):
        pad.canvas.strokes[0].pen_width = 2
    pad.undo()
    assert pad.pen_widths == [6]


def test_undo_and_clear_buttons(pad):
    mouse_stroke(pad, [(10, 20), (30, 40)])
    mouse_stroke(pad, [(60, 20), (60, 80)])
    pad.undo_button.click()
    assert pad.strokes == [[(10, 20), (30, 40)]]
    pad.clear_button.click()
    assert pad.strokes == []
    assert pad.image.max() == 0
    pad.undo_button.click()  # nothing left to undo: no error
    assert "Error" not in pad.message.value


def test_load_strokes_replays_a_drawing(pad):
    strokes = digit_strokes("47")
    pad.load_strokes(strokes, pen_width=10)
    assert len(pad.strokes) == 3
    assert pad.pen_widths == [10, 10, 10]
    for bad, message in [([[]], "non-empty list of \\(x, y\\) points"), ([[(1, "a")]], "\\(x, y\\) numbers"),
                         ([[(float("nan"), 2.0)]], "finite")]:
        with pytest.raises(ValueError, match=message):
            pad.load_strokes(bad)
    assert len(pad.strokes) == 3  # a refused drawing leaves the pad as it was


def test_the_canvas_follows_the_cell_width_up_to_its_size():
    pad = DigitPad(width=500, height=180, auto_read=False)
    layout = pad.canvas.layout
    # As wide as the cell, at most its 500 pixels (never stretched), the height following the width.
    assert (layout.width, layout.max_width, layout.height) == ("100%", "500px", "auto")
    assert (pad.canvas.width, pad.canvas.height) == (500, 180) and pad.size == (180, 500)
    mouse_stroke(pad, [(490, 170), (495, 175)])  # events come in canvas pixels, whatever the size on screen
    assert pad.image[170, 490] == 255
    with pytest.raises(ValueError, match="at least 50x50"):
        DigitPad(width=20, height=180)


# --- Uploads ------------------------------------------------------------------


def upload(pad, name, content, mime):
    import datetime

    pad.upload.value = (
        {"name": name, "type": mime, "size": len(content), "content": memoryview(content),
         "last_modified": datetime.datetime.now(datetime.timezone.utc)},
    )


def test_a_file_that_is_not_an_image_gives_a_message_not_a_traceback(pad):
    upload(pad, "notes.txt", b"4096 is a nice number\n", "text/plain")
    assert "notes.txt is not an image" in pad.message.value
    assert pad.reading is None
    assert pad.upload.value == ()  # ready for the next file


def test_errors_in_callbacks_show_in_the_widget():
    class BrokenReader:
        def read_strokes(self, strokes, size, pen_width):
            raise RuntimeError("the model file is damaged")

    pad = DigitPad(reader=BrokenReader(), auto_read=False)
    pad.load_strokes(digit_strokes("1"))
    pad.read_button.click()
    assert "RuntimeError: the model file is damaged" in pad.message.value


# --- Reading with the shipped model ----------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("text", ["1704", "4096", "70"])
def test_drawn_digits_are_read(shipped_reader, text):
    pad = DigitPad(reader=shipped_reader, auto_read=False)
    draw_text(pad, text)
    pad.read_button.click()
    assert pad.reading.text == text
    assert shown_text(pad.text).startswith(text)
    assert pad.crops.value.count("<img") == len(text)
    assert [digit.value for digit in pad.reading.digits] == [int(c) for c in text]


@pytest.mark.slow
def test_touch_drawn_digits_are_read(shipped_reader):
    pad = DigitPad(reader=shipped_reader, auto_read=False)
    draw_text(pad, "1704", with_touch=True)
    assert pad.read().text == "1704"


@pytest.mark.slow
def test_auto_read_follows_every_stroke_undo_and_clear(shipped_reader):
    pad = DigitPad(reader=shipped_reader, auto_read=True)
    draw_text(pad, "17")
    assert pad.reading.text == "17"
    pad.undo_button.click()
    assert pad.reading.text == "1"
    pad.clear_button.click()
    assert pad.reading is None


@pytest.mark.slow
def test_a_blank_canvas_reads_as_no_digits(shipped_reader):
    pad = DigitPad(reader=shipped_reader, auto_read=False)
    pad.read_button.click()
    assert pad.reading.text == ""
    assert pad.reading.digits == []
    assert "no digits" in pad.text.value


@pytest.mark.slow
def test_a_stray_tap_is_no_digit(shipped_reader):
    pad = DigitPad(reader=shipped_reader, auto_read=True)
    send(pad, "mouse_down", x=300, y=100)
    send(pad, "mouse_up", x=300, y=100)
    assert pad.reading.text == ""  # was "0", 99.5 % sure: a dot scaled up to MNIST's box
    draw_text(pad, "7")
    assert pad.reading.text == "7"


@pytest.mark.slow
def test_unsure_digits_are_marked(shipped_reader):
    import dataclasses

    pad = DigitPad(reader=shipped_reader, auto_read=False, unsure_below=0.8)
    pad.load_strokes(digit_strokes("17"))
    reading = pad.read()
    assert "?" not in pad.text.value  # both digits are clear
    one, seven = reading.digits
    pad.show(dataclasses.replace(reading, digits=[one, dataclasses.replace(seven, confidence=0.55)]))
    assert pad.text.value.count("?</span>") == 1
    assert "7?</span>" in pad.text.value
    assert "1 digit below 80% confidence" in pad.text.value
    assert "7 55%" in pad.crops.value


@pytest.mark.slow
def test_an_uploaded_photo_is_read_and_shown_annotated(shipped_reader):
    from PIL import Image

    from digitlab.strokes import rasterize, strokes_size

    strokes = digit_strokes("305")
    ink = rasterize(strokes, strokes_size(strokes), 14)
    photo = Image.fromarray(255 - ink).convert("RGB")  # dark ink on white paper, like a scan
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG")
    pad = DigitPad(reader=shipped_reader, auto_read=False)
    upload(pad, "scan.jpg", buffer.getvalue(), "image/jpeg")
    assert pad.reading.text == "305"
    assert pad.photo.layout.display is None and len(pad.photo.value) > 1000
    assert "Read scan.jpg" in pad.message.value


# --- What the layers show after Clear, Undo, drawing and uploads --------------


class Layers:
    """What each canvas layer shows: the drawing commands it received since it was last cleared."""

    def __init__(self):
        self.content = {}

    def record(self, layer_id, command, args):
        self.content[layer_id] = [] if command == "clear" else self.content.get(layer_id, []) + [(command, args)]

    def __call__(self, layer) -> list[str]:
        """The names of the commands ``layer`` shows."""
        return [command for command, _ in self.content.get(layer.model_id, [])]

    def args(self, layer, command) -> list[list]:
        """The arguments of each ``command`` that ``layer`` shows."""
        return [list(args) for name, args in self.content.get(layer.model_id, []) if name == command]


@pytest.fixture
def shown(monkeypatch):
    """``shown(layer)``: the drawing commands a canvas layer received since it was last cleared (its content);
    ``shown.args(layer, "fillRect")``: their arguments."""
    from ipycanvas import canvas as ipycanvas_canvas

    names = {index: name for name, index in ipycanvas_canvas.COMMANDS.items()}
    layers = Layers()
    real = ipycanvas_canvas._CanvasManager.send_draw_command

    def record(manager, canvas, name, args=[], buffers=[]):
        layers.record(canvas.model_id, names[name], args)
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


def test_the_html_under_the_canvas():
    from digitlab.colours import ERROR, UNSURE
    from digitlab.reader import Digit, Reading
    from digitlab.reading_html import message_html, reading_html

    hint, no_crops = reading_html(None, 0.8)
    assert "press Read" in hint and no_crops == ""
    text, crops = reading_html(Reading([], np.zeros((9, 9, 3), np.uint8)), 0.8)
    assert "no digits" in text and crops == ""
    assert message_html("<b>5</b>", error=True) == f'<span style="color:{ERROR}">&lt;b&gt;5&lt;/b&gt;</span>'
    crop = np.zeros((28, 28), np.float32)
    text, crops = reading_html(Reading([Digit(4, 0.5, (0, 0, 9, 9), crop), Digit(2, 0.99, (20, 0, 9, 9), crop)],
                                       np.zeros((9, 40, 3), np.uint8)), 0.8)
    assert f'color:{UNSURE}" title="unsure: 50%">4?</span>2' in text and "1 digit below 80% confidence" in text
    assert crops.count("<img") == 2


def test_crops_read_by_the_crnn_are_not_called_what_the_cnn_sees(pad):
    import dataclasses

    from digitlab.reader import Digit, Reading

    crop = np.zeros((28, 28), np.float32)
    digits = [Digit(1, 0.99, (10, 10, 20, 40), crop), Digit(7, 0.98, (40, 10, 20, 40), crop, method="crnn")]
    reading = Reading(digits, np.zeros((60, 80, 3), np.uint8))
    pad.show(reading)
    assert "What the CNN sees" not in pad.crops.value and "1 read by the CRNN" in pad.crops.value
    assert "7 98% CRNN" in pad.crops.value
    pad.show(dataclasses.replace(reading, digits=digits[:1]))
    assert "What the CNN sees" in pad.crops.value


def test_crops_read_by_the_candidate_cnn_say_so(pad):
    """Method "auto" (the pad's default) reads with the candidate CNN, and with the CRNN for touching digits."""
    import dataclasses

    from digitlab.reader import Digit, Reading

    crop = np.zeros((28, 28), np.float32)
    digits = [Digit(value, 0.99, (10 + 30 * value, 10, 20, 40), crop, method="auto") for value in (1, 2, 3)]
    reading = Reading(digits, np.zeros((60, 120, 3), np.uint8))
    pad.show(reading)
    assert "What the candidate CNN sees (28x28)" in pad.crops.value and "What the CNN sees" not in pad.crops.value
    touching = [digits[0], *(dataclasses.replace(digit, method="crnn", touching=True) for digit in digits[1:])]
    pad.show(dataclasses.replace(reading, digits=touching))
    assert "What the" not in pad.crops.value
    assert "1 read by the candidate CNN; 2 read by the CRNN, from the whole line" in pad.crops.value


def test_the_upload_button_shows_no_count():
    """ipywidgets draws "Read a photo (0)" (the number of files it holds): the pad's style hides the count."""
    pad = DigitPad(auto_read=False)
    assert pad.upload.description == "Read a photo" and "digitlab-upload" in pad.upload._dom_classes
    styles = [child.value for child in pad.children if "digitlab-style" in child._dom_classes]
    assert len(styles) == 1
    rules = re.sub(r"\s+", " ", styles[0])
    assert ".digitlab-upload.widget-upload { font-size: 0; }" in rules
    assert '.digitlab-upload.widget-upload::after { content: "Read a photo";' in rules


def test_an_uploaded_animation_says_only_its_first_frame_is_read():
    from PIL import Image

    class Reader:
        def read(self, image):
            from digitlab.preprocess import load_image
            from digitlab.reader import Reading

            pixels = load_image(image)
            return Reading([], np.zeros(pixels.shape[:2] + (3,), np.uint8))

    frames = [Image.new("L", (60, 40), shade) for shade in (0, 128, 255)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    pad = DigitPad(reader=Reader(), auto_read=False)
    upload(pad, "moving.gif", buffer.getvalue(), "image/gif")
    assert "3 frames" in pad.message.value and "only the first is read" in pad.message.value


def test_read_photo_shows_a_message_and_never_raises(monkeypatch, tmp_path):
    from PIL import Image

    from digitlab.model import ModelFileError

    class MissingCrnn:
        def read(self, image):
            raise ModelFileError("Model file not found: crnn.keras.")

    def png(pixels, mode=None) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(pixels, mode).save(buffer, format="TIFF" if pixels.dtype == np.float32 else "PNG")
        return buffer.getvalue()

    pad = DigitPad(reader=MissingCrnn(), auto_read=False)
    assert pad.read_photo(png(np.zeros((40, 60), np.uint8)), "scan.png") is None
    assert "Could not read scan.png: Model file not found" in pad.message.value

    class Real:  # the reader's own checks of the pixels, without loading a model
        def read(self, image):
            from digitlab.preprocess import prepare

            prepare(image)
            return None

    pad = DigitPad(reader=Real(), auto_read=False)
    with_nan = np.full((40, 60), np.nan, np.float32)
    assert pad.read_photo(png(with_nan), "nan.tif") is None
    assert "NaN" in pad.message.value
    monkeypatch.setattr("digitlab.image_files.MAX_PIXELS", 5000)  # a photo over the pixel budget: never decoded
    assert pad.read_photo(png(np.zeros((100, 100), np.uint8)), "bomb.png") is None
    assert "bomb.png: 100x100 pixels" in pad.message.value and "scale it down" in pad.message.value
