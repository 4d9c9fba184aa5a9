"""Augmentation: each random change does what it says, only in training, and survives a save."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from digitlab.augmentation import RandomAffine, RandomStrokeWidth, augmentation, grey_dilation_3x3  # noqa: E402
from digitlab.model import load_model  # noqa: E402


def _digit_one(width: int = 3) -> np.ndarray:
    """A float (1, 28, 28, 1) vertical bar in the left half: asymmetric, like a "1"."""
    image = np.zeros((1, 28, 28, 1), np.float32)
    image[0, 6:22, 8:8 + width, 0] = 1.0
    return image


def _ink(images, threshold: float = 0.5) -> np.ndarray:
    return (np.asarray(images) > threshold).reshape(len(images), -1).sum(axis=1)


def _centres(images) -> np.ndarray:
    """The (row, column) centre of mass of each image's ink."""
    images = np.asarray(images)[..., 0]
    rows, columns = np.indices(images.shape[1:])
    mass = images.sum(axis=(1, 2))
    return np.stack([(images * rows).sum(axis=(1, 2)) / mass, (images * columns).sum(axis=(1, 2)) / mass], axis=1)


def _dot() -> np.ndarray:
    """A float (1, 28, 28, 1) 4x4 square at the centre of the image."""
    image = np.zeros((1, 28, 28, 1), np.float32)
    image[0, 12:16, 12:16, 0] = 1.0
    return image


# --- Stroke width -------------------------------------------------------------


def test_random_stroke_width_thickens_and_thins_strokes():
    digit = np.repeat(_digit_one(width=3), 64, axis=0)
    layer = RandomStrokeWidth(factor=1.0, seed=1)
    strokes = np.asarray(layer(digit, training=True))
    ink, original = _ink(strokes), _ink(digit)[0]
    assert ink.max() >= 1.5 * original, "no image got thicker strokes"
    assert ink.min() <= 0.5 * original, "no image got thinner strokes"
    assert strokes.min() >= 0.0 and strokes.max() <= 1.0


def test_grey_dilation_is_a_3x3_max_pool_with_a_black_border(rng):
    images = rng.random((5, 28, 28, 1)).astype(np.float32)
    images[:, :, :3] = 0  # a black edge, as digits have
    expected = np.asarray(keras.ops.max_pool(images, pool_size=3, strides=1, padding="same"))
    np.testing.assert_array_equal(np.asarray(grey_dilation_3x3(images)), expected)
    eroded = -np.asarray(grey_dilation_3x3(-images))
    assert eroded[0, 10, 10, 0] == images[0, 9:12, 9:12, 0].min()


def test_random_stroke_width_is_identity_at_inference():
    digit = np.repeat(_digit_one(), 4, axis=0)
    np.testing.assert_array_equal(np.asarray(RandomStrokeWidth(1.0)(digit, training=False)), digit)
    with pytest.raises(ValueError, match="factor"):
        RandomStrokeWidth(1.5)


def test_random_stroke_width_survives_a_save(tmp_path):
    model = keras.Sequential([keras.Input((28, 28, 1)), RandomStrokeWidth(0.3, seed=2)])
    model.save(tmp_path / "stroke.keras")
    layer = load_model(tmp_path / "stroke.keras").layers[0]
    assert isinstance(layer, RandomStrokeWidth) and (layer.factor, layer.seed) == (0.3, 2)


# --- Rotation, zoom and shift ---------------------------------------------------


def test_random_affine_shifts_each_image_by_at_most_its_share_of_the_size():
    dots = np.repeat(_dot(), 64, axis=0)
    moved = _centres(RandomAffine(rotation_degrees=0, zoom=0, shift=0.1, seed=1)(dots, training=True))
    offsets = moved - _centres(dots)
    assert np.abs(offsets).max() <= 0.1 * 28 + 0.05
    assert np.abs(offsets).max() > 0.05 * 28, "no image moved by more than half the allowed shift"
    assert np.corrcoef(offsets[:, 0], offsets[:, 1])[0, 1] < 0.5, "rows and columns should move independently"


def test_random_affine_rotates_and_zooms_about_the_centre():
    bars = np.repeat(_digit_one(), 64, axis=0)
    rotated = RandomAffine(rotation_degrees=12, zoom=0, shift=0, seed=2)(bars, training=True)
    # The bar's centre of mass sits left of the image centre: turning about the centre moves it up or down.
    rows = _centres(rotated)[:, 0] - _centres(bars)[0, 0]
    assert rows.min() < -0.5 and rows.max() > 0.5
    dots = np.repeat(_dot(), 64, axis=0)
    zoomed = np.asarray(RandomAffine(rotation_degrees=0, zoom=0.5, shift=0, seed=3)(dots, training=True))
    np.testing.assert_allclose(_centres(zoomed), _centres(dots), atol=0.05)  # the dot stays in place
    areas = zoomed.reshape(64, -1).sum(axis=1) / _dot().sum()
    assert areas.min() < 0.5 and areas.max() > 1.5, "zooming 50 % in and out should change the area"


def test_random_affine_resamples_once_so_it_blurs_less_than_three_keras_layers():
    digits = np.repeat(_digit_one(), 32, axis=0)
    chained = keras.Sequential([
        keras.layers.RandomRotation(12 / 360, fill_mode="constant", seed=4),
        keras.layers.RandomZoom(0.12, fill_mode="constant", seed=4),
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=4),
    ])
    once = np.asarray(RandomAffine(seed=4)(digits, training=True))
    thrice = np.asarray(chained(digits, training=True))
    # Blur spreads the same ink over more, greyer pixels: fewer pixels stay nearly white.
    assert (once > 0.9).sum() > (thrice > 0.9).sum()


def test_random_affine_refuses_impossible_amounts_and_survives_a_save(tmp_path):
    for amounts in [{"rotation_degrees": -1}, {"zoom": 1.0}, {"shift": 2}]:
        with pytest.raises(ValueError, match=next(iter(amounts))):
            RandomAffine(**amounts)
    model = keras.Sequential([keras.Input((28, 28, 1)), RandomAffine(10, 0.2, 0.05, seed=7)])
    model.save(tmp_path / "affine.keras")
    layer = load_model(tmp_path / "affine.keras").layers[0]
    assert isinstance(layer, RandomAffine)
    assert (layer.rotation_degrees, layer.zoom, layer.shift, layer.seed) == (10, 0.2, 0.05, 7)


# --- All of it ------------------------------------------------------------------


def test_augmentation_keeps_shape_and_range_and_does_not_flip():
    digit = np.repeat(_digit_one(), 32, axis=0)
    augmented = np.asarray(augmentation(seed=3)(digit, training=True))
    assert augmented.shape == digit.shape
    assert augmented.min() >= 0.0 and augmented.max() <= 1.0 + 1e-6
    assert not np.allclose(augmented, digit), "training-time augmentation changed nothing"
    # The bar sits at columns 8-10; a horizontal flip would move it to 17-19.
    columns = np.arange(28)
    centres = (augmented.sum(axis=(1, 3)) * columns).sum(axis=1) / augmented.sum(axis=(1, 2, 3))
    assert centres.max() < 14, "augmentation moved ink to the mirrored side: a flip?"
    assert not any("flip" in layer.name.lower() for layer in augmentation().layers)


def test_augmentation_is_identity_at_inference():
    digit = np.repeat(_digit_one(), 4, axis=0)
    np.testing.assert_allclose(np.asarray(augmentation()(digit, training=False)), digit, atol=1e-6)
