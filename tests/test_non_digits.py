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


def _solidity(image) -> float:
    """The fraction of the ink's box the ink (above half intensity) covers."""
    ink = np.asarray(image, dtype=np.float32) > 0.5 * np.max(image)
    return float(ink[ink.any(axis=1)][:, ink.any(axis=0)].mean())


def test_clutter_is_solid_ink_of_a_digits_size_and_never_as_narrow_as_a_one(digits):
    rng = np.random.default_rng(3)
    examples = [non_digits.clutter(rng) for _ in range(100)]
    extents = np.array([_extent(example) for example in examples])
    assert np.median(extents.max(axis=1)) >= 18  # normalised as a digit: its longer side fills the 20 px box
    assert (extents[:, 1] >= non_digits.CLUTTER_NARROWEST * extents[:, 0] - 2).all()
    # Blobs, not strokes: they cover far more of their box than digits do.
    assert np.median([_solidity(example) for example in examples]) > 1.5 * np.median(
        [_solidity(image) for image in digits[0][:100]])
