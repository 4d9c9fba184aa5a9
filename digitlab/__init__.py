"""digitlab: a course and a small, fast reader for handwritten digit sequences.

Importing digitlab is cheap: TensorFlow loads only when a model is needed. It
also quiets TensorFlow's start-up noise (unless you already chose otherwise),
so notebooks that import digitlab first show clean output, and caps glibc's
malloc arenas (:func:`digitlab.config.cap_malloc_arenas`) so long trainings
keep a steady peak memory.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"

from digitlab.config import cap_malloc_arenas, quick_mode  # noqa: E402

cap_malloc_arenas()

__all__ = ["__version__", "quick_mode"]
