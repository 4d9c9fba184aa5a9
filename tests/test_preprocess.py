"""digitlab.preprocess: any image to grayscale ink, thresholds, and MNIST's normalisation (and digitlab.stroke_width)."""

import numpy as np
import pytest
from PIL import Image

from digitlab.paper import MIN_CONTRAST, NOISE_SIGMAS, paper_light, without_noise
from digitlab.preprocess import (
    ImageError,
    binarize,
    check_image,
    downscale,
    drawn_page,
    is_dark_on_light,
    load_image,
    normalize_digit,
    prepare,
    to_grayscale,
    to_ink,
    to_model_input,
)
from digitlab.stroke_width import MNIST_STROKE_WIDTH, ink_stroke_width, thin_ink


def stroke_image(height=40, width=60):
    """Light strokes on a dark background, as uint8."""
    image = np.zeros((height, width), np.uint8)
    image[10:30, 20:24] = 255
    return image


# --- Grayscale from any layout and type -----------------------------------


@pytest.mark.parametrize("layout", ["2d", "1", "rgb", "rgba_opaque"])
def test_grayscale_from_layouts(layout):
    base = stroke_image()
    image = {
        "2d": base,
        "1": base[..., None],
        "rgb": np.stack([base] * 3, axis=2),
        "rgba_opaque": np.dstack([base] * 3 + [np.full_like(base, 255)]),
    }[layout]
    gray = to_grayscale(image)
    assert gray.shape == base.shape and gray.dtype == np.float32
    np.testing.assert_allclose(gray, base / 255.0, atol=1e-3)


@pytest.mark.parametrize("dtype, scale", [(np.uint16, 65535), (np.float32, 1.0), (np.float64, 255.0), (bool, 1)])
def test_grayscale_from_types(dtype, scale):
    image = (stroke_image() / 255.0 * scale).astype(dtype)
    np.testing.assert_allclose(to_grayscale(image), stroke_image() / 255.0, atol=1e-3)


@pytest.mark.parametrize("ink_value", [0, 255])
def test_transparent_background_keeps_dark_and_light_strokes(ink_value):
    rgba = np.zeros((40, 60, 4), np.uint8)  # transparent, as a canvas gives it
    rgba[10:30, 20:24] = (ink_value, ink_value, ink_value, 255)
    ink = to_ink(to_grayscale(rgba))
    assert ink[20, 22] > 0.9
    assert ink[0, 0] < 0.1


def test_polarity_is_automatic():
    scan = 255 - stroke_image()  # dark ink on light paper
    assert is_dark_on_light(to_grayscale(scan))
    assert not is_dark_on_light(to_grayscale(stroke_image()))
    np.testing.assert_allclose(to_ink(to_grayscale(scan)), stroke_image() / 255.0, atol=1e-3)
    canvas = to_grayscale(stroke_image())
    np.testing.assert_array_equal(to_ink(canvas), canvas)  # light ink on black: kept as it is
    np.testing.assert_array_equal(to_ink(canvas, "light_on_dark"), canvas)
    with pytest.raises(ValueError, match="polarity"):
        to_ink(to_grayscale(scan), "sideways")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_are_refused(bad):
    image = stroke_image().astype(np.float32)
    image[3, 3] = bad
    with pytest.raises(ImageError, match="NaN or infinite"):
        check_image(image)


def test_wrong_shapes_and_types():
    with pytest.raises(ImageError, match="shape"):
        check_image(np.zeros((4, 4, 2)))
    with pytest.raises(ImageError, match="empty"):
        check_image(np.zeros((0, 5)))
    with pytest.raises(TypeError, match="dtype"):
        check_image(np.array([["a", "b"]]))
    with pytest.raises(TypeError, match="numpy array"):
        check_image([[0, 1]])
    assert issubclass(ImageError, ValueError)


# --- Thresholds -----------------------------------------------------------


@pytest.mark.parametrize("method", ["otsu", "adaptive"])
def test_blank_and_faint_noise_give_an_empty_mask(method, rng):
    assert not binarize(np.zeros((50, 50), np.float32), method).any()
    noise = np.clip(rng.normal(0.3, 0.02, (50, 50)), 0, 1).astype(np.float32)
    assert not binarize(noise, method).any()


def test_otsu_and_adaptive_find_the_stroke_under_uneven_light():
    ink = stroke_image() / 255.0 * 0.6
    ink = (ink + np.linspace(0, 0.3, ink.shape[1])[None, :]).astype(np.float32)  # a shadow
    for method in ("otsu", "adaptive"):
        mask = binarize(ink, method)
        assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
        assert mask[12:28, 21:23].all(), method
    assert not binarize(ink, "adaptive")[:, 40:].any()
    with pytest.raises(ValueError, match="threshold must be one of"):
        binarize(ink, "magic")


# --- Stroke width ---------------------------------------------------------------


