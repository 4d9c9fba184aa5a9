"""What a reader remembers of the crops it classified lately, so the pad classifies only what a new stroke made.

Used by :class:`digitlab.reader.Reader` (``remember_crops``): the pad reads all its strokes again after each
new one (``notebooks/07_draw_and_read.ipynb``), and most of the candidates are the ones it has just read.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict

import numpy as np


def crop_keys(crops) -> list[bytes]:
    """One key per crop: a hash of its pixels."""
    return [hashlib.blake2b(crop.tobytes(), digest_size=16).digest() for crop in crops]


class CropMemory:
    """The probabilities of the last ``capacity`` crops each model classified, by a hash of the crop's pixels;
    safe to share between threads."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._lock = threading.Lock()
        self._by_model = weakref.WeakKeyDictionary()  # model -> OrderedDict(key -> probabilities)

    def recall(self, model, keys) -> list:
        """Each key's probabilities, or None for keys not remembered."""
        with self._lock:
            known = self._by_model.get(model, OrderedDict())
            for key in keys:
                if key in known:
                    known.move_to_end(key)  # recently used: kept the longest
            return [known.get(key) for key in keys]

    def keep(self, model, keys, rows) -> None:
        with self._lock:
            known = self._by_model.setdefault(model, OrderedDict())
            for key, row in zip(keys, rows):
                known[key] = np.array(row)  # a copy: a row alone, not a view holding its whole batch
                known.move_to_end(key)
            while len(known) > self.capacity:
                known.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._by_model.clear()
