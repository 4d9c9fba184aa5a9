"""Pen strokes: turn what was drawn into an image, and make demo strokes.

Taught in ``notebooks/07_draw_and_read.ipynb``.

A *stroke* is what the pen draws between going down and coming up: a list of
``(x, y)`` points in canvas pixels (x to the right, y down). The draw-and-read
widget (:mod:`digitlab.widget`) keeps its strokes in Python and rasterizes
them here with OpenCV, along a smooth curve through each stroke's points
(:func:`pen_path`), so reading never depends on a browser sending pixels
back. :func:`digit_strokes` writes digits as a careful hand would, for
demos, tests and benchmarks.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from digitlab.reader_memory import DrawingMemory

#: Sub-pixel precision of :func:`rasterize` (and of :mod:`digitlab.styles`): coordinates are drawn at 1/16 px.
SUBPIXEL_SHIFT = 4
#: The pen widths the draw-and-read pad offers (its slider), in canvas pixels, and its default.
PEN_WIDTHS = (2, 40)
DEFAULT_PEN_WIDTH = 14
#: MNIST's pen, as a fraction of a digit's height (the extent of its strokes, the pen not included): drawn
#: with it, strokes are as thick for their height as MNIST's digits are. The reader draws a pad's strokes
#: again with it (:meth:`digitlab.reader.Reader.read_strokes`), whatever pen the student chose.
MNIST_PEN = 0.12
#: The thinnest pen the reader draws strokes with, in pixels (:func:`drawing_scale`): OpenCV draws a line's width
#: in whole pixels, so a thinner pen is drawn up to a pixel off, more than an eighth of its width, and its strokes
#: in few pixels. Small writing is drawn larger instead: read as large writing is.
THINNEST_PEN = 4.0
#: How many strokes' pen paths (:func:`pen_path`) are remembered: a page's strokes, drawn at two scales, many
#: times over (a path of 200 points holds 3.2 kB).
PATHS_REMEMBERED = 256


# --- Strokes to an image --------------------------------------------------


def _check_pen_widths(pen_width, count: int) -> list[float]:
    """One pen width per stroke, from a number or a sequence of numbers."""
    if isinstance(pen_width, (int, float, np.integer, np.floating)):
        widths = [float(pen_width)] * count
    else:
        widths = [float(width) for width in pen_width]
        if len(widths) != count:
            raise ValueError(f"got {len(widths)} pen widths for {count} strokes: give one per stroke.")
    if any(width <= 0 for width in widths):
        raise ValueError(f"pen widths must be positive, got {pen_width}.")
    return widths


def stroke_points(stroke) -> np.ndarray:
    """A stroke as an (N, 2) float array, with a helpful error for anything else."""
    try:
        points = np.asarray(stroke, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"a stroke is a non-empty list of (x, y) numbers, got {stroke!r:.60}: {error}") from None
    if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
        raise ValueError(
            f"a stroke is a non-empty list of (x, y) points, got an array of shape {points.shape}."
        )
    if not np.isfinite(points).all():
        raise ValueError("stroke points must be finite numbers, got NaN or infinity.")
    return points


def drawing_scale(pen_width) -> int:
    """How many times larger to draw strokes whose pen is ``pen_width`` (one, or one per stroke), for the
    thinnest to be at least :data:`THINNEST_PEN` wide: 1 for most writing (and for no strokes), 2 for digits
    about 20 px tall."""
    if np.size(pen_width) == 0:
        return 1
    return max(1, math.ceil(THINNEST_PEN / float(np.min(pen_width))))


def enlarged(strokes, pen_width, scale: float):
    """``strokes`` drawn with ``pen_width`` (one, or one per stroke), ``scale`` times larger, on a canvas only
    as large as their ink: the strokes' points, the canvas's (height, width), the pen widths to draw them with,
    and the 2x3 affine matrix that maps the pad's pixels to the canvas's."""
    points = [stroke_points(stroke) * scale for stroke in strokes]
    pens = np.multiply(pen_width, scale)
    if not points:
        return points, (1, 1), pens, np.array([[scale, 0.0, 0.0], [0.0, scale, 0.0]])
    reach = _ink_reach(float(np.max(pens)))
    paths = [pen_path(stroke) for stroke in points]
    corner = np.min([path.min(axis=0) for path in paths], axis=0) - reach
    points = [stroke - corner for stroke in points]
    width, height = np.max([path.max(axis=0) - corner for path in paths], axis=0) + reach
    move = np.array([[scale, 0.0, -corner[0]], [0.0, scale, -corner[1]]])
    return points, (math.ceil(height) + 1, math.ceil(width) + 1), pens, move


def rasterize(
    strokes: Sequence[Sequence[tuple[float, float]]],
    size: tuple[int, int] = (200, 600),
    pen_width: float | Sequence[float] = DEFAULT_PEN_WIDTH,
    memory: DrawingMemory | None = None,
) -> np.ndarray:
    """Draw ``strokes`` as white ink on black: a uint8 image of ``size = (height, width)``.

    Each stroke is drawn along its :func:`pen_path`, a smooth curve through its
    points, ``pen_width`` pixels wide (one number, or one per stroke) with round
    caps and joins, as a pen leaves it; a one-point stroke is a dot.
    Anti-aliased, drawn at sub-pixel precision with OpenCV. With a
    ``memory`` (:class:`digitlab.reader_memory.DrawingMemory`), the drawing
    starts from the canvas it remembers holding the most of the first
    strokes, and the new canvas is remembered: the same pixels.
    """
    height, width = _canvas_size(size)
    points = [stroke_points(stroke) for stroke in strokes]
    widths = _check_pen_widths(pen_width, len(points))
    drawn, image = 0, None
    if memory is not None:
        drawn, image = memory.recall_canvas((height, width), points, widths)
    if image is None:
        image = np.zeros((height, width), dtype=np.uint8)
    for stroke, stroke_width in zip(points[drawn:], widths[drawn:]):
        _draw(image, stroke, stroke_width)
    if memory is not None and drawn < len(points):
        memory.keep_canvas((height, width), points, widths, image)
    return image


def rasterize_window(stroke, pen_width: float, size: tuple[int, int],
                     memory: DrawingMemory | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """One stroke drawn as :func:`rasterize` draws it on a canvas of ``size``, over the canvas's part that can
    hold its ink only: that part (uint8, white on black) and the (x, y) of its corner on the canvas.

    The same pixels as the whole canvas would have, without a canvas to fill and search per stroke: reading
    a pad looks at each of its strokes alone (:func:`digitlab.ink_pieces.stroke_lines`). With a ``memory``, a
    stroke drawn lately is not drawn again; its window is then shared, and read-only.
    """
    height, width = _canvas_size(size)
    points = stroke_points(stroke)
    (pen_width,) = _check_pen_widths(pen_width, 1)
    if memory is not None:
        remembered = memory.recall_stroke((height, width), points, pen_width)
        if remembered is not None:
            return remembered
    reach = _ink_reach(pen_width)
    path = pen_path(points)
    left, top = (max(0, int(np.floor(low - reach))) for low in path.min(axis=0))
    right, bottom = (int(np.ceil(high + reach)) + 1 for high in path.max(axis=0))
    right, bottom = max(left, min(right, width)), max(top, min(bottom, height))
    window = np.zeros((bottom - top, right - left), dtype=np.uint8)
    if window.size:
        _draw(window, points, pen_width, corner=(left, top))
    if memory is not None:
        window.flags.writeable = False
        memory.keep_stroke((height, width), points, pen_width, (window, (left, top)))
    return window, (left, top)


def _ink_reach(pen_width: float) -> float:
    """How far a stroke's ink reaches beyond its pen path: half the pen, a pixel of anti-aliasing and one to
    spare."""
    return pen_width / 2 + 2


def _canvas_size(size) -> tuple[int, int]:
    """A canvas ``size`` as (height, width) in whole pixels, with a helpful error when it is not positive."""
    height, width = (int(side) for side in size)
    if height <= 0 or width <= 0:
        raise ValueError(f"size must be (height, width) in positive pixels, got {size}.")
    return height, width


def pen_path(stroke, spacing: float = 2.0) -> np.ndarray:
    """The path a pen took through a stroke's points: an (N, 2) float array, a point about every ``spacing``
    pixels along it, read-only. What :func:`rasterize` draws, and the pad shows (:mod:`digitlab.ink_canvas`).

    A pen's points are sampled in time, so a quick hand leaves them far apart, and straight lines between
    them turn a curve into a polygon, with corners no pen made. The path is a centripetal Catmull-Rom curve
    through every point instead: smooth, with no loops or cusps of its own, and straight where the points
    lie on a line (corners that are meant are points close together, as a pen slowing down leaves them).
    The last :data:`PATHS_REMEMBERED` paths are remembered: a pad reads its strokes again after each new one.
    """
    points = np.ascontiguousarray(stroke_points(stroke))
    return _remembered_pen_path(points.tobytes(), float(spacing))


@functools.lru_cache(maxsize=PATHS_REMEMBERED)
def _remembered_pen_path(points_bytes: bytes, spacing: float) -> np.ndarray:
    """:func:`pen_path` of the (N, 2) float64 points whose bytes are ``points_bytes`` (bytes, so remembered)."""
    path, _ = _curve(_distinct(np.frombuffer(points_bytes).reshape(-1, 2)), spacing)
    path.flags.writeable = False
    return path


def settled_pen_path(stroke, spacing: float = 2.0) -> np.ndarray:
    """For a stroke still being drawn: the newest piece of its :func:`pen_path` that no later point will change,
    from its third-last point to its second-last, a point about every ``spacing`` pixels; none, shape (0, 2),
    while it has fewer than three points, or when its last point repeats the one before (a pen resting).

    The curve into a point bends toward the point after it, so the piece ending at the newest point is only
    known when the next one comes. A pad that draws each settled piece as it comes has drawn, when the pen
    lifts, the very path the whole stroke gets, never the straight segments between the points. Only the
    last four points that do not repeat the one before them matter: a caller may pass just those.
    """
    points = stroke_points(stroke)
    path, rows = _curve(_distinct(points)[-4:], spacing)
    if len(rows) < 3 or np.array_equal(points[-1], points[-2]):
        return np.zeros((0, 2))
    return path[rows[-3]:rows[-2] + 1]


def _distinct(points: np.ndarray) -> np.ndarray:
    """``points`` without those that repeat the point before them (a pen resting)."""
    moved = np.ones(len(points), dtype=bool)
    moved[1:] = np.any(points[1:] != points[:-1], axis=1)
    return points[moved]


def _curve(points: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """The pen path through ``points`` (:func:`pen_path`; no point repeats the one before it), and the path's
    row at each point."""
    if len(points) < 3:
        return points, np.arange(len(points))
    # The tangent at each point, from the steps on either side (each end continued straight on), their knots
    # the square root of their length apart: the centripetal Catmull-Rom curve's (Yuksel, Schaefer, Keyser 2011).
    ends = np.concatenate([2 * points[:1] - points[1:2], points, 2 * points[-1:] - points[-2:-1]])
    steps = ends[1:] - ends[:-1]
    lengths = np.hypot(steps[:, 0], steps[:, 1])
    gaps = np.sqrt(lengths)[:, None]
    tangents = (steps[:-1] * (gaps[1:] / gaps[:-1]) + steps[1:] * (gaps[:-1] / gaps[1:])) / (gaps[:-1] + gaps[1:])
    # Between two points, the cubic with those tangents: ((a u + b) u + c) u + start, for u from 0 to 1.
    chords, gap = steps[1:-1], gaps[1:-1]
    c, d = tangents[:-1] * gap, tangents[1:] * gap
    cubics = np.stack([c + d - 2 * chords, 3 * chords - 2 * c - d, c, points[:-1]], axis=1)
    counts = np.ceil(lengths[1:-1] / spacing).astype(int)
    rows = np.concatenate([[0], np.cumsum(counts)])
    segment = np.repeat(np.arange(len(counts)), counts)
    u = ((np.arange(1, len(segment) + 1) - np.repeat(rows[:-1], counts)) / np.repeat(counts, counts))[:, None]
    a, b, c, start = np.moveaxis(cubics[segment], 1, 0)
    path = np.empty((len(segment) + 1, 2))
    path[0] = points[0]
    path[1:] = ((a * u + b) * u + c) * u + start
    return path, rows


def _draw(image: np.ndarray, points: np.ndarray, pen_width: float, corner: tuple[int, int] = (0, 0)) -> None:
    """Draw one stroke (float (N, 2) canvas points) along its :func:`pen_path` in place onto ``image``, the part
    of the canvas whose corner is at ``corner``, as :func:`rasterize` describes."""
    import cv2

    scale = 1 << SUBPIXEL_SHIFT
    path = (np.round(pen_path(points) * scale) - np.multiply(corner, scale)).astype(np.int32)
    points = (np.round(points * scale) - np.multiply(corner, scale)).astype(np.int32)
    thickness = max(1, int(round(pen_width)))
    radius = int(round(pen_width / 2 * scale))
    if len(path) > 1:
        cv2.polylines(image, [path], False, 255, thickness, cv2.LINE_AA, SUBPIXEL_SHIFT)
    # Round caps and joins: a disc at every point (OpenCV's thick lines end square-ish).
    for point in points.tolist():
        cv2.circle(image, point, radius, 255, cv2.FILLED, cv2.LINE_AA, SUBPIXEL_SHIFT)


# --- Demo strokes: digits as a careful hand writes them ----------------------


def _pen_points(template, step: float = 0.05) -> list[tuple[float, float]]:
    """A template's points as a pen would report them: its straight segments cut every ``step`` of the box,
    so the :func:`pen_path` through them keeps them straight and their corners sharp."""
    points = [template[0]]
    for (u0, v0), (u1, v1) in zip(template, template[1:]):
        pieces = max(1, math.ceil(math.hypot(u1 - u0, v1 - v0) / step))
        points += [(u0 + (u1 - u0) * k / pieces, v0 + (v1 - v0) * k / pieces) for k in range(1, pieces + 1)]
    return points


def _arc(cx, cy, rx, ry, start_degrees, end_degrees, points: int = 16) -> list[tuple[float, float]]:
    """Points on an ellipse arc; angles in degrees, 0 to the right, 90 *down* (image axes)."""
    angles = np.radians(np.linspace(start_degrees, end_degrees, points))
    return [(round(float(cx + rx * np.cos(a)), 4), round(float(cy + ry * np.sin(a)), 4)) for a in angles]


def _digit_templates() -> dict[str, list[list[tuple[float, float]]]]:
    """Each digit as strokes in a unit box: x in [0, 1] (scaled to the width), y in [0, 1] down."""
    eight = [
        [(round(float(0.5 + 0.32 * np.sin(2 * t)), 4), round(float(0.5 - 0.5 * np.cos(t)), 4))
         for t in np.linspace(0.0, 2 * np.pi, 41)]
    ]
    return {
        "0": [_arc(0.5, 0.5, 0.45, 0.5, -90, 270, 33)],
        "1": [[(0.62, 0.0), (0.5, 1.0)]],
        "2": [_arc(0.48, 0.28, 0.4, 0.28, 190, 370, 12)
              + [(0.82, 0.42), (0.05, 1.0), (0.95, 1.0)]],
        "3": [_arc(0.45, 0.25, 0.4, 0.25, 210, 450, 14)
              + _arc(0.45, 0.74, 0.45, 0.26, 270, 510, 14)[1:]],
        "4": [[(0.45, 0.0), (0.05, 0.65), (0.95, 0.65)], [(0.72, 0.15), (0.72, 1.0)]],
        "5": [[(0.9, 0.0), (0.2, 0.0), (0.12, 0.45)]
              + _arc(0.45, 0.7, 0.45, 0.3, 235, 500, 16)],
        "6": [[(0.75, 0.0), (0.4, 0.25)] + _arc(0.5, 0.7, 0.42, 0.3, 200, 560, 24)],
        "7": [[(0.0, 0.0), (0.95, 0.0), (0.35, 1.0)]],
        "8": eight,
        "9": [_arc(0.5, 0.3, 0.42, 0.3, 0, 360, 24) + [(0.86, 0.45), (0.65, 1.0)]],
    }


#: Each digit as strokes in a unit box; see :func:`digit_strokes`.
DIGIT_TEMPLATES = _digit_templates()

#: Handwriting styles of :func:`digit_strokes`: the digits each one writes otherwise than "plain".
#: "continental" (much of Europe, Quebec, engineering drawings): a slashed 0, a 1 with a flag and a
#: foot, a crossed 7.
STYLES = {
    "plain": {},
    "continental": {
        "0": DIGIT_TEMPLATES["0"] + [[(0.1, 0.95), (0.9, 0.05)]],
        "1": [[(0.2, 0.3), (0.62, 0.0), (0.5, 1.0)], [(0.25, 1.0), (0.75, 1.0)]],
        "7": DIGIT_TEMPLATES["7"] + [[(0.35, 0.55), (0.9, 0.5)]],
    },
}


def digit_strokes(
    text: str,
    origin: tuple[float, float] = (40, 40),
    height: float = 120,
    width_ratio: float = 0.6,
    spacing: float = 40,
    line_spacing: float = 50,
    slant: float = 0.0,
    style: str = "plain",
) -> list[list[tuple[float, float]]]:
    """Strokes that write ``text`` (digits, spaces and newlines), as a pen would.

    Each digit is ``height`` pixels tall and ``width_ratio * height`` wide;
    digits are ``spacing`` pixels apart, a
    space leaves one digit's width, and a newline starts a line
    ``height + line_spacing`` lower. ``origin`` is the top-left corner of the
    first digit; ``slant`` shears the strokes (0.2 leans them to the right);
    ``style`` is one of :data:`STYLES` ("continental" slashes its zeros,
    flags its ones and crosses its sevens).
    Used to replay writing in the widget (``pad.load_strokes``), in tests and
    benchmarks; change :data:`DIGIT_TEMPLATES` to try other handwritings.
    """
    if height <= 0 or width_ratio <= 0 or spacing < 0:
        raise ValueError(
            f"height and width_ratio must be positive and spacing >= 0, "
            f"got height={height}, width_ratio={width_ratio}, spacing={spacing}."
        )
    if style not in STYLES:
        raise ValueError(f"style must be one of {sorted(STYLES)}, got {style!r}.")
    templates = {**DIGIT_TEMPLATES, **STYLES[style]}
    unknown = sorted(set(text) - set(DIGIT_TEMPLATES) - {" ", "\n"})
    if unknown:
        raise ValueError(f"digit_strokes writes digits, spaces and newlines only, not {unknown}.")
    width = width_ratio * height
    strokes = []
    left, top = origin
    x = left
    for character in text:
        if character == "\n":
            x, top = left, top + height + line_spacing
            continue
        if character != " ":
            for template in templates[character]:
                strokes.append([
                    (x + (u + slant * (1.0 - v)) * width, top + v * height) for u, v in _pen_points(template)
                ])
        x += width + spacing
    return strokes


def strokes_size(strokes, margin: float = 40) -> tuple[int, int]:
    """The ``(height, width)`` of the smallest canvas holding ``strokes`` with ``margin`` around them."""
    points = np.concatenate([stroke_points(stroke) for stroke in strokes])
    right, bottom = points.max(axis=0)
    return int(np.ceil(bottom + margin)), int(np.ceil(right + margin))