def written(text="1704", pen_width=14, height=120, width_ratio=0.6, blur=1.0, pen=0.1):
    """``text`` written with ``pen_width`` as a photo, prepared: ink of brightness ``pen`` on light paper, blurred."""
    import cv2

    from digitlab.strokes import digit_strokes, rasterize, strokes_size

    strokes = digit_strokes(text, height=height, spacing=30, width_ratio=width_ratio)
    drawn = rasterize(strokes, strokes_size(strokes), pen_width).astype(np.float32) / 255.0
    gray = cv2.GaussianBlur(0.92 - (0.92 - pen) * drawn, (0, 0), blur)
    return prepare(np.clip(gray * 255.0, 0, 255).astype(np.uint8))


def test_the_stroke_width_is_the_pens_however_blurred_or_grey():
    from digitlab.strokes import rasterize

    for pen_width in (6, 14, 30):
        page = written(pen_width=pen_width)
        width = ink_stroke_width(page.ink, page.mask)
        line = rasterize([[(20, 50), (180, 50)]], size=(100, 200), pen_width=pen_width)
        inked = line[:, 100].sum() / 255.0  # how wide the pen's ink is: anti-aliasing widens it by about a pixel
        assert 0.9 * inked <= width <= 1.1 * inked, (pen_width, inked, width)
    for pen_width in (14, 30):  # a blur spreads the ink, a grey pen makes it lighter: neither makes it wider
        sharp = written(pen_width=pen_width, blur=0.5)
        for photo in (written(pen_width=pen_width, blur=3.0), written(pen_width=pen_width, pen=0.5)):
            assert ink_stroke_width(photo.ink, photo.mask) == pytest.approx(ink_stroke_width(sharp.ink, sharp.mask),
                                                                            rel=0.05)
    assert ink_stroke_width(np.zeros((50, 50), np.float32), np.zeros((50, 50), np.uint8)) == 0.0


def test_mnists_digits_measure_as_wide_for_their_height_however_large(mnist):
    """MNIST's soft-edged digits, photographed at their own size and six times larger, measure about alike (a
    threshold alone makes their enlarged soft edges look like a thicker pen)."""
    import cv2

    from digitlab.segment import segment

    def relative_width(digit, times):
        big = cv2.resize(digit, None, fx=times, fy=times, interpolation=cv2.INTER_LINEAR)
        framed = cv2.copyMakeBorder(big, *[10 * times] * 4, cv2.BORDER_CONSTANT, 0)
        page = prepare((235 - 0.8 * framed).astype(np.uint8))
        return ink_stroke_width(page.ink, page.mask) / segment(page.mask).digit_height

    digits = mnist[0][0][:200]
    small, large = (np.median([relative_width(digit, times) for digit in digits]) for times in (1, 6))
    assert large == pytest.approx(small, rel=0.1)
    assert large == pytest.approx(MNIST_STROKE_WIDTH, rel=0.1)


def test_ink_thicker_than_asked_is_thinned_and_its_mask_kept():
    from digitlab.segment import segment

    marker = written(pen_width=30)
    thinned = thin_ink(marker, 16)
    assert 12 <= ink_stroke_width(thinned.ink, thinned.mask) <= 20
    assert ink_stroke_width(marker.ink, marker.mask) > 20
    np.testing.assert_array_equal(thinned.mask, marker.mask)  # so the segmentation is the same
    assert [seg.box for seg in segment(thinned.mask).segments] == [seg.box for seg in segment(marker.mask).segments]
    pen = written(pen_width=10)
    assert thin_ink(pen, 16) is pen  # thinner strokes are left as they are
    with pytest.raises(ValueError, match="width must be positive"):
        thin_ink(pen, 0)


def test_ink_that_filled_its_loops_keeps_its_shape():
    """A marker on narrow 8s fills their loops: the ink measures wider than the pen, yet thinning takes off at
    most half the width asked, so each 8 stays one blob of ink instead of two dots."""
    import cv2

    filled = written("888", pen_width=30, height=100, width_ratio=0.45)
    assert ink_stroke_width(filled.ink, filled.mask) > 33
    thinned = binarize(thin_ink(filled, 12).ink)
    assert cv2.connectedComponents(thinned)[0] - 1 == cv2.connectedComponents(filled.mask)[0] - 1 == 3


# --- One digit as MNIST ---------------------------------------------------


def test_normalize_digit_of_a_known_crop():
    crop = np.zeros((100, 50), np.float32)
    crop[10:90, 20:30] = 0.5  # a stretched, faint 1: 80 tall, 10 wide
    digit = normalize_digit(crop)
    assert digit.shape == (28, 28) and digit.dtype == np.float32
    rows, cols = np.nonzero(digit > 0.5)
    assert rows.max() - rows.min() + 1 == 20  # the longer side fits 20 px
    assert 2 <= cols.max() - cols.min() + 1 <= 4  # aspect ratio kept: still thin
    assert digit.max() == pytest.approx(1.0)
    mass_row = (digit.sum(axis=1) * np.arange(28)).sum() / digit.sum()
    mass_col = (digit.sum(axis=0) * np.arange(28)).sum() / digit.sum()
    assert abs(mass_row - 14) <= 0.6 and abs(mass_col - 14) <= 0.6
    assert not normalize_digit(np.zeros((5, 5))).any()
    with pytest.raises(ValueError, match="2-D"):
        normalize_digit(np.zeros((2, 2, 2)))


