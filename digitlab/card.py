"""Model cards: what a shipped model reached, how, on which data and software.

``digitlab train`` writes ``MODEL.json`` beside ``MODEL.keras`` (the recipes
that train, measure and save are in :mod:`digitlab.recipes`); this module
writes, reads and fills in the fields every card shares.
"""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from digitlab.files import replaced_atomically, write_json

#: The libraries whose versions a card records (those installed), besides the backend's own (:func:`backend`).
LIBRARIES = ("keras", "tensorflow-cpu", "tensorflow", "numpy", "opencv-python-headless", "digitlab")
#: The packages that make each Keras backend, whose versions a card records when that backend trained.
BACKEND_LIBRARIES = {"jax": ("jax", "jaxlib"), "torch": ("torch",)}


def library_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES + BACKEND_LIBRARIES.get(backend(), ()):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def backend() -> str:
    """The Keras backend this process computes with ("tensorflow" unless ``KERAS_BACKEND`` names another)."""
    import keras

    return keras.backend.backend()


def processor(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's model name (e.g. "Intel(R) Xeon(R) Processor"): the same command takes twice as long on one
    2-core machine as on another, so a time means little without it. Read from Linux's ``cpuinfo``; elsewhere,
    or where it names none, what :func:`platform.processor` says, else the architecture."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as info:
            for line in info:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpus() -> str:
    """The CPU and its cores, as cards and benchmarks name them: "Intel(R) Xeon(R) Processor, 2 CPU cores"."""
    import os

    return f"{processor()}, {os.cpu_count()} CPU cores"


def machine() -> str:
    """Where a model was trained: the system, its CPU and cores, the Keras backend and the GPU it used, if any."""
    gpus = _gpu_names()
    if not gpus:
        device = "no GPU used"
    elif len(gpus) == 1:
        device = f"on {gpus[0]}"
    else:  # Keras computes on the first unless told to distribute, which digitlab does not
        device = f"on {gpus[0]}, the first of {len(gpus)} GPUs"
    return f"{platform.system()} {platform.machine()}, {cpus()}, Keras on {backend()}, {device}"


def _gpu_names() -> list[str]:
    """The GPUs the Keras backend sees, by name (an empty list on a CPU-only machine)."""
    name = backend()
    if name == "jax":
        import jax

        return [device.device_kind for device in jax.devices() if device.platform == "gpu"]
    if name == "torch":
        import torch

        return [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]
    import tensorflow as tf

    return [tf.config.experimental.get_device_details(device).get("device_name", device.name)
            for device in tf.config.list_physical_devices("GPU")]


def command_line(argv: list[str]) -> str:
    """The ``digitlab`` command as typed (its arguments ``argv``), for a card's ``command``."""
    return "digitlab " + " ".join(argv)


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


def write_card(card: dict, model_path: str | Path) -> dict:
    write_json(card, card_path(model_path))
    return card


def card_path(model_path: str | Path) -> Path:
    return Path(model_path).with_suffix(".json")


def read_card(model_path: str | Path) -> dict:
    """The model card beside ``model_path``."""
    return json.loads(card_path(model_path).read_text())


def save_model(model, path: str | Path) -> None:
    """Save atomically: a temporary file renamed into place, never a half-written model.

    The file holds the architecture and the weights, not the optimizer's
    state: a saved model is loaded to read or to start another training from
    its weights (``digitlab train --init``), never to resume an optimizer,
    whose moments (and a CRNN's gradient sums) would make it three times larger.
    """
    optimizer = getattr(model, "optimizer", None)
    try:
        model.optimizer = None  # what Keras saves beside the weights when it is set
        with replaced_atomically(path) as temporary:
            model.save(temporary)
    finally:
        model.optimizer = optimizer
