"""The hand-made convolution, padding, pooling and flatten against real Keras layers."""

import keras
import numpy as np
import pytest

from digitlab import convolution


@pytest.mark.parametrize("padding", convolution.PADDING_MODES)
@pytest.mark.parametrize("kernel_size", [1, 3, 5, 7])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("input_size", [28, 13])
def test_output_size_formula_matches_keras_and_convolve(input_size, kernel_size, stride, padding):
    predicted = convolution.output_size(input_size, kernel_size, stride, padding)
    assert predicted == convolution.keras_output_size(input_size, kernel_size, stride, padding)
    image = np.ones((input_size, input_size), dtype=np.float32)
    filtered = convolution.convolve(image, convolution.box_kernel(kernel_size), stride, padding)
    assert filtered.shape == (predicted, predicted)


def test_output_size_known_values():
    assert convolution.output_size(28, 3) == 26
    assert convolution.output_size(28, 5, stride=2) == 12
    assert convolution.output_size(28, 3, padding="same") == 28
    assert convolution.output_size(28, 3, padding="full") == 30
    assert convolution.output_size(28, 5, padding=1) == 26


@pytest.mark.parametrize(
    "arguments", [(0, 3), (28, 0), (28, 3, 0), (28, 3, 1, "reflect"), (28, 3, 1, -1), (2, 5)]
)
def test_output_size_rejects_bad_arguments(arguments):
    with pytest.raises(ValueError):
        convolution.output_size(*arguments)


@pytest.mark.parametrize("name", sorted(convolution.KERNELS))
@pytest.mark.parametrize("stride", [1, 2])
def test_convolve_equals_keras_conv2d(name, stride, rng):
    weights = convolution.kernel(name)
    image = rng.random((9, 9)).astype(np.float32)
    layer = keras.layers.Conv2D(1, 3, strides=stride, use_bias=False)
    layer.build((1, 9, 9, 1))
    layer.set_weights([weights[:, :, None, None]])
    expected = np.asarray(layer(image[None, :, :, None]))[0, :, :, 0]
    np.testing.assert_allclose(convolution.convolve(image, weights, stride), expected, atol=1e-5)


def test_kernel_effects():
    flat = np.full((6, 6), 0.5, dtype=np.float32)
    # Blurs keep a flat image, edge detectors turn it to zero, identity changes nothing.
    np.testing.assert_allclose(convolution.convolve(flat, convolution.kernel("box blur")), 0.5, atol=1e-6)
    np.testing.assert_allclose(convolution.convolve(flat, convolution.kernel("edges")), 0.0, atol=1e-6)
    step = np.zeros((5, 6), dtype=np.float32)
    step[:, 3:] = 1.0  # dark left half, bright right half
    vertical = convolution.convolve(step, convolution.kernel("vertical edges"))
    assert vertical[:, 1:3].min() > 0 and vertical[:, 0].max() == 0 and vertical[:, 3].max() == 0
    np.testing.assert_allclose(convolution.convolve(step, convolution.kernel("identity")), step[1:-1, 1:-1])


def test_unknown_kernel_names_the_choices():
    with pytest.raises(ValueError, match="sharpen"):
        convolution.kernel("emboss")


def test_brightness_contrast():
    image = np.array([[0, 128, 255]], dtype=np.uint8)
    np.testing.assert_allclose(convolution.brightness_contrast(image), image / 255, atol=1e-6)
    brighter = convolution.brightness_contrast(image, brightness=0.2)
    assert brighter[0, 0] == pytest.approx(0.2) and brighter[0, 2] == 1.0
    flat = convolution.brightness_contrast(image, contrast=0.0)
    np.testing.assert_allclose(flat, 0.5)


def test_pooling_matches_keras(rng):
    image = rng.random((6, 6)).astype(np.float32)
    batch = image[None, :, :, None]
    for mode, layer in (("max", keras.layers.MaxPooling2D(2)), ("average", keras.layers.AveragePooling2D(2))):
        expected = np.asarray(layer(batch))[0, :, :, 0]
        np.testing.assert_allclose(convolution.pool(image, 2, mode=mode), expected, atol=1e-6)
    small = np.array([[1, 3], [4, 2]], dtype=np.float32)
    assert convolution.pool(small, mode="max")[0, 0] == 4
    assert convolution.pool(small, mode="average")[0, 0] == 2.5
    with pytest.raises(ValueError):
        convolution.pool(small, mode="median")


def test_flatten_and_parameter_counts_match_keras():
    feature_map = keras.Input((5, 5, 5))
    assert convolution.flattened_length((5, 5, 5)) == 125 == keras.layers.Flatten()(feature_map).shape[-1]
    layer = keras.layers.Conv2D(32, 3)
    layer.build((None, 28, 28, 1))
    assert convolution.conv_parameters(3, 1, 32) == layer.count_params() == 320
    with pytest.raises(ValueError):
        convolution.flattened_length((5, 0))


def test_describe_convolution_mentions_formula_and_keras():
    text = convolution.describe_convolution(28, 5, 2, "valid")
    assert "floor((28 + 2*0 - 5) / 2) + 1 = 12" in text and "matches Keras Conv2D: 12" in text


def test_explorers_build_widgets_and_draw(rng, capsys):
    import matplotlib

    matplotlib.use("Agg")
    image = (rng.random((28, 28)) * 255).astype(np.uint8)
    filters, sizes = convolution.filter_explorer(image), convolution.convolution_explorer(image)
    assert [child.description for child in filters.children[:3]] == ["kernel", "brightness", "contrast"]
    assert [child.description for child in sizes.children[:3]] == ["kernel", "stride", "padding"]
    capsys.readouterr()  # what interactive() drew when it was built
    # interactive() swallows exceptions in its callback, so call the callback itself.
    filters.f(kernel_name="sharpen", brightness=0.2, contrast=1.5)
    for padding in convolution.PADDING_MODES:
        sizes.f(kernel_size=5, stride=2, padding=padding)
    printed = capsys.readouterr().out
    assert printed.count("matches Keras Conv2D") == len(convolution.PADDING_MODES)
    assert "'full': floor((28 + 2*4 - 5) / 2) + 1 = 16" in printed
