"""Draw digits with the mouse, a finger or a pen, and watch the CNN read them.

Taught in ``notebooks/07_draw_and_read.ipynb``.

:class:`DigitPad` is an ipywidgets container around an ipycanvas
``MultiCanvas`` of three layers: the paper, the committed ink and a live
overlay (the stroke being drawn, then the reader's boxes). Strokes are kept
in Python as lists of points and rasterized with OpenCV
(:func:`digitlab.strokes.rasterize`) for reading, so reading never needs pixels
back from the browser and the widget can be driven from code
(``pad.load_strokes(...)``, ``pad.read()``) in tests and in notebooks run
without a browser.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import time

import ipywidgets
import numpy as np
from ipycanvas import MultiCanvas, hold_canvas

from digitlab.reader import UNSURE_BELOW
from digitlab.strokes import DEFAULT_PEN_WIDTH, PEN_WIDTHS, rasterize, stroke_points

# --- Colours and sizes ----------------------------------------------------

PAPER = "#ffffff"
BORDER = "#ced4da"
INK = "#212529"
LIVE_INK = "#1c7ed6"
SURE = "#2b8a3e"
UNSURE = "#e8590c"
CROP_ZOOM = 2  # the 28x28 crops are shown at 56x56 screen pixels
PHOTO_MAX_WIDTH = 900  # uploaded photos are shown at most this wide


def _reports_errors(callback):
    """Wrap a widget callback so that its exceptions appear in the widget, not in the kernel log."""

    @functools.wraps(callback)
    def wrapper(self, *args, **kwargs):
        try:
            return callback(self, *args, **kwargs)
        except Exception as error:  # a callback has nobody above it to catch
            self._show_message(f"{type(error).__name__}: {error}", error=True)
            return None

    return wrapper


# --- Images for display ---------------------------------------------------


def _png_data_url(image: np.ndarray) -> str:
    """A uint8 grey or RGB image as a ``data:image/png`` URL for HTML."""
    import cv2

    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"could not encode an image of shape {image.shape} as PNG.")
    return "data:image/png;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


def _jpeg_bytes(rgb: np.ndarray, max_width: int = PHOTO_MAX_WIDTH) -> bytes:
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


def _crop_to_uint8(crop) -> np.ndarray:
    """A 28x28 crop as the CNN sees it (floats in [0, 1] or uint8) as uint8 grey."""
    crop = np.squeeze(np.asarray(crop))
    if crop.dtype != np.uint8:
        crop = np.clip(crop * 255.0, 0, 255).astype(np.uint8)
    return crop


def open_upload(content: bytes, name: str = "the file"):
    """Decode uploaded bytes into a PIL image (the reader turns it upright, as it does every image).

    Raises :class:`ValueError` with a message for students when the bytes are
    not an image PIL can read (a PDF, a text file, a truncated photo) or one
    too large to decode safely.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(bytes(content)))
        image.load()
    except Image.DecompressionBombError:
        raise ValueError(f"{name} is too large to read safely (over {Image.MAX_IMAGE_PIXELS:,} pixels): "
                         "upload a smaller photo.") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(
            f"{name} is not an image I can read ({type(error).__name__}). "
            "Upload a photo or scan as PNG, JPEG, BMP, GIF, TIFF or WebP."
        ) from error
    return image


# --- The widget -----------------------------------------------------------


