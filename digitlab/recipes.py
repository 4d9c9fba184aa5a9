"""Training recipes: the settings that go together, and how to train a model, measure it, save it with its card.

What ``digitlab train`` and ``digitlab ensemble`` run, one function per kind
of model; the card's shared fields come from :mod:`digitlab.card`. Importing
it loads no TensorFlow (``digitlab --help`` lists :data:`RECIPES`).
Taught in ``notebooks/03_training_the_cnn.ipynb``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from digitlab.card import card_path, provenance, read_card, save_model, validation_split, write_card


@dataclass(frozen=True)
class Recipe:
    """Settings of :func:`digitlab.train.train` that belong together: how long, how fast, how soft the targets."""

    epochs: int
    learning_rate: float
    label_smoothing: float = 0.0

    def __str__(self) -> str:
        return (f"{self.epochs} epochs, peak learning rate {self.learning_rate:g}, "
                f"label smoothing {self.label_smoothing:g}")


#: ``digitlab train --recipe``. "standard" trains long, for the last tenths of a percent (the shipped CNNs'
#: members: 30 epochs). "fast" trains :func:`digitlab.model.fast_cnn` to about the baseline's full accuracy
#: (99.45 %) in three epochs: a peak learning rate three times higher over the same warm-up and cosine decay,
#: with smoothed targets (``benchmarks/train_speed.py``; each choice measured in docs/EXPERIMENTS.md).
RECIPES = {
    "standard": Recipe(epochs=20, learning_rate=3e-3),
    "fast": Recipe(epochs=3, learning_rate=1e-2, label_smoothing=0.1),
}


def initialisation_fields(card: dict, start_card: dict, fresh_layers) -> dict:
    """The fields of a card whose model started from another (``digitlab train --init``): the starting
    model's card, the layers that started fresh, the epochs of both, and a warning when the two held
    out different validation digits."""
    fields = {
        "total_epochs": start_card.get("total_epochs", start_card["epochs"]) + card["epochs"],
        "initialised_from": start_card,
        "fresh_layers": list(fresh_layers),
    }
    if start_card.get("validation_split") != card.get("validation_split"):
        fields["validation_note"] = (
            "started from a model that held out other validation digits, so some of this run's validation "
            "digits were training digits there: validation figures can be optimistic (test figures are not)"
        )
    return fields


def _styles_words(fraction: float, seed: int) -> str:
    """A card's ``styles``: how many training digits :func:`digitlab.styles.add_styles` restyled, and its seed."""
    return f"{fraction:.0%} of training digits restyled once (digitlab.styles.add_styles, seed {seed})"


def _test_fields(model, out, x_test, y_test) -> dict:
    """The head of a digit classifier's card: its name, file and MNIST test accuracy."""
    from digitlab.evaluate import test_accuracy

    return {
        "model": model.name,
        "file": Path(out).name,
        "test_accuracy": round(test_accuracy(model, x_test, y_test), 6),
        "test_images": int(len(x_test)),
    }