def test_normalize_digit_reproduces_mnist(mnist):
    _, (x_test, _) = mnist
    digits = x_test[:200]
    redone = np.stack([normalize_digit(digit / 255.0) for digit in digits])
    assert np.abs(redone - digits / 255.0).mean() < 0.01


def test_to_model_input_still_works():
    batch = to_model_input(np.full((3, 28, 28), 255, np.uint8))
    assert batch.shape == (3, 28, 28, 1) and batch.max() == 1.0
    with pytest.raises(ValueError):
        to_model_input(np.zeros((2, 3, 28, 28, 2)))


# --- Loading and size -----------------------------------------------------


def test_load_image_from_paths_and_pil(tmp_path):
    path = tmp_path / "digit.png"
    Image.fromarray(stroke_image()).save(path)
    assert np.array_equal(load_image(path), stroke_image())
    assert np.array_equal(load_image(str(path)), stroke_image())
    assert np.array_equal(load_image(Image.open(path)), stroke_image())
    with pytest.raises(TypeError, match="path, a PIL image or a numpy array"):
        load_image(b"bytes")


@pytest.mark.parametrize("content", [b"", b"not an image at all\n", "truncated"])
def test_load_image_refuses_bad_files(tmp_path, content):
    path = tmp_path / "bad.png"
    if content == "truncated":
        Image.fromarray(stroke_image(400, 400) + np.uint8(np.arange(400) % 7)[:, None]).save(path)
        content = path.read_bytes()[:300]
    path.write_bytes(content)
    with pytest.raises(ImageError, match="bad.png"):
        load_image(path)
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.png")


def test_downscale_bounds_the_working_size():
    huge = np.zeros((10000, 10000), np.uint8)
    small, factor = downscale(huge, 2048)
    assert small.shape == (2048, 2048) and factor == pytest.approx(0.2048)
    same, factor = downscale(stroke_image(), 2048)
    assert same.shape == stroke_image().shape and factor == 1.0
    page = prepare(np.zeros((1, 1), np.uint8))
    assert page.mask.shape == (1, 1) and not page.mask.any()


def test_sixteen_bit_and_palette_png_files(tmp_path):
    deep = tmp_path / "deep.png"
    Image.fromarray(stroke_image().astype(np.uint16) * 257).save(deep)
    loaded = load_image(deep)
    assert loaded.dtype == np.uint16
    np.testing.assert_allclose(to_grayscale(loaded), stroke_image() / 255.0, atol=1e-3)
    palette = tmp_path / "palette.png"
    Image.fromarray(stroke_image()).convert("P").save(palette)
    np.testing.assert_allclose(to_grayscale(load_image(palette)), stroke_image() / 255.0, atol=0.02)


# --- Photos and scans as they are stored --------------------------------------


def test_a_photo_stored_sideways_is_read_upright(tmp_path):
    """Phones store portrait photos sideways with an EXIF orientation; the reader must turn them."""
    from PIL import Image

    upright_pixels = np.zeros((40, 100), np.uint8)
    upright_pixels[5:35, 10:20] = 255  # a tall bar on the left
    stored = Image.fromarray(upright_pixels).transpose(Image.Transpose.ROTATE_90)  # as the phone stores it
    exif = stored.getexif()
    exif[0x0112] = 6  # "turn 90 degrees clockwise to display"
    for name in ("photo.jpg", "photo.png"):
        stored.save(tmp_path / name, exif=exif)
        loaded = load_image(tmp_path / name)
        assert loaded.shape[:2] == (40, 100), name
        assert loaded[5:35, 10:20].mean() > 200 and loaded[:, 30:].mean() < 30, name
    assert load_image(Image.open(tmp_path / "photo.png")).shape[:2] == (40, 100)


def test_a_big_endian_16_bit_tiff_keeps_its_grey_levels(tmp_path):
    from PIL import Image

    levels = np.linspace(0, 65535, 64 * 64).astype(np.uint16).reshape(64, 64)
    Image.frombytes("I;16B", (64, 64), levels.astype(">u2").tobytes()).save(tmp_path / "scan.tif")
    assert Image.open(tmp_path / "scan.tif").mode == "I;16B"
    loaded = load_image(tmp_path / "scan.tif")
    assert loaded.dtype == np.uint16 and np.array_equal(loaded, levels)
    gray = to_grayscale(loaded)
    assert gray.min() == 0.0 and gray.max() == 1.0 and len(np.unique(gray)) > 1000  # not clipped to 0/1


@pytest.mark.parametrize("image", [
    np.float32(1000) + np.random.default_rng(0).normal(0, 1e-3, (120, 300)).astype(np.float32),
    np.random.default_rng(1).integers(1000, 1002, (120, 300)).astype(np.int32),
    np.full((120, 300), -7.5),
], ids=["float 1000 + noise", "int 1000 or 1001", "constant below 0"])
def test_a_near_uniform_image_is_blank_not_stretched_into_ink(image):
    assert to_grayscale(image).max() == 0.0
    assert not prepare(image).mask.any()


