"""Model cards: what a shipped model reached, how, on which data and software.

``digitlab train`` writes ``MODEL.json`` beside ``MODEL.keras``.
"""

from __future__ import annotations

import json
import platform
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

LIBRARIES = ("keras", "tensorflow-cpu", "tensorflow", "numpy", "opencv-python-headless", "digitlab")


def library_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def machine() -> str:
    import os

    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores, no GPU used"


def provenance(wall_time_seconds: float, command: str) -> dict:
    """The fields every model card shares: time, machine, data, versions, command."""
    from digitlab.data import mnist_sha256

    return {
        "wall_time_seconds": round(wall_time_seconds, 1),
        "machine": machine(),
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data_sha256": mnist_sha256(),
        "versions": library_versions(),
        "command": command,
    }


def validation_split() -> str:
    """How the validation digits were held out, for the card (the same for every model and seed)."""
    from digitlab.train import VALIDATION_SEED

    return f"digitlab.train.split_validation(..., seed={VALIDATION_SEED})"


def _test_fields(model, out, x_test, y_test) -> dict:
    """The head of a digit classifier's card: its name, file and MNIST test accuracy."""
    from digitlab.evaluate import test_accuracy

    return {
        "model": model.name,
        "file": Path(out).name,
        "test_accuracy": round(test_accuracy(model, x_test, y_test), 6),
        "test_images": int(len(x_test)),
    }


def write_card(card: dict, model_path: str | Path) -> dict:
    card_path(model_path).write_text(json.dumps(card, indent=2) + "\n")
    return card


def card_path(model_path: str | Path) -> Path:
    return Path(model_path).with_suffix(".json")


def read_card(model_path: str | Path) -> dict:
    """The model card beside ``model_path``."""
    return json.loads(card_path(model_path).read_text())


def save_model(model, path: str | Path) -> None:
    """Save atomically: a temporary file renamed into place, never a half-written model."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial.keras")
    model.save(tmp)
    tmp.replace(path)


def train_and_save(model, out, epochs, quick, seed, learning_rate, command, verbose="auto", styles=0.0,
                   non_digits=0.0) -> dict:
    """Train on MNIST, save the model and its card, return the card.

    ``non_digits`` (for :func:`digitlab.model.candidate_cnn`) adds examples of
    "not one digit"; the card then also says how many such examples made
    from *test* digits the model rejects."""
    from digitlab.data import load_mnist
    from digitlab.train import train

    (x_train, y_train), (x_test, y_test) = load_mnist()
    started = time.perf_counter()
    history = train(
        model, x_train, y_train, epochs=epochs, quick=quick, seed=seed,
        learning_rate=learning_rate, verbose=verbose, styles=styles, non_digits=non_digits,
        history_path=Path(out).with_suffix(".history.json"),
    )
    wall = time.perf_counter() - started
    save_model(model, out)
    card = {
        **_test_fields(model, out, x_test, y_test),
        "validation_accuracy": round(history["val_accuracy"][-1], 6),
        "parameters": int(model.count_params()),
        "epochs": history["epochs"],
        "train_images": history["train_size"],
        "validation_images": history["validation_size"],
        "validation_split": validation_split(),
        "augmentation": "rotation 12 deg, zoom 12 %, shift 10 %, stroke width +-0.7",
        "styles": f"{styles:.0%} of training digits restyled once (digitlab.styles.add_styles, seed {seed})",
        **(_non_digit_fields(model, x_test, non_digits, seed) if non_digits else {}),
        "learning_rate": f"warm-up then cosine decay, peak {learning_rate}",
        "seed": seed,
        "quick": bool(quick),
        **provenance(wall, command),
    }
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
                        evaluation_strings: int = 1000, **mixture) -> dict:
    """Train a CRNN on synthetic strings (:func:`digitlab.crnn.train`), save it and its card, return the card.

    The card's accuracies are exact-string accuracies on seeded strings of
    MNIST *test* digits: touching (4-8 digits, 10-40 % overlap) and spaced
    (5 digits), ``evaluation_strings`` of each (200 in quick mode).
    ``mixture`` (``overlapping_fraction``, ``plain_fraction``) goes to
    :func:`digitlab.crnn.train` and into the card's words.
    """
    from digitlab import crnn
    from digitlab.data import load_mnist

    mnist = load_mnist()
    started = time.perf_counter()
    history = crnn.train(
        model, mnist, epochs=epochs, quick=quick, seed=seed, learning_rate=learning_rate,
        verbose=verbose, history_path=Path(out).with_suffix(".history.json"), **mixture,
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
        "learning_rate": f"warm-up then cosine decay, peak {learning_rate}",
        "seed": seed,
        "validation_split": validation_split(),
        "quick": bool(quick),
        **provenance(wall, command),
    }
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
