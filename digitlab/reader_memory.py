"""What a reader remembers between reads, so that the pad redoes only what a new stroke changed.

Used by :class:`digitlab.reader.Reader`: the pad reads all its strokes again after each new one
(``notebooks/07_draw_and_read.ipynb``), and most of what it draws and classifies is what it has just drawn
and classified. :class:`CropMemory` keeps the probabilities of the crops a model classified
(``Reader(remember_crops=...)``), :class:`DrawingMemory` the canvases and strokes drawn
(:func:`digitlab.strokes.rasterize`) and the candidates cut from them (:func:`digitlab.decode.candidates`).
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict

import numpy as np

#: How many drawings a :class:`DrawingMemory` keeps (the most recent): whole canvases (a pad read draws its
#: strokes twice, with the student's pen to size MNIST's and with MNIST's, so six hold the last three reads:
#: an undo too finds its canvas), and strokes drawn alone (a few pages of them).
CANVASES_REMEMBERED = 6
STROKES_REMEMBERED = 512
#: And candidates' crops: a pad of eight digits cuts about 30 a read, so these hold the last reads', an undo's too.
CANDIDATES_REMEMBERED = 512


class RecentItems:
    """At most ``capacity`` items by key, the least recently used forgotten first; safe to share between threads."""

    def __init__(self, capacity: int):
        if capacity < 0:
            raise ValueError(f"capacity must be 0 or more, got {capacity}.")
        self.capacity, self._items, self._lock = capacity, OrderedDict(), threading.Lock()

    def recall(self, keys) -> list:
        """Each key's item, or None for keys not remembered."""
        with self._lock:
            for key in keys:
                if key in self._items:
                    self._items.move_to_end(key)  # recently used: kept the longest
            return [self._items.get(key) for key in keys]

    def keep(self, keys, items) -> None:
        with self._lock:
            for key, item in zip(keys, items):
                self._items[key] = item
                self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)


def crop_keys(crops) -> list[bytes]:
    """One key per crop: a hash of its pixels."""
    return [hashlib.blake2b(crop.tobytes(), digest_size=16).digest() for crop in crops]


class CropMemory:
    """The probabilities of the last ``capacity`` crops each model classified, by a hash of the crop's pixels;
    safe to share between threads."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._lock = threading.Lock()
        self._by_model = weakref.WeakKeyDictionary()  # model -> RecentItems(key -> probabilities)

    def recall(self, model, keys) -> list:
        """Each key's probabilities, or None for keys not remembered."""
        with self._lock:
            known = self._by_model.get(model)
        return [None] * len(keys) if known is None else known.recall(keys)

    def keep(self, model, keys, rows) -> None:
        with self._lock:
            known = self._by_model.setdefault(model, RecentItems(self.capacity))
        known.keep(keys, [np.array(row) for row in rows])  # copies: a row alone, not a view holding its batch

    def clear(self) -> None:
        with self._lock:
            self._by_model.clear()


class DrawingMemory:
    """The canvases and strokes drawn lately, and the candidates cut from them, so that drawing and reading
    nearly the same strokes again draws and cuts only the new.

    Drawing puts strokes on a canvas one after the other, so a canvas that
    holds the first strokes, drawn on, gives the very pixels of a drawing
    from scratch (:func:`digitlab.strokes.rasterize`); a stroke drawn alone
    is drawn once (:func:`digitlab.strokes.rasterize_window`); a candidate's
    crop depends on its pieces' ink alone (:func:`digitlab.decode.candidates`).
    Nothing goes stale: a drawing is remembered by its strokes' points, pens
    and canvas size, a crop by its pieces' pixels.
    At most ``canvases`` canvases, ``strokes`` strokes and ``candidates``
    crops, the least recently used forgotten first; safe to share between
    threads.
    """

    def __init__(self, canvases: int = CANVASES_REMEMBERED, strokes: int = STROKES_REMEMBERED,
                 candidates: int = CANDIDATES_REMEMBERED):
        self._canvases, self._strokes = RecentItems(canvases), RecentItems(strokes)
        self._candidates = RecentItems(candidates)

    def recall_canvas(self, size, points, widths) -> tuple[int, np.ndarray | None]:
        """How many of the first strokes (``points``, drawn with ``widths``) the remembered canvas that holds
        the most of them holds, and a copy of it to draw on; ``(0, None)`` when none does."""
        keys = _drawing_keys(size, points, widths)
        for count in range(len(keys), 0, -1):
            (canvas,) = self._canvases.recall([keys[count - 1]])
            if canvas is not None:
                return count, canvas.copy()
        return 0, None

    def keep_canvas(self, size, points, widths, image: np.ndarray) -> None:
        self._canvases.keep(_drawing_keys(size, points, widths)[-1:], [image.copy()])

    def recall_stroke(self, size, points, width: float):
        """A stroke's window and corner as :func:`digitlab.strokes.rasterize_window` drew them, or None."""
        return self._strokes.recall(_drawing_keys(size, [points], [width]))[0]

    def keep_stroke(self, size, points, width: float, drawn) -> None:
        self._strokes.keep(_drawing_keys(size, [points], [width]), [drawn])

    def candidates_cut(self, pieces, ink: np.ndarray, height: float, runs, cut) -> list[np.ndarray]:
        """The crop of each run ``(start, end)`` of ``pieces`` on ``ink``, normalised for ``height``: the one
        remembered, or ``cut(start, end)``'s, then remembered. Remembered crops are shared, read-only."""
        keys = _candidate_keys(pieces, ink, height, runs)
        crops = self._candidates.recall(keys)
        new = [index for index, crop in enumerate(crops) if crop is None]
        for index in new:
            crops[index] = cut(*runs[index])
            crops[index].flags.writeable = False  # shared with every read that recalls it
        self._candidates.keep([keys[index] for index in new], [crops[index] for index in new])
        return crops


def _candidate_keys(pieces, ink: np.ndarray, height: float, runs) -> list[bytes]:
    """A key for each run ``(start, end)`` of ``pieces`` cut from ``ink`` and normalised for ``height``: a
    hash of the height and of each piece's region, mask and the ink under its region, all a crop depends on."""
    piece_keys = []
    for piece in pieces:
        x, y, w, h = piece.region
        key = hashlib.blake2b(np.array(piece.region, dtype=np.int64).tobytes(), digest_size=16)
        key.update(piece.packed.tobytes())
        key.update(ink[y:y + h, x:x + w].tobytes())  # C order, whatever the slice's strides
        piece_keys.append(key.digest())
    height_key = np.array([height], dtype=np.float64).tobytes()
    return [hashlib.blake2b(height_key + b"".join(piece_keys[start:end]), digest_size=16).digest()
            for start, end in runs]


def _drawing_keys(size, points, widths) -> list[bytes]:
    """A key for each run of the first strokes (``points``, drawn with ``widths``) on a canvas of ``size``: a
    hash of their points and pens."""
    key = hashlib.blake2b(np.array(size, dtype=np.int64).tobytes(), digest_size=16)
    keys = []
    for stroke, width in zip(points, widths):
        key.update(np.array([len(stroke), width], dtype=np.float64).tobytes())
        key.update(stroke.tobytes())
        keys.append(key.digest())
    return keys
