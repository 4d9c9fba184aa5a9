"""Training: a validation split, augmentation, a learning-rate schedule, a saved history.

Taught in ``notebooks/03_training_the_cnn.ipynb``. ``digitlab train`` calls
:func:`train` and writes the model with its model card.
"""

from __future__ import annotations

import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import keras
import numpy as np

from digitlab.files import write_json
from digitlab.augmentation import STROKE, augmentation
from digitlab.distill import distiller
from digitlab.model import compile_model
from digitlab.preprocess import to_model_input

#: Quick mode: enough to see the loss fall, in a few seconds.
QUICK_TRAIN_SIZE = 2000
QUICK_VALIDATION_SIZE = 500
QUICK_EPOCHS = 2
#: One validation split for every seed, so models trained with different seeds
#: (an ensemble's members) are all judged on images none of them saw.
VALIDATION_SEED = 0
#: Quick mode takes smaller batches (126 steps instead of 32) and lets batch
#: norm's moving averages follow faster: with the usual momentum 0.99 they
#: still hold ~70 % of their initial values after 32 steps, and a model that is
#: 85 % right in training mode is at chance level at inference.
QUICK_BATCH_SIZE = 32
QUICK_BATCH_NORM_MOMENTUM = 0.9


def training_set(x=None, y=None):
    """``x, y`` checked to match, or MNIST's training set when both are None."""
    if (x is None) != (y is None):
        raise ValueError("pass both x and y, or neither (to use MNIST's training set).")
    if x is None:
        from digitlab.data import load_mnist

        (x, y), _ = load_mnist()
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} images but y has {len(y)} labels.")
    return x, y


def split_validation(x, y, validation_size: int = 5000, seed: int = 0):
    """A seeded, shuffled split of the *training* set: ``(x_fit, y_fit), (x_val, y_val)``.

    The test set is never used to choose anything (epochs, models, settings).
    """
    if not 0 < validation_size < len(x):
        raise ValueError(f"validation_size must be between 1 and {len(x) - 1}, got {validation_size}.")
    order = np.random.default_rng(seed).permutation(len(x))
    fit, val = order[validation_size:], order[:validation_size]
    return (x[fit], y[fit]), (x[val], y[val])


