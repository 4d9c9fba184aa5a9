"""digitlab.reader: Reading structure, one batched model call, methods, accuracy, bounded memory.

Input forms, bad input and random arrays: test_reader_inputs.py.
"""

import numpy as np
import pytest
from digitlab.reader import SHIFTS, SHIFTS_BELOW, Digit, Reader, Reading
from digitlab.synth import benchmark_strings, make_dataset, make_sequence


def iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


# --- The Reading ----------------------------------------------------------


def test_reading_has_digits_boxes_and_crops(reader, five_digits):
    reading = reader.read(five_digits.image)
    assert isinstance(reading, Reading)
    assert len(reading.text) == 5 and reading.text.isdigit()
    assert reading.lines == [reading.text]
    assert all(isinstance(digit, Digit) for digit in reading.digits)
    for digit, truth in zip(reading.digits, five_digits.boxes):
        assert iou(digit.box, truth) > 0.8
        assert digit.crop.shape == (28, 28) and 0 <= digit.crop.min() and digit.crop.max() <= 1
        assert 0 <= digit.confidence <= 1 and digit.method == "contours"
    assert "".join(str(digit.value) for digit in reading.digits) == reading.text
    data = reading.to_dict()
    assert data["text"] == reading.text and len(data["digits"]) == 5
    assert set(data["digits"][0]) == {"value", "confidence", "box", "line", "method"}
    assert data["digits"][0]["method"] == reading.digits[0].method


def test_all_crops_go_through_one_batched_call(reader, mnist, monkeypatch):
    sequence = make_dataset(1, length=8, seed=2, mnist=mnist, height=280)[0]
    plain = Reader(reader.model, method="contours", average_shifts=False)
    batches = []
    predict = plain._predict  # the one place the reader calls its model
    monkeypatch.setattr(plain, "_predict", lambda crops, model: batches.append(len(crops)) or predict(crops, model))
    monkeypatch.setattr(reader.model, "predict", lambda *args, **kwargs: pytest.fail("predict was called"))
    reading = plain.read(sequence.image)
    assert len(reading.digits) == 8
    assert len(batches) == 1 and batches[0] >= 8


def _two_lines(mnist) -> np.ndarray:
    """Test digits 0-3 above test digits 4-6."""
    (_, _), (x_test, y_test) = mnist
    top = make_sequence(x_test[:4], y_test[:4], scale=2).image
    bottom = make_sequence(x_test[4:7], y_test[4:7], scale=2).image
    image = np.zeros((top.shape[0] + bottom.shape[0], max(top.shape[1], bottom.shape[1])), np.uint8)
    image[:top.shape[0], :top.shape[1]] = top
    image[top.shape[0]:, :bottom.shape[1]] = bottom
    return image


def test_two_lines(reader, mnist):
    reading = reader.read(_two_lines(mnist))
    assert [len(line) for line in reading.lines] == [4, 3]
    assert reading.text == "\n".join(reading.lines)
    assert [digit.line for digit in reading.digits] == [0, 0, 0, 0, 1, 1, 1]


def test_annotated_image_has_the_input_size_and_marks(reader, five_digits):
    reading = reader.read(five_digits.image)
    annotated = reading.annotated()
    assert annotated.shape == five_digits.image.shape + (3,) and annotated.dtype == np.uint8
    plain = np.repeat(five_digits.image[..., None], 3, axis=2)
    assert (annotated != plain).any(axis=2).mean() > 0.01
    assert (annotated[..., 0] != annotated[..., 1]).any()  # coloured marks on a gray image


def test_unsure_digits_are_those_under_the_confidence_given():
    from digitlab.reading import UNSURE_BELOW, Digit, Reading

    crop = np.zeros((28, 28), np.float32)
    digits = [Digit(value, confidence, (10 * value, 0, 8, 10), crop)
              for value, confidence in [(1, 0.99), (2, UNSURE_BELOW - 0.01), (3, UNSURE_BELOW), (4, 0.3)]]
    reading = Reading(digits, np.zeros((10, 50, 3), np.uint8))
    assert [digit.value for digit in reading.unsure()] == [2, 4]
    assert [digit.value for digit in reading.unsure(below=0.995)] == [1, 2, 3, 4]


def test_huge_image_is_downscaled_and_boxes_stay_in_input_pixels(reader, mnist):
    (_, _), (x_test, y_test) = mnist
    sequence = make_sequence(x_test[:3], y_test[:3], height=3000)
    image = np.zeros((10000, 10000), np.uint8)
    image[:3000, :sequence.image.shape[1]] = sequence.image
    reading = reader.read(image)
    assert reading.scale < 1
    assert len(reading.digits) == 3
    for digit, truth in zip(reading.digits, sequence.boxes):
        assert iou(digit.box, truth) > 0.8
    assert max(reading.annotated().shape) <= 2048


