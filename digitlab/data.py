"""MNIST without surprises: find it, verify it, read it.

Taught in ``notebooks/01_mnist_and_preprocessing.ipynb``.

:func:`load_mnist` looks for the four standard idx files in this order:

1. the ``path`` argument;
2. the folder named by the environment variable ``DIGITLAB_DATA``;
3. ``data/mnist/`` in the repository (where downloads go);
4. a download from public mirrors, tried in turn, into ``data/mnist/``.

Every file is checked against the sha256 of its *unpacked* contents, so a
gzipped and a plain copy of the same file are both accepted, and a truncated
or corrupted one is refused with a message that names it.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab.files import check_writable

# --- The dataset ----------------------------------------------------------

ENV_VAR = "DIGITLAB_DATA"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = REPO_ROOT / "data" / "mnist"

#: sha256 of the unpacked idx files (the standard MNIST release).
CHECKSUMS = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
FILES = tuple(CHECKSUMS)

#: Public mirrors of the gzipped files, tried in order.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

# idx magic numbers: 0x00000801 (labels, 1 dim), 0x00000803 (images, 3 dims).
_IDX_UBYTE = 0x08


class DataError(RuntimeError):
    """The MNIST files are missing, incomplete or not what they claim to be."""


# --- The idx format -------------------------------------------------------


#: The largest idx file of MNIST, unpacked: the 60,000 training images. A header that promises more is no
#: MNIST file (an 8 MB gzip bomb unpacks to gigabytes): it is refused before its contents are read.
MAX_IDX_BYTES = 16 + 60000 * 28 * 28


def idx_shape(header: bytes, name: str = "<bytes>") -> tuple[int, ...]:
    """The shape an idx header (its first 4 + 4 * dimensions bytes, or more) declares.

    The header is two zero bytes, a type byte (``0x08`` for uint8), the number
    of dimensions, then one big-endian uint32 per dimension. Raises
    :class:`DataError` naming ``name`` if it is wrong, or declares more than
    :data:`MAX_IDX_BYTES`.
    """
    if len(header) < 4:
        raise DataError(f"{name}: {len(header)} bytes is too short for an idx header.")
    zero, dtype_code, ndim = struct.unpack(">HBB", header[:4])
    if zero != 0 or dtype_code != _IDX_UBYTE or ndim not in (1, 3):
        raise DataError(
            f"{name}: bad idx magic number 0x{header[:4].hex()} "
            "(expected 00000801 for labels or 00000803 for images)."
        )
    if len(header) < 4 + 4 * ndim:
        raise DataError(f"{name}: truncated header ({len(header)} bytes).")
    shape = struct.unpack(f">{ndim}I", header[4:4 + 4 * ndim])
    if 4 + 4 * ndim + int(np.prod(shape, dtype=np.int64)) > MAX_IDX_BYTES:
        raise DataError(f"{name}: the header says shape {shape}, larger than any MNIST file: not MNIST.")
    return shape


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode an unpacked idx file of unsigned bytes into an array (:func:`idx_shape` reads its header).

    Raises :class:`DataError` naming ``name`` if the header or the length is wrong.
    """
    shape = idx_shape(raw, name)
    header_size = 4 + 4 * len(shape)
    expected = header_size + int(np.prod(shape, dtype=np.int64))
    if len(raw) != expected:
        raise DataError(
            f"{name}: the header says shape {shape}, which needs {expected} bytes, "
            f"but the file has {len(raw)} (truncated or padded)."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def read_unpacked(path: Path) -> bytes:
    """Return the contents of the idx file ``path``, gunzipping it if it is gzipped.

    Read as a stream, never more than its header says (:func:`idx_shape`) and
    one byte: a file that is no idx file, or says it is larger than any MNIST
    file, or goes on past what its header says (a gzip bomb), fails at once
    with :class:`DataError`, in bounded memory. A short one is returned as it
    is, for its checksum to refuse.
    """
    path = Path(path)
    with path.open("rb") as file:
        packed = file.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open(path, "rb") if packed else path.open("rb")) as stream:
            header = stream.read(4)
            header += stream.read(4 * header[3]) if len(header) == 4 else b""
            shape = idx_shape(header, str(path))
            body = stream.read(int(np.prod(shape, dtype=np.int64)))
            if stream.read(1):
                raise DataError(f"{path}: longer than its header says (shape {shape}): "
                                f"{'a damaged gzip file, or ' if packed else ''}not an MNIST file.")
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: {'damaged gzip file' if packed else 'cannot read it'} ({error}).") from error
    return header + body


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- Finding the files ----------------------------------------------------


