"""Draw digits with the mouse, a finger or a pen, and watch the CNN read them.

Taught in ``notebooks/07_draw_and_read.ipynb``.

:class:`DigitPad` is an ipywidgets container: an :class:`~digitlab.ink_canvas.InkCanvas`
(three layers: paper, ink, and an overlay for the stroke being drawn and then
the reader's boxes), a row of controls, and the answer under them
(:mod:`digitlab.reading_html`). Strokes are kept in Python and rasterized with
OpenCV (:func:`digitlab.strokes.rasterize`) for reading, so reading never needs
pixels back from the browser and the widget can be driven from code
(``pad.load_strokes(...)``, ``pad.read()``) in tests and in notebooks run
without a browser. Its colours are in :mod:`digitlab.colours`; uploaded photos
are decoded by :mod:`digitlab.uploads`.
"""

from __future__ import annotations

import time

import ipywidgets
import numpy as np

from digitlab.ink_canvas import BoxLabel, InkCanvas, Stroke, reports_errors
from digitlab.reading import UNSURE_BELOW
from digitlab.reading_html import digit_colour, message_html, reading_html
from digitlab.strokes import DEFAULT_PEN_WIDTH, PEN_WIDTHS, rasterize, stroke_points
from digitlab.uploads import jpeg_bytes, open_upload

__all__ = ["DigitPad", "open_upload"]

#: ipywidgets' upload button always shows how many files it holds: "Read a photo (0)", since the pad empties it
#: after each read. This style shows its icon and its description (:func:`_upload_style`) and hides the count.
UPLOAD_STYLE = """<style>
.digitlab-upload.widget-upload {{ font-size: 0; }}
.digitlab-upload.widget-upload > i {{ font-size: var(--jp-widgets-font-size, 13px); }}
.digitlab-upload.widget-upload::after {{ content: "{description}"; font-size: var(--jp-widgets-font-size, 13px); }}
</style>"""


def _sentence(note: str) -> str:
    """A reader's note (written to follow "digitlab read: FILE: " in the CLI) as a sentence of the message line."""
    return note[:1].upper() + note[1:]


def _upload_style(description: str) -> ipywidgets.HTML:
    """A widget that shows nothing but styles the pad's upload button: ``description``, without its count."""
    text = "".join(character for character in description if character.isalnum() or character in " .,-")
    style = ipywidgets.HTML(UPLOAD_STYLE.format(description=text), layout=ipywidgets.Layout(display="none"))
    style.add_class("digitlab-style")
    return style