# --- Accuracy with the shipped model --------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("method", ["contours", "auto"])
def test_shipped_model_reads_95_percent_of_strings(mnist, method):
    reader = Reader.default(method=method)
    dataset = benchmark_strings("5 digits, gaps", 200, mnist=mnist)
    correct = sum(reader.read(sequence.image).text == sequence.text for sequence in dataset)
    assert correct / len(dataset) >= 0.95, f"{method}: {correct}/200 strings read right"


# --- Methods "crnn" and "auto" --------------------------------------------


@pytest.fixture(scope="module")
def auto_reader():
    return Reader.default(method="auto")


def _touching_pair(mnist):
    """A 2 and a 7 (MNIST test digits) overlapping by 35 %: one blob of ink."""
    _, (images, labels) = mnist
    two, seven = np.flatnonzero(labels == 2)[0], np.flatnonzero(labels == 7)[0]
    return make_sequence(images[[two, seven]], labels[[two, seven]], overlap=0.35, scale=2.0)


@pytest.mark.slow
def test_auto_reads_a_touching_pair(mnist, auto_reader):
    pair = _touching_pair(mnist)
    contours = Reader(auto_reader.model, method="contours").find_boxes(pair.image)[1]
    assert len(contours.segments) == 1 and contours.segments[0].touching  # one blob, flagged
    reading = auto_reader.read(pair.image)
    assert reading.text == "27"
    (x0, _, w0, _), (x1, _, _, _) = (digit.box for digit in reading.digits)
    assert x0 < x1 and x0 + w0 <= pair.image.shape[1]


@pytest.mark.slow
def test_auto_reads_well_separated_digits(mnist, auto_reader):
    sequence = make_dataset(1, length=5, seed=3, mnist=mnist, gap=0.6, scale=2.0)[0]
    reading = auto_reader.read(sequence.image)
    assert reading.text == sequence.text
    # Either recognizer's path may read the line; what the reader owes is the text and each digit's box.
    for digit, truth in zip(reading.digits, sequence.boxes):
        assert iou(digit.box, truth) > 0.8


@pytest.mark.slow
def test_auto_reads_two_lines_and_a_downscaled_huge_image(mnist, auto_reader):
    (_, _), (x_test, y_test) = mnist
    reading = auto_reader.read(_two_lines(mnist))
    assert reading.lines == ["".join(map(str, y_test[:4])), "".join(map(str, y_test[4:7]))]
    assert [digit.line for digit in reading.digits] == [0, 0, 0, 0, 1, 1, 1]

    sequence = make_sequence(x_test[:3], y_test[:3], height=3000)
    huge = np.zeros((6000, 6000), np.uint8)
    huge[:3000, :sequence.image.shape[1]] = sequence.image
    reading = auto_reader.read(huge)
    assert reading.scale < 1 and reading.text == sequence.text
    for digit, truth in zip(reading.digits, sequence.boxes):
        assert iou(digit.box, truth) > 0.8


def test_each_contour_digit_counts_the_blobs_it_joins(reader):
    import cv2

    image = np.zeros((120, 200), np.uint8)
    cv2.line(image, (50, 20), (50, 100), 255, 8)  # a "1" in one stroke
    cv2.line(image, (140, 20), (140, 55), 255, 8)  # a "1" broken in the middle
    cv2.line(image, (140, 65), (140, 100), 255, 8)
    assert [digit.blobs for digit in reader.read(image).digits] == [1, 2]


@pytest.mark.slow
def test_crnn_method_reads_every_line_without_cutting_digits(mnist):
    reader = Reader.default(method="crnn")
    two_lines = make_dataset(2, length=4, seed=5, mnist=mnist, gap=0.5, scale=2.0)
    top, bottom = two_lines[0].image, two_lines[1].image
    width = max(top.shape[1], bottom.shape[1])
    page = np.zeros((top.shape[0] + bottom.shape[0], width), np.uint8)
    page[:top.shape[0], :top.shape[1]] = top
    page[top.shape[0]:, :bottom.shape[1]] = bottom
    reading = reader.read(page)
    assert reading.lines == [two_lines[0].text, two_lines[1].text]
    assert {digit.method for digit in reading.digits} == {"crnn"}
    assert [digit.line for digit in reading.digits] == [0] * 4 + [1] * 4
    assert reader.read(np.zeros((60, 200), np.uint8)).text == ""


@pytest.mark.slow
def test_crnn_method_reads_a_downscaled_huge_image_with_boxes_in_input_pixels(mnist):
    (_, _), (x_test, y_test) = mnist
    sequence = make_sequence(x_test[:5], y_test[:5], overlap=0.25, height=2400, rng=0)
    huge = np.zeros((5000, 6000), np.uint8)
    huge[:2400, :sequence.image.shape[1]] = sequence.image
    reading = Reader.default(method="crnn").read(huge)
    assert reading.scale < 1 and reading.text == sequence.text
    # CRNN boxes come from the alignment: approximate, but each digit's centre lies in its own ink box.
    for digit, (x, y, w, h) in zip(reading.digits, sequence.boxes):
        centre_x, centre_y = digit.box[0] + digit.box[2] / 2, digit.box[1] + digit.box[3] / 2
        assert x <= centre_x <= x + w and y <= centre_y <= y + h


