"""Strokes to images (OpenCV) and the demo digits written as polylines."""

from __future__ import annotations

import numpy as np
import pytest

from digitlab.reader_memory import DrawingMemory
from digitlab.strokes import (DIGIT_TEMPLATES, digit_strokes, pen_path, rasterize, rasterize_window, settled_pen_path,
                              strokes_size)


# --- rasterize ------------------------------------------------------------


def test_blank_drawing_is_black():
    image = rasterize([], size=(50, 80))
    assert image.shape == (50, 80)
    assert image.dtype == np.uint8
    assert image.max() == 0


def test_line_is_white_and_as_wide_as_the_pen():
    image = rasterize([[(20, 50), (180, 50)]], size=(100, 200), pen_width=12)
    column = image[:, 100]
    assert column.max() == 255
    inked_rows = np.count_nonzero(column > 127)
    assert 11 <= inked_rows <= 13
    assert image[:, :5].max() == 0  # nothing beyond the round cap


def test_caps_are_round():
    image = rasterize([[(50, 50), (100, 50)]], size=(100, 160), pen_width=20)
    # Past the end point the ink narrows like a half disc, where a square cap would stay 20 px tall.
    assert np.count_nonzero(image[:, 100] > 127) >= 19
    assert np.count_nonzero(image[:, 109] > 127) <= 12
    assert image[50, 109] > 127
    assert image[42, 108] == 0  # 11 px from the end point, inside a square cap


def test_one_point_is_a_dot_of_the_pen_width():
    image = rasterize([[(30, 30)]], size=(60, 60), pen_width=20)
    area = np.count_nonzero(image > 127)
    assert abs(area - np.pi * 10**2) < 0.15 * np.pi * 10**2  # anti-aliasing adds about half a pixel


def test_each_stroke_keeps_its_pen_width():
    strokes = [[(10, 20), (90, 20)], [(10, 60), (90, 60)]]
    image = rasterize(strokes, size=(80, 100), pen_width=[4, 16])
    thin, thick = (np.count_nonzero(image[rows, 50] > 127) for rows in (slice(0, 40), slice(40, 80)))
    assert thin < 6 < 14 < thick


def test_subpixel_coordinates_move_the_ink():
    left = rasterize([[(10.0, 10), (10.0, 30)]], size=(40, 40), pen_width=3)
    right = rasterize([[(10.5, 10), (10.5, 30)]], size=(40, 40), pen_width=3)
    assert not np.array_equal(left, right)


def _on_circle(degrees, radius: float = 50.0, centre: float = 60.0) -> np.ndarray:
    """Points on a circle at ``degrees`` (0 to the right, 90 down), as a quick hand leaves them."""
    angles = np.radians(np.asarray(degrees, dtype=np.float64))
    return np.stack([centre + radius * np.cos(angles), centre + radius * np.sin(angles)], axis=1)


def test_a_pen_path_goes_through_every_point_in_order():
    points = np.random.default_rng(1).uniform(10, 90, size=(12, 2))
    path = pen_path(points)
    nearest = [int(np.hypot(*(path - point).T).argmin()) for point in points]
    assert all(np.hypot(*(path[index] - point)) < 1e-9 for index, point in zip(nearest, points))
    assert nearest == sorted(nearest)


def test_a_pen_path_is_straight_through_points_on_a_line():
    points = np.array([(10.0, 20.0), (13.0, 24.0), (40.0, 60.0), (46.0, 68.0)])
    path = pen_path(points)
    distance_off_the_line = np.abs((path[:, 0] - 10.0) * 4.0 - (path[:, 1] - 20.0) * 3.0) / 5.0
    assert distance_off_the_line.max() < 1e-9


