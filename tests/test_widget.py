"""DigitPad driven headless: drawing with mouse and touch, buttons, uploads, reading.

The front end's messages come from ``pad_events``; what the canvas layers
show is tested in ``test_widget_layers.py``.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

from digitlab.strokes import digit_strokes
from digitlab.widget import DigitPad
from pad_events import draw_text, mouse_stroke, send, shown_text, touch_stroke, upload


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


def test_the_pad_says_what_a_read_left_unread():
    import warnings

    from digitlab.reading import PartlyRead

    class Reader:
        def read_strokes(self, strokes, size, pen_widths):
            from digitlab.reader import Reading

            warnings.warn("only the 300 largest are read.", PartlyRead)
            return Reading([], np.zeros(size[::-1] + (3,), np.uint8))

    pad = DigitPad(reader=Reader(), auto_read=False)
    pad.load_strokes([[(10, 10), (20, 40)]])
    pad.read()
    assert re.search(r"Read in \d+ ms\. Only the 300 largest are read\.", pad.message.value)


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