@pytest.mark.slow
def test_auto_reads_a_line_of_separate_digits_above_a_line_of_touching_ones(mnist, auto_reader):
    (_, _), (x_test, y_test) = mnist
    right, by_crnn = 0, 0
    for start in range(10, 64, 6):
        top = make_sequence(x_test[start:start + 4], y_test[start:start + 4], gap=0.5, scale=2.0, rng=0)
        bottom = make_sequence(x_test[start + 4:start + 8], y_test[start + 4:start + 8], overlap=0.3, scale=2.0,
                               rng=0)
        page = np.zeros((top.image.shape[0] + bottom.image.shape[0], max(top.image.shape[1], bottom.image.shape[1])),
                        np.uint8)
        page[:top.image.shape[0], :top.image.shape[1]] = top.image
        page[top.image.shape[0]:, :bottom.image.shape[1]] = bottom.image
        reading = auto_reader.read(page)
        right += reading.lines == [top.text, bottom.text]
        by_crnn += any(digit.method == "crnn" for digit in reading.digits if digit.line == 1)
    assert right >= 8, f"{right} of 9 pages read right"
    assert by_crnn >= 5, "blobs of touching digits are read whole by the CRNN too"


def test_every_method_reads_dust_as_nothing(quick_model):
    import cv2

    image = np.zeros((120, 300), np.uint8)
    for x, y in [(30, 40), (120, 90), (250, 20)]:
        cv2.circle(image, (x, y), 1, 255, -1)
    for method in ("contours", "crnn", "auto"):
        reading = Reader(quick_model, method=method).read(image)
        assert reading.text == "" and reading.digits == [], method


@pytest.mark.slow
@pytest.mark.parametrize("light", ["a darker corner", "a shadow over half", "a shadow over three quarters",
                                   "a vignette"])
def test_photos_in_uneven_light_read_as_well_as_evenly_lit_ones(mnist, light):
    (_, _), (x_test, y_test) = mnist
    reader, rng, right = Reader.default(), np.random.default_rng(0), 0
    for index in range(20):
        chosen = rng.integers(0, len(x_test), 5)
        sequence = make_sequence(x_test[chosen], y_test[chosen], gap=0.4, scale=3.0, invert=True, rng=index)
        height, width = sequence.image.shape
        rows, columns = np.mgrid[0:height, 0:width]
        if light == "a darker corner":  # the paper falls to 35 % towards the bottom right
            brightness = 1 - 0.65 * np.clip(columns / width + rows / height - 1.0, 0, 1)
        elif light == "a vignette":  # falling from the middle to 30 % in the corners
            brightness = 1 - 1.4 * (((rows - height / 2) / height) ** 2 + ((columns - width / 2) / width) ** 2)
        else:  # the right half (or three quarters: most of the border) at 45 %, with a soft edge
            edge = 0.55 if light == "a shadow over half" else 0.25
            brightness = 1 - 0.55 / (1 + np.exp(-(columns - edge * width) / 6))
        noise = np.random.default_rng(index).normal(0, 6, brightness.shape)  # a camera's, as dark paper shows it most
        photo = np.clip(sequence.image * brightness + noise, 0, 255).astype(np.uint8)
        right += reader.read(photo).text == sequence.text
    assert right >= 18, f"{right} of 20 strings read right under {light}"


@pytest.mark.slow
@pytest.mark.parametrize("photo", ["dim", "a board under a shadow"])
def test_dim_photos_and_boards_in_a_shadow_read_as_well_as_evenly_lit_ones(mnist, photo):
    (_, _), (x_test, y_test) = mnist
    reader, rng, right = Reader.default(), np.random.default_rng(0), 0
    for index in range(20):
        chosen = rng.integers(0, len(x_test), 5)
        dim = photo == "dim"
        sequence = make_sequence(x_test[chosen], y_test[chosen], gap=0.4, scale=3.0, invert=dim, rng=index)
        noise = np.random.default_rng(index).normal(0, 1, sequence.image.shape)
        if dim:  # paper at 15 % of white, a camera's noise a quarter of that
            image = 0.15 * sequence.image + 8 * noise
        else:  # chalk on a grey board, the right half in a shadow at 45 % with a soft edge
            columns = np.arange(sequence.image.shape[1])
            shadow = 1 - 0.55 / (1 + np.exp(-(columns - sequence.image.shape[1] / 2) / 6))
            image = (70 + 0.7 * sequence.image) * shadow + 6 * noise
        right += reader.read(np.clip(image, 0, 255).astype(np.uint8)).text == sequence.text
    assert right >= 18, f"{right} of 20 strings read right, {photo}"


@pytest.mark.slow
@pytest.mark.parametrize("paper, degrees", [("ruled", 0.0), ("squared", 0.0), ("squared", 2.0), ("ruled", -6.0)],
                         ids=["ruled paper", "squared paper", "squared paper photographed turned 2 degrees",
                              "ruled paper photographed turned 6 degrees the other way"])