def _file_in(folder: Path, name: str) -> Path | None:
    """The gzipped or plain copy of ``name`` in ``folder``, if any."""
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def candidate_dirs(path: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """The folders :func:`load_mnist` searches, in order, with where each came from."""
    places = []
    if path is not None:
        places.append(("path argument", Path(path).expanduser()))
    if os.environ.get(ENV_VAR):
        places.append((f"${ENV_VAR}", Path(os.environ[ENV_VAR]).expanduser()))
    places.append(("repository data/mnist", DEFAULT_DIR))
    return places


@dataclass(frozen=True)
class Location:
    """Where the MNIST files were found and how that place was chosen."""

    folder: Path
    source: str
    files: dict  # name -> Path


def find_mnist(path: str | os.PathLike | None = None) -> Location | None:
    """The first searched folder that holds all four files, or ``None``.

    An explicit ``path`` (or ``$DIGITLAB_DATA``) that is set but incomplete is
    an error rather than a reason to look elsewhere: the user asked for it.
    """
    for source, folder in candidate_dirs(path):
        files = {name: _file_in(folder, name) for name in FILES}
        if all(files.values()):
            return Location(folder, source, files)
        if source != "repository data/mnist":
            missing = [name for name, found in files.items() if found is None]
            raise DataError(
                f"{source} points at {folder}, which lacks {', '.join(missing)} "
                "(plain or .gz). Put the four MNIST idx files there, or unset it "
                f"to use {DEFAULT_DIR} (run `digitlab data download`)."
            )
    return None


def require_mnist(path: str | os.PathLike | None = None) -> Location:
    """:func:`find_mnist`'s folder, or a :class:`DataError` that says where it looked and how to fix it."""
    location = find_mnist(path)
    if location is None:
        raise DataError(_not_found_message(path))
    return location


def _not_found_message(path) -> str:
    """One line: where MNIST was looked for and how to get it."""
    return (
        f"{_not_found(path)}. Fix: run `digitlab data download`, or set ${ENV_VAR} to a folder holding "
        "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
        "t10k-labels-idx1-ubyte (plain or .gz)."
    )


def _not_found(path) -> str:
    """A message's start: MNIST not found in the folders :func:`find_mnist` searched, each with its source."""
    return "MNIST not found in " + ", ".join(f"{folder} ({source})" for source, folder in candidate_dirs(path))


def verify_file(path: Path, name: str) -> np.ndarray:
    """Read, checksum and parse one file; raise :class:`DataError` naming it."""
    raw = read_unpacked(path)
    digest = sha256(raw)
    if digest != CHECKSUMS[name]:
        raise DataError(
            f"{path}: sha256 of the unpacked contents is {digest[:12]}..., expected "
            f"{CHECKSUMS[name][:12]}... The file is truncated or corrupted: delete it "
            "and run `digitlab data download`, or point $DIGITLAB_DATA at a good copy."
        )
    return parse_idx(raw, str(path))


# --- Downloading ----------------------------------------------------------


def download_mnist(
    folder: str | os.PathLike | None = None,
    mirrors: tuple[str, ...] | None = None,
    progress: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Download the four files into ``folder``, verifying each.

    Each file goes to a temporary name in ``folder`` and is renamed only after
    its checksum matches, so an interrupted download leaves nothing behind,
    not even the folder when this call made it and no file arrived.
    Mirrors (default :data:`MIRRORS`) are tried in turn; if none works,
    :class:`DataError` lists them. ``folder`` defaults to ``data/mnist/``.
    """
    folder = Path(folder) if folder is not None else DEFAULT_DIR
    mirrors = mirrors if mirrors is not None else MIRRORS
    made_here = not folder.exists()
    check_writable(folder / FILES[0])  # a folder that cannot be written fails now, not after the first download
    try:
        _download_each(folder, mirrors, timeout, progress)
    except DataError:
        if made_here and not any(folder.iterdir()):
            folder.rmdir()
        raise
    return folder


def _download_each(folder: Path, mirrors: tuple[str, ...], timeout: float, progress: bool) -> None:
    """:func:`download_mnist`'s work: each of the four files not already there, from the first mirror that works."""
    for name in FILES:
        target = folder / f"{name}.gz"
        if _is_verified(target, name):
            continue
        errors = []
        for mirror in mirrors:
            url = mirror + f"{name}.gz"
            try:
                _fetch(url, target, name, timeout, progress)
                break
            except (OSError, urllib.error.URLError, DataError) as error:
                errors.append(f"{url}: {error}")
        else:
            raise DataError(
                f"could not download {name}.gz from any of {len(mirrors)} mirrors ({'; '.join(errors)}). "
                f"Without a network, copy the four MNIST files into a folder and set ${ENV_VAR} to it."
            )


def _is_verified(target: Path, name: str) -> bool:
    """Whether ``target`` holds MNIST file ``name`` already; a damaged copy is removed."""
    if not target.is_file():
        return False
    try:
        verify_file(target, name)
        return True
    except DataError:
        target.unlink()
        return False


def _fetch(url: str, target: Path, name: str, timeout: float, progress: bool) -> None:
    """Download ``url`` to a temporary file beside ``target``, verify it as ``name``, rename it into place."""
    from tqdm.auto import tqdm

    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=name, disable=not progress) as bar:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    bar.update(len(chunk))
        verify_file(Path(temporary), name)
        Path(temporary).replace(target)
    finally:
        Path(temporary).unlink(missing_ok=True)


# --- Loading --------------------------------------------------------------


def load_mnist(
    path: str | os.PathLike | None = None, download: bool = True
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load MNIST as ``(x_train, y_train), (x_test, y_test)`` uint8 arrays.

    Shapes are (60000, 28, 28), (60000,), (10000, 28, 28), (10000,); pixels
    are 0 (background) to 255 (ink). See the module docstring for where it
    looks. With ``download=False`` a missing dataset raises instead.
    """
    location = find_mnist(path)
    if location is None and download:
        try:
            download_mnist(DEFAULT_DIR)
        except DataError as error:
            raise DataError(f"{_not_found(path)}, and {error}") from error
    location = location or require_mnist(path)
    arrays = {name: verify_file(file, name) for name, file in location.files.items()}
    x_train, y_train = arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]
    x_test, y_test = arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"]
    return (x_train, y_train), (x_test, y_test)


#: The halves of MNIST's test set. Its first 5,000 digits come from NIST SD-3 writers, the last 5,000 from
#: SD-1 writers (none of them wrote training digits). The development half is the first 2,500 of each block:
#: choose rules and models there. The benchmark half is the other 2,500 of each: report figures there.
TEST_HALVES = {"development": ((0, 2500), (5000, 7500)), "benchmark": ((2500, 5000), (7500, 10000))}


def test_half(mnist, half: str):
    """``mnist`` (``load_mnist()``'s result) with its test digits cut to one of :data:`TEST_HALVES`.

    The training digits are unchanged. Used by ``benchmarks/read_bench.py``:
    choosing on one half and reporting on the other keeps the reported
    figures free of choices made on them, on writers no model trained on.
    """
    if half not in TEST_HALVES:
        raise ValueError(f"half must be one of {sorted(TEST_HALVES)}, got {half!r}.")
    train, (x_test, y_test) = mnist
    if len(x_test) != 10000:
        raise ValueError(f"expected MNIST's 10,000 test digits, got {len(x_test)}.")
    index = np.concatenate([np.arange(start, stop) for start, stop in TEST_HALVES[half]])
    return train, (x_test[index], y_test[index])


def mnist_sha256(path: str | os.PathLike | None = None) -> dict:
    """Checksums of the unpacked files in use, for model cards."""
    location = require_mnist(path)
    return {name: sha256(read_unpacked(file)) for name, file in location.files.items()}