def check_schedule(epochs: int, learning_rate: float) -> None:
    """Raise ``ValueError`` unless ``epochs`` is at least 1 and ``learning_rate`` a positive number.

    Every training (:func:`train`, :func:`digitlab.crnn.train`, ``digitlab train``) checks this before
    it loads anything.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}.")
    if not 0 < learning_rate < float("inf"):
        raise ValueError(f"the learning rate must be a positive number, got {learning_rate}.")


def warmup_cosine(steps: int, peak_learning_rate: float, warmup_fraction: float = 0.1):
    """Linear warm-up to ``peak_learning_rate``, then cosine decay to ~0."""
    warmup_steps = max(1, int(steps * warmup_fraction))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak_learning_rate / 20,
        decay_steps=max(1, steps - warmup_steps),
        alpha=0.01,
        warmup_target=peak_learning_rate,
        warmup_steps=warmup_steps,
    )


@contextmanager
def batch_norm_momentum(model: keras.Model, momentum: float):
    """Temporarily set the momentum of every BatchNormalization layer in ``model``."""
    layers = list(_batch_norm_layers(model))
    saved = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = momentum
    try:
        yield model
    finally:
        for layer, value in zip(layers, saved):
            layer.momentum = value


def _batch_norm_layers(model):
    for layer in getattr(model, "layers", ()):
        if isinstance(layer, keras.layers.BatchNormalization):
            yield layer
        else:
            yield from _batch_norm_layers(layer)  # nested models


def training_batches(x, y, batch_size: int, augment, seed: int):
    """Shuffled batches, scaled to [0, 1] (uint8 images) and augmented batch by batch, afresh every epoch.

    The images are held once, as one tensor; what is shuffled is their
    indices, and each batch gathers its images. (Shuffling the images
    themselves would hold a second copy in the shuffle buffer, one small
    tensor per image, and it grows from epoch to epoch.) uint8 images stay
    uint8 until a batch is scaled: a quarter of float32's memory.

    On TensorFlow (the course's backend) this is a ``tf.data`` pipeline whose
    augmentation runs compiled, beside the training step (on two cores, the
    same batches prepared in Python made a step about twice as slow). On any
    other Keras backend (JAX on a GPU machine, which has no TensorFlow) it is
    :class:`TrainingBatches`: the same kind of batches.
    """
    if keras.backend.backend() != "tensorflow":
        return TrainingBatches(x, y, batch_size, augment, seed)
    import tensorflow as tf

    images, labels = tf.constant(x), tf.constant(y)
    divisor = 255.0 if x.dtype == np.uint8 else 1.0

    def prepare(indices):
        batch = tf.cast(tf.gather(images, indices), tf.float32) / divisor
        return (batch if augment is None else augment(batch, training=True)), tf.gather(labels, indices)

    order = tf.data.Dataset.range(len(x)).shuffle(len(x), seed=seed).batch(batch_size)
    # One batch at a time, so the augmentation's random state advances in the same order in every run (batches
    # prepared in parallel draw from it in whatever order their threads come); prefetching still prepares the
    # next batch beside the training step.
    return order.map(prepare).prefetch(tf.data.AUTOTUNE)


class TrainingBatches(keras.utils.PyDataset):
    """:func:`training_batches` for any Keras backend: indices shuffled afresh every epoch, each batch gathered,
    scaled and augmented when Keras asks for it."""

    def __init__(self, x, y, batch_size: int, augment=None, seed: int = 0):
        super().__init__()
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(f"need as many labels as images, and some: got {len(x)} images, {len(y)} labels.")
        self.images, self.labels = x, np.asarray(y)
        self.batch_size, self.augment = batch_size, augment
        self.divisor = 255.0 if x.dtype == np.uint8 else 1.0
        self.shuffler = np.random.default_rng(seed)
        self.order = self.shuffler.permutation(len(x))

    def __len__(self) -> int:
        return -(-len(self.images) // self.batch_size)

    def __getitem__(self, index: int):
        indices = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        batch = self.images[indices].astype(np.float32) / self.divisor
        if self.augment is not None:
            batch = self.augment(batch, training=True)
        return batch, self.labels[indices]

    def on_epoch_end(self):
        self.order = self.shuffler.permutation(len(self.images))


def _fit_and_validation(x, y, validation_size: int, quick: bool, styles: float, non_digits: float, seed: int):
    """The digits :func:`train` fits and validates on: split, restyled, with non-digits added, as model input.

    Training digits stay uint8 until a batch is scaled (see :func:`training_batches`): a quarter of the memory.
    """
    if quick:
        validation_size = min(validation_size, QUICK_VALIDATION_SIZE)
    (x_fit, y_fit), (x_val, y_val) = split_validation(x, y, validation_size, VALIDATION_SEED)
    if quick:
        x_fit, y_fit = x_fit[:QUICK_TRAIN_SIZE], y_fit[:QUICK_TRAIN_SIZE]
    if styles:
        from digitlab.styles import add_styles

        x_fit = add_styles(x_fit, y_fit, styles, seed)
    if non_digits:
        from digitlab.non_digits import with_non_digits

        x_fit, y_fit = with_non_digits(x_fit, y_fit, non_digits, seed)
        x_val, y_val = with_non_digits(x_val, y_val, non_digits, VALIDATION_SEED + 1)
    if np.asarray(x_fit).dtype == np.uint8 and np.ndim(x_fit) == 3:
        x_fit = np.asarray(x_fit)[..., None]
    else:
        x_fit = to_model_input(x_fit)
    return ((x_fit, np.asarray(y_fit, dtype=np.int64)),
            (to_model_input(x_val), np.asarray(y_val, dtype=np.int64)))


def train(
    model: keras.Model,
    x=None,
    y=None,
    epochs: int = 20,
    batch_size: int = 128,
    learning_rate: float = 3e-3,
    validation_size: int = 5000,
    augment: bool = True,
    styles: float = 0.0,
    non_digits: float = 0.0,
    stroke_width: float = STROKE,
    label_smoothing: float = 0.0,
    teacher: keras.Model | None = None,
    quick: bool = False,
    seed: int = 0,
    history_path: str | Path | None = None,
    verbose: int | str = "auto",
    callbacks=(),
) -> dict:
    """Train ``model`` on MNIST's training set and return its history as a dict.

    ``x``/``y`` default to the MNIST training set (:func:`digitlab.data.load_mnist`);
    uint8 (N, 28, 28) images are normalised here. A seeded validation split
    of ``validation_size`` images is held out and passed to Keras. The learning
    rate warms up and then follows a cosine decay (:func:`warmup_cosine`).
    ``quick=True`` trains on 2,000 images for 2 epochs: seconds, for notebooks
    and tests (with batches of 32 and faster batch-norm statistics, see
    ``QUICK_BATCH_SIZE``). ``styles`` is the fraction of training digits
    given a writing style MNIST lacks (:func:`digitlab.styles.add_styles`,
    once, before training; validation digits stay as MNIST wrote them).
    ``non_digits`` adds that many examples of "not one digit" per training
    digit, and to the validation digits too, for a model with an 11th class
    (:func:`digitlab.non_digits.with_non_digits`). ``stroke_width`` (0 to 1)
    is how far the augmentation thins or thickens strokes
    (:class:`digitlab.augmentation.RandomStrokeWidth`). ``label_smoothing``
    softens the targets (:class:`digitlab.model.SmoothedCrossentropy`).
    With a ``teacher`` (a trained model with the same classes, such as an
    ensemble), ``model`` learns the teacher's probabilities besides the
    labels (:func:`digitlab.distill.distiller`); the teacher reads each
    augmented batch as the student sees it.
    :data:`digitlab.recipes.RECIPES` names the settings that go together.
    ``history_path`` saves the history as JSON. ``seed`` seeds the styles,
    the non-digits, the order, the augmentation and dropout (the validation
    split is the same for every seed); ``model``'s initial weights were drawn
    when it was built: seed Keras before building it
    (``keras.utils.set_random_seed``, as ``digitlab train`` does) and the
    same call trains the same network again.
    """
    check_schedule(epochs, learning_rate)
    x, y = training_set(x, y)
    keras.utils.set_random_seed(seed)

    if quick:
        epochs, batch_size = min(epochs, QUICK_EPOCHS), min(batch_size, QUICK_BATCH_SIZE)
    (x_fit, y_fit), (x_val, y_val) = _fit_and_validation(x, y, validation_size, quick, styles, non_digits, seed)
    train_size = int(len(x_fit))
    augment_model = augmentation(stroke=stroke_width, seed=seed) if augment else None
    batches = training_batches(x_fit, y_fit, batch_size, augment_model, seed)
    # The batches hold the training digits now: let the arrays go (freed unless the caller keeps them, which
    # digitlab.recipes.train_and_save does not).
    del x, y, x_fit, y_fit

    steps = epochs * int(np.ceil(train_size / batch_size))
    schedule = warmup_cosine(steps, learning_rate)
    compile_model(model, schedule, label_smoothing)  # a distilled model too: it is evaluated like any other
    fitted = model if teacher is None else compile_model(distiller(teacher, model), schedule, label_smoothing)
    started = time.perf_counter()
    with batch_norm_momentum(model, QUICK_BATCH_NORM_MOMENTUM) if quick else nullcontext():
        history = fitted.fit(
            batches,
            validation_data=(x_val, y_val),
            shuffle=False,  # the dataset shuffles itself
            epochs=epochs,
            verbose=verbose,
            callbacks=list(callbacks),
        )
    return history_record(history, history_path, epochs=epochs, train_size=train_size,
                          validation_size=int(len(x_val)), styles=styles, non_digits=non_digits,
                          stroke_width=stroke_width, label_smoothing=label_smoothing,
                          seconds=round(time.perf_counter() - started, 1))


def history_record(history: keras.callbacks.History, path=None, **fields) -> dict:
    """A Keras ``History`` as plain numbers (a list per metric) with ``fields`` added; written as JSON to
    ``path`` (beside the model) unless it is None."""
    record = {key: [float(value) for value in values] for key, values in history.history.items()} | fields
    if path is not None:
        write_json(record, path, indent=1)
    return record