def test_photos_of_ruled_and_squared_paper_read_as_plain_paper_does(mnist, paper, degrees):
    from digitlab.tilt import turned
    from digitlab.unipen import rulings

    (_, _), (x_test, y_test) = mnist
    reader, rng, right = Reader.default(), np.random.default_rng(0), 0
    for index in range(20):
        chosen = rng.integers(0, len(x_test), 5)
        sequence = make_sequence(x_test[chosen], y_test[chosen], gap=0.4, scale=3.0, invert=True, rng=index)
        printed = rulings(sequence.image.shape, 60.0, rng, paper == "squared")  # a line or a square a digit
        photo = np.minimum(sequence.image, 255 * (1 - printed)).astype(np.uint8)  # the lines under the ink
        right += reader.read(turned(photo, degrees)[0]).text == sequence.text
    assert right >= 18, f"{right} of 20 strings read right on {paper} paper turned {degrees:g} degrees"


@pytest.mark.slow
def test_shipped_model_reads_the_samples():
    import json

    from digitlab.synth import SAMPLES_DIR

    reader = Reader.default()
    for entry in json.loads((SAMPLES_DIR / "samples.json").read_text()):
        assert reader.read(SAMPLES_DIR / entry["file"]).text == entry["text"], entry["file"]


def test_classify_with_and_without_shift_averaging(quick_model, five_digits):
    crops = np.stack([digit.crop for digit in Reader(quick_model, method="contours").read(five_digits.image).digits])
    alone = Reader(quick_model, average_shifts=False)
    plain, averaged = alone.classify(crops), Reader(quick_model).classify(crops)
    assert plain.shape == averaged.shape == (5, 10)
    views = [plain] + [alone.classify(np.roll(crops, shift, axis)) for shift, axis in SHIFTS]
    unsure = plain.max(axis=1) < SHIFTS_BELOW
    assert unsure.any()  # the quick model is unsure of some of them: there is something to average
    # Each unsure crop gets the mean of its five views; each sure one keeps its own reading.
    np.testing.assert_allclose(averaged, np.where(unsure[:, None], np.mean(views, axis=0), plain), atol=1e-5)


def ink_column_model(batch, training=False):
    """A stand-in CNN: sure of "1" the more ink lies to the right, so moving a crop changes its reading."""
    import tensorflow as tf

    columns = tf.reshape(tf.range(28, dtype=tf.float32), (1, 1, 28, 1))
    score = tf.reduce_sum(batch * columns, axis=(1, 2, 3)) / 10.0
    logits = tf.concat([tf.zeros_like(score)[:, None], score[:, None], tf.zeros((tf.shape(batch)[0], 8))], axis=1)
    return tf.nn.softmax(logits)


def test_thousands_of_crops_are_classified_in_calls_of_bounded_size(monkeypatch):
    calls = []

    def counting_model(batch, training=False):
        calls.append(len(batch))
        return ink_column_model(batch)

    crops = np.random.default_rng(0).random((2500, 28, 28)).astype(np.float32)
    whole = Reader(ink_column_model, average_shifts=False).classify(crops)
    monkeypatch.setattr("digitlab.reader.CROPS_PER_CALL", 1000)
    chunked = Reader(counting_model, average_shifts=False).classify(crops)
    assert calls == [1000, 1000, 500]
    np.testing.assert_allclose(chunked, whole, atol=1e-6)


def test_shift_averaging_only_for_unsure_crops():
    crops = np.zeros((3, 28, 28), np.float32)
    crops[0, 10:14, 19] = 1.0  # ink on the right: sure (99.6 %), yet not so sure that shifts would not show
    crops[1, 10:18, 6] = 0.8  # a little ink on the left: unsure
    crops[2, 10:14, 14] = 1.0  # less ink, in the middle: unsure
    plain = Reader(ink_column_model, average_shifts=False).classify(crops)
    averaged = Reader(ink_column_model).classify(crops)
    unsure = plain.max(axis=1) < SHIFTS_BELOW
    assert unsure.tolist() == [False, True, True]
    np.testing.assert_allclose(averaged[0], plain[0], atol=1e-6)  # a sure crop: one view
    # An unsure crop: the mean of its own reading and its four shifted copies'.
    shifted = np.concatenate([np.roll(crops[1:2], shift, axis) for shift, axis in SHIFTS])  # axes of a batch
    views = Reader(ink_column_model, average_shifts=False).classify(shifted)
    np.testing.assert_allclose(averaged[1], (plain[1] + views.sum(axis=0)) / 5, atol=1e-6)
    assert not np.allclose(averaged[1:], plain[1:])


def test_a_remembering_reader_classifies_only_crops_it_has_not_seen_lately():
    seen = []

    def counting_model(batch, training=False):
        seen.append(len(batch))
        return ink_column_model(batch)

    crops = np.random.default_rng(1).random((6, 28, 28)).astype(np.float32)
    reader = Reader(counting_model, average_shifts=False, remember_crops=4)
    first = reader.classify(crops[:4])
    again = reader.classify(crops[2:6])  # two seen, two new
    assert seen == [4, 2]
    alone = Reader(ink_column_model, average_shifts=False)  # the same reading, without memory
    np.testing.assert_allclose(again, np.concatenate([first[2:], alone.classify(crops[4:])]), atol=1e-6)
    reader.classify(crops[:2])  # forgotten: only the last four are remembered
    assert seen == [4, 2, 2]
    reader.forget()
    reader.classify(crops[4:])
    assert seen == [4, 2, 2, 2]