def train_and_save(model, out, epochs, quick, seed, learning_rate, command, verbose="auto", styles=0.0,
                   non_digits=0.0, stroke_width=None, label_smoothing=0.0, started_from=None, teacher=None,
                   teacher_path=None, teacher_card=None) -> dict:
    """Train on MNIST, save the model and its card, return the card.

    ``non_digits`` (for :func:`digitlab.model.candidate_cnn`) adds examples of
    "not one digit"; the card then also says how many such examples made
    from *test* digits the model rejects. ``started_from`` is
    ``(start_card, fresh_layers)`` for a model that started from a saved one
    (:func:`initialisation_fields`). ``teacher`` (loaded from ``teacher_path``, whose card is
    ``teacher_card``) makes it a distillation (:mod:`digitlab.distill`), which the card records.
    ``stroke_width`` is the augmentation's stroke strength (default :data:`digitlab.augmentation.STROKE`)."""
    from digitlab import augmentation, distill
    from digitlab.data import load_mnist
    from digitlab.train import train

    stroke_width = augmentation.STROKE if stroke_width is None else stroke_width
    started = time.perf_counter()
    history = train(  # on MNIST's training set, which train() loads and lets go of once its batches hold it
        model, epochs=epochs, quick=quick, seed=seed,
        learning_rate=learning_rate, verbose=verbose, styles=styles, non_digits=non_digits, stroke_width=stroke_width,
        label_smoothing=label_smoothing, teacher=teacher, history_path=Path(out).with_suffix(".history.json"),
    )
    wall = time.perf_counter() - started
    save_model(model, out)
    _, (x_test, y_test) = load_mnist()
    card = {
        **_test_fields(model, out, x_test, y_test),
        "validation_accuracy": round(history["val_accuracy"][-1], 6),
        "parameters": int(model.count_params()),
        "epochs": history["epochs"],
        "train_images": history["train_size"],
        "validation_images": history["validation_size"],
        "validation_split": validation_split(),
        "augmentation": augmentation.describe(stroke_width),
        "styles": _styles_words(styles, seed),
        **(_non_digit_fields(model, x_test, non_digits, seed) if non_digits else {}),
        "learning_rate": f"warm-up then cosine decay, peak {learning_rate}",
        "label_smoothing": label_smoothing,
        **(distill.card_fields(teacher_path, teacher_card or {}) if teacher is not None else {}),
        "seed": seed,
        "quick": bool(quick),
        **provenance(wall, command),
    }
    if started_from is not None:
        card.update(initialisation_fields(card, *started_from))
    write_card(card, out)
    print(f"Saved {out} (test accuracy {card['test_accuracy']:.2%}) and its card {card_path(out)}")
    return card


def _non_digit_fields(model, x_test, fraction, seed, examples: int = 10_000) -> dict:
    """How a model with an 11th class treats "not one digit" made from MNIST *test* digits."""
    from digitlab.evaluate import predict_probabilities
    from digitlab.non_digits import NOT_A_DIGIT, non_digits

    rejected = predict_probabilities(model, non_digits(x_test, examples, seed=1)).argmax(axis=1) == NOT_A_DIGIT
    return {
        "non_digits": (f"{fraction:.0%} as many examples of 'not one digit' as training digits, and some digits "
                       f"drawn smaller (digitlab.non_digits.with_non_digits, seed {seed})"),
        "non_digit_rejection": round(float(rejected.mean()), 6),
        "non_digit_evaluation": f"{examples} non-digits made from MNIST test digits (digitlab.non_digits.non_digits, "
                                "seed 1), rejected = the 11th class is the most probable",
    }


def crnn_test_fields(model, mnist, evaluation_strings: int = 1000) -> dict:
    """A CRNN card's test figures: exact-string accuracy on seeded strings of MNIST *test* digits,
    touching (4-8 digits, 10-40 % overlap) and spaced (5 digits), read as :func:`digitlab.crnn.read_lines` reads."""
    from digitlab import crnn

    touching = crnn.touching_strings(evaluation_strings, mnist=mnist)
    spaced = crnn.spaced_strings(evaluation_strings, mnist=mnist)
    heights = ", ".join(map(str, crnn.EXTRA_INK_HEIGHTS))
    return {
        "touching_string_accuracy": round(crnn.string_accuracy(model, touching), 6),
        "spaced_string_accuracy": round(crnn.string_accuracy(model, spaced), 6),
        "evaluation": (
            f"exact strings, {evaluation_strings} each, MNIST test digits: touching = "
            "crnn.touching_strings (4-8 digits, 10-40 % overlap, seed 7), spaced = "
            "crnn.spaced_strings (5 digits, gaps 15-50 % of the height, seed 8); "
            f"read by crnn.read_lines at {crnn.READ_PHASES} column phases, hard lines again with their ink "
            f"{heights} rows high ({crnn.EXTRA_PHASES} phase{'s' if crnn.EXTRA_PHASES > 1 else ''} each)"
        ),
    }