def test_a_pen_path_through_a_quick_hands_circle_is_round():
    points = _on_circle(range(0, 361, 45))  # 38 px apart
    chords = np.linspace(points[:-1], points[1:], 20, axis=1).reshape(-1, 2)
    off_the_circle = {}
    for name, line in (("path", pen_path(points)), ("chords", chords)):
        middle = line[len(line) // 4:-len(line) // 4]  # away from where the pen starts and stops
        off_the_circle[name] = np.abs(np.hypot(*(middle - 60.0).T) - 50.0).max()
    assert off_the_circle["path"] < off_the_circle["chords"] / 3, off_the_circle


def test_a_dot_a_line_and_repeated_points_keep_their_points():
    assert pen_path(np.array([(5.0, 5.0)])).tolist() == [[5.0, 5.0]]
    assert pen_path(np.array([(5.0, 5.0), (5.0, 5.0), (9.0, 8.0)])).tolist() == [[5.0, 5.0], [9.0, 8.0]]


def test_a_remembered_pen_path_follows_the_points_not_the_array():
    points = np.array([(0.0, 0.0), (10.0, 5.0), (20.0, 0.0)])
    first = pen_path(points)
    points[1] = (10.0, -5.0)  # the same array, a point moved: a new path
    moved = pen_path(points)
    assert first[:, 1].max() > 4.9 and moved[:, 1].min() < -4.9
    assert not first.flags.writeable  # shared by everyone who asks again


def test_the_pieces_settled_while_drawing_are_the_finished_strokes_pen_path():
    points = np.vstack([_on_circle(range(0, 300, 40)), [(20.0, 30.0), (20.0, 30.0), (15.0, 70.0)]])  # a pen rests
    pieces = [settled_pen_path(points[:count]) for count in range(1, len(points) + 1)]
    assert [len(piece) for piece in pieces[:2]] == [0, 0] and len(pieces[-2]) == 0  # the rest settles nothing
    settled = [piece for piece in pieces if len(piece)]
    drawn = np.vstack([settled[0]] + [piece[1:] for piece in settled[1:]])  # each piece starts where the last ended
    whole = pen_path(points)
    assert np.array_equal(drawn, whole[:len(drawn)])  # the same pixels, bit for bit
    assert np.hypot(*(drawn[-1] - points[-2])) < 1e-9 and len(whole) > len(drawn)  # the piece into the last point waits


def test_a_curve_drawn_beyond_its_points_is_drawn_whole():
    arc = _on_circle(range(120, 421, 60))  # no point at the top (270): the highest are 6.7 px lower
    image = rasterize([arc], size=(120, 120), pen_width=4)
    rows, _ = np.nonzero(image > 127)
    assert rows.min() <= 10  # the circle's top, 10 px down, less half the pen; the chords' ink starts at 15
    window, (x, y) = rasterize_window(arc, 4, (120, 120))
    assert np.array_equal(window, image[y:y + window.shape[0], x:x + window.shape[1]])
    assert image.sum() == window.sum()


def test_a_stroke_drawn_over_its_window_has_the_pixels_of_the_whole_canvas():
    rng = np.random.default_rng(0)
    size = (120, 300)
    for _ in range(200):  # wandering strokes of any pen, some running off the canvas
        points = rng.uniform(-20, 320, 2) + np.cumsum(rng.normal(0, 8, (int(rng.integers(1, 20)), 2)), axis=0)
        pen_width = float(rng.uniform(0.5, 40))
        window, (x, y) = rasterize_window(points, pen_width, size)
        rebuilt = np.zeros(size, np.uint8)
        rebuilt[y:y + window.shape[0], x:x + window.shape[1]] = window
        assert np.array_equal(rebuilt, rasterize([points], size, pen_width))
    window, _ = rasterize_window([(150, 60), (170, 70)], 10, size)
    assert 0 < window.size < 0.05 * size[0] * size[1]  # a short stroke: a small part of the canvas
    assert rasterize_window([(500, 500)], 10, size)[0].size == 0  # off the canvas: nothing to draw


def test_a_memory_of_drawings_draws_the_same_pixels_as_drawing_afresh():
    strokes = digit_strokes("4715", origin=(10, 20), height=60, spacing=12)  # a two-stroke 4 and a 5 with its bar
    size, memory = (100, 260), DrawingMemory()
    for count in [*range(len(strokes) + 1), 2, 5, 3]:  # a pad's strokes one by one, then undone and redrawn
        for pen_width in (14, 5.5, [4 + index for index in range(count)]):
            drawn = rasterize(strokes[:count], size, pen_width, memory=memory)
            assert np.array_equal(drawn, rasterize(strokes[:count], size, pen_width))
            drawn[:] = 255  # the caller's image is its own: the memory's copy stays as drawn
    assert np.array_equal(rasterize(strokes, size, 14, memory=memory), rasterize(strokes, size, 14))
    assert np.array_equal(rasterize(strokes, (100, 250), 14, memory=memory), rasterize(strokes, (100, 250), 14))
    nothing_kept = DrawingMemory(canvases=0, strokes=0)
    assert np.array_equal(rasterize(strokes, size, 14, memory=nothing_kept), rasterize(strokes, size, 14))


def test_a_stroke_remembered_is_drawn_once_and_read_only():
    stroke, size, memory = [(20, 30), (60, 35), (70, 80)], (120, 300), DrawingMemory()
    window, corner = rasterize_window(stroke, 9, size, memory)
    again, same_corner = rasterize_window(stroke, 9, size, memory)
    assert again is window and same_corner == corner
    assert np.array_equal(window, rasterize_window(stroke, 9, size)[0])
    assert not np.array_equal(rasterize_window(stroke, 10, size, memory)[0], window)  # another pen: drawn anew
    with pytest.raises(ValueError, match="read-only"):
        window[0, 0] = 1


def test_strokes_drawn_larger_are_the_same_drawing_enlarged():
    from digitlab.strokes import THINNEST_PEN, drawing_scale, enlarged

    assert drawing_scale(THINNEST_PEN) == drawing_scale(3 * THINNEST_PEN) == 1
    assert drawing_scale(THINNEST_PEN / 2) == 2 and drawing_scale(THINNEST_PEN / 2.5) == 3
    assert drawing_scale([THINNEST_PEN / 2, 3 * THINNEST_PEN]) == 2  # the thinnest pen decides
    assert drawing_scale([]) == 1  # nothing drawn
    strokes = digit_strokes("4", origin=(30, 100), height=12)  # two strokes, on a pad of 240 x 800 px
    points, size, pens, move = enlarged(strokes, [1.5, 2.0], 3)
    assert list(pens) == [4.5, 6.0]
    for stroke, point in zip(strokes, points):  # the move maps the pad's pixels to the canvas's
        np.testing.assert_allclose(point, np.asarray(stroke) @ move[:, :2].T + move[:, 2])
    small, large = (np.argwhere(rasterize(*drawing) > 127) for drawing in [(strokes, (240, 800), [1.5, 2.0]),
                                                                           (points, size, pens)])
    assert size[0] < 3 * 16 and size[1] < 3 * 12  # the ink's part of the pad: the 4 is 12 x 7 px, its pen 2 px
    corner = move[::-1, 2]  # (row, column)
    np.testing.assert_allclose(large.min(axis=0) - corner, 3 * small.min(axis=0), atol=3)  # the same ink, larger
    np.testing.assert_allclose(large.max(axis=0) - corner, 3 * small.max(axis=0), atol=3)
    drawn = rasterize(points, size, pens)
    assert not (drawn[[0, -1]].any() or drawn[:, [0, -1]].any())  # all of it


@pytest.mark.parametrize(
    "strokes, size, pen_width, message",
    [
        ([[(1, 1)]], (0, 10), 3, "positive pixels"),
        ([[(1, 1)]], (10, 10), 0, "positive"),
        ([[(1, 1)], [(2, 2)]], (10, 10), [3], "one per stroke"),
        ([[]], (10, 10), 3, "non-empty list of \\(x, y\\)"),
        ([[(1, 2, 3)]], (10, 10), 3, "non-empty list of \\(x, y\\)"),
        ([[(1, "a")]], (10, 10), 3, "list of \\(x, y\\) numbers"),
        ([[(1, 1), (float("inf"), 2)]], (10, 10), 3, "finite"),
    ],
)
def test_rasterize_explains_bad_arguments(strokes, size, pen_width, message):
    with pytest.raises(ValueError, match=message):
        rasterize(strokes, size=size, pen_width=pen_width)


# --- digit_strokes --------------------------------------------------------


def test_every_digit_has_a_template_inside_the_unit_box():
    assert sorted(DIGIT_TEMPLATES) == list("0123456789")
    for strokes in DIGIT_TEMPLATES.values():
        points = np.concatenate([np.asarray(stroke) for stroke in strokes])
        assert points.min() >= -0.01 and points.max() <= 1.01


def test_digits_are_laid_out_left_to_right_at_the_given_height():
    strokes = digit_strokes("17", origin=(10, 20), height=100, width_ratio=0.5, spacing=30)
    assert len(strokes) == 2  # a 1 and a 7 are one stroke each
    one, seven = (np.asarray(stroke) for stroke in strokes)
    assert one[:, 1].min() == pytest.approx(20) and one[:, 1].max() == pytest.approx(120)
    assert one[:, 0].max() <= 10 + 50
    assert seven[:, 0].min() >= 10 + 50 + 30 - 1e-9


def test_four_is_two_strokes_and_spaces_and_newlines_move_the_pen():
    assert len(digit_strokes("4")) == 2
    plain = np.asarray(digit_strokes("1 1", height=100, spacing=20)[1])
    assert plain[:, 0].min() > 2 * (60 + 20)
    lines = digit_strokes("1\n1", height=100, line_spacing=50)
    assert np.asarray(lines[1])[:, 1].min() == pytest.approx(40 + 150)


def test_slant_leans_the_top_to_the_right():
    upright = np.asarray(digit_strokes("1")[0])
    slanted = np.asarray(digit_strokes("1", slant=0.3)[0])
    top, bottom = 0, -1  # the 1 is drawn from the top down
    assert slanted[top, 0] > upright[top, 0]
    assert slanted[bottom, 0] == pytest.approx(upright[bottom, 0])


def test_digit_strokes_refuses_other_characters():
    with pytest.raises(ValueError, match="digits, spaces and newlines"):
        digit_strokes("12a")
    with pytest.raises(ValueError, match="height"):
        digit_strokes("1", height=0)


def test_the_continental_style_slashes_zeros_flags_ones_and_crosses_sevens():
    for digit, extra in [("0", 1), ("1", 1), ("7", 1), ("4", 0)]:
        assert len(digit_strokes(digit, style="continental")) == len(digit_strokes(digit)) + extra, digit
    flagged = np.concatenate([np.asarray(s) for s in digit_strokes("1", style="continental", height=100)])
    plain = np.asarray(digit_strokes("1", height=100)[0])
    assert np.ptp(flagged[:, 0]) > 2 * np.ptp(plain[:, 0])  # the flag and the foot widen it
    with pytest.raises(ValueError, match="style must be one of"):
        digit_strokes("1", style="gothic")


def test_strokes_size_fits_the_drawing():
    strokes = digit_strokes("42", origin=(10, 10), height=50)
    height, width = strokes_size(strokes, margin=10)
    image = rasterize(strokes, size=(height, width), pen_width=6)
    assert image[:, -3:].max() == 0 and image[-3:, :].max() == 0
    assert image.sum() > 0


# --- Readable by the shipped CNN -------------------------------------------


@pytest.fixture(scope="module")
def shipped_reader():
    from digitlab.reader import Reader

    return Reader.default()


@pytest.mark.slow
@pytest.mark.parametrize("pen_width, slant", [(10, 0.0), (14, 0.0), (20, 0.0), (14, 0.2)])
def test_the_shipped_cnn_reads_every_demo_digit(shipped_reader, pen_width, slant):
    strokes = digit_strokes("0123456789", slant=slant)
    reading = shipped_reader.read(rasterize(strokes, strokes_size(strokes), pen_width))
    assert reading.text == "0123456789"
    assert min(digit.confidence for digit in reading.digits) > 0.5


@pytest.mark.slow
def test_the_shipped_reader_reads_continental_strings(shipped_reader):
    """Slashed zeros, flagged ones (with a foot, a second stroke) and crossed sevens, in 200 seeded strings."""
    rng = np.random.default_rng(0)
    right = 0
    for _ in range(200):
        text = "".join(str(d) for d in rng.integers(0, 10, 5))
        strokes = digit_strokes(text, height=rng.uniform(60, 140), slant=rng.uniform(-0.1, 0.25), style="continental")
        right += shipped_reader.read(rasterize(strokes, strokes_size(strokes), rng.uniform(6, 18))).text == text
    assert right >= 0.95 * 200
