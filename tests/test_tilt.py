"""Tilted lines (digitlab.tilt): the tilt measured from the digits' centres, and photos read level."""

import cv2
import numpy as np
import pytest

from digitlab.segment import Segment, Segmentation
from digitlab.strokes import digit_strokes, rasterize
from digitlab.tilt import line_tilt


def segmentation_of(centres_by_line, size=40):
    """A segmentation whose digits (``size`` pixels square) have these centres, line by line."""
    segments = [Segment((round(x - size / 2), round(y - size / 2), size, size), (1,), line)
                for line, centres in enumerate(centres_by_line) for x, y in centres]
    return Segmentation(segments, np.zeros((10, 10), np.int32), float(size), np.zeros(2, bool))


def test_the_tilt_of_lines_that_rise_to_the_right_is_positive():
    rise = np.tan(np.radians(6.0))
    line = [(x, 300 - rise * x) for x in range(0, 800, 100)]
    assert line_tilt(segmentation_of([line])) == pytest.approx(6.0, abs=0.1)
    falling = [(x, 100 + rise * x) for x in range(0, 800, 100)]
    assert line_tilt(segmentation_of([falling])) == pytest.approx(-6.0, abs=0.1)


def test_each_line_counts_at_its_own_height():
    rise = np.tan(np.radians(4.0))
    lines = [[(x, top - rise * x) for x in range(0, 500, 100)] for top in (200, 400)]
    assert line_tilt(segmentation_of(lines)) == pytest.approx(4.0, abs=0.1)


def test_lines_of_one_digit_and_pairs_alone_have_no_tilt():
    column = [[(100, 100 * row)] for row in range(1, 6)]  # a column of digits, one a line
    assert line_tilt(segmentation_of(column)) == 0.0
    assert line_tilt(segmentation_of([[(100, 100), (200, 150)]])) == 0.0
    assert line_tilt(segmentation_of([])) == 0.0


def tilted_photo(text: str, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """``text`` written on white paper, turned ``degrees`` counter-clockwise about the page's centre; and the
    2x3 matrix of the turn."""
    ink = rasterize(digit_strokes(text, origin=(60, 140), height=60, spacing=20), (340, 660), 7)
    turn = cv2.getRotationMatrix2D((330, 170), degrees, 1.0)
    return 255 - cv2.warpAffine(ink, turn, (660, 340)), turn


@pytest.mark.parametrize("degrees", [12, -12, 15, -15])
def test_a_tilted_line_reads_as_one_line(shipped_reader, degrees):
    """Tilted this much, the line's ends are a digit's height apart: read as it is, it fell into two lines."""
    photo, _ = tilted_photo("31415926", degrees)
    assert shipped_reader.read(photo).text == "31415926"


def assert_boxes_on_the_digits(reading, level, turn):
    """Each box of ``reading`` holds the centre of the same digit's box in ``level`` turned by ``turn``, and
    is the box of one digit, not of the whole tilted line."""
    assert reading.text == level.text
    for digit, upright in zip(reading.digits, level.digits):
        x, y, width, height = upright.box
        centre_x, centre_y = turn @ (x + width / 2, y + height / 2, 1.0)
        left, top, box_width, box_height = digit.box
        assert left <= centre_x <= left + box_width and top <= centre_y <= top + box_height
        assert box_height < 1.6 * height


def test_the_boxes_of_a_tilted_line_are_on_its_digits_in_the_photo(shipped_reader):
    level = shipped_reader.read(tilted_photo("31415926", 0)[0])
    photo, turn = tilted_photo("31415926", 12)
    reading = shipped_reader.read(photo)
    assert reading.text == "31415926"
    assert reading.image.shape[:2] == photo.shape  # shown on the photo as it was given
    assert_boxes_on_the_digits(reading, level, turn)


def test_a_level_page_is_read_as_it_is(shipped_reader):
    photo, _ = tilted_photo("31415926", 0)
    page, segmentation = shipped_reader.find_boxes(photo)

    def summary(reading):
        return [(digit.value, digit.confidence, digit.box) for digit in reading.digits]

    assert summary(shipped_reader.read(photo)) == summary(shipped_reader.read_page(page, segmentation))


@pytest.mark.parametrize("degrees", [12, -15])
def test_strokes_written_at_a_slant_on_the_pad_read_as_one_line(shipped_reader, degrees):
    strokes = digit_strokes("31415926", origin=(60, 140), height=60, spacing=20)
    turn = cv2.getRotationMatrix2D((330, 200), degrees, 1.0)
    slanted = [np.asarray(stroke) @ turn[:, :2].T + turn[:, 2] for stroke in strokes]
    level = shipped_reader.read_strokes(strokes, (400, 660), 7)
    reading = shipped_reader.read_strokes(slanted, (400, 660), 7)
    assert reading.text == "31415926"
    assert_boxes_on_the_digits(reading, level, turn)  # the pad draws them over the strokes as written


def test_a_box_the_turn_brought_in_from_outside_the_photo_stays_on_it():
    from digitlab.preprocess import prepare
    from digitlab.reading import Digit, reading_of
    from digitlab.tilt import Levelled

    page = prepare(np.full((52, 26), 200, np.uint8))
    levelled = Levelled.of(page, 20.0)
    height, width = levelled.level.gray.shape
    corners = [(0, 0), (width - 3, 0), (0, height - 3), (width - 3, height - 3)]  # outside the photo once turned back
    digits = [Digit(value=1, confidence=0.5, box=(x, y, 3, 3), crop=np.zeros((28, 28), np.float32)) for x, y in corners]
    for x, y, w, h in (digit.box for digit in levelled.read_back(reading_of(digits, levelled.level)).digits):
        assert 0 <= x < 26 and 0 <= y < 52 and w >= 1 and h >= 1 and x + w <= 26 and y + h <= 52


@pytest.mark.parametrize("edge", ["noisy", "a speck on it"])
def test_the_photo_edge_a_turn_draws_out_over_the_corners_is_no_ink(edge):
    from digitlab.preprocess import prepare
    from digitlab.tilt import Levelled

    # A photo of blank paper, grainy: turned level, its edge would go on over the corners the turn brings in (one
    # pixel drawn out into a line); those corners are no page, and no ink.
    rng = np.random.default_rng(0)
    photo = np.clip(rng.normal(200, 8 if edge == "noisy" else 2, (200, 600)), 0, 255).astype(np.uint8)
    if edge == "a speck on it":
        photo[0, 300:303] = photo[-1, 100:103] = 60  # a speck of dust at the edge: ink in the photo itself
    levelled = Levelled.of(prepare(photo), 6.0)
    mask = levelled.level.mask
    corners = cv2.warpAffine(np.ones(photo.shape, np.uint8), levelled.turn, mask.shape[::-1]) == 0
    assert not mask[corners].any()