def train_and_save_crnn(model, out, epochs, quick, seed, learning_rate, command, verbose="auto",
                        evaluation_strings: int = 1000, started_from=None, styles: float = 0.0,
                        **mixture) -> dict:
    """Train a CRNN on synthetic strings (:func:`digitlab.crnn.train`), save it and its card, return the card.

    The card's accuracies are exact-string accuracies on seeded strings of
    MNIST *test* digits: touching (4-8 digits, 10-40 % overlap) and spaced
    (5 digits), ``evaluation_strings`` of each (200 in quick mode).
    ``mixture`` (``overlapping_fraction``, ``plain_fraction``) goes to
    :func:`digitlab.crnn.train` and into the card's words, as does ``styles``
    (the fraction of training digits restyled). ``started_from``: as for
    :func:`train_and_save`.
    """
    from digitlab import crnn
    from digitlab.data import load_mnist

    mnist = load_mnist()
    started = time.perf_counter()
    history = crnn.train(
        model, mnist, epochs=epochs, quick=quick, seed=seed, learning_rate=learning_rate,
        verbose=verbose, history_path=Path(out).with_suffix(".history.json"), styles=styles, **mixture,
    )
    wall = time.perf_counter() - started
    save_model(model, out)
    if quick:
        evaluation_strings = min(evaluation_strings, 200)
    card = {
        "model": model.name,
        "file": Path(out).name,
        **crnn_test_fields(model, mnist, evaluation_strings),
        "validation_string_accuracy": round(history["val_string_accuracy"][-1], 6),
        "parameters": int(model.count_params()),
        "epochs": history["epochs"],
        "train_strings_per_epoch": history["train_strings_per_epoch"],
        "validation_strings": history["validation_strings"],
        "training_strings": (
            "crnn.training_strings, new ones every epoch: 1-10 MNIST training digits (55,000 of them; "
            f"validation lines use the other 5,000), {crnn.describe_training_strings(**mixture)}; each strip moved "
            f"right by 0-{crnn.STRIDE - 1} columns (crnn.StripBatches shift)"
        ),
        "styles": _styles_words(styles, seed),
        "batches": (f"{history['batch_size']} lines on average, of similar widths, each batch of about the same "
                    "area (crnn.equal_area_runs), each line weighted by its batch's size over the mean, given in "
                    f"{history['steps_per_batch']} steps of alternate lines whose gradients are averaged"),
        "learning_rate": f"warm-up then cosine decay, peak {learning_rate}",
        "seed": seed,
        "validation_split": validation_split(),
        "quick": bool(quick),
        **provenance(wall, command),
    }
    if started_from is not None:
        card.update(initialisation_fields(card, *started_from))
    write_card(card, out)
    print(f"Saved {out} (touching strings {card['touching_string_accuracy']:.2%}, "
          f"spaced {card['spaced_string_accuracy']:.2%}) and its card {card_path(out)}")
    return card


def ensemble_and_save(member_paths, out, command) -> dict:
    """Average trained members into one model (:func:`digitlab.model.ensemble`), save it and its card.

    The card gives the ensemble's accuracy (and cross-entropy) on the
    validation split that every member held out
    (:data:`digitlab.train.VALIDATION_SEED`), its accuracy on the test set,
    and each member's own card. Choose between ensembles on validation:
    accuracy first, the lower loss on a tie.
    """
    from digitlab.data import load_mnist
    from digitlab.evaluate import accuracy, mean_cross_entropy, predict_probabilities
    from digitlab.model import ensemble, load_model
    from digitlab.train import VALIDATION_SEED, split_validation

    members = [load_model(path) for path in member_paths]
    member_cards = [read_card(path) for path in member_paths]
    if len({card["validation_images"] for card in member_cards}) != 1:
        raise ValueError("ensemble members must share one validation split (the same validation size).")
    model = ensemble(members)
    (x_train, y_train), (x_test, y_test) = load_mnist()
    _, (x_val, y_val) = split_validation(x_train, y_train, member_cards[0]["validation_images"], VALIDATION_SEED)
    save_model(model, out)
    validation = predict_probabilities(model, x_val)
    card = {
        **_test_fields(model, out, x_test, y_test),
        "validation_accuracy": round(accuracy(y_val, validation.argmax(axis=1)), 6),
        "validation_loss": round(mean_cross_entropy(y_val, validation), 6),
        "validation_images": int(len(x_val)),
        "parameters": int(model.count_params()),
        "epochs": sum(card["epochs"] for card in member_cards),
        "members": member_cards,
        **provenance(sum(card["wall_time_seconds"] for card in member_cards), command),
    }
    card["wall_time_seconds_note"] = "the sum of the members' training times"
    write_card(card, out)
    print(f"Saved {out} (test accuracy {card['test_accuracy']:.2%}, validation "
          f"{card['validation_accuracy']:.2%}) and its card {card_path(out)}")
    return card
