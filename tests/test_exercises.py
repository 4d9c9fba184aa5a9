"""The exercise checkers: right answers pass, wrong ones fail kindly, and the answers are true."""

import pytest

from digitlab import convolution, exercises


@pytest.mark.parametrize("exercise_id", sorted(exercises.EXERCISES))
def test_expected_answer_is_accepted(exercise_id, capsys):
    assert exercises.check(exercise_id, exercises.EXERCISES[exercise_id].answer) is True
    assert "is right" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("exercise_id", "wrong"),
    [("01.pixels", 28), ("01.normalise", 51), ("01.flip", True), ("02.output_size", 24),
     ("02.flatten", "3136 numbers"), ("03.overfitting", "underfitting"), ("06.order", [0, 1, 2]),
     ("05.precision", 0.49), ("04.grid_size", None)],
)
def test_wrong_answer_is_refused_with_a_hint(exercise_id, wrong, capsys):
    assert exercises.check(exercise_id, wrong) is False
    assert f"Hint: {exercises.EXERCISES[exercise_id].hint}" in capsys.readouterr().out


def test_tolerance_and_case():
    assert exercises.is_right("01.normalise", 51 / 255)
    assert exercises.is_right("03.overfitting", "  Overfitting ")
    assert exercises.is_right("02.output_size", 12.0)
    assert not exercises.is_right("01.flip", 0)  # a number is not a yes/no answer


def test_placeholder_reminds_instead_of_raising(capsys):
    assert exercises.check("02.output_size", ...) is False
    assert "replace ... with your answer" in capsys.readouterr().out


def test_unknown_exercise_lists_the_known_ones():
    with pytest.raises(KeyError, match="02.output_size"):
        exercises.check("02.nope", 1)


def test_show_prints_the_question(capsys):
    exercises.show("02.flatten")
    assert "7x7x64" in capsys.readouterr().out


def test_every_notebook_has_exercises():
    for number in ("01", "02", "03", "04", "05", "06", "09"):
        assert exercises.exercises_for(number), number
    assert exercises.exercises_for("notebooks/02_convolution_pooling_padding_flatten.ipynb")[0] == "02.output_size"


# --- The expected answers are computed, not just asserted -------------------


def test_answers_agree_with_the_code():
    import keras

    from digitlab.model import FILTERS_GRID, DENSE_GRID, LEARNING_RATE_GRID, baseline_cnn

    answer = {key: exercise.answer for key, exercise in exercises.EXERCISES.items()}
    assert answer["02.output_size"] == convolution.keras_output_size(28, 5, 2, "valid")
    assert convolution.output_size(28, 7, 1, answer["02.same_padding"]) == 28
    assert answer["02.flatten"] == keras.layers.Flatten()(keras.Input((7, 7, 64))).shape[-1]
    assert answer["02.conv_parameters"] == convolution.conv_parameters(3, 1, 32)
    assert answer["02.max_pool"] == convolution.pool([[1, 3], [4, 2]])[0, 0]
    assert answer["03.baseline_parameters"] == baseline_cnn().count_params()
    assert answer["03.steps_per_epoch"] == -(-55_000 // 128)
    assert answer["04.grid_size"] == len(FILTERS_GRID) * len(DENSE_GRID) * len(LEARNING_RATE_GRID)
    assert answer["05.errors"] == round((1 - 0.9942) * 10_000)
    assert answer["06.order"] == sorted(range(3), key=[90, 10, 50].__getitem__)


def test_notebook_07_answers_agree_with_the_preprocessing():
    import numpy as np

    from digitlab.preprocess import MNIST_BOX, normalize_digit

    answer = {key: exercise.answer for key, exercise in exercises.EXERCISES.items()}
    assert answer["07.mnist_box"] == MNIST_BOX
    # A 140 px tall bar, 14 px wide, becomes about 2 px wide once fitted into the box.
    crop = normalize_digit(np.ones((140, 14), np.float32))
    width = (crop > 0.5).any(axis=0).sum()
    assert abs(width - answer["07.pen_at_20px"]) <= 1


def test_notebook_09_answers_agree_with_the_benchmark():
    from digitlab import unipen

    answer = {key: exercise.answer for key, exercise in exercises.EXERCISES.items()}
    assert abs(answer["09.string_accuracy"] - 0.993 ** 8) < 1e-4
    assert answer["09.which_half"] == unipen.HALVES[1]
