"""The canvas of the draw-and-read pad: strokes drawn with the mouse or by touch, kept in Python.

Taught in ``notebooks/07_draw_and_read.ipynb``.

:class:`InkCanvas` is an ipycanvas ``MultiCanvas`` of three layers: the
paper, the committed ink and a live overlay (the stroke being drawn, along the
pen path it will be drawn on, then the reader's boxes). Each stroke is kept as
a :class:`Stroke`, its points and the pen width it was drawn with, so reading
never needs pixels back from the browser. Each change is drawn inside
``hold_canvas()``, which sends its commands to the browser in one message.

The canvas is ``width`` x ``height`` pixels, and shown at most that wide: in a
narrower cell the browser scales it down, keeping its shape. The mouse and
touch positions arrive in canvas pixels all the same (ipycanvas scales them
back), so a stroke lands on the same pixels whatever the size on screen.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ipycanvas import MultiCanvas, hold_canvas

from digitlab.colours import BORDER, INK, LIVE_INK, PAPER
from digitlab.strokes import pen_path, settled_pen_path

Point = tuple[float, float]
Rect = tuple[float, float, float, float]  # x, y, width, height

LABEL_FONT = "bold 15px sans-serif"
LABEL_HEIGHT = 18  # the height of a label's tab, in canvas pixels
LABEL_CHAR_WIDTH = 9  # at least the width of a character of LABEL_FONT (digits, "?", "%", space)
FRAME_MARGIN = 3  # a box is outlined this far outside the digit's ink


@dataclass(frozen=True)
class Stroke:
    """What the pen drew between going down and coming up: ``(x, y)`` canvas pixels, and the pen's width."""

    points: tuple[Point, ...]
    pen_width: int


@dataclass(frozen=True)
class BoxLabel:
    """A box ``(x, y, width, height)`` on the overlay, in ``colour``, labelled ``text`` on a tab.

    ``short`` (say the digit alone) replaces ``text`` where the full text has
    no room; where it is empty, ``text`` is never shortened.
    """

    box: Rect
    text: str
    colour: str
    short: str = ""


def frame(box: Rect) -> Rect:
    """The outline drawn around a box: :data:`FRAME_MARGIN` pixels outside it."""
    x, y, width, height = (float(value) for value in box)
    return x - FRAME_MARGIN, y - FRAME_MARGIN, width + 2 * FRAME_MARGIN, height + 2 * FRAME_MARGIN


