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


def train_and_save(model, out, epochs, quick, seed, learning_rate, command, verbose="auto") -> dict:
    """Train on MNIST, save the model and its card, return the card."""
    from digitlab.data import load_mnist, mnist_sha256
    from digitlab.evaluate import test_accuracy
    from digitlab.train import train

    (x_train, y_train), (x_test, y_test) = load_mnist()
    started = time.perf_counter()
    history = train(
        model, x_train, y_train, epochs=epochs, quick=quick, seed=seed,
        learning_rate=learning_rate, verbose=verbose,
        history_path=Path(out).with_suffix(".history.json"),
    )
    wall = time.perf_counter() - started
    save_model(model, out)
    card = {
        "model": model.name,
        "file": Path(out).name,
        "test_accuracy": round(test_accuracy(model, x_test, y_test), 6),
        "test_images": int(len(x_test)),
        "validation_accuracy": round(history["val_accuracy"][-1], 6),
        "parameters": int(model.count_params()),
        "epochs": history["epochs"],
        "train_images": history["train_size"],
        "validation_images": history["validation_size"],
        "augmentation": "rotation 12 deg, zoom 12 %, shift 10 %, stroke width +-0.7",
        "learning_rate": f"warm-up then cosine decay, peak {learning_rate}",
        "seed": seed,
        "quick": bool(quick),
        "wall_time_seconds": round(wall, 1),
        "machine": machine(),
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data_sha256": mnist_sha256(),
        "versions": library_versions(),
        "command": command,
    }
    card_path(out).write_text(json.dumps(card, indent=2) + "\n")
    print(f"Saved {out} (test accuracy {card['test_accuracy']:.2%}) and its card {card_path(out)}")
    return card