def test_a_reader_remembers_nothing_unless_asked_so_a_model_in_training_is_read_afresh():
    shift = [0.0]

    def changing_model(batch, training=False):  # its "weights" change between calls
        return ink_column_model(np.roll(batch, int(shift[0]), axis=2))

    crops = np.zeros((1, 28, 28), np.float32)
    crops[0, 10:14, 14] = 1.0
    reader = Reader(changing_model, average_shifts=False)
    before = reader.classify(crops)
    shift[0] = 8
    assert not np.allclose(reader.classify(crops), before)
    with pytest.raises(ValueError, match="remember_crops"):
        Reader(ink_column_model, remember_crops=-1)


# --- The pad's strokes -------------------------------------------------------------------------


def _relative_stroke_width(crop) -> float:
    """A crop's stroke width (ink area over skeleton length) over its ink height."""
    from digitlab.preprocess import ink_box
    from digitlab.styles import stroke_width

    return stroke_width(crop) / ink_box(crop > 0.5)[3]


def test_the_pad_is_read_as_if_drawn_with_mnists_pen_whatever_pen_was_chosen(mnist):
    from digitlab.strokes import digit_strokes, rasterize, strokes_size

    strokes = digit_strokes("0123456789", style="continental")
    size = strokes_size(strokes)
    reader = Reader(ink_column_model, method="contours", average_shifts=False)
    seen = {pen: np.stack([digit.crop for digit in reader.read_strokes(strokes, size, pen).digits])
            for pen in (3, 12, 36)}  # a hairline, a pen, a marker
    assert all(len(crops) == 10 for crops in seen.values())
    np.testing.assert_allclose(seen[3], seen[36], atol=0.05)
    np.testing.assert_allclose(seen[12], seen[36], atol=0.05)
    # ... as thick for their height as MNIST's digits are (read as an image, the hairline is under half of that)
    mnist_width = np.median([_relative_stroke_width(image / 255.0) for image in mnist[1][0][:500]])
    pad_width = np.median([_relative_stroke_width(crop) for crop in seen[12]])
    assert abs(pad_width / mnist_width - 1) < 0.2
    hairline = np.median([_relative_stroke_width(digit.crop) for digit in
                          reader.read(rasterize(strokes, size, 3)).digits])
    assert hairline < 0.5 * mnist_width


def test_small_writing_on_the_pad_reaches_the_recognizer_as_large_writing_does():
    """Digits 10-14 px tall, written small with a thin pen, are cut and normalised as the same digits 120 px tall
    are (MNIST's pen on them would be under 2 px, drawn in whole pixels); their boxes are around their ink on the pad."""
    from digitlab.strokes import digit_strokes, rasterize

    reader = Reader(ink_column_model, method="contours", average_shifts=False)

    def written(height):
        return digit_strokes("0123456789", origin=(30, 100), height=height, spacing=height / 3, style="continental")

    large = np.stack([digit.crop for digit in reader.read_strokes(written(120), (340, 1400), 14).digits])
    for height in (10, 14):
        strokes = written(height)
        reading = reader.read_strokes(strokes, (240, 800), 2)
        assert len(reading.digits) == 10
        assert np.abs(np.stack([digit.crop for digit in reading.digits]) - large).mean() < 0.05
        outside = rasterize(strokes, (240, 800), 2) > 127
        for x, y, w, h in (digit.box for digit in reading.digits):
            assert 100 - 4 <= y and y + h <= 100 + height + 4  # on the pad, around the digit
            outside[y - 2:y + h + 2, x - 2:x + w + 2] = False  # within 2 px: drawn with MNIST's thinner pen
        assert not outside.any()


def test_a_photo_written_with_a_marker_is_read_with_strokes_about_as_thin_as_a_pens():
    import cv2

    from digitlab.strokes import digit_strokes, rasterize, strokes_size

    strokes = digit_strokes("0123456789", height=120)
    size = strokes_size(strokes)
    reader = Reader(ink_column_model, method="contours", average_shifts=False)

    def ink_per_crop(pen):
        """The median number of ink pixels in the crops of ``strokes`` written with ``pen``, photographed."""
        drawn = rasterize(strokes, size, pen).astype(np.float32)
        photo = np.clip(cv2.GaussianBlur(235 - 0.8 * drawn, (0, 0), 1.0), 0, 255).astype(np.uint8)
        digits = reader.read(photo).digits
        assert len(digits) == 10
        return np.median([(digit.crop > 0.5).sum() for digit in digits])

    # A pen 12 % of the digits' height and a marker 30 %: as drawn, the marker's crops hold 1.8 times the ink.
    assert ink_per_crop(36) < 1.3 * ink_per_crop(14)


