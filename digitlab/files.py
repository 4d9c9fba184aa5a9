"""Writing files so that nothing is lost: a temporary file beside the target, renamed into place.

A reader of the target (a notebook, the reader, another process) sees the old
file or the new one, never half of one; a failed write leaves the old file as
it was. Model files, model cards, training histories and annotated images are
written this way.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path


def check_writable(path: str | Path) -> None:
    """Raise ``OSError`` unless a file can be written beside ``path`` (its folder is made if missing).

    For work that ends by writing (a training): checked before the work, not found out after it.
    """
    folder = Path(path).parent
    if folder.exists() and not folder.is_dir():  # mkdir would say "File exists"
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(folder))
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".digitlab-check-"):
        pass


@contextlib.contextmanager
def replaced_atomically(path: str | Path):
    """Yield a temporary path beside ``path`` to write; when the block succeeds, rename it to ``path``.

    On an error the temporary file is removed (where it can be) and the error raised; ``path`` is untouched.
    The temporary name keeps ``path``'s suffix, so writers that go by it (Keras, Pillow) still can.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        yield temporary
        temporary.replace(path)
    finally:
        with contextlib.suppress(OSError):  # renamed already, or its folder cannot be read: nothing to remove
            temporary.unlink(missing_ok=True)


def write_json(data, path: str | Path, indent: int = 2) -> None:
    """Write ``data`` as JSON to ``path`` (:func:`replaced_atomically`)."""
    with replaced_atomically(path) as temporary:
        temporary.write_text(json.dumps(data, indent=indent) + "\n")