class DigitPad(ipywidgets.VBox):
    """A canvas to write digits on, with the reader's answer under it.

    Draw with the mouse or by touch (a stroke ends when the pen lifts or
    leaves the canvas); Undo removes the last stroke, Clear all of them.
    Read (or "Read as I draw") rasterizes the strokes with OpenCV and passes
    them to ``reader`` (default: ``Reader.default()``, loaded on first use).
    The answer is shown four ways: boxes over the canvas labelled with each
    digit and its confidence (orange with "?" below ``unsure_below``), the
    text in large type, the 28x28 crops the model saw, and ``pad.reading``.
    "Read a photo" reads an uploaded photo or scan with the same reader.
    Clear, Undo, a new stroke or a photo take away what the previous reading showed.

    The canvas has ``width`` x ``height`` pixels (strokes are in these
    pixels); on screen it follows the cell's width, at most ``width`` px.

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
        self.canvas = InkCanvas(width, height, pen_width=lambda: self.pen.value, on_stroke=self._stroke_drawn,
                                on_error=self._report_error, labels=self._box_labels)
        controls = self._make_controls(pen_width, auto_read)
        self.text = ipywidgets.HTML(layout=ipywidgets.Layout(min_height="3.2em"))
        self.crops = ipywidgets.HTML()
        self.message = ipywidgets.HTML()
        for widget, name in [(self.text, "text"), (self.crops, "crops"), (self.message, "message")]:
            widget.add_class(f"digitlab-{name}")
        self.photo = ipywidgets.Image(format="jpeg", layout=ipywidgets.Layout(display="none", max_width="100%"))
        super().__init__([self.canvas, controls, self.text, self.crops, self.message, self.photo,
                          _upload_style(self.upload.description)])
        self.add_class("digitlab-pad")
        self._show_reading(None)

    def _make_controls(self, pen_width: int, auto_read: bool) -> ipywidgets.HBox:
        """The pen slider, the buttons, "Read as I draw" and the upload, in a row that wraps."""
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
        self.undo_button.on_click(self._on_undo)
        self.clear_button.on_click(self._on_clear)
        self.read_button.on_click(self._on_read)
        self.upload.observe(self._on_upload, names="value")
        return ipywidgets.HBox(
            [self.pen, self.undo_button, self.clear_button, self.read_button, self.auto_read, self.upload],
            layout=ipywidgets.Layout(flex_flow="row wrap", align_items="center"),
        )

    @property
    def size(self) -> tuple[int, int]:
        """The canvas ``(height, width)`` in pixels, as :func:`digitlab.strokes.rasterize` takes it."""
        return self.canvas.size

    # --- Strokes ----------------------------------------------------------

    @property
    def strokes(self) -> list[list[tuple[float, float]]]:
        """The committed strokes, each a list of ``(x, y)`` canvas pixels (a copy)."""
        return [list(stroke.points) for stroke in self.canvas.strokes]

    @property
    def pen_widths(self) -> list[int]:
        """The pen width each stroke was drawn with."""
        return [stroke.pen_width for stroke in self.canvas.strokes]

    @property
    def image(self) -> np.ndarray:
        """The strokes rasterized as drawn (white ink on black, uint8). The reader reads them drawn again with
        MNIST's pen (:meth:`digitlab.reader.Reader.read_strokes`)."""
        return rasterize(self.strokes, self.size, self.pen_widths)

    def load_strokes(self, strokes, pen_width: int | None = None) -> None:
        """Replace the drawing with ``strokes`` (lists of ``(x, y)``), drawn with ``pen_width``.

        ``pen_width`` defaults to the slider's value. Reads at once when
        "Read as I draw" is ticked, as if the strokes had just been drawn.
        """
        points = [tuple((float(x), float(y)) for x, y in stroke_points(stroke)) for stroke in strokes]
        if pen_width is not None:
            self.pen.value = pen_width
        self.canvas.set_strokes([Stroke(stroke, int(self.pen.value)) for stroke in points])
        self._strokes_changed()

    def undo(self) -> None:
        """Remove the last stroke."""
        if self.canvas.pop_stroke() is not None:
            self._strokes_changed()

    def clear(self) -> None:
        """Remove every stroke and the reading."""
        self.canvas.set_strokes([])
        self._strokes_changed()

    def _strokes_changed(self) -> None:
        """The drawing changed: the old reading, its message and any photo no longer apply; read again if asked to."""
        self._show_reading(None)
        self._show_message("")
        self._hide_photo()
        self.canvas.redraw()
        if self.auto_read.value and self.canvas.strokes:
            self.read()

    def _stroke_drawn(self) -> None:
        """A stroke was drawn (the canvas shows it): the reading, its message and any photo no longer apply;
        read if asked to."""
        self._show_reading(None)
        self._show_message("")
        self._hide_photo()
        if self.auto_read.value:
            self.read()

    # --- Reading ----------------------------------------------------------

    @property
    def reader(self):
        """The reader in use; ``Reader.default()`` (the shipped models, remembering the probabilities of recent
        crops: :data:`digitlab.reader.PAD_REMEMBERS`) is loaded on first use."""
        if self._reader is None:
            from digitlab.reader import PAD_REMEMBERS, Reader

            self._show_message("Loading the model (first read only)…")
            self._reader = Reader.default(remember_crops=PAD_REMEMBERS)
        return self._reader

    def read(self):
        """Read the strokes now: show the result and return the ``Reading`` (also ``pad.reading``).

        The reader gets the strokes themselves (:meth:`digitlab.reader.Reader.read_strokes`): its
        default method groups strokes, not blobs of ink, into digits."""
        from digitlab.reading import read_with_notes

        started = time.perf_counter()
        reading, notes = read_with_notes(self.reader.read_strokes, self.strokes, self.size, self.pen_widths)
        milliseconds = 1000 * (time.perf_counter() - started)
        self.show(reading)
        self._show_message(" ".join([f"Read in {milliseconds:.0f} ms.", *map(_sentence, notes)]))
        return reading

    def show(self, reading) -> None:
        """Show a ``Reading`` of the drawing: boxes on the canvas, large text, crops; ``pad.reading``.

        :meth:`read` calls it; call it yourself to show a reading you changed.
        """
        self._show_reading(reading)

    def _box_labels(self) -> list[BoxLabel]:
        """Each digit's box labelled "7 98%" (orange "7? 55%" when unsure), while the reading is of the drawing."""
        if self.reading is None or self._reading_source != "pad":
            return []
        labels = []
        for digit in self.reading.digits:
            short = f"{digit.value}{'?' if digit.is_unsure(self.unsure_below) else ''}"
            labels.append(BoxLabel(digit.box, f"{short} {digit.confidence:.0%}",
                                   digit_colour(digit, self.unsure_below), short=short))
        return labels

    # --- Showing the result -----------------------------------------------

    def _hide_photo(self) -> None:
        self.photo.layout.display = "none"

    def _show_failure(self, text: str) -> None:
        """A photo that could not be read: nothing of the previous one stays, and ``text`` says why."""
        self._hide_photo()
        self._show_reading(None)
        self._show_message(text, error=True)

    def _show_message(self, text: str, error: bool = False) -> None:
        self.message.value = message_html(text, error)

    def _report_error(self, error: Exception) -> None:
        """What a callback raised, shown in the widget."""
        self._show_message(f"{type(error).__name__}: {error}", error=True)

    def _show_reading(self, reading, source: str = "pad") -> None:
        """Show ``reading`` as large text and a row of crops (``None``: show the hint instead), and its boxes
        on the canvas when it is a reading of the drawing (the overlay is cleared otherwise)."""
        self.reading = reading
        self._reading_source = source
        self.text.value, self.crops.value = reading_html(reading, self.unsure_below)
        self.canvas.show_labels()

    # --- Button and upload callbacks --------------------------------------

    @reports_errors
    def _on_read(self, _button):
        self.read()

    @reports_errors
    def _on_undo(self, _button):
        self.undo()

    @reports_errors
    def _on_clear(self, _button):
        self.clear()
        self._show_message("")

    @reports_errors
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
        from digitlab.reading import read_with_notes

        started = time.perf_counter()
        try:
            reading, notes = read_with_notes(self.reader.read, image)
        except (ValueError, ModelFileError) as error:  # NaN pixels, a missing or damaged model
            self._show_failure(f"Could not read {name}: {error}")
            return None
        milliseconds = 1000 * (time.perf_counter() - started)
        self._show_reading(reading, source="photo")  # no boxes on the canvas: they were for the drawing
        self.photo.value = jpeg_bytes(np.asarray(reading.annotated(low_confidence=self.unsure_below)))
        self.photo.layout.display = None
        self._show_message(" ".join([f"Read {name} in {milliseconds:.0f} ms: {reading.text or 'no digits'}.",
                                     *map(_sentence, notes)]))
        return reading