def test_the_pads_boxes_hold_the_ink_the_student_drew_with_a_thick_pen():
    from digitlab.strokes import digit_strokes, rasterize, strokes_size

    strokes = digit_strokes("17", height=100)
    size = strokes_size(strokes)
    reading = Reader(ink_column_model, method="contours", average_shifts=False).read_strokes(strokes, size, 36)
    assert len(reading.digits) == 2
    outside = rasterize(strokes, size, 36) > 127
    for x, y, w, h in (digit.box for digit in reading.digits):
        outside[y:y + h, x:x + w] = False
    assert not outside.any()


def test_mnists_pen_follows_the_digits_height_and_leaves_an_empty_pad_alone():
    from digitlab.strokes import MNIST_PEN, digit_strokes, strokes_size

    reader = Reader(ink_column_model)
    for height in (60, 180):
        strokes = digit_strokes("1704", height=height)
        widths = [reader.mnist_pen_width(strokes, strokes_size(strokes), pen) for pen in (4, 30)]
        assert widths[0] == pytest.approx(widths[1], rel=0.05)
        assert widths[0] == pytest.approx(MNIST_PEN * height, rel=0.15)
    for height in (10, 12):  # written small on the pad's 240 x 800 px, with a thin pen
        strokes = digit_strokes("1704", origin=(30, 100), height=height, spacing=height / 3)
        for pen in (2, 4):
            assert reader.mnist_pen_width(strokes, (240, 800), pen) == pytest.approx(MNIST_PEN * height, rel=0.15)
    assert reader.mnist_pen_width([], (100, 200), 14) == 14
    assert reader.read_strokes([], (100, 200), 14).text == ""


@pytest.mark.slow
@pytest.mark.parametrize("method", ["auto", "contours"])
@pytest.mark.parametrize("polarity", ["auto", "dark_on_light", "light_on_dark"])
def test_the_polarity_a_reader_is_told_for_images_leaves_a_pads_strokes_as_drawn(auto_reader, method, polarity):
    from digitlab.strokes import digit_strokes

    reader = Reader(auto_reader.model, method=method, polarity=polarity, candidate_model=auto_reader.candidate_model,
                    crnn_model=auto_reader.crnn_model)
    strokes = digit_strokes("31415", origin=(40, 60), height=110, spacing=25)
    assert reader.read_strokes(strokes, (240, 800), 14).text == "31415"
    turned = [np.asarray(stroke) @ [[1.0, -0.2], [0.2, 1.0]] + [0, 90] for stroke in strokes]  # written uphill
    assert reader.read_strokes(turned, (340, 800), 14).text == "31415"


@pytest.mark.slow
@pytest.mark.parametrize("method", ["auto", "crnn"])
def test_small_writing_on_the_pad_is_read_level_or_uphill_boxed_on_the_pad(auto_reader, method):
    from digitlab.strokes import digit_strokes, rasterize

    reader = Reader(auto_reader.model, method=method, candidate_model=auto_reader.candidate_model,
                    crnn_model=auto_reader.crnn_model)
    strokes = digit_strokes("31415926", origin=(30, 100), height=10, spacing=3, style="continental")
    uphill = [np.asarray(stroke) @ [[1.0, -0.2], [0.2, 1.0]] + [0, 90] for stroke in strokes]
    for drawn, size in [(strokes, (240, 800)), (uphill, (340, 800))]:
        reading = reader.read_strokes(drawn, size, 2)
        assert reading.text == "31415926"
        ink = rasterize(drawn, size, 2) > 127
        for x, y, w, h in (digit.box for digit in reading.digits):
            assert ink[y:y + h, x:x + w].any() and max(w, h) <= 20  # a digit's ink, in the pad's pixels


