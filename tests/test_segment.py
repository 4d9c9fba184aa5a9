"""digitlab.segment on constructed images whose digit boxes are known."""

import cv2
import numpy as np
import pytest

from digitlab.segment import digit_height, segment

HEIGHT = 60  # digit height in pixels
STROKE = 6

# Digits as strokes in a unit box (x right, y down), each stroke a polyline.
# Strokes that do not touch become separate blobs, as a lifted pen makes them.
BROKEN_5 = [[(0.2, 0.05), (0.9, 0.05)], [(0.2, 0.2), (0.2, 0.5), (0.8, 0.55), (0.8, 0.9), (0.15, 0.95)]]
TWO_STROKE_4 = [[(0.45, 0.0), (0.0, 0.65), (0.5, 0.65)], [(0.75, 0.0), (0.75, 1.0)]]
CROSSED_7 = [[(0.05, 0.0), (0.95, 0.0), (0.4, 1.0)], [(0.05, 0.5), (0.35, 0.5)]]  # the bar misses the stem
ONE = [[(0.5, 0.0), (0.5, 1.0)]]


def draw(canvas, strokes, left, top, height=HEIGHT, width=None):
    """Draw ``strokes`` into ``canvas`` in a box at (left, top); return the box drawn (x, y, w, h)."""
    width = width or int(0.6 * height)
    for stroke in strokes:
        points = np.array([(left + x * width, top + y * height) for x, y in stroke], np.int32)
        cv2.polylines(canvas, [points], False, 255, STROKE, lineType=cv2.LINE_8)
    ys, xs = np.nonzero(canvas[top - STROKE:top + height + STROKE, left - STROKE:left + width + STROKE])
    return left - STROKE + xs.min(), top - STROKE + ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1


def draw_ring(canvas, centre, axes):
    cv2.ellipse(canvas, centre, axes, 0, 0, 360, 255, STROKE)


def boxes(segmentation):
    return [segment.box for segment in segmentation.segments]


def close(box, expected, tolerance=3):
    return all(abs(a - b) <= tolerance for a, b in zip(box, expected))


@pytest.mark.parametrize("strokes, fragments", [(BROKEN_5, 2), (TWO_STROKE_4, 2), (CROSSED_7, 2)])
def test_digits_drawn_in_several_strokes_are_one_segment(strokes, fragments):
    canvas = np.zeros((120, 300), np.uint8)
    expected = [draw(canvas, ONE, 30, 30), draw(canvas, strokes, 100, 30), draw(canvas, ONE, 200, 30)]
    assert cv2.connectedComponents(canvas)[0] - 1 == fragments + 2
    found = segment(canvas)
    assert len(found.segments) == 3
    for box, truth in zip(boxes(found), expected):
        assert close(box, truth), (box, truth)


def test_holes_of_0_and_8_are_not_extra_boxes():
    canvas = np.zeros((120, 200), np.uint8)
    draw_ring(canvas, (50, 60), (18, 30))  # a 0
    draw_ring(canvas, (130, 45), (15, 15))  # an 8: two rings
    draw_ring(canvas, (130, 75), (15, 15))
    canvas[58:61, 49:52] = 255  # a speck inside the 0's hole
    found = segment(canvas)
    assert len(found.segments) == 2
    assert close(boxes(found)[0], (29, 27, 43, 67))
    assert close(boxes(found)[1], (112, 27, 37, 67))


