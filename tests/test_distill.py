"""Knowledge distillation: softened probabilities, the loss, a student that learns its teacher, the CLI."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from digitlab.card import read_card  # noqa: E402
from digitlab.distill import (  # noqa: E402
    LABEL_WEIGHT, TEMPERATURE, check_teacher, distillation_loss, soften,
)
from digitlab.model import candidate_cnn, digit_cnn, fast_cnn, load_default  # noqa: E402
from digitlab.train import train  # noqa: E402


def test_soften_keeps_the_ranking_and_flattens_above_temperature_one():
    probabilities = np.array([[0.90, 0.09, 0.01], [0.2, 0.3, 0.5]], np.float32)
    np.testing.assert_allclose(np.asarray(soften(probabilities, 1.0)), probabilities, atol=1e-6)
    soft = np.asarray(soften(probabilities, 4.0))
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, atol=1e-6)
    assert (soft.argsort(axis=1) == probabilities.argsort(axis=1)).all()
    assert soft[0, 0] < 0.90 and soft[0, 2] > 0.01  # the large shrinks, the small grows
    with pytest.raises(ValueError, match="temperature must be positive"):
        soften(probabilities, 0.0)


def test_the_distillation_loss_is_zero_when_student_and_teacher_agree_and_grows_as_they_part():
    teacher = np.array([[0.97, 0.02, 0.01]], np.float32)
    assert distillation_loss(teacher, teacher, temperature=2.0) == pytest.approx(0.0, abs=1e-6)
    near = distillation_loss(teacher, [[0.90, 0.08, 0.02]], temperature=2.0)
    far = distillation_loss(teacher, [[0.02, 0.97, 0.01]], temperature=2.0)
    assert 0 < near < far
    with pytest.raises(ValueError, match="same images"):
        distillation_loss(teacher, [[0.5, 0.5]])


def test_a_student_must_have_its_teachers_classes():
    check_teacher(digit_cnn(), fast_cnn())  # other layers, same images and classes: fine
    with pytest.raises(ValueError, match=r"output shape \(10,\).*\(11,\)"):
        check_teacher(digit_cnn(), candidate_cnn())


@pytest.mark.training
def test_distillation_on_a_small_set_brings_the_student_closer_to_its_teacher(mnist):
    """``fast_cnn`` trained for two epochs on 2,000 digits with the shipped ensemble as its teacher, and
    again on the labels alone (the same initial weights, seed and steps): the distilled one ends nearer
    the teacher's softened probabilities on test digits it never saw (about half as far with seeds 0-3),
    and it did learn to read digits. (Which of the two reads more right after so short a training
    varies with the seed.)"""
    from digitlab.evaluate import accuracy, predict_probabilities

    (x_train, y_train), (x_test, y_test) = mnist
    teacher, images, labels = load_default(), x_test[:1000], y_test[:1000]
    teacher_probabilities = predict_probabilities(teacher, images)
    probabilities, losses = {}, {}
    for name, maybe_teacher in [("distilled", teacher), ("labels only", None)]:
        keras.utils.set_random_seed(0)  # the same initial weights for both
        student = fast_cnn()
        train(student, x_train, y_train, quick=True, seed=0, verbose=0, teacher=maybe_teacher)
        probabilities[name] = predict_probabilities(student, images)
        losses[name] = distillation_loss(teacher_probabilities, probabilities[name])
    assert losses["distilled"] < 0.7 * losses["labels only"], losses
    assert accuracy(labels, probabilities["distilled"].argmax(axis=1)) > 0.9


@pytest.mark.training
def test_train_command_distils_and_says_so_in_the_card(tmp_path, mnist):
    from digitlab.cli import main
    from digitlab.model import DEFAULT_MODEL

    out = tmp_path / "student.keras"
    assert main(["train", "--model", "fast_cnn", "--teacher", str(DEFAULT_MODEL), "--quick", "--out", str(out)]) == 0
    distillation = read_card(out)["distillation"]
    assert distillation["teacher"] == str(DEFAULT_MODEL)
    assert distillation["teacher_test_accuracy"] == read_card(DEFAULT_MODEL)["test_accuracy"]
    assert (distillation["temperature"], distillation["label_weight"]) == (TEMPERATURE, LABEL_WEIGHT)


@pytest.mark.parametrize("options, message", [
    (["--model", "candidate_cnn"], "output shape (10,) and the student 'candidate_cnn' (11,)"),
    (["--model", "crnn"], "--teacher is for the digit CNNs"),
])
def test_train_command_refuses_a_teacher_that_does_not_fit(tmp_path, capsys, options, message):
    from digitlab.cli import main
    from digitlab.model import DEFAULT_MODEL

    out = tmp_path / "student.keras"
    assert main(["train", *options, "--teacher", str(DEFAULT_MODEL), "--quick", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error and len(error.strip().splitlines()) == 1
    assert not out.exists()


def test_train_command_names_a_missing_teacher(tmp_path, capsys):
    from digitlab.cli import main

    out = tmp_path / "student.keras"
    assert main(["train", "--quick", "--teacher", str(tmp_path / "none.keras"), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("digitlab train: --teacher") and "none.keras" in error
    assert not out.exists()