@pytest.mark.slow
@pytest.mark.parametrize("text, height, gap", [("3141\n5926", 90, 25), ("1234\n567", 100, 20), ("2026\n12 06", 80, 30)])
def test_two_lines_written_close_together_on_the_pad_read_as_two_lines(auto_reader, text, height, gap):
    from digitlab.strokes import digit_strokes, rasterize

    # Two lines fill the pad's 240 px: between them a fifth to two fifths of a digit's height.
    strokes = digit_strokes(text, origin=(30, (240 - 2 * height - gap) // 2), height=height, spacing=height // 3,
                            line_spacing=gap)
    lines = text.replace(" ", "").split("\n")
    assert auto_reader.read_strokes(strokes, (240, 800)).lines == lines
    assert auto_reader.read(255 - rasterize(strokes, (240, 800), 6)).lines == lines  # and photographed


def _written_as_people_do(lines: list[str], height: int, gap: int):
    """``lines`` of digits on the pad's 240 x 800 px, ``gap`` px apart, as people write them: wider than tall,
    each a few pixels above or below its neighbours."""
    from digitlab.strokes import digit_strokes

    lifts = (0, 3, -2, 3, -1, 2, -3, 1)
    top = (240 - 2 * height - gap) // 2
    strokes = []
    for row, text in enumerate(lines):
        for column, digit in enumerate(text):
            lift = lifts[(column + 3 * row) % len(lifts)]
            origin = (30 + 1.35 * height * column, top + row * (height + gap) + lift)
            strokes += digit_strokes(digit, origin=origin, height=height, width_ratio=1.1)
    return strokes


@pytest.mark.slow
@pytest.mark.parametrize("lines, height, gap", [(["2702", "4059"], 80, 24), (["7020", "235"], 80, 24),
                                                (["9042", "0727"], 90, 28)])
def test_two_lines_of_wide_digits_written_close_together_on_the_pad_read_as_two_lines(auto_reader, lines, height,
                                                                                       gap):
    from digitlab.strokes import rasterize

    strokes = _written_as_people_do(lines, height, gap)
    assert auto_reader.read_strokes(strokes, (240, 800)).lines == lines
    assert auto_reader.read(255 - rasterize(strokes, (240, 800), 6)).lines == lines  # and photographed


def _marked(text: str, mark: str):
    """``text`` written on the pad's 240 x 800 px, 80 px tall, with a mark a student adds around it or under it."""
    from digitlab.strokes import digit_strokes

    height, spacing = 80, 26
    width = len(text) * 0.6 * height + (len(text) - 1) * spacing
    left, top = (800 - width) / 2, 80
    right, bottom = left + width, top + height
    if mark == "frame":
        marks = [[(left - 28, top - 25), (right + 28, top - 25), (right + 28, bottom + 25), (left - 28, bottom + 25),
                  (left - 28, top - 20)]]
    elif mark == "circle":
        turn = np.linspace(1.0, 1.0 + 2.1 * np.pi, 60)
        across, up = 0.65 * width + 25 + 0.3 * height, 0.65 * height + 25
        marks = [[(400 + across * np.cos(t), 120 + up * np.sin(t)) for t in turn]]
    else:  # underlined twice
        marks = [[(left - 10, bottom + 25), (right + 10, bottom + 23)], [(left, bottom + 42), (right, bottom + 42)]]
    return digit_strokes(text, origin=(left, top), height=height, spacing=spacing) + marks


@pytest.mark.slow
@pytest.mark.parametrize("text, mark", [("31415", "frame"), ("31415", "circle"), ("31415", "underlined twice"),
                                        ("7", "frame"), ("7", "circle")])  # a line under one digit may be its bar
def test_a_number_framed_circled_or_underlined_reads_as_the_number(auto_reader, text, mark):
    from digitlab.strokes import rasterize

    strokes = _marked(text, mark)
    assert auto_reader.read_strokes(strokes, (240, 800)).text == text
    assert auto_reader.read(255 - rasterize(strokes, (240, 800), 6)).text == text  # and photographed


@pytest.mark.slow
@pytest.mark.parametrize("text", ["4096", "31415"])
@pytest.mark.parametrize("sides", ["all round", "on the left", "at the top", "all round, the sheet turned",
                                   "at the corners, the sheet turned in the frame",
                                   "at the corners, the sheet turned 12 degrees in the frame"])
@pytest.mark.parametrize("paper", ["plain", "ruled", "squared"])
def test_a_sheet_photographed_on_a_desk_reads_as_the_sheet(auto_reader, text, sides, paper):
    import cv2

    from digitlab.strokes import digit_strokes, rasterize
    from digitlab.unipen import rulings

    ink = rasterize(digit_strokes(text, origin=(120, 120), height=60, spacing=20), (300, 56 * len(text) + 240), 6)
    sheet = np.where(ink > 127, 50.0, 215.0)
    if paper != "plain":  # its lines run across the sheet to its edges, where the desk begins
        printed = rulings(sheet.shape, 60.0, np.random.default_rng(1), squared=paper == "squared")
        sheet = np.minimum(sheet, 215.0 * (1 - printed))
    rng = np.random.default_rng(0)
    for desk in (30.0, 110.0):  # dark wood, a grey table
        photo = sheet.copy()
        if sides.startswith("all round"):
            photo[:40] = photo[-40:] = photo[:, :50] = photo[:, -50:] = desk
        elif sides == "on the left":
            photo[:, :60] = desk
        elif sides == "at the top":
            photo[:50] = desk
        if "turned" in sides:  # the writing too: the reader reads it turned level
            degrees = 12 if "12 degrees" in sides else 4  # 12: its printed lines slant as its edges do
            turn = cv2.getRotationMatrix2D((photo.shape[1] / 2, photo.shape[0] / 2), degrees, 1.0)
            photo = cv2.warpAffine(photo, turn, photo.shape[::-1], borderValue=desk)
        photo = cv2.GaussianBlur(photo, (0, 0), 1.0) + rng.normal(0, 4, photo.shape)  # a camera's blur and noise
        assert auto_reader.read(np.clip(photo, 0, 255).astype(np.uint8)).text == text, f"{paper} paper, desk {desk}"


@pytest.mark.slow
@pytest.mark.parametrize("text", ["4096", "31415", "2718281"])
def test_a_sheet_photographed_askew_reads_as_the_sheet(auto_reader, text):
    from digitlab.strokes import digit_strokes, rasterize
    from digitlab.unipen import askew, on_paper

    # The sheet turned 2-8 degrees in the frame, the desk in the frame's corners or beside the sheet's sides: the
    # writing is read turned level, and neither the desk nor the photo's edge, drawn out by the turn, is ink.
    pad = rasterize(digit_strokes(text, origin=(60, 60), height=150, spacing=40), (270, 140 * len(text) + 120), 12)
    rng = np.random.default_rng(len(text))
    assert [auto_reader.read(askew(on_paper(pad, rng), rng)).text for _ in range(16)] == [text] * 16


@pytest.mark.slow
def test_a_scratch_across_a_whole_line_leaves_one_line_of_digits(mnist, auto_reader):
    # A band blank across every digit at the same height (a glare, a scratch): pieces one above the other with a gap
    # that runs past their neighbours, as between two lines, but pieces of digits, not two lines of them.
    strings = make_dataset(20, length=5, seed=305, mnist=mnist, gap=(0.2, 0.6), jitter=0.0)
    right = 0
    for sequence in strings:
        image = sequence.image.copy()
        middle = int(np.median([y + h / 2 for _, y, _, h in sequence.boxes]))
        image[middle:middle + max(1, round(0.06 * max(h for *_, h in sequence.boxes))), :] = 0
        right += auto_reader.read(image).text == sequence.text
    assert right >= 17


# --- Adversarial pages: bounded memory -------------------------------------------------------


def _reads_no_digit(crops):
    """Stands in for the candidate CNN: every crop is "not one digit"."""
    return np.tile(np.float32([0.01] * 10 + [0.9]), (len(crops), 1))


def test_a_page_of_short_bars_reaches_the_crnn_in_batches_of_bounded_pixels():
    """Rows of low bars: method "auto" has the CRNN read each row whole, a strip as wide as strips get.
    All in one batch, 289 bars read whole took 4.1 GB and aborted."""
    from digitlab.crnn.reading import MAX_BATCH_PIXELS
    from digitlab.crnn.strips import FRAME_WIDTH, STRIP_HEIGHT

    page = np.full((2048, 2048), 255, np.uint8)
    for row in range(6):
        for column in range(8):
            page[100 + 300 * row:102 + 300 * row, 60 + 240 * column:160 + 240 * column] = 0
    batches = []

    def crnn(batch, training=False):  # stand-ins for the models, which read no digit
        batches.append(batch.shape)
        logits = np.zeros((len(batch), batch.shape[2] // FRAME_WIDTH, 11), np.float32)
        logits[..., 0] = 9.0
        return logits

    reader = Reader(_reads_no_digit, crnn_model=crnn, candidate_model=_reads_no_digit, average_shifts=False)
    reader.read(page)
    assert sum(rows for rows, *_ in batches) >= 6  # every row was read whole
    assert max(rows * STRIP_HEIGHT * width for rows, _, width, _ in batches) <= MAX_BATCH_PIXELS


def test_a_hard_line_is_read_again_by_method_crnn_and_once_by_method_auto():
    """The CRNN's extra views of a hard line (its ink at other heights) mend its own readings: method "crnn"
    reads such a line twice. Method "auto" weighs the line's reading against the candidates', where the extra
    views change next to nothing: one CRNN call a page."""
    import cv2
    from digitlab.crnn.ctc import BLANK
    from digitlab.crnn.strips import FRAME_WIDTH

    page = np.zeros((120, 300), np.uint8)
    for x in (60, 140, 220):
        cv2.line(page, (x, 25), (x, 95), 255, 8)
    calls = []

    def unsure_crnn(batch, training=False):  # reads one digit "1" at about 20 %: a hard line
        calls.append(len(batch))
        logits = np.zeros((len(batch), batch.shape[2] // FRAME_WIDTH, 11), np.float32)
        logits[..., BLANK] = 9.0
        logits[:, logits.shape[1] // 2] = 0.0
        logits[:, logits.shape[1] // 2, 2] = 1.0
        return logits

    for method, model_calls in (("crnn", 2), ("auto", 1)):
        calls.clear()
        reader = Reader(_reads_no_digit, method=method, crnn_model=unsure_crnn, candidate_model=_reads_no_digit,
                        average_shifts=False)
        reader.read(page)
        assert len(calls) == model_calls, method


@pytest.mark.slow
@pytest.mark.parametrize("seed", [7, 8])
def test_a_page_of_dust_reads_no_digit_it_is_sure_of(seed):
    """3,000 specks of 2-4 px on 800x800: clumps of them are ink of a digit's size, but no pen drew them.
    Both recognizers of method "auto" learned such clutter as no digit."""
    rng = np.random.default_rng(seed)
    page = np.full((800, 800), 255, np.uint8)
    for y, x, size in zip(rng.integers(0, 796, 3000), rng.integers(0, 796, 3000), rng.integers(2, 5, 3000)):
        page[y:y + size, x:x + size] = 0
    reading = Reader.default().read(page)
    assert len(reading.unsure()) == len(reading.digits)