def test_specks_are_dropped_relative_to_digit_height():
    canvas = np.zeros((120, 300), np.uint8)
    expected = [draw(canvas, ONE, 40, 30), draw(canvas, BROKEN_5, 120, 30)]
    for x, y in [(5, 5), (90, 100), (250, 60), (200, 15)]:
        cv2.circle(canvas, (x, y), 3, 255, -1)
    found = segment(canvas)
    assert len(found.segments) == 2
    assert all(close(box, truth) for box, truth in zip(boxes(found), expected))
    # The same specks at a quarter of the scale are still specks: thresholds follow the digits.
    small = cv2.resize(canvas, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    assert len(segment((small > 60).astype(np.uint8) * 255).segments) == 2


def test_more_pieces_of_ink_than_a_read_takes_are_cut_to_the_largest_and_said_so(monkeypatch):
    import warnings

    from digitlab import segment as segmentation
    from digitlab.reading import PartlyRead

    monkeypatch.setattr(segmentation, "MAX_BLOBS", 3)
    canvas = np.zeros((60, 400), np.uint8)
    for index, size in enumerate([30, 24, 36, 18, 27]):  # five squares, the 18 and the 24 the smallest
        canvas[10:10 + size, 20 + 75 * index:20 + 75 * index + size] = 255
    canvas[50, 5::10] = 255  # specks of one pixel: no digit is that small, so they never count
    with pytest.warns(PartlyRead, match="has 5 pieces of ink .* only the 3 largest are read"):
        _, blobs = segmentation.find_blobs(canvas)
    assert sorted(blob.box[2] for blob in blobs) == [27, 30, 36]
    with warnings.catch_warnings():
        warnings.simplefilter("error", PartlyRead)  # three squares and the specks: all read, nothing said
        assert len(segmentation.find_blobs(canvas[:, :230])[1]) == 3


def test_two_lines_in_reading_order():
    canvas = np.zeros((220, 300), np.uint8)
    top = [draw(canvas, ONE, 40 + 70 * i, 20 + 4 * i) for i in range(3)]
    bottom = [draw(canvas, BROKEN_5, 30 + 80 * i, 130 - 3 * i) for i in range(3)]
    found = segment(canvas)
    assert found.line_count == 2
    assert [segment.line for segment in found.segments] == [0, 0, 0, 1, 1, 1]
    for box, truth in zip(boxes(found), top + bottom):
        assert close(box, truth)


def test_order_does_not_depend_on_drawing_order():
    forward, backward = np.zeros((100, 400), np.uint8), np.zeros((100, 400), np.uint8)
    shapes = [ONE, BROKEN_5, TWO_STROKE_4, CROSSED_7]
    expected = [draw(forward, shape, 30 + 90 * i, 20) for i, shape in enumerate(shapes)]
    for i in reversed(range(4)):
        draw(backward, shapes[i], 30 + 90 * i, 20)
    assert boxes(segment(forward)) == boxes(segment(backward))
    assert all(close(box, truth) for box, truth in zip(boxes(segment(backward)), expected))


def test_touching_digits_are_marked_with_cuts_near_the_join():
    canvas = np.zeros((120, 300), np.uint8)
    draw_ring(canvas, (60, 60), (20, 30))
    draw_ring(canvas, (100, 60), (20, 30))  # touches the first ring at x ~ 80
    draw(canvas, ONE, 200, 30)
    found = segment(canvas)
    assert [segment.touching for segment in found.segments] == [True, False]
    pair = found.segments[0]
    cuts = [cut for option in pair.cuts for cut in option]
    assert any(75 <= cut <= 85 for cut in cuts)
    assert all(pair.box[0] < cut < pair.box[0] + pair.box[2] for cut in cuts)


@pytest.mark.parametrize("radius", [3, 7, 20])
def test_a_lone_dot_is_no_digit_at_any_size_but_a_short_bold_one_is(radius):
    canvas = np.zeros((120, 300), np.uint8)
    cv2.circle(canvas, (60, 60), radius, 255, -1)  # a tap of the pen: nothing to compare it with
    assert segment(canvas).segments == []
    # A "1" only twice as long as its stroke is thick is still a digit.
    cv2.line(canvas, (200, 60 - radius), (200, 60 + radius), 255, 2 * radius)
    assert len(segment(canvas).segments) == 1


def test_blank_mask_gives_no_segments():
    found = segment(np.zeros((50, 50), np.uint8))
    assert found.segments == [] and found.line_count == 0 and found.digit_height == 0
    assert digit_height([]) == 0.0
    with pytest.raises(ValueError, match="2-D"):
        segment(np.zeros((5, 5, 3), np.uint8))


def test_a_bar_beside_the_body_joins_it_but_close_short_digits_stay_apart():
    canvas = np.zeros((120, 500), np.uint8)
    ones = [draw(canvas, ONE, 20 + 40 * i, 30) for i in range(3)]  # the digit height: ~66 px
    # A 5 whose top bar starts a little right of its body (a diagonal gap).
    draw(canvas, [[(0.0, 0.3), (0.0, 0.6), (0.6, 0.6), (0.6, 0.95), (0.0, 1.0)]], 160, 30)
    draw(canvas, [[(0.85, 0.05), (1.3, 0.05)]], 160, 30)
    # Two short, wide digits 10 px apart: whole digits, not fragments of one.
    cv2.ellipse(canvas, (300, 75), (30, 18), 0, 0, 360, 255, STROKE)
    cv2.ellipse(canvas, (372, 75), (30, 18), 0, 0, 360, 255, STROKE)
    found = segment(canvas)
    assert len(found.segments) == 6, boxes(found)
    assert all(close(box, one) for box, one in zip(boxes(found), ones))
    x, _, w, _ = boxes(found)[3]
    assert x < 162 and x + w > 205  # body and bar in one box
    assert [segment.touching for segment in found.segments[4:]] == [False, False]


@pytest.mark.parametrize("gap", [3, 6, 9])  # 5 to 14 % of the digit height: closer than a break may be
def test_two_lines_written_close_together_are_two_lines_of_whole_digits(gap):
    canvas = np.zeros((2 * HEIGHT + gap + 60, 340), np.uint8)
    top = 20 + STROKE
    shapes = [ONE, BROKEN_5, TWO_STROKE_4, ONE]
    first = [draw(canvas, shape, 30 + 80 * i, top) for i, shape in enumerate(shapes)]
    second = [draw(canvas, shape, 30 + 80 * i, top + HEIGHT + STROKE + gap) for i, shape in enumerate(shapes[:3])]
    found = segment(canvas)
    assert [segment.line for segment in found.segments] == [0, 0, 0, 0, 1, 1, 1], boxes(found)
    assert all(close(box, truth) for box, truth in zip(boxes(found), first + second)), boxes(found)


# As people write them: digits wider than tall, each a few pixels higher or lower than its neighbours.
TWO = [[(0.0, 0.25), (0.5, 0.0), (1.0, 0.25), (0.0, 1.0), (1.0, 1.0)]]
SEVEN = [[(0.0, 0.0), (1.0, 0.0), (0.35, 1.0)]]
ZERO = [[(0.5, 0.0), (1.0, 0.5), (0.5, 1.0), (0.0, 0.5), (0.5, 0.0)]]
WIDE_DIGITS, WIDE_WIDTH = [TWO, SEVEN, ZERO, TWO], int(1.2 * HEIGHT)
LIFTS = [0, 3, -2, 4]


def _wide_line(canvas, top, lifts=LIFTS):
    return [draw(canvas, shape, 30 + (WIDE_WIDTH + 20) * i, top + lift, width=WIDE_WIDTH)
            for i, (shape, lift) in enumerate(zip(WIDE_DIGITS, lifts))]


@pytest.mark.parametrize("gap", [9, 12, 15])  # 4 to 10 px of paper between the lines: 7 to 17 % of the digit height
def test_two_lines_of_wide_digits_written_close_together_are_two_lines(gap):
    canvas = np.zeros((2 * HEIGHT + gap + 60, 440), np.uint8)
    top = 20 + STROKE
    first = _wide_line(canvas, top)
    second = _wide_line(canvas, top + HEIGHT + STROKE + gap, lifts=[2, -1, 3, 0])
    found = segment(canvas)
    assert [segment.line for segment in found.segments] == [0] * 4 + [1] * 4, boxes(found)
    assert all(close(box, truth) for box, truth in zip(boxes(found), first + second)), boxes(found)


def test_a_scratch_across_a_line_of_wide_digits_leaves_one_line_of_whole_digits():
    # A band blank across the whole line cuts every digit on the same two rows: pieces of digits, not two lines.
    canvas = np.zeros((HEIGHT + 80, 440), np.uint8)
    digits = _wide_line(canvas, 30)
    canvas[30 + HEIGHT // 2:30 + HEIGHT // 2 + 3, :] = 0
    found = segment(canvas)
    assert [segment.line for segment in found.segments] == [0] * 4, boxes(found)
    assert all(close(box, truth) for box, truth in zip(boxes(found), digits)), boxes(found)


def test_digits_broken_across_the_middle_stay_whole_alone_and_in_a_line():
    # Every digit broken where a pen skipped, at a height of its own: one line of whole digits.
    canvas = np.zeros((120, 420), np.uint8)
    expected = []
    for i, at in enumerate((0.3, 0.45, 0.6, 0.5)):
        left = 30 + 90 * i
        cv2.line(canvas, (left, 20), (left, 20 + int(at * HEIGHT) - 3), 255, STROKE)
        cv2.line(canvas, (left, 20 + int(at * HEIGHT) + 3), (left, 20 + HEIGHT), 255, STROKE)
        expected.append((left - STROKE // 2, 20 - STROKE // 2, STROKE + 1, HEIGHT + STROKE + 1))
    found = segment(canvas)
    assert [segment.line for segment in found.segments] == [0] * 4, boxes(found)
    assert all(close(box, truth) for box, truth in zip(boxes(found), expected)), boxes(found)
    # One digit alone, broken: the gap runs across all the writing, and still it is one digit.
    alone = np.zeros((120, 100), np.uint8)
    draw_ring(alone, (50, 60), (18, 30))
    alone[57:60, :] = 0
    assert len(segment(alone).segments) == 1, boxes(segment(alone))


def _mark(canvas, kind, left, top, right, bottom):
    """Draw a mark a student adds around or along the writing in the box (left, top, right, bottom)."""
    if kind == "frame":
        cv2.rectangle(canvas, (left - 20, top - 20), (right + 20, bottom + 20), 255, STROKE)
    elif kind == "circle, not quite closed":
        centre, axes = ((left + right) // 2, (top + bottom) // 2), (int(0.75 * (right - left)) + 15, 65)
        cv2.ellipse(canvas, centre, axes, 0, 10, 345, 255, STROKE)
    elif kind in ("underline", "underlined twice"):
        cv2.line(canvas, (left - 5, bottom + 15), (right + 5, bottom + 12), 255, STROKE)
        if kind == "underlined twice":
            cv2.line(canvas, (left - 5, bottom + 28), (right + 5, bottom + 28), 255, STROKE)
    elif kind == "bracket over":
        cv2.polylines(canvas, [np.array([(left, top - 6), (left, top - 16), (right, top - 16), (right, top - 6)])],
                      False, 255, STROKE)


THREE_DIGITS, ONE_DIGIT = [ONE, BROKEN_5, TWO_STROKE_4], [CROSSED_7]


# A line along one digit alone may be its own bar (a 5's, a 2's base): the recognizer decides, so only frames and
# circles are drawn round one digit.
@pytest.mark.parametrize("shapes, kind", [
    *[pytest.param(THREE_DIGITS, kind, id=f"three digits, {kind}")
      for kind in ("frame", "circle, not quite closed", "underline", "underlined twice", "bracket over")],
    *[pytest.param(ONE_DIGIT, kind, id=f"one digit, {kind}") for kind in ("frame", "circle, not quite closed")],
])
def test_a_frame_a_circle_or_a_line_drawn_around_or_along_a_number_is_no_digit(shapes, kind):
    canvas = np.zeros((240, 420), np.uint8)
    digits = [draw(canvas, shape, 150 - 40 * (len(shapes) - 1) + 80 * i, 90) for i, shape in enumerate(shapes)]
    left, top = min(x for x, *_ in digits), min(y for _, y, *_ in digits)
    right, bottom = max(x + w for x, _, w, _ in digits), max(y + h for _, y, _, h in digits)
    _mark(canvas, kind, left, top, right, bottom)
    found = segment(canvas)
    assert len(found.segments) == len(digits), boxes(found)
    assert all(close(box, truth) for box, truth in zip(boxes(found), digits)), boxes(found)
    assert close((found.digit_height,), (HEIGHT + STROKE,)), found.digit_height


def test_a_line_of_touching_digits_over_another_line_and_a_dot_inside_a_0_are_writing():
    canvas = np.zeros((240, 420), np.uint8)
    # A first line whose digits all touch: one blob over the second line's digits, but as tall as they are.
    wave = [(30 + 10 * i, 20 + (HEIGHT if i % 2 else 0)) for i in range(30)]
    cv2.polylines(canvas, [np.array(wave, np.int32)], False, 255, STROKE)
    second = [draw(canvas, shape, 40 + 80 * i, 120) for i, shape in enumerate([ONE, BROKEN_5, ONE])]
    # A 0 with a dot in its middle, as some people write it.
    draw_ring(canvas, (350, 150), (18, 30))
    cv2.circle(canvas, (350, 150), 3, 255, -1)
    found = segment(canvas)
    assert [segment.line for segment in found.segments] == [0, 1, 1, 1, 1], boxes(found)
    assert all(close(box, truth) for box, truth in zip(boxes(found)[1:4], second)), boxes(found)


def test_pieces_of_one_digit_are_no_marks_however_long_or_wherever_they_lie():
    canvas = np.zeros((140, 420), np.uint8)
    # A 0 broken in three: its halves side by side, its bottom arc under both (no longer than the 0 is wide).
    draw_ring(canvas, (60, 60), (30, 30))
    canvas[20:58, 59:62] = 0
    canvas[72:75, :100] = 0
    # A wide 2 whose base was drawn apart, longer than the 2 is tall, under its one digit.
    cv2.polylines(canvas, [np.array([(130, 45), (160, 30), (190, 45), (135, 86)], np.int32)], False, 255, STROKE)
    cv2.line(canvas, (128, 96), (198, 96), 255, STROKE)
    expected = [draw(canvas, ONE, 240, 30), draw(canvas, BROKEN_5, 300, 30)]
    found = segment(canvas)
    assert len(found.segments) == 4, boxes(found)
    assert close(boxes(found)[0], (27, 27, 67, 67)) and close(boxes(found)[1], (125, 27, 77, 73)), boxes(found)
    assert all(close(box, truth) for box, truth in zip(boxes(found)[2:], expected)), boxes(found)