def test_grey_paper_with_one_pixel_a_hair_brighter_holds_no_ink():
    grey = np.full((120, 300), 0.5)
    grey[60, 150] += 1e-7  # a float image's rounding, not a stroke
    assert to_grayscale(grey).max() < 0.501  # kept as the grey it is, not stretched to black and white
    assert not prepare(grey).mask.any()


def test_whole_numbers_up_to_255_are_8_bit_levels_whatever_their_type():
    base = stroke_image()
    faint = (base // 4).astype(np.int64)  # a faint 8-bit image held as int64: it stays faint
    np.testing.assert_allclose(to_grayscale(faint), faint / 255.0, atol=1e-6)
    np.testing.assert_allclose(to_grayscale(base.astype(np.float64)), base / 255.0, atol=1e-6)
    signed = base.astype(np.float32) / 127.5 - 1.0  # -1 to 1: real contrast, stretched
    np.testing.assert_allclose(to_grayscale(signed), base / 255.0, atol=1e-3)


# --- Files that would cost gigabytes, or hang: refused before decoding (issue 23) -------------


def blank_png(path, width: int, height: int) -> None:
    """A valid grey PNG of ``width`` x ``height`` white pixels, compressed row by row (never held whole)."""
    import struct
    import zlib

    compressor = zlib.compressobj(1)
    row = b"\x00" + b"\xff" * width  # the row's filter byte, then its pixels
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))


def test_an_image_over_the_pixel_budget_is_refused_before_decoding(tmp_path, monkeypatch):
    """A 13000x13000 PNG is a few hundred KB, and took 2 GB or more once decoded."""
    import warnings

    from PIL import ImageFile

    from digitlab.image_files import MAX_PIXELS

    path = tmp_path / "huge.png"
    blank_png(path, 13000, 13000)
    assert path.stat().st_size < 2**20 and 13000 * 13000 > MAX_PIXELS

    def decode(image):
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", decode)
    with warnings.catch_warnings():  # PIL's own warning (over 89 million pixels) is not the test
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        opened = Image.open(path)  # the header only, as PIL opens files
    message = rf"huge.png: 13000x13000 pixels \(169 million\) is more than the {MAX_PIXELS // 10**6} million"
    for read, source in ((load_image, path), (prepare, path), (load_image, opened)):
        with pytest.raises(ImageError, match=message):
            read(source)


def test_a_large_jpeg_is_decoded_at_a_reduced_size_and_its_ink_stays_in_input_pixels(tmp_path, monkeypatch):
    from digitlab import image_files

    pixels = np.full((4100, 8200), 255, np.uint8)
    pixels[2000:2800, 4000:4400] = 0  # a dark block, in input pixels
    path = tmp_path / "photo.jpg"
    Image.fromarray(pixels).save(path, quality=90)
    decoded, decode = [], image_files._pil_to_array
    monkeypatch.setattr(image_files, "_pil_to_array", lambda image: decoded.append(image.size) or decode(image))

    page = prepare(path)
    assert decoded == [(2050, 1025)]  # a quarter of each side, by the JPEG decoder: a sixteenth of the pixels
    assert page.scale == pytest.approx(2048 / 8200)
    rows, cols = np.nonzero(page.mask)
    found = np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]) / page.scale
    np.testing.assert_allclose(found, [4000, 2000, 4400, 2800], atol=8)  # two working pixels

    # Over the budget at its own size: load_image (which gives the input's own pixels) refuses it before
    # decoding; prepare still reads it, from a sixteenth of the pixels.
    monkeypatch.setattr(image_files, "MAX_PIXELS", 10_000_000)
    decoded.clear()
    with pytest.raises(ImageError, match="photo.jpg: 8200x4100 pixels"):
        load_image(path)
    assert decoded == [] and prepare(path).mask.any() and decoded == [(2050, 1025)]


def test_a_pipe_a_device_and_a_link_loop_are_named_for_what_they_are_and_never_opened(tmp_path):
    """Reading a FIFO waits for a writer forever, /dev/zero never ends: neither may be opened."""
    import os
    import threading
    from pathlib import Path

    fifo, loop, dangling = tmp_path / "pipe.png", tmp_path / "loop.png", tmp_path / "gone.png"
    os.mkfifo(fifo)
    os.symlink(loop, loop)
    os.symlink(tmp_path / "nowhere.png", dangling)
    cases = {fifo: "pipe.png: a named pipe (FIFO), not an image file.",
             loop: "loop.png: a symbolic link that loops back on itself, not an image file.",
             dangling: "gone.png: a symbolic link to ",
             Path("/dev/zero"): "/dev/zero: a device, not an image file."}
    for path, message in cases.items():
        errors = []

        def read(path=path):
            try:
                load_image(path)
            except ImageError as error:
                errors.append(str(error))

        thread = threading.Thread(target=read, daemon=True)
        thread.start()
        thread.join(20)
        if thread.is_alive():  # it opened the pipe and waits for a writer: release it, then fail
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            pytest.fail(f"load_image({path}) waited on it")
        assert errors and message in errors[0] and "no such file" not in errors[0], (path, errors)