class DigitPad(ipywidgets.VBox):
    """A canvas to write digits on, with the reader's answer under it.

    Draw with the mouse or by touch (a stroke ends when the pen lifts or
    leaves the canvas); Undo removes the last stroke, Clear all of them.
    Read (or "Read as I draw") rasterizes the strokes with OpenCV and passes
    them to ``reader`` (default: ``Reader.default()``, loaded on first use).
    The answer is shown four ways: boxes over the canvas labelled with each
    digit and its confidence (orange with "?" below ``unsure_below``), the
    text in large type, the 28x28 crops the CNN saw, and ``pad.reading``.
    "Read a photo" reads an uploaded photo or scan with the same reader.

    ``pad.strokes`` holds the strokes, ``pad.load_strokes(strokes)`` replays
    some (see :func:`digitlab.strokes.digit_strokes`) and ``pad.read()``
    reads now.
    """

    def __init__(
        self,
        reader=None,
        width: int = 800,
        height: int = 240,
        pen_width: int = DEFAULT_PEN_WIDTH,
        auto_read: bool = True,
        unsure_below: float = UNSURE_BELOW,
    ):
        if width < 50 or height < 50:
            raise ValueError(f"the canvas must be at least 50x50 px, got {width}x{height}.")
        if not 0.0 <= unsure_below <= 1.0:
            raise ValueError(f"unsure_below is a confidence in [0, 1], got {unsure_below}.")
        self._reader = reader
        self.unsure_below = unsure_below
        self.reading = None
        self._reading_source = "pad"  # "pad" (the drawing) or "photo" (an upload)
        self._strokes: list[list[tuple[float, float]]] = []
        self._pen_widths: list[int] = []
        self._current: list[tuple[float, float]] | None = None

        self.canvas = self._make_canvas(width, height)
        self.pen = ipywidgets.IntSlider(
            value=pen_width, min=PEN_WIDTHS[0], max=PEN_WIDTHS[1], description="Pen width",
            continuous_update=False, layout=ipywidgets.Layout(width="240px"),
        )
        button = ipywidgets.Layout(width="96px")
        self.undo_button = ipywidgets.Button(description="Undo", icon="undo", layout=button,
                                             tooltip="Remove the last stroke")
        self.clear_button = ipywidgets.Button(description="Clear", icon="trash", layout=button,
                                              tooltip="Remove all strokes")
        self.read_button = ipywidgets.Button(description="Read", icon="eye", layout=button,
                                             button_style="primary", tooltip="Read the digits now")
        self.auto_read = ipywidgets.Checkbox(value=auto_read, description="Read as I draw", indent=False,
                                             layout=ipywidgets.Layout(width="130px"))
        self.upload = ipywidgets.FileUpload(accept="image/*", multiple=False, description="Read a photo",
                                            tooltip="Read the digits in a photo or scan",
                                            layout=ipywidgets.Layout(width="150px"))
        for widget, name in [(self.undo_button, "undo"), (self.clear_button, "clear"),
                             (self.read_button, "read"), (self.upload, "upload")]:
            widget.add_class(f"digitlab-{name}")  # stable hooks for browser tests and styling
        self.text = ipywidgets.HTML(layout=ipywidgets.Layout(min_height="3.2em"))
        self.text.add_class("digitlab-text")
        self.crops = ipywidgets.HTML()
        self.crops.add_class("digitlab-crops")
        self.message = ipywidgets.HTML()
        self.message.add_class("digitlab-message")
        self.photo = ipywidgets.Image(format="jpeg", layout=ipywidgets.Layout(display="none", max_width="100%"))

        self.undo_button.on_click(self._on_undo)
        self.clear_button.on_click(self._on_clear)
        self.read_button.on_click(self._on_read)
        self.upload.observe(self._on_upload, names="value")

        controls = ipywidgets.HBox(
            [self.pen, self.undo_button, self.clear_button, self.read_button, self.auto_read, self.upload],
            layout=ipywidgets.Layout(flex_flow="row wrap", align_items="center"),
        )
        super().__init__([self.canvas, controls, self.text, self.crops, self.message, self.photo])
        self.add_class("digitlab-pad")
        self._draw_paper()
        self._show_reading(None)

    # --- The canvas -------------------------------------------------------

    def _make_canvas(self, width: int, height: int) -> MultiCanvas:
        """Three layers (paper, ink, overlay) with a size fixed in px, mouse and touch handlers."""
        canvas = MultiCanvas(3, width=width, height=height)
        canvas.layout.width = f"{width}px"
        canvas.layout.height = f"{height}px"
        self.paper, self.ink, self.overlay = canvas[0], canvas[1], canvas[2]
        for layer in (self.ink, self.overlay):
            layer.line_cap = "round"
            layer.line_join = "round"
        canvas.on_mouse_down(self._on_mouse_down)
        canvas.on_mouse_move(self._on_mouse_move)
        canvas.on_mouse_up(self._on_mouse_up)
        canvas.on_mouse_out(self._on_mouse_out)
        # Touch never turns into mouse events here: tablets and phones need these.
        canvas.on_touch_start(self._on_touch_start)
        canvas.on_touch_move(self._on_touch_move)
        canvas.on_touch_end(self._on_touch_end)
        canvas.on_touch_cancel(self._on_touch_cancel)
        # A new browser view starts blank: draw everything again for it.
        canvas.on_client_ready(self._redraw)
        return canvas

    @property
    def size(self) -> tuple[int, int]:
        """The canvas ``(height, width)`` in pixels, as :func:`digitlab.strokes.rasterize` takes it."""
        return int(self.canvas.height), int(self.canvas.width)

    def _draw_paper(self) -> None:
        height, width = self.size
        with hold_canvas():
            self.paper.clear()
            self.paper.fill_style = PAPER
            self.paper.fill_rect(0, 0, width, height)
            self.paper.stroke_style = BORDER
            self.paper.line_width = 2
            self.paper.stroke_rect(1, 1, width - 2, height - 2)

    def _draw_stroke(self, layer, stroke, pen_width, colour) -> None:
        """One stroke with round caps and joins (a dot when it has one point)."""
        if len(stroke) == 1:
            layer.fill_style = colour
            layer.fill_circle(stroke[0][0], stroke[0][1], pen_width / 2)
        else:
            layer.stroke_style = colour
            layer.line_width = pen_width
            layer.stroke_lines(stroke)

    def _redraw(self) -> None:
        """Paper, every committed stroke, and the reader's boxes if the reading is current."""
        self._draw_paper()
        with hold_canvas():
            self.ink.clear()
            for stroke, pen_width in zip(self._strokes, self._pen_widths):
                self._draw_stroke(self.ink, stroke, pen_width, INK)
            self.overlay.clear()
            self._draw_boxes()

    # --- Strokes ----------------------------------------------------------

    @property
    def strokes(self) -> list[list[tuple[float, float]]]:
        """The committed strokes, each a list of ``(x, y)`` canvas pixels (a copy)."""
        return [list(stroke) for stroke in self._strokes]

    @property
    def pen_widths(self) -> list[int]:
        """The pen width each stroke was drawn with."""
        return list(self._pen_widths)

    @property
    def image(self) -> np.ndarray:
        """The strokes rasterized (white ink on black, uint8): exactly what the reader reads."""
        return rasterize(self._strokes, self.size, self._pen_widths)

    def load_strokes(self, strokes, pen_width: int | None = None) -> None:
        """Replace the drawing with ``strokes`` (lists of ``(x, y)``), drawn with ``pen_width``.

        ``pen_width`` defaults to the slider's value. Reads at once when
        "Read as I draw" is ticked, as if the strokes had just been drawn.
        """
        strokes = [[(float(x), float(y)) for x, y in stroke_points(stroke)] for stroke in strokes]
        if pen_width is not None:
            self.pen.value = pen_width
        self._current = None
        self._strokes = strokes
        self._pen_widths = [int(self.pen.value)] * len(strokes)
        self._strokes_changed()

    def undo(self) -> None:
        """Remove the last stroke."""
        if self._strokes:
            self._strokes.pop()
            self._pen_widths.pop()
            self._strokes_changed()

    def clear(self) -> None:
        """Remove every stroke and the reading."""
        self._current = None
        self._strokes, self._pen_widths = [], []
        self._strokes_changed()

    def _strokes_changed(self) -> None:
        """The drawing changed: the old reading, its message and any photo no longer apply; read again if asked to."""
        self._show_reading(None)
        self._show_message("")
        self._hide_photo()
        self._redraw()
        if self.auto_read.value and self._strokes:
            self.read()

    # --- Drawing, from mouse and touch events -----------------------------

    def _start_stroke(self, x: float, y: float) -> None:
        self._current = [(x, y)]
        with hold_canvas():
            self.overlay.clear()  # the boxes belong to the drawing before this stroke
            self._draw_stroke(self.overlay, self._current, self.pen.value, LIVE_INK)

    def _extend_stroke(self, x: float, y: float) -> None:
        if self._current is None:
            return
        last_x, last_y = self._current[-1]
        if (x - last_x) ** 2 + (y - last_y) ** 2 < 1.0:
            return  # sub-pixel jitter adds points, not ink
        self._current.append((x, y))
        with hold_canvas():
            self.overlay.stroke_style = LIVE_INK
            self.overlay.line_width = self.pen.value
            self.overlay.stroke_line(last_x, last_y, x, y)

    def _end_stroke(self) -> None:
        if self._current is None:
            return
        stroke, self._current = self._current, None
        self._strokes.append(stroke)
        self._pen_widths.append(int(self.pen.value))
        with hold_canvas():
            self.overlay.clear()
            self._draw_stroke(self.ink, stroke, self._pen_widths[-1], INK)
        self._show_reading(None)
        self._hide_photo()
        if self.auto_read.value:
            self.read()

    @_reports_errors
    def _on_mouse_down(self, x, y):
        self._start_stroke(x, y)

    @_reports_errors
    def _on_mouse_move(self, x, y):
        self._extend_stroke(x, y)

    @_reports_errors
    def _on_mouse_up(self, x, y):
        self._extend_stroke(x, y)
        self._end_stroke()

    @_reports_errors
    def _on_mouse_out(self, x, y):
        # A mouse-up outside the canvas never arrives: leaving the canvas ends the stroke.
        self._end_stroke()

    @_reports_errors
    def _on_touch_start(self, touches):
        if touches and self._current is None:
            self._start_stroke(*touches[0])

    @_reports_errors
    def _on_touch_move(self, touches):
        if touches:
            self._extend_stroke(*touches[0])

    @_reports_errors
    def _on_touch_end(self, touches):
        # ``touches`` are the fingers still down: the stroke ends with the last one.
        if not touches:
            self._end_stroke()

    @_reports_errors
    def _on_touch_cancel(self, touches):
        self._end_stroke()

    # --- Reading ----------------------------------------------------------

    @property
    def reader(self):
        """The reader in use; ``Reader.default()`` (the shipped CNN) is loaded on first use."""
        if self._reader is None:
            from digitlab.reader import Reader

            self._show_message("Loading the model (first read only)…")
            self._reader = Reader.default()
        return self._reader

    def read(self):
        """Read the strokes now: show the result and return the ``Reading`` (also ``pad.reading``).

        The reader gets the strokes themselves (:meth:`digitlab.reader.Reader.read_strokes`): its
        default method groups strokes, not blobs of ink, into digits."""
        started = time.perf_counter()
        reading = self.reader.read_strokes(self._strokes, self.size, self._pen_widths)
        milliseconds = 1000 * (time.perf_counter() - started)
        self.show(reading)
        self._show_message(f"Read in {milliseconds:.0f} ms.")
        return reading

    def show(self, reading) -> None:
        """Show a ``Reading`` of the drawing: boxes on the canvas, large text, crops; ``pad.reading``.

        :meth:`read` calls it; call it yourself to show a reading you changed.
        """
        self._show_reading(reading)
        with hold_canvas():
            self.overlay.clear()
            self._draw_boxes()

    def _is_unsure(self, digit) -> bool:
        return float(digit.confidence) < self.unsure_below

    def _draw_boxes(self) -> None:
        """Each digit's box on the overlay, labelled "7 98%" (orange "7? 55%" when unsure)."""
        if self.reading is None or self._reading_source != "pad":
            return
        layer = self.overlay
        layer.font = "bold 15px sans-serif"
        layer.line_width = 2
        for digit in self.reading.digits:
            x, y, width, height = (float(value) for value in digit.box)
            colour = UNSURE if self._is_unsure(digit) else SURE
            label = f"{digit.value}{'?' if self._is_unsure(digit) else ''} {digit.confidence:.0%}"
            label_y = y - 20 if y >= 22 else y + height + 2
            layer.stroke_style = colour
            layer.stroke_rect(x - 3, y - 3, width + 6, height + 6)
            layer.fill_style = colour
            layer.fill_rect(x - 3, label_y, 9 * len(label) + 8, 18)
            layer.fill_style = PAPER
            layer.fill_text(label, x + 1, label_y + 14)

    # --- Showing the result -----------------------------------------------

    def _hide_photo(self) -> None:
        self.photo.layout.display = "none"

    def _show_failure(self, text: str) -> None:
        """A photo that could not be read: nothing of the previous one stays, and ``text`` says why."""
        self._hide_photo()
        self._show_reading(None)
        self._show_message(text, error=True)

    def _show_message(self, text: str, error: bool = False) -> None:
        colour = "#c92a2a" if error else "#495057"
        self.message.value = f'<span style="color:{colour}">{html.escape(text)}</span>'

    def _show_reading(self, reading, source: str = "pad") -> None:
        """Show ``reading`` as large text and a row of crops (``None``: show the hint instead)."""
        self.reading = reading
        self._reading_source = source
        if reading is None:
            self.text.value = (
                '<span style="font-size:1.1em;color:#868e96">'
                "Write digits above with the mouse or a finger, then press Read.</span>"
            )
            self.crops.value = ""
            return
        if not reading.digits:
            self.text.value = '<span style="font-size:2em;color:#868e96">no digits</span>'
            self.crops.value = ""
            return
        self.text.value = self._text_html(reading)
        self.crops.value = self._crops_html(reading)

    def _text_html(self, reading) -> str:
        """The text in large type, unsure digits in orange with a "?" after them."""
        digits = iter(reading.digits)
        lines = []
        for line in reading.lines:
            parts = []
            for character in line:
                digit = next(digits, None) if character.isdigit() else None
                if digit is not None and self._is_unsure(digit):
                    title = f"unsure: {digit.confidence:.0%}"
                    parts.append(f'<span style="color:{UNSURE}" title="{title}">{character}?</span>')
                else:
                    parts.append(html.escape(character))
            lines.append("".join(parts))
        unsure = sum(self._is_unsure(digit) for digit in reading.digits)
        note = (
            f'<div style="font-size:0.9em;color:{UNSURE}">{unsure} digit{"s" if unsure > 1 else ""} below '
            f"{self.unsure_below:.0%} confidence, marked ?</div>" if unsure else ""
        )
        return (
            '<div style="font-size:3em;font-weight:bold;font-family:monospace;line-height:1.2">'
            + "<br>".join(lines) + "</div>" + note
        )

    def _crops_html(self, reading) -> str:
        """The digits' 28x28 crops, enlarged, each captioned with its digit and confidence.

        The CNN read the crops of "contours" digits; a "crnn" digit was read from its whole line,
        and its crop (cut from the CTC alignment) is only shown."""
        size = 28 * CROP_ZOOM
        tiles = []
        for digit in reading.digits:
            colour = UNSURE if self._is_unsure(digit) else SURE
            tiles.append(
                '<figure style="margin:0 6px 0 0;text-align:center">'
                f'<img src="{_png_data_url(_crop_to_uint8(digit.crop))}" width="{size}" height="{size}" '
                'style="image-rendering:pixelated;border:1px solid #adb5bd">'
                f'<figcaption style="color:{colour};font-size:0.85em">'
                f"{digit.value} {digit.confidence:.0%}{' CRNN' if digit.method == 'crnn' else ''}</figcaption></figure>"
            )
        by_crnn = sum(digit.method == "crnn" for digit in reading.digits)
        title = "What the CNN sees (28x28):" if not by_crnn else (
            "The digits at 28x28, as the CNN sees them "
            f"({'all' if by_crnn == len(reading.digits) else by_crnn} read by the CRNN, from the whole line):")
        return (
            f'<div style="color:#495057;font-size:0.9em">{title}</div>'
            '<div style="display:flex;flex-wrap:wrap">' + "".join(tiles) + "</div>"
        )

    # --- Button and upload callbacks --------------------------------------

    @_reports_errors
    def _on_read(self, _button):
        self.read()

    @_reports_errors
    def _on_undo(self, _button):
        self.undo()

    @_reports_errors
    def _on_clear(self, _button):
        self.clear()
        self._show_message("")

    @_reports_errors
    def _on_upload(self, change):
        files = change["new"]
        if not files:
            return  # our own reset below
        upload = files[0]
        self.upload.value = ()  # so that the same file can be read again
        self.read_photo(upload["content"], upload.get("name", "the file"))

    def read_photo(self, content: bytes, name: str = "the photo"):
        """Read a photo or scan given as file bytes; show it annotated and return the ``Reading``.

        A file that is not an image, an image too large to decode safely, pixels that are not numbers
        or a model that cannot be loaded show a message in the widget (and return ``None``): never a
        traceback.
        """
        try:
            image = open_upload(content, name)
        except ValueError as error:
            self._show_failure(str(error))
            return None
        from digitlab.model import ModelFileError
        from digitlab.preprocess import first_frame_notes

        started = time.perf_counter()
        try:
            reading, notes = first_frame_notes(self.reader.read, image)
        except (ValueError, ModelFileError) as error:  # NaN pixels, a missing or damaged model
            self._show_failure(f"Could not read {name}: {error}")
            return None
        milliseconds = 1000 * (time.perf_counter() - started)
        self._show_reading(reading, source="photo")
        with hold_canvas():
            self.overlay.clear()  # the boxes on the canvas were for the drawing
        self.photo.value = _jpeg_bytes(np.asarray(reading.annotated(low_confidence=self.unsure_below)))
        self.photo.layout.display = None
        self._show_message(" ".join([f"Read {name} in {milliseconds:.0f} ms: {reading.text or 'no digits'}.", *notes]))
        return reading
