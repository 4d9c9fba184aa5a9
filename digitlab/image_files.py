"""Image files to numpy arrays, in bounded memory: a file's kind and size are checked before any pixel is decoded.

Step 1 of :mod:`digitlab.preprocess` (which re-exports :func:`load_image`, :class:`ImageError` and the
rest), taught in ``notebooks/06_segmenting_sequences.ipynb``.

- :func:`open_image`: a path or a binary file opened lazily (PIL reads the header only). Folders, named
  pipes, devices and symbolic-link loops are named for what they are and never opened (reading a FIFO
  waits for a writer forever, ``/dev/zero`` never ends); an image over :data:`MAX_PIXELS` is refused
  before it is decoded.
- :func:`load_scaled`: its pixels, a large JPEG decoded at 1/2 to 1/8 of its size (PIL's ``draft``) when
  that still leaves ``max_side`` pixels on its longer side, and the factor that was used;
- :func:`load_image`: its pixels at the input's own size.

Photos are turned upright as their EXIF orientation says. :class:`ImageError` (a ``ValueError``) says
in one line why a file cannot be read.
"""

from __future__ import annotations

import errno
import math
import os
import stat
import warnings
from pathlib import Path

import numpy as np

from digitlab.reading import PartlyRead

#: The most pixels an image may have to be decoded, checked from its header. Decoded, a PNG of
#: 13000x13000 px (a few hundred KB of file) takes over 2 GB: PIL's copy, numpy's, and the bytes between.
#: 40 million (a 600 dpi A4 scan has 35) at 4 bytes a pixel (RGBA, float) keep a whole read within
#: 1.2 GB with TensorFlow and the models (about 0.65 GB): ``benchmarks/memory_bench.py``. Reading
#: works at 2048 px at most anyway (:data:`digitlab.preprocess.MAX_WORKING_SIDE`).
MAX_PIXELS = 40_000_000
#: Pixels copied from PIL to numpy at a time: ``np.asarray`` of a whole image holds it twice more on the
#: way (PIL's ``tobytes`` makes chunks, then joins them): 320 MB more for 40 million RGBA pixels.
BAND_PIXELS = 2**20
#: The EXIF tag that says how a photo must be turned to stand upright (1: as stored).
EXIF_ORIENTATION = 0x0112


class ImageError(ValueError):
    """An image cannot be read: not an image file, empty, truncated, too large, or NaN/inf pixels."""


class NotAnImageError(ImageError):
    """A file that is no image PIL can identify (a PDF, a text file)."""


class FirstFrameOnly(PartlyRead):
    """An animation or a multi-page file: only its first frame (page) is read."""


# --- Before decoding ----------------------------------------------------------

#: Kinds of path that are no image file, as ``os.stat`` tells them, with their names in messages.
_NOT_FILES = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a device"),
              (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))


def check_path(path: Path) -> None:
    """Raise :class:`ImageError` unless ``path`` is a regular, non-empty file (links followed). Never opens it."""
    try:
        status = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise ImageError(f"{path}: a symbolic link to {os.readlink(path)}, which does not exist.") from None
        raise ImageError(f"{path}: no such file.") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ImageError(f"{path}: a symbolic link that loops back on itself, not an image file.") from None
        raise ImageError(f"{path}: cannot look at it ({error.strerror}).") from None
    for is_kind, kind in _NOT_FILES:
        if is_kind(status.st_mode):
            raise ImageError(f"{path}: {kind}, not an image file.")
    if status.st_size == 0:
        raise ImageError(f"{path}: the file is empty.")


def check_size(size: tuple[int, int], name: str) -> None:
    """Raise :class:`ImageError` if an image of ``size`` (width, height) is over :data:`MAX_PIXELS`."""
    width, height = size
    if width * height > MAX_PIXELS:
        raise ImageError(f"{name}: {width}x{height} pixels ({width * height / 1e6:.0f} million) is more than the "
                         f"{MAX_PIXELS / 1e6:.0f} million this reader decodes; scale it down first.")


def open_image(source, name: str | None = None, max_side: int | None = None):
    """A PIL image of a path (str or Path) or a binary file, with only its header read.

    Its kind (:func:`check_path`) and its size (:func:`check_size`; a JPEG at the size :func:`load_scaled`
    with ``max_side`` decodes it) are checked first. ``name`` (the path by default) goes in messages.
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, (str, os.PathLike)):
        source = Path(source)
        check_path(source)
        name = name or str(source)
    name = name or str(getattr(source, "name", "the image"))
    try:
        with warnings.catch_warnings():  # our own MAX_PIXELS is lower than PIL's warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(source)
    except UnidentifiedImageError:
        raise NotAnImageError(f"{name}: not an image file (PIL cannot identify it).") from None
    except Image.DecompressionBombError:  # over twice PIL's own limit, which is over ours
        raise ImageError(f"{name}: more than {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} million pixels, far more than "
                         f"the {MAX_PIXELS / 1e6:.0f} million this reader decodes; scale it down first.") from None
    except PermissionError as error:
        raise ImageError(f"{name}: cannot open it ({error.strerror}).") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"{name}: cannot decode the image ({error}).") from error
    check_size(decoded_size(image, max_side), name)
    return image


def _draft_request(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """The size to ask PIL's ``draft`` for: ``size`` shrunk so its longer side is ``max_side``."""
    factor = max_side / max(size)
    return max(1, math.ceil(size[0] * factor)), max(1, math.ceil(size[1] * factor))


