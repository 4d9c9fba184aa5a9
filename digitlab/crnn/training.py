"""Training and measuring a CRNN (``digitlab train --model crnn``; notebook 08)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import keras
import numpy as np

from digitlab.crnn.ctc import ctc_loss
from digitlab.crnn.reading import read_lines
from digitlab.crnn.strings import OVERLAPPING_FRACTION, PLAIN_FRACTION, StripBatches, _white_on_black, check_fractions, damaged, training_strings
from digitlab.crnn.strips import STRIDE
from digitlab.train import QUICK_EPOCHS


# --- Training and evaluation ----------------------------------------------


def string_accuracy(model: keras.Model, strings, batch_size: int = 256) -> float:
    """Fraction of strings read exactly right (every digit, nothing extra)."""
    if len(strings) == 0:
        raise ValueError("need at least one string to measure accuracy.")
    correct = 0
    for start in range(0, len(strings), batch_size):
        chunk = strings.sequences[start:start + batch_size]
        readings = read_lines(model, [_white_on_black(sequence) for sequence in chunk])
        correct += sum(reading.text == sequence.text for reading, sequence in zip(readings, chunk))
    return correct / len(strings)


class StringAccuracy(keras.callbacks.Callback):
    """Adds ``val_string_accuracy`` (exact strings on held-out lines) to each epoch's logs."""

    def __init__(self, strings):
        super().__init__()
        self.strings = strings

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["val_string_accuracy"] = string_accuracy(self.model, self.strings)


#: Quick mode: a few hundred strings (for the epochs of digitlab.train.QUICK_EPOCHS): the loss falls, nothing more.
QUICK_STRINGS = 400


#: Each training batch is given in this many steps, its lines dealt to them in turn, and the optimizer updates
#: once per batch with their mean gradient (gradient accumulation): a step holds half a batch's activations,
#: which is what a CRNN training's peak memory grows with.
STEPS_PER_BATCH = 2


def compile_crnn(model: keras.Model, learning_rate=1e-3, steps_per_batch: int = 1) -> keras.Model:
    """Adam (gradients clipped: CTC's early gradients are large) and the CTC loss; with ``steps_per_batch``
    above 1 the optimizer adds up that many steps' gradients and updates once, with their mean."""
    optimizer = keras.optimizers.Adam(learning_rate, clipnorm=5.0,
                                      gradient_accumulation_steps=steps_per_batch if steps_per_batch > 1 else None)
    model.compile(optimizer=optimizer, loss=ctc_loss())
    return model


def _training_lines(mnist, strings: int, validation_strings: int, batch_size: int, seed: int,
                    overlapping_fraction: float, plain_fraction: float, styles: float):
    """:func:`train`'s batches of fresh training lines (``strings`` a pass) and its fixed validation lines,
    from the two sides of the CNN's validation split of MNIST's training digits; ``styles`` of the
    training digits restyled once, as the digit CNNs' are."""
    from digitlab.train import VALIDATION_SEED, split_validation

    (x_train, y_train), _ = mnist
    fit_digits, val_digits = split_validation(x_train, y_train, 5000, VALIDATION_SEED)
    if styles:
        from digitlab.styles import add_styles

        x_fit, y_fit = fit_digits
        fit_digits = (add_styles(x_fit, y_fit, styles, seed), y_fit)

    def fresh_lines(count: int, pass_index: int, chunk_index: int):
        chunk_seed = int(np.random.default_rng((seed, pass_index, chunk_index)).integers(2**31))
        return damaged(training_strings(count, seed=chunk_seed, mnist=(fit_digits, fit_digits),
                                        overlapping_fraction=overlapping_fraction, plain_fraction=plain_fraction),
                       chunk_seed)

    val_lines = training_strings(validation_strings, seed=seed + 100, mnist=(val_digits, val_digits))
    training_batches = StripBatches(fresh_lines, batch_size, shuffle=True, seed=seed, per_pass=strings, shift=STRIDE,
                                    steps_per_batch=STEPS_PER_BATCH)
    return training_batches, val_lines


def train(
    model: keras.Model,
    mnist=None,
    strings: int = 48_000,  # per epoch, new ones each time
    validation_strings: int = 1_000,
    epochs: int = 20,
    batch_size: int = 64,
    learning_rate: float = 3e-3,
    quick: bool = False,
    seed: int = 0,
    verbose: int | str = "auto",
    history_path: str | Path | None = None,
    overlapping_fraction: float = OVERLAPPING_FRACTION,
    plain_fraction: float = PLAIN_FRACTION,
    styles: float = 0.0,
) -> dict:
    """Train a CRNN on synthetic strings of MNIST *training* digits; return its history as a dict.

    The training digits are split as for the CNN, the same way for every
    seed (:func:`digitlab.train.split_validation`, ``VALIDATION_SEED``):
    each pass composes ``strings`` *new* training lines from 55,000 digits
    (:class:`StripBatches`, chunk ``k`` of pass ``p`` seeded by
    ``(seed, p, k)``), and ``validation_strings`` fixed lines come from the
    5,000 held out, so the validation figures never see a training digit.
    The test digits are left for the model card. ``overlapping_fraction``
    and ``plain_fraction`` set the training lines' mixture
    (:func:`training_strings`); the validation lines keep the default one,
    so validation figures compare across runs. ``styles`` is the fraction
    of training digits given a writing style MNIST lacks
    (:func:`digitlab.styles.add_styles`, once, seeded by ``seed``); the
    validation digits keep MNIST's. The learning rate warms up
    then decays (:func:`digitlab.train.warmup_cosine`). ``quick`` trains on
    QUICK_STRINGS lines for QUICK_EPOCHS, with fast batch-norm statistics.
    ``seed`` seeds all of the training but ``model``'s initial weights, drawn
    when it was built (:func:`digitlab.train.train` says how to seed them).
    """
    from digitlab.data import load_mnist
    from digitlab.train import (
        QUICK_BATCH_NORM_MOMENTUM, batch_norm_momentum, check_schedule, history_record, warmup_cosine,
    )

    check_schedule(epochs, learning_rate)
    check_fractions(overlapping_fraction, plain_fraction)  # before loading anything
    if mnist is None:
        mnist = load_mnist()
    keras.utils.set_random_seed(seed)
    if quick:
        strings, epochs = min(strings, QUICK_STRINGS), min(epochs, QUICK_EPOCHS)
        validation_strings = min(validation_strings, QUICK_STRINGS // 4)
    fit_data, val_lines = _training_lines(mnist, strings, validation_strings, batch_size, seed,
                                          overlapping_fraction, plain_fraction, styles)
    val_data = StripBatches(val_lines, batch_size, shuffle=False)

    # The schedule counts steps, as the optimizer's own count does (len(fit_data) is a pass's steps).
    compile_crnn(model, warmup_cosine(epochs * len(fit_data), learning_rate), fit_data.steps_per_batch)
    started = time.perf_counter()
    with batch_norm_momentum(model, QUICK_BATCH_NORM_MOMENTUM) if quick else contextlib.nullcontext():
        history = model.fit(fit_data.dataset(), validation_data=val_data.dataset(), epochs=epochs,
                            shuffle=False, verbose=verbose, callbacks=[StringAccuracy(val_lines)])
    return history_record(history, history_path, epochs=epochs, train_strings_per_epoch=strings,
                          batch_size=batch_size, steps_per_batch=fit_data.steps_per_batch,
                          validation_strings=len(val_lines), seconds=round(time.perf_counter() - started, 1))
