"""From any image to what the CNN expects.

Taught in ``notebooks/01_mnist_and_preprocessing.ipynb`` and
``notebooks/06_segmenting_sequences.ipynb``.
"""

from __future__ import annotations

import numpy as np


def to_model_input(images: np.ndarray) -> np.ndarray:
    """MNIST-style uint8 digits (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1]."""
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None]
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] != 1:
        raise ValueError(f"expected (N, 28, 28) or (N, 28, 28, 1) images, got shape {images.shape}.")
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    return images.astype(np.float32)
