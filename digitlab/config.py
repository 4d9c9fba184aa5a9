"""Settings read from the environment.

- ``DIGITLAB_QUICK=1`` (also on whenever ``CI`` is set): notebooks and demos
  shrink training and tuning to seconds. ``DIGITLAB_QUICK=0`` forces full runs.
- ``DIGITLAB_DATA``: the folder holding MNIST (see :mod:`digitlab.data`).
"""

import os

_TRUE = {"1", "true", "yes", "on"}


def quick_mode() -> bool:
    """True when notebooks and demos should run their quick versions."""
    value = os.environ.get("DIGITLAB_QUICK")
    if value is not None and value.strip():
        return value.strip().lower() in _TRUE
    return bool(os.environ.get("CI", "").strip())
