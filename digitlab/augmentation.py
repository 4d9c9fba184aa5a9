"""Data augmentation: random rotation, zoom, shift and stroke width of training digits.

Taught in ``notebooks/01_mnist_and_preprocessing.ipynb`` (each change on one
digit) and used by :func:`digitlab.train.train` on every training batch, afresh
every epoch, in the input pipeline (:func:`digitlab.train.training_batches`; on
TensorFlow it runs beside the training step). Written in ``keras.ops``, it runs
on any Keras backend.
The layers are the identity at inference, and no saved classifier holds them.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

#: How far :func:`augmentation` rotates (degrees), zooms and shifts (fractions of the size), and thins or
#: thickens strokes (the strength of :class:`RandomStrokeWidth`).
ROTATION_DEGREES = 12.0
ZOOM = 0.12
SHIFT = 0.1
STROKE = 0.7


def grey_dilation_3x3(images):
    """Each pixel of a batch of (N, H, W, C) images replaced by the maximum of its 3x3 neighbourhood.

    The same as a 3x3 max-pool with stride 1 and "same" padding (zeros, the background,
    pad the edge), but as two separable maxima of shifted copies: ten times faster on a
    CPU, where pooling one channel is slow (6.7 s of CPU time per 55,000 images against
    0.7 s here).
    """
    padded = ops.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]])
    rows = ops.maximum(ops.maximum(padded[:, :-2], padded[:, 1:-1]), padded[:, 2:])
    return ops.maximum(ops.maximum(rows[:, :, :-2], rows[:, :, 1:-1]), rows[:, :, 2:])


@keras.saving.register_keras_serializable(package="digitlab")
class RandomAffine(layers.Layer):
    """Rotates, zooms and shifts each image by its own random amounts, in one resample.

    Each image gets an angle in ``[-rotation_degrees, rotation_degrees]``, a scale in
    ``[1 - zoom, 1 + zoom]`` and a shift in ``[-shift, shift]`` of its width and of its
    height, composed into one affine map about the image's centre: Keras'
    ``RandomRotation``, ``RandomZoom`` and ``RandomTranslation`` in a row would
    interpolate the image three times, and each interpolation blurs it. Outside the
    image is background (0).
    """

    def __init__(self, rotation_degrees: float = ROTATION_DEGREES, zoom: float = ZOOM, shift: float = SHIFT,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        for name, value, most in [("rotation_degrees", rotation_degrees, 180), ("zoom", zoom, 0.9),
                                  ("shift", shift, 1)]:
            if not 0 <= value <= most:
                raise ValueError(f"{name} must be in [0, {most}], got {value}.")
        self.rotation_degrees, self.zoom, self.shift, self.seed = rotation_degrees, zoom, shift, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=True):
        if not training:
            return images
        count, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]

        def uniform(spread):
            return keras.random.uniform((count,), -spread, spread, seed=self.seed_generator)

        angle = uniform(self.rotation_degrees * math.pi / 180)
        scale = 1 + uniform(self.zoom)
        shift_x, shift_y = uniform(self.shift) * width, uniform(self.shift) * height
        # The output pixel (x, y) samples the input at centre + R(angle) / scale * ((x, y) - centre - shift).
        centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
        cos, sin = ops.cos(angle) / scale, ops.sin(angle) / scale
        from_x = centre_x - cos * (centre_x + shift_x) - sin * (centre_y + shift_y)
        from_y = centre_y + sin * (centre_x + shift_x) - cos * (centre_y + shift_y)
        zeros = ops.zeros_like(cos)
        transform = ops.stack([cos, sin, from_x, -sin, cos, from_y, zeros, zeros], axis=1)
        return ops.image.affine_transform(images, transform, interpolation="bilinear", fill_mode="constant")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rotation_degrees": self.rotation_degrees, "zoom": self.zoom,
                "shift": self.shift, "seed": self.seed}


@keras.saving.register_keras_serializable(package="digitlab")
class RandomStrokeWidth(layers.Layer):
    """Randomly thins or thickens the strokes of white-on-black digits.

    Each image gets a strength ``s`` drawn from ``[-factor, factor]``: ``s > 0``
    blends towards a 3x3 grey dilation (thicker ink), ``s < 0`` towards a 3x3
    erosion (thinner ink). Drawn digits differ from MNIST mostly in stroke
    width, so this matters more for the widget than for the test set.
    """

    def __init__(self, factor: float = STROKE, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= factor <= 1:
            raise ValueError(f"factor must be in [0, 1], got {factor}.")
        self.factor = factor
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=True):
        if not training or self.factor == 0:
            return images
        thick, thin = grey_dilation_3x3(images), -grey_dilation_3x3(-images)
        strength = keras.random.uniform(
            (ops.shape(images)[0], 1, 1, 1), -self.factor, self.factor, seed=self.seed_generator
        )
        towards_thick = ops.relu(strength) * (thick - images)
        towards_thin = ops.relu(-strength) * (thin - images)
        return images + towards_thick + towards_thin

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "seed": self.seed}


def augmentation(
    rotation_degrees: float = ROTATION_DEGREES,
    shift: float = SHIFT,
    zoom: float = ZOOM,
    stroke: float = STROKE,
    seed: int | None = None,
) -> keras.Sequential:
    """Random rotation, zoom and shift (one resample), then stroke width; no flips: a flipped 2 is no digit."""
    return keras.Sequential(
        [
            RandomAffine(rotation_degrees, zoom, shift, seed=seed),
            RandomStrokeWidth(stroke, seed=seed),
        ],
        name="augmentation",
    )


def describe(stroke: float = STROKE) -> str:
    """What :func:`augmentation` does with its defaults and this stroke strength, in the words of a model card."""
    return (f"rotation {ROTATION_DEGREES:g} deg, zoom {ZOOM * 100:g} %, shift {SHIFT * 100:g} % (one resample), "
            f"stroke width +-{stroke:g}")