def test_dark_ink_is_measured_against_the_paper_under_it():
    columns = np.arange(400, dtype=np.float32)
    light = 0.9 - 0.5 / (1 + np.exp(-(columns - 200) / 6))  # the right half in a shadow (a soft edge, as in a photo)
    paper = np.tile(light, (120, 1))
    paper[30:90, 90:100] = 0.2  # a stroke in the light
    paper[30:90, 290:300] = 0.08  # a stroke in the shadow: as dark relative to its paper
    ink = to_ink(paper, "dark_on_light")
    assert ink[:20].max() < 0.1 and ink[100:].max() < 0.1  # paper is paper, lit or not
    assert ink[60, 95] > 0.7 and ink[60, 295] > 0.7
    assert abs(ink[60, 95] - ink[60, 295]) < 0.1


def from_the_middle(shape: tuple[int, int]) -> np.ndarray:
    """Each pixel's distance from the middle of an image of ``shape``, in its own proportions: 1 at the corners."""
    rows, columns = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    return np.hypot(rows / shape[0] - 0.5, columns / shape[1] - 0.5) / np.hypot(0.5, 0.5)


@pytest.mark.parametrize("power, corners", [(2, 0.4), (4, 0.2)], ids=["gently", "steeply"])
@pytest.mark.parametrize("shape", [(200, 400), (600, 300)])
def test_the_papers_light_is_followed_to_the_photos_edge_where_it_falls(shape, power, corners):
    page = 0.9 * (1 - (1 - corners) * from_the_middle(shape) ** power)  # a vignette: corners at 40 or 20 %
    assert (1 - page / paper_light(page)).max() < MIN_CONTRAST  # no part of the blank page is as dark as ink


@pytest.mark.parametrize("power, corners", [(2, 0.3), (4, 0.2)], ids=["gently", "steeply"])
@pytest.mark.parametrize("noise", [0.01, 0.03])
def test_a_blank_page_in_a_harsh_vignette_reads_as_nothing(power, corners, noise, rng, shipped_reader):
    for shape in [(480, 640), (1000, 750)]:
        page = 0.85 * (1 - (1 - corners) * from_the_middle(shape) ** power) + rng.normal(0, noise, shape)
        assert shipped_reader.read(np.clip(page, 0, 1).astype(np.float32)).text == "", shape


def shadow_across(shape: tuple[int, int], depth: float, at: float = 0.5) -> np.ndarray:
    """The light of a photo of ``shape`` with a shadow ``depth`` deep over its columns right of ``at`` (a fraction
    of its width), its edge soft as in a photo."""
    columns = np.arange(shape[1], dtype=np.float32)
    return np.tile(1 - depth / (1 + np.exp(-(columns - at * shape[1]) / 6)), (shape[0], 1))


def test_light_ink_is_measured_against_the_board_under_it():
    board = np.full((120, 400), 0.3, np.float32)
    board[30:90, 90:100] = board[30:90, 290:300] = 0.9  # chalk in the light, and in the shadow
    photo = board * shadow_across(board.shape, depth=0.5)
    ink = to_ink(photo, "light_on_dark")
    assert ink[:20].max() < 0.05 and ink[100:].max() < 0.05  # the board is board, lit or not
    mask = binarize(ink) > 0
    assert mask[30:90, 90:100].all() and mask[30:90, 290:300].all() and mask.sum() == 2 * 60 * 10


@pytest.mark.parametrize("depth", [0.3, 0.55])
@pytest.mark.parametrize("noise", [0.01, 0.02])
def test_a_blank_board_under_a_shadow_reads_as_nothing(depth, noise, rng, shipped_reader):
    for shape in [(480, 640), (300, 1000)]:
        board = 0.25 * shadow_across(shape, depth, at=0.3) + rng.normal(0, noise, shape)
        assert shipped_reader.read(np.clip(board, 0, 1).astype(np.float32)).text == "", shape


def test_a_canvas_and_mnists_digits_keep_their_ink_as_it_is(mnist):
    from digitlab.strokes import digit_strokes, rasterize, strokes_size

    (_, _), (x_test, _) = mnist
    strokes = digit_strokes("4096", height=100, spacing=30)
    for image in [*x_test[:500], rasterize(strokes, strokes_size(strokes), 8)]:  # MNIST's, and the pad's
        gray = to_grayscale(image)
        assert np.array_equal(to_ink(gray), gray) and np.array_equal(to_ink(gray, "light_on_dark"), gray)


@pytest.mark.parametrize("pen, max_side", [(6, 2048), (14, 2048), (14, 300)])
def test_a_pads_canvas_makes_the_page_prepare_makes_of_it(pen, max_side):
    from digitlab.strokes import digit_strokes, rasterize, strokes_size

    strokes = digit_strokes("31 4096\n2718", height=90, spacing=25)
    canvas = rasterize(strokes, strokes_size(strokes), pen)
    drawn, prepared = drawn_page(canvas, max_side=max_side), prepare(canvas, max_side=max_side)
    assert drawn.scale == prepared.scale == min(1.0, max_side / max(canvas.shape))
    for name in ("gray", "ink", "mask"):
        np.testing.assert_array_equal(getattr(drawn, name), getattr(prepared, name), err_msg=name)