def overlap(a: Rect, b: Rect) -> float:
    """The area two rectangles share (0 when they only touch)."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(width, 0.0) * max(height, 0.0)


def _tab_spots(text: str, outline: Rect, size: tuple[int, int], inside: bool = False) -> list[Rect]:
    """Where a tab with ``text`` may go on a canvas of ``size``: above the outline or below it, flush with
    its left edge or its right (``inside``: inside its top, over the digit's own ink). On the canvas only."""
    height, width = size
    x, y, box_width, box_height = outline
    tab_width = LABEL_CHAR_WIDTH * len(text) + 8
    if inside:
        spots = [(x, y + 1)]
    else:
        spots = [(left, top) for left in (x, x + box_width - tab_width) for top in (y - LABEL_HEIGHT, y + box_height)]
    return [(min(max(left, 0.0), width - tab_width), top, tab_width, LABEL_HEIGHT)
            for left, top in spots if 0 <= top <= height - LABEL_HEIGHT]


def place_labels(labels: Sequence[BoxLabel], size: tuple[int, int]) -> list[tuple[str, Rect]]:
    """Each label's text and tab ``(x, y, width, height)`` on a canvas of ``size`` = (height, width).

    A tab goes where it covers no other tab and no other label's box (its
    outline and the ink inside): outside its box with the full text, then
    with the short one, then inside the top of its box. Where no spot is
    free (digits packed tight), it goes where it covers the least. Two lines
    of digits get their tabs in the room above, between or below them, not
    over each other's.
    """
    outlines = [frame(label.box) for label in labels]
    placed: list[tuple[str, Rect]] = []
    for index, label in enumerate(labels):
        others = [outline for other, outline in enumerate(outlines) if other != index]
        others += [tab for _, tab in placed]
        texts = list(dict.fromkeys(filter(None, (label.text, label.short))))
        choices = [(text, spot) for inside in (False, True) for text in texts
                   for spot in _tab_spots(text, outlines[index], size, inside)]
        if not choices:  # no room for a tab anywhere: at the box's corner
            choices = [(label.text, (outlines[index][0], outlines[index][1], 0.0, 0.0))]
        placed.append(_least_covered(choices, others))
    return placed


def _least_covered(choices: list[tuple[str, Rect]], others: list[Rect]) -> tuple[str, Rect]:
    """The first of ``choices`` (text, spot) whose spot covers none of ``others``, else the one covering least."""
    best, least = choices[0], math.inf
    for choice in choices:
        covered = sum(overlap(choice[1], other) for other in others)
        if covered == 0:
            return choice
        if covered < least:
            best, least = choice, covered
    return best


def reports_errors(callback):
    """Wrap a widget callback so that its exceptions go to ``self._report_error``, not to the kernel log.

    A callback has nobody above it to catch: what it raises would otherwise never reach the student.
    """

    @functools.wraps(callback)
    def wrapper(self, *args, **kwargs):
        try:
            return callback(self, *args, **kwargs)
        except Exception as error:
            self._report_error(error)
            return None

    return wrapper


def _draw_points(layer, points: Sequence[Point], pen_width, colour: str) -> None:
    """One stroke with round caps and joins, along the pen path the reader draws (a dot when it has one
    point)."""
    if len(points) == 1:
        layer.fill_style = colour
        layer.fill_circle(points[0][0], points[0][1], pen_width / 2)
    else:
        layer.stroke_style = colour
        layer.line_width = pen_width
        layer.stroke_lines(pen_path(points))  # ipycanvas sends an array as one binary array


class InkCanvas(MultiCanvas):
    """Three layers (paper, ink, overlay), ``width`` x ``height`` px, to draw on with the mouse or by touch.

    On screen it follows the width of its cell, up to ``width`` px, keeping
    its shape.

    A stroke ends when the pen lifts or leaves the canvas. ``pen_width()``
    gives the pen's width now; ``on_stroke()`` is called after each stroke
    drawn; ``on_error(error)`` gets what the mouse and touch handlers raise;
    ``labels()`` gives the boxes the overlay shows (:meth:`show_labels`, and
    :meth:`redraw` when a new browser view opens).
    """

    def __init__(
        self,
        width: int,
        height: int,
        *,
        pen_width: Callable[[], int],
        on_stroke: Callable[[], None],
        on_error: Callable[[Exception], None],
        labels: Callable[[], Sequence[BoxLabel]] = tuple,
    ):
        super().__init__(3, width=width, height=height)
        # As wide as the cell allows, never wider than its pixels; the height follows (the canvas' shape).
        self.layout.width = "100%"
        self.layout.max_width = f"{width}px"
        self.layout.height = "auto"
        self.paper, self.ink, self.overlay = self[0], self[1], self[2]
        for layer in (self.ink, self.overlay):
            layer.line_cap = "round"
            layer.line_join = "round"
        self._pen_width, self._on_stroke, self._on_error, self._labels = pen_width, on_stroke, on_error, labels
        self._strokes: list[Stroke] = []
        self._current: list[Point] | None = None  # the stroke being drawn
        self.on_mouse_down(self._on_mouse_down)
        self.on_mouse_move(self._on_mouse_move)
        self.on_mouse_up(self._on_mouse_up)
        self.on_mouse_out(self._on_mouse_out)
        # Touch never turns into mouse events here: tablets and phones need these.
        self.on_touch_start(self._on_touch_start)
        self.on_touch_move(self._on_touch_move)
        self.on_touch_end(self._on_touch_end)
        self.on_touch_cancel(self._on_touch_cancel)
        # A new browser view starts blank: draw everything again for it.
        self.on_client_ready(self.redraw)
        self._draw_paper()

    @property
    def size(self) -> tuple[int, int]:
        """The canvas ``(height, width)`` in pixels, as :func:`digitlab.strokes.rasterize` takes it."""
        return int(self.height), int(self.width)

    # --- Strokes ----------------------------------------------------------

    @property
    def strokes(self) -> list[Stroke]:
        """The committed strokes, oldest first (a copy)."""
        return list(self._strokes)

    def set_strokes(self, strokes: Sequence[Stroke]) -> None:
        """Replace the strokes, and drop any stroke being drawn. Draws nothing: :meth:`redraw` does."""
        self._current = None
        self._strokes = list(strokes)

    def pop_stroke(self) -> Stroke | None:
        """Remove the last stroke and return it (``None`` when there is none). Draws nothing."""
        return self._strokes.pop() if self._strokes else None

    # --- Drawing ----------------------------------------------------------

    def redraw(self) -> None:
        """Paper, every committed stroke, and the boxes of :attr:`labels`."""
        self._draw_paper()
        with hold_canvas():
            self.ink.clear()
            for stroke in self._strokes:
                _draw_points(self.ink, stroke.points, stroke.pen_width, INK)
            self.overlay.clear()
            self._draw_labels()

    def show_labels(self) -> None:
        """Draw the overlay again: the boxes ``labels()`` gives now, and nothing else."""
        with hold_canvas():
            self.overlay.clear()
            self._draw_labels()

    def _draw_paper(self) -> None:
        height, width = self.size
        with hold_canvas():
            self.paper.clear()
            self.paper.fill_style = PAPER
            self.paper.fill_rect(0, 0, width, height)
            self.paper.stroke_style = BORDER
            self.paper.line_width = 2
            self.paper.stroke_rect(1, 1, width - 2, height - 2)

    def _draw_labels(self) -> None:
        """Each box on the overlay, with its text in paper colour on a tab of the box's colour
        (where :func:`place_labels` puts it)."""
        labels = self._labels()
        if not labels:
            return
        layer = self.overlay
        layer.font = LABEL_FONT
        layer.line_width = 2
        for label, (text, (x, y, width, height)) in zip(labels, place_labels(labels, self.size)):
            layer.stroke_style = label.colour
            layer.stroke_rect(*frame(label.box))
            layer.fill_style = label.colour
            layer.fill_rect(x, y, width, height)
            layer.fill_style = PAPER
            layer.fill_text(text, x + 4, y + 14, width - 8)  # squeezed in, in a wider font

    # --- Drawing, from mouse and touch events -----------------------------

    def _start_stroke(self, x: float, y: float) -> None:
        self._current = [(x, y)]
        with hold_canvas():
            self.overlay.clear()  # the boxes belong to the drawing before this stroke
            _draw_points(self.overlay, self._current, self._pen_width(), LIVE_INK)

    def _extend_stroke(self, x: float, y: float) -> None:
        if self._current is None:
            return
        last_x, last_y = self._current[-1]
        if (x - last_x) ** 2 + (y - last_y) ** 2 < 1.0:
            return  # sub-pixel jitter adds points, not ink
        self._current.append((x, y))
        # The path into the newest point bends with the next one: each piece is drawn once it is settled, a point
        # behind the pen, so that the live stroke is already the curve the committed one will be. Its last four
        # points decide it (no two the same: jitter is dropped above), whatever the stroke's length.
        settled = settled_pen_path(self._current[-4:])
        if len(settled):
            with hold_canvas():
                self.overlay.stroke_style = LIVE_INK
                self.overlay.line_width = self._pen_width()
                self.overlay.stroke_lines(settled)

    def _end_stroke(self) -> None:
        if self._current is None:
            return
        stroke = Stroke(tuple(self._current), int(self._pen_width()))
        self._current = None
        self._strokes.append(stroke)
        with hold_canvas():
            self.overlay.clear()
            _draw_points(self.ink, stroke.points, stroke.pen_width, INK)
        self._on_stroke()

    def _report_error(self, error: Exception) -> None:
        self._on_error(error)

    @reports_errors
    def _on_mouse_down(self, x, y):
        self._start_stroke(x, y)

    @reports_errors
    def _on_mouse_move(self, x, y):
        self._extend_stroke(x, y)

    @reports_errors
    def _on_mouse_up(self, x, y):
        self._extend_stroke(x, y)
        self._end_stroke()

    @reports_errors
    def _on_mouse_out(self, x, y):
        # A mouse-up outside the canvas never arrives: leaving the canvas ends the stroke.
        self._end_stroke()

    @reports_errors
    def _on_touch_start(self, touches):
        if touches and self._current is None:
            self._start_stroke(*touches[0])

    @reports_errors
    def _on_touch_move(self, touches):
        if touches:
            self._extend_stroke(*touches[0])

    @reports_errors
    def _on_touch_end(self, touches):
        # ``touches`` are the fingers still down: the stroke ends with the last one.
        if not touches:
            self._end_stroke()

    @reports_errors
    def _on_touch_cancel(self, touches):
        self._end_stroke()
