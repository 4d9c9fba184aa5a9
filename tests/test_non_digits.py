"""Examples of "not one digit": each kind is what it says, smaller than a digit where it should be."""

from __future__ import annotations

import numpy as np
import pytest

from digitlab import non_digits


def _extent(image) -> tuple[int, int]:
    """(height, width) of the ink above a quarter intensity."""
    rows, cols = np.nonzero(np.asarray(image, dtype=np.float32) > 0.25 * np.max(image))
    return int(np.ptp(rows)) + 1, int(np.ptp(cols)) + 1


@pytest.fixture(scope="module")
def digits(mnist):
    (x_train, y_train), _ = mnist
    return x_train[:200], y_train[:200]


def test_a_piece_holds_part_of_a_digit_at_the_digits_scale(digits):
    rng = np.random.default_rng(0)
    pieces = [non_digits.digit_piece(image, rng) for image in digits[0][:50]]
    assert all(piece.shape == (28, 28) and piece.max() == pytest.approx(1.0) for piece in pieces)
    inks = np.array([piece.sum() for piece in pieces])
    wholes = np.array([image.sum() / 255.0 for image in digits[0][:50]])
    assert np.median(inks / wholes) < 0.6  # a part of the ink, not all of it
    assert np.median([_extent(piece)[0] for piece in pieces]) <= 14  # shorter than a digit's 20 px


def test_a_pair_is_two_digits_wide(digits):
    rng = np.random.default_rng(1)
    pairs = [non_digits.digit_pair(a, b, rng) for a, b in zip(digits[0][:30], digits[0][30:60])]
    widths = [_extent(pair)[1] for pair in pairs]
    heights = [_extent(pair)[0] for pair in pairs]
    assert np.median(widths) >= 18 and np.median(heights) < np.median(widths)


def test_specks_are_far_smaller_than_a_digit():
    rng = np.random.default_rng(2)
    assert all(max(_extent(non_digits.speck(rng))) <= 8 for _ in range(50))  # a digit: 20 px


def test_clutter_is_ink_of_a_digits_size_never_as_long_as_a_pen_stroke(mnist):
    rng = np.random.default_rng(3)
    examples = [non_digits.clutter(rng) for _ in range(100)]
    assert np.median([max(_extent(example)) for example in examples]) >= 18  # normalised as a digit: 20 px
    (_, _), (x_test, y_test) = mnist
    ones = [non_digits.elongation(image / 255.0) for image in x_test[y_test == 1][:400]]
    # A stroke such as a 1 is longer than every clutter blob, nineteen times in twenty.
    assert max(non_digits.elongation(example) for example in examples) < np.percentile(ones, 5)


def test_elongation_is_length_over_breadth_at_any_angle():
    import cv2

    bar = np.zeros((40, 40), np.float32)
    cv2.line(bar, (5, 5), (34, 34), 1.0, 3)
    square = np.zeros((40, 40), np.float32)
    square[10:30, 10:30] = 1.0
    assert non_digits.elongation(bar) > 5 and non_digits.elongation(square) == pytest.approx(1.0, abs=0.1)
    assert non_digits.elongation(np.zeros((40, 40), np.float32)) == 0.0


def test_with_non_digits_adds_the_eleventh_class(digits):
    images, labels = digits
    x, y = non_digits.with_non_digits(images, labels, fraction=0.5, seed=3)
    assert x.dtype == np.uint8 and x.shape == (300, 28, 28)
    assert (y[:200] == labels).all() and (y[200:] == non_digits.NOT_A_DIGIT).all()
    kinds = non_digits.non_digits(images, 400, seed=3)
    assert kinds.shape == (400, 28, 28) and kinds.dtype == np.float32
    again = non_digits.with_non_digits(images, labels, fraction=0.5, seed=3)[0]
    assert np.array_equal(x, again)  # seeded


def test_smaller_digits_stay_centred_and_shrink(digits):
    images, _ = digits
    shrunk = non_digits.smaller(images[:40], fraction=1.0, seed=4)
    before = [max(_extent(image)) for image in images[:40]]
    after = [max(_extent(image)) for image in shrunk]
    assert np.mean(after) < np.mean(before) - 1.5
    assert all(height >= 0.6 * original for height, original in zip(after, before))


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_bad_fractions_are_refused(digits, fraction):
    with pytest.raises(ValueError, match="fraction"):
        non_digits.with_non_digits(*digits, fraction=fraction)


def test_too_few_digits_are_refused():
    with pytest.raises(ValueError, match="at least 2"):
        non_digits.non_digits(np.zeros((1, 28, 28), np.uint8), 5)


@pytest.mark.training
def test_the_candidate_cnn_starts_from_a_digit_cnn_and_reports_its_rejections(tmp_path):
    from digitlab.card import read_card, save_model, write_card
    from digitlab.cli import main
    from digitlab.model import digit_cnn, load_model

    parent, out = tmp_path / "digits.keras", tmp_path / "candidate.keras"
    save_model(digit_cnn(), parent)
    write_card({"model": "digit_cnn", "epochs": 1}, parent)
    assert main(["train", "--model", "candidate_cnn", "--quick", "--init", str(parent), "--out", str(out)]) == 0
    card = read_card(out)
    assert load_model(out).output_shape[-1] == non_digits.NOT_A_DIGIT + 1
    assert len(card["fresh_layers"]) == 1  # all but the output layer came from the digit CNN
    assert 0.0 <= card["non_digit_rejection"] <= 1.0 and "non_digits" in card


@pytest.mark.training
def test_the_candidate_cnn_learns_from_as_many_non_digits_as_asked(tmp_path):
    from digitlab.card import read_card
    from digitlab.cli import main

    out = tmp_path / "candidate.keras"
    assert main(["train", "--model", "candidate_cnn", "--quick", "--non-digits", "0.1", "--out", str(out)]) == 0
    assert read_card(out)["non_digits"].startswith("10% as many examples of 'not one digit'")