def test_a_pads_canvas_is_ink_as_drawn_however_much_of_it_is_inked():
    from digitlab.strokes import digit_strokes, rasterize

    canvas = rasterize(digit_strokes("808", origin=(40, 10), height=200, spacing=30), (240, 800), 48)
    page = drawn_page(canvas)  # bold enough that a photo of it could be light paper with dark gaps
    np.testing.assert_array_equal(page.ink, canvas / np.float32(255))
    assert (page.mask > 0)[canvas == 255].all() and not (page.mask > 0)[canvas == 0].any()


@pytest.mark.parametrize("level", [0.12, 0.2])
def test_a_dark_photos_noise_is_smoothed_away_and_its_writing_kept(level, rng):
    import cv2

    from digitlab.strokes import digit_strokes, rasterize, strokes_size

    strokes = digit_strokes("4096", height=100, spacing=30)
    drawn = rasterize(strokes, strokes_size(strokes), 8).astype(np.float32) / 255.0
    photo = level * (0.9 - 0.7 * drawn) + rng.normal(0, 0.03, drawn.shape)  # noise a quarter of the paper's light
    mask = binarize(to_ink(np.clip(photo, 0, 1).astype(np.float32)))
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    assert count - 1 == 4, f"{count - 1} blobs: the noise left specks of ink, or the digits lost pieces"
    assert (stats[1:, cv2.CC_STAT_HEIGHT] > 90).all()


def test_smoothing_brings_a_cameras_noise_under_the_inks_contrast(rng):
    for sigma in [0.05, 0.2, 0.5]:
        noise = rng.normal(0, sigma, (400, 400)).astype(np.float32)
        smoothed = without_noise(noise, sigma)
        assert smoothed[20:-20, 20:-20].std() < 1.2 * MIN_CONTRAST / NOISE_SIGMAS, sigma
    clean = np.zeros((100, 100), np.float32)
    clean[20:80, 40:48] = 0.8
    assert np.array_equal(without_noise(clean, 0.0), clean)  # no noise, nothing smoothed


@pytest.mark.parametrize("shadowed", [0.6, 0.8], ids=["three fifths", "four fifths"])
def test_the_paper_is_light_though_a_shadow_darkens_most_of_the_border(shadowed):
    columns = np.arange(400, dtype=np.float32)
    light = 0.9 - 0.5 / (1 + np.exp(-(columns - (1 - shadowed) * 400) / 6))  # a soft edge, as in a photo
    page = np.tile(light, (120, 1))
    for column in (40, 190, 340):  # a stroke in the light, one by the shadow's edge, one deep in it
        page[30:90, column:column + 8] *= 0.1
    assert is_dark_on_light(page) and not is_dark_on_light(1 - page)  # light ink on a board, a lamp's pool on it
    mask = binarize(to_ink(page)) > 0
    assert all(mask[32:88, column + 2:column + 6].all() for column in (40, 190, 340))
    assert mask[:20].mean() < 0.01 and mask[100:].mean() < 0.01


@pytest.mark.parametrize("text", ["0", "8", "69"])
def test_a_markers_digits_are_told_light_or_dark_though_their_loops_are_narrower_than_their_strokes(text):
    from digitlab.strokes import digit_strokes, rasterize, strokes_size

    strokes = digit_strokes(text, height=100, spacing=20, width_ratio=0.5)
    drawn = rasterize(strokes, strokes_size(strokes), 30).astype(np.float32) / 255.0  # a pen 0.3 of the height
    assert not is_dark_on_light(drawn) and is_dark_on_light(1 - drawn)


def lamp_light(shape: tuple[int, int], corners: float) -> np.ndarray:
    """A desk lamp's pool of light: 1 in the middle of a photo of ``shape``, falling straight to ``corners``."""
    return 1 - (1 - corners) * from_the_middle(shape)


@pytest.mark.parametrize("text", ["1", "7"])
def test_a_digit_alone_under_a_lamps_pool_of_light_is_told_light_or_dark(text, rng):
    from digitlab.strokes import digit_strokes, rasterize, strokes_size

    strokes = digit_strokes(text, height=100, spacing=20)
    ink = rasterize(strokes, strokes_size(strokes, margin=60), 4).astype(np.float32) / 255.0
    light = lamp_light(ink.shape, corners=0.2)  # the pool's edge is darker than the digit's ink in its middle
    page, board = (0.8 - 0.55 * ink) * light, (0.2 + 0.6 * ink) * light
    page, board = (np.clip(image + rng.normal(0, 0.01, ink.shape), 0, 1) for image in (page, board))
    assert is_dark_on_light(page) and not is_dark_on_light(board)


