"""digitlab.reader's input: paths, PIL images and arrays read alike; bad input raises documented errors."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from digitlab.preprocess import ImageError
from digitlab.reader import Reader, Reading


# --- Input forms and bad input --------------------------------------------


def test_paths_pil_and_types_read_alike(reader, five_digits, tmp_path):
    path = tmp_path / "five.png"
    Image.fromarray(five_digits.image).save(path)
    expected = reader.read(five_digits.image).text
    assert reader.read(path).text == expected
    assert reader.read(str(path)).text == expected
    assert reader.read(Image.open(path)).text == expected
    assert reader.read(five_digits.image.astype(np.uint16) * 257).text == expected
    assert reader.read(five_digits.image.astype(np.float32) / 255).text == expected
    assert reader.read(five_digits.image.astype(np.float64)).text == expected  # 0-255 floats
    assert reader.read(255 - five_digits.image).text == expected  # dark on light
    assert reader.read(np.stack([five_digits.image] * 3, axis=2)).text == expected


def test_transparent_canvas_rgba(reader, five_digits):
    rgba = np.zeros(five_digits.image.shape + (4,), np.uint8)  # black ink, alpha = ink
    rgba[..., 3] = five_digits.image
    assert reader.read(rgba).text == reader.read(five_digits.image).text


@pytest.mark.parametrize("image", [
    np.zeros((140, 280), np.uint8),                 # a blank canvas
    np.full((140, 280), 255, np.uint8),             # all ink (or all paper)
    np.full((140, 280, 4), 0, np.uint8),            # a blank transparent canvas
    np.zeros((1, 1), np.uint8),
    np.full((1, 1), 0.5, np.float32),
], ids=["blank", "all-ink", "blank-rgba", "1x1", "1x1-float"])
def test_nothing_written_reads_as_empty(reader, image):
    reading = reader.read(image)
    assert reading.text == "" and reading.digits == [] and reading.lines == []
    assert reading.annotated().shape[:2] == image.shape[:2]


def test_faint_noise_reads_as_empty(reader, rng):
    noise = np.clip(rng.normal(20, 5, (140, 280)), 0, 255).astype(np.uint8)
    assert reader.read(noise).text == ""


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_raise_a_clear_error(reader, five_digits, bad):
    image = five_digits.image.astype(np.float32)
    image[0, 0] = bad
    with pytest.raises(ImageError, match="NaN or infinite"):
        reader.read(image)


@pytest.mark.parametrize("content", [b"", b"just some text\n"])
def test_bad_files_raise_image_error(reader, tmp_path, content):
    path = tmp_path / "digits.png"
    path.write_bytes(content)
    with pytest.raises(ImageError, match="digits.png"):
        reader.read(path)


def test_truncated_png_raises_image_error(reader, five_digits, tmp_path):
    path = tmp_path / "truncated.png"
    noisy = five_digits.image ^ np.uint8(np.arange(five_digits.image.size) % 251).reshape(five_digits.image.shape)
    Image.fromarray(noisy).save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ImageError, match="truncated.png"):
        reader.read(path)


@pytest.mark.parametrize("wrong", [None, [[0, 255]], b"\x89PNG", 3.5])
def test_wrong_types_raise_type_error(reader, wrong):
    with pytest.raises(TypeError):
        reader.read(wrong)


@pytest.mark.parametrize("option, value", [("method", "segments"), ("polarity", "dark"), ("threshold", "local")])
def test_unknown_options_are_refused_when_the_reader_is_made(quick_model, option, value):
    with pytest.raises(ValueError, match=f"^{option} must be one of .*got '{value}'"):
        Reader(quick_model, **{option: value})


# --- Random arrays never crash it -----------------------------------------

DTYPES = [np.uint8, np.uint16, np.int32, np.float32, np.float64, np.bool_]


@st.composite
def random_images(draw):
    height = draw(st.integers(1, 64))
    width = draw(st.integers(1, 96))
    channels = draw(st.sampled_from([None, 1, 3, 4]))
    shape = (height, width) if channels is None else (height, width, channels)
    dtype = draw(st.sampled_from(DTYPES))
    kind = draw(st.sampled_from(["noise", "blobs", "constant", "elements"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if kind == "elements":
        return draw(hnp.arrays(dtype, shape))
    if kind == "constant":
        values = np.full(shape, rng.uniform(0, 1))
    elif kind == "noise":
        values = rng.random(shape) ** draw(st.floats(0.2, 5))
    else:
        values = np.zeros(shape)
        for _ in range(draw(st.integers(1, 6))):
            y, x = rng.integers(0, height), rng.integers(0, width)
            values[y:y + rng.integers(1, 30), x:x + rng.integers(1, 20)] = 1
    if dtype == np.bool_:
        return values > 0.5
    if np.issubdtype(dtype, np.integer):
        return (values * np.iinfo(dtype).max).astype(dtype)
    return (values * draw(st.sampled_from([1.0, 255.0, -3.0]))).astype(dtype)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image=random_images())
def test_random_arrays_read_or_raise_documented_errors(reader, image):
    try:
        reading = reader.read(image)
    except ImageError:
        assert np.issubdtype(image.dtype, np.floating) and not np.isfinite(image).all()
        return
    assert isinstance(reading, Reading)
    assert len(reading.text.replace("\n", "")) == len(reading.digits)
    for digit in reading.digits:
        x, y, w, h = digit.box
        assert 0 <= x < image.shape[1] and 0 <= y < image.shape[0] and w >= 1 and h >= 1
