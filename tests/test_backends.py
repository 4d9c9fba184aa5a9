"""Training on JAX where TensorFlow is not installed, as on a GPU machine (docs/MODELS.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

#: A ``sitecustomize`` that makes ``import tensorflow`` fail, as it does on a machine without it.
WITHOUT_TENSORFLOW = '''import sys


class NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tensorflow_cpu"):
            raise ImportError(f"{name} is not installed here (tests/test_backends.py)")
        return None


sys.meta_path.insert(0, NoTensorFlow())
'''

#: Where ``make install-test`` puts JAX: a folder only this test's training sees (tests/jax-backend.txt says why).
JAX_BACKEND = Path(sys.prefix) / "jax-backend"


@pytest.mark.training
def test_a_training_on_jax_without_tensorflow_reads_the_same_on_tensorflow(tmp_path, mnist, unavailable):
    if not (JAX_BACKEND / "jax").is_dir():
        unavailable(f"JAX is not installed in {JAX_BACKEND} (`make install-test` installs it there)")
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(WITHOUT_TENSORFLOW)
    out = tmp_path / "candidate.keras"
    python_path = [str(site), str(JAX_BACKEND), os.environ.get("PYTHONPATH")]
    environment = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": os.pathsep.join(filter(None, python_path))}
    command = [sys.executable, "-m", "digitlab", "train", "--model", "candidate_cnn", "--quick", "--out", str(out)]
    finished = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=900)
    assert finished.returncode == 0, finished.stderr[-3000:]

    from digitlab.card import read_card
    from digitlab.evaluate import test_accuracy
    from digitlab.model import load_model

    card = read_card(out)
    assert "Keras on jax" in card["machine"] and "jax" in card["versions"]
    assert card["command"].startswith("digitlab train --model candidate_cnn --quick")
    _, (x_test, y_test) = mnist
    assert test_accuracy(load_model(out), x_test, y_test) == pytest.approx(card["test_accuracy"], abs=1e-4)
    assert card["test_accuracy"] > 0.8  # it learned: eleven classes (ten digits, "not one digit") are 9 % by chance