def _draft_scale(image, max_side: int | None) -> int:
    """How many times smaller PIL's ``draft`` decodes a JPEG ``image`` for ``max_side``, as PIL chooses it
    (8, 4, 2 or 1: never below what was asked); 1 for other images, and for JPEGs under 2 ``max_side``."""
    if not max_side or image.format not in ("JPEG", "MPO") or max(image.size) < 2 * max_side:
        return 1
    request = _draft_request(image.size, max_side)
    ratio = min(image.size[0] // request[0], image.size[1] // request[1])
    return next(scale for scale in (8, 4, 2, 1) if ratio >= scale)


def decoded_size(image, max_side: int | None = None) -> tuple[int, int]:
    """The (width, height) a PIL ``image``, its header read, decodes at in :func:`load_scaled`."""
    scale = _draft_scale(image, max_side)
    return -(-image.size[0] // scale), -(-image.size[1] // scale)


# --- Decoding -----------------------------------------------------------------


def load_image(source) -> np.ndarray:
    """A numpy array from a path (str or Path), a PIL image or an array, at the input's own size.

    Raises :class:`ImageError` for a missing, empty, truncated, non-image or too large file (over
    :data:`MAX_PIXELS`, refused before decoding), or a path that is no file (a folder, a FIFO, a device,
    a link loop), and :class:`TypeError` for anything else (a list, None, bytes). Arrays are returned as
    they are (no copy).
    """
    return load_scaled(source)[0]


def load_scaled(source, max_side: int | None = None) -> tuple[np.ndarray, float]:
    """:func:`load_image`, but a JPEG whose longer side is at least twice ``max_side`` is decoded at 1/2,
    1/4 or 1/8 of its size (whichever leaves at least ``max_side``). Returns the array and the factor
    used (decoded size / input size, 1.0 for everything else): a 12000x9000 photo decodes to 3000x2250
    directly, in a sixteenth of the memory."""
    if isinstance(source, np.ndarray):
        return source, 1.0
    if isinstance(source, (str, os.PathLike)):
        with open_image(source, max_side=max_side) as image:
            return _decode(image, str(source), max_side)
    from PIL import Image

    if isinstance(source, Image.Image):
        return _decode(source, getattr(source, "filename", "") or "the image", max_side)
    raise TypeError(
        f"expected an image path, a PIL image or a numpy array, got {type(source).__name__}."
    )


def _decode(image, name: str, max_side: int | None) -> tuple[np.ndarray, float]:
    """The pixels of a PIL ``image`` (decoded here unless it was already), JPEGs drafted for ``max_side``."""
    from PIL import Image

    factor = 1.0
    if _draft_scale(image, max_side) > 1:
        width = image.size[0]
        drafted = image.draft(None, _draft_request(image.size, max_side))  # None once decoded: no effect
        if drafted is not None:
            factor = drafted[1][2] / width  # its box: the input's width over the scale
    check_size(image.size, name)
    try:
        return _pil_to_array(image), factor
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ImageError(f"{name}: cannot decode the image ({error}).") from error


def upright(image):
    """A PIL image turned as its EXIF orientation says (phones store portrait photos sideways).

    An image already upright is returned as it is, without a copy.
    """
    from PIL import ImageOps

    if image.getexif().get(EXIF_ORIENTATION, 1) in (0, 1):
        return image
    return ImageOps.exif_transpose(image)


def _pil_to_array(image) -> np.ndarray:
    """An upright array of a PIL image: modes kept as they are (L, RGB, RGBA, F, 16-bit grey in
    native byte order); the rest become RGBA or RGB.

    Warns with :class:`FirstFrameOnly` for an animated GIF or a multi-page TIFF, of which only the
    first frame is read."""
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        warnings.warn(f"the image has {frames} frames (an animation or several pages): only the first is read.",
                      FirstFrameOnly, stacklevel=2)
    image = upright(image)
    if image.mode in ("1", "L", "F", "RGB", "RGBA"):
        return _as_array(image)
    if image.mode.startswith("I;16"):  # big- or little-endian 16-bit grey: keep all 65,536 levels
        return _as_array(image, dtype=np.uint16)
    if image.mode == "I":
        return _as_array(image, dtype=np.float32)
    has_alpha = image.mode in ("LA", "PA", "La") or "transparency" in image.info
    return _as_array(image, "RGBA" if has_alpha else "RGB")


def _as_array(image, mode: str | None = None, dtype=None) -> np.ndarray:
    """The pixels of a PIL ``image`` (converted to ``mode``, then to ``dtype``, if given) as one array,
    filled :data:`BAND_PIXELS` at a time (the image is decoded here if it was not yet)."""
    width, height = image.size
    rows = max(1, BAND_PIXELS // max(1, width))
    pixels = None
    for top in range(0, height, rows):
        band = image.crop((0, top, width, min(height, top + rows)))
        band = np.asarray(band.convert(mode) if mode else band)
        band = band.astype(dtype) if dtype is not None else band
        if pixels is None:
            pixels = np.empty((height, *band.shape[1:]), band.dtype)
        pixels[top:top + len(band)] = band
    return pixels if pixels is not None else np.asarray(image)