@pytest.mark.parametrize("corners", [0.4, 0.6, 0.8])
def test_a_blank_page_under_a_lamp_is_light_paper(corners, rng):
    page = 0.85 * lamp_light((480, 640), corners) + rng.normal(0, 0.01, (480, 640))
    assert is_dark_on_light(np.clip(page, 0, 1))


@pytest.mark.parametrize("level", [0.0, 0.02, 0.05, 0.1, 0.3])
@pytest.mark.parametrize("noise", [0.01, 0.03])
def test_a_dark_photos_noise_is_not_taken_for_dark_ink(level, noise, rng):
    for shape in [(120, 160), (480, 640), (1000, 750)]:  # a blank board, or a photo taken in the dark
        assert not is_dark_on_light(np.clip(level + rng.normal(0, noise, shape), 0, 1))


def printed_page(grid: bool, shade: float, degrees: float = 0.0) -> np.ndarray:
    """A sheet of paper (0.9) with lines printed every 40 pixels, 2 wide, ``shade`` of the way to black, turned
    ``degrees`` (as in a photo taken a little turned); a grid of them if ``grid``, else rows only. Photograph it
    with :func:`photographed`."""
    import cv2

    page = np.full((200, 400), 0.9, np.float32)
    drift = np.tan(np.radians(degrees))
    for row in range(-20, 240, 40):
        cv2.line(page, (0, row), (399, round(row + 399 * drift)), 0.9 * (1 - shade), 2, cv2.LINE_AA)
    for column in range(-10, 440, 40) if grid else ():
        cv2.line(page, (column, 0), (round(column - 199 * drift), 199), 0.9 * (1 - shade), 2, cv2.LINE_AA)
    return page


def photographed(page: np.ndarray) -> np.ndarray:
    """``page`` as a camera sees it: a little blurred."""
    import cv2

    return cv2.GaussianBlur(page, (0, 0), 1.0)


@pytest.mark.parametrize("degrees", [0.0, 2.0, 3.0, 6.0, -8.0],
                         ids=["square", "turned 2 degrees", "turned 3 degrees", "turned 6 degrees",
                              "turned 8 degrees the other way"])
@pytest.mark.parametrize("grid", [False, True], ids=["ruled", "squared"])
def test_lines_printed_on_the_paper_are_paper_and_ink_across_them_is_ink(grid, degrees):
    page = printed_page(grid, shade=0.45, degrees=degrees)  # a ruling about half as dark as the pen
    page[30:130, 100:106] = 0.1  # a stroke down across two rulings
    page[150:156, 200:330] = 0.1  # a bar across the grid's columns
    ink = to_ink(photographed(page), "dark_on_light")
    mask = binarize(ink) > 0
    near_strokes = np.zeros_like(mask)
    near_strokes[27:133, 97:109] = near_strokes[147:159, 197:333] = True
    assert mask[~near_strokes].mean() < 0.002  # of the lines' 7 % of the page (squared: 14 %), a few pixels at most
    assert mask[31:129, 101:105].all() and mask[151:155, 201:329].all()
    assert ink[32:128, 102:104].min() > 0.7 and ink[152:154, 202:328].min() > 0.7  # the strokes' cores


def test_ink_as_dark_as_the_writing_across_the_whole_page_stays_ink():
    page = printed_page(grid=False, shade=0.45)
    page[30:130, 100:106] = 0.1
    page[150:156, :] = 0.1  # a 4's bar in a photo cropped to its ink, or a line drawn with the pen
    mask = binarize(to_ink(photographed(page), "dark_on_light")) > 0
    assert mask[151:155].all() and mask[31:129, 101:105].all()
    assert not mask[18:24, :90].any()  # the rulings are paper still


def on_a_desk(page: np.ndarray, sides: str, desk: float, degrees: float = 0.0, narrow: str = "") -> np.ndarray:
    """``page`` (0 to 1) laid on a desk of shade ``desk`` that shows 40 pixels wide beside each of ``sides``
    (letters of "tblr": top, bottom, left, right), 3 beside each of ``narrow`` (the photo's edge close to the
    sheet's), turned ``degrees`` on it."""
    import cv2

    widths = [40 * (side in sides) or 3 * (side in narrow) for side in "tblr"]
    photo = cv2.copyMakeBorder(page, *widths, cv2.BORDER_CONSTANT, value=desk)
    if degrees:
        turn = cv2.getRotationMatrix2D((photo.shape[1] / 2, photo.shape[0] / 2), degrees, 1.0)
        photo = cv2.warpAffine(photo, turn, photo.shape[::-1], borderValue=desk)
    return photo


