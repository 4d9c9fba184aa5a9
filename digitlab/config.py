"""Settings read from the environment.

- ``DIGITLAB_QUICK=1`` (also on whenever ``CI`` is set): notebooks and demos
  shrink training and tuning to seconds. ``DIGITLAB_QUICK=0`` forces full runs.
- ``DIGITLAB_DATA``: the folder holding MNIST (see :mod:`digitlab.data`).
- ``MALLOC_ARENA_MAX`` (glibc): how many malloc arenas the process may use;
  digitlab caps it at :data:`MALLOC_ARENAS` unless you set it yourself.
"""

import ctypes
import os
import sys

_TRUE = {"1", "true", "yes", "on"}


def quick_mode() -> bool:
    """True when notebooks and demos should run their quick versions."""
    value = os.environ.get("DIGITLAB_QUICK")
    if value is not None and value.strip():
        return value.strip().lower() in _TRUE
    return bool(os.environ.get("CI", "").strip())


#: glibc gives each busy thread its own malloc arena; TensorFlow's many threads then fragment memory,
#: and a training's peak grows epoch by epoch. One arena, shared by all threads, keeps the peak lowest
#: for a few percent more CPU time (figures in ``docs/EXPERIMENTS.md``).
MALLOC_ARENAS = 1
_M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h


def cap_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Limit glibc's malloc arenas for the threads started from now on; True if it was done.

    Does nothing off Linux, without glibc, or when ``MALLOC_ARENA_MAX`` is
    already set in the environment (glibc read it at start-up).
    """
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False