def assert_ink_is_the_strokes(mask: np.ndarray, strokes: np.ndarray, stray: float) -> None:
    """Every stroke's core is ink in ``mask``, and no more than ``stray`` of the rest (3 pixels or more from a
    stroke, past the photo's blur) is: the desk and the paper are not."""
    import cv2

    near_strokes = cv2.dilate(strokes.view(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert mask[~near_strokes].mean() < stray, f"{mask[~near_strokes].sum()} pixels of desk or paper read as ink"
    assert mask[cv2.erode(strokes.view(np.uint8), np.ones((3, 3), np.uint8)) > 0].all()


@pytest.mark.parametrize("sides, desk, degrees, narrow", [("tblr", 0.1, 0.0, ""), ("tblr", 0.5, 0.0, ""),
                                                          ("l", 0.1, 0.0, ""), ("tr", 0.3, 0.0, ""),
                                                          ("tblr", 0.1, 4.0, ""), ("t", 0.1, 0.0, "l"),
                                                          ("", 0.1, 4.0, ""), ("", 0.4, 3.0, "")],
                         ids=["dark all round", "grey all round", "dark on the left", "on two sides",
                              "turned on the desk", "a narrow strip on the left", "turned in the frame",
                              "turned in the frame, a grey desk"])
def test_the_desk_a_photographed_sheet_lies_on_is_no_ink(sides, desk, degrees, narrow):
    page = np.full((200, 400), 0.85, np.float32)
    page[40:140, 100:106] = 0.1  # a stroke
    page[150:156, 200:330] = 0.1  # a bar
    strokes = on_a_desk(page, sides, 1.0, degrees, narrow) < 0.5  # where they lie in the photo
    photo = photographed(on_a_desk(page, sides, desk, degrees, narrow))
    mask = binarize(to_ink(photo)) > 0  # the polarity guessed, from a border that shows the desk
    assert_ink_is_the_strokes(mask, strokes, stray=0.001)


@pytest.mark.parametrize("sides, degrees", [("tl", 0.0), ("tblr", 2.0), ("tblr", 12.0), ("", -14.0)],
                         ids=["on two sides", "all round, turned", "all round, turned 12 degrees",
                              "turned 14 degrees in the frame"])
@pytest.mark.parametrize("grid", [False, True], ids=["ruled", "squared"])
def test_the_lines_printed_on_a_sheet_on_a_desk_are_paper_as_the_desk_is(grid, sides, degrees):
    page = printed_page(grid, shade=0.45)  # lines printed to the sheet's edges, where the desk begins
    page[30:130, 100:106] = 0.1
    page[150:156, 200:330] = 0.1
    strokes = on_a_desk((page > 0.2).astype(np.float32), sides, 1.0, degrees) < 0.5
    mask = binarize(to_ink(photographed(on_a_desk(page, sides, 0.1, degrees)))) > 0
    assert_ink_is_the_strokes(mask, strokes, stray=0.002)


@pytest.mark.parametrize("grid", [False, True], ids=["ruled", "squared"])
def test_level_lines_stay_paper_beside_a_shadow_taken_for_a_slanted_desk(grid):
    from digitlab.sheet import sheet

    page = printed_page(grid, shade=0.3)
    page[30:130, 100:106] = 0.1
    page[150:156, 200:330] = 0.1
    rows, columns = np.mgrid[0:200, 0:400]
    shadow = columns > 340 + (200 - rows) * np.tan(np.radians(25))  # over a blank corner, its edge leaning 25 degrees
    page[shadow] *= 0.45
    photo = photographed(page)
    assert sheet(photo) is not None  # the shadow looks like a desk beside a sheet turned 25 degrees
    assert_ink_is_the_strokes(binarize(to_ink(photo)) > 0, page < 0.2, stray=0.002)


@pytest.mark.parametrize("sides, degrees", [("tblr", 0.0), ("tblr", 12.0), ("lb", -5.0), ("", 14.0), ("", -9.0)],
                         ids=["all round", "all round, turned 12 degrees", "on two sides, turned the other way",
                              "turned 14 degrees in the frame", "turned 9 degrees the other way in the frame"])
def test_a_sheet_on_a_desk_slants_as_its_edges_do(sides, degrees):
    from digitlab.sheet import sheet

    found = sheet(photographed(on_a_desk(np.full((200, 400), 0.85, np.float32), sides, 0.2, degrees)))
    assert found is not None and abs(found.slant - degrees) < 1.0, found and found.slant


@pytest.mark.slow
def test_light_strokes_tangled_on_dark_make_no_sheet_on_a_desk(mnist):
    from digitlab.sheet import desk
    from digitlab.synth import benchmark_strings

    # Touching MNIST digits, white on black: filled in between their strokes, some would make a four-sided light
    # region, and the black around it would be taken for a desk.
    strings = benchmark_strings("touching 4-8, 10-40 %", 120, mnist=mnist)
    assert [s.text for s in strings if desk(to_grayscale(s.image)) is not None] == []


def test_writing_in_a_shadow_over_a_side_of_the_sheet_is_ink_as_a_desk_is_not():
    page = np.full((200, 400), 0.85, np.float32)
    page[40:140, 100:106] = 0.1
    page[:, 320:] *= 0.4  # the right fifth in a sharp shadow, as dark as a desk ...
    page[60:120, 350:356] = 0.04  # ... with a stroke in it
    mask = binarize(to_ink(photographed(page))) > 0
    assert mask[42:138, 101:105].all() and mask[62:118, 351:355].all()
    assert mask[:, 330:345].mean() < 0.01  # the shadow is paper
