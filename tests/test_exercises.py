"""The exercise checkers: the expected answers are true, wrong ones get the hint, unanswered ones a reminder.

Every exercise's answer is either computed here from the package, Keras or plain arithmetic (never read from
``exercises.EXERCISES``) and then fed to ``check``, or, for a question of judgement no code can compute, the
question must offer the expected answer among its choices and the checker must accept that choice alone.
"""

import math

import numpy as np
import pytest
from conftest import skip_here_fail_under_ci

from digitlab import convolution, exercises

# --- Answers computed independently of the answer table -------------------


def _pixels():
    from digitlab.model import INPUT_SHAPE

    return math.prod(INPUT_SHAPE)


def _normalised_51():
    from digitlab.preprocess import to_model_input

    return float(to_model_input(np.full((1, 28, 28), 51, np.uint8)).max())


def _output_size():
    return convolution.keras_output_size(28, 5, 2, "valid")


def _same_padding():
    return next(p for p in range(10) if convolution.output_size(28, 7, 1, p) == 28)


def _flatten_length():
    import keras

    return keras.layers.Flatten()(keras.Input((7, 7, 64))).shape[-1]


def _conv_parameters():
    import keras

    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(32, 3)]).count_params()


def _max_pool():
    import keras

    pooled = keras.layers.MaxPooling2D(2)(np.array([[1, 3], [4, 2]], "float32")[None, :, :, None])
    return float(np.asarray(pooled).ravel()[0])


def _padding_changes():
    """baseline_cnn rebuilt with 'same' padding: which kinds of layer change their parameter count."""
    import keras

    from digitlab.model import baseline_cnn

    model = baseline_cnn()
    config = model.get_config()
    for layer in config["layers"]:
        layer.pop("build_config", None)  # rebuilt from the new shapes
        if layer["class_name"] == "Conv2D":
            layer["config"]["padding"] = "same"
    same = type(model).from_config(config)
    assert same.layers[-1].output.shape == model.layers[-1].output.shape  # still 10 digits out
    changed = {type(a).__name__ for a, b in zip(model.layers, same.layers) if a.count_params() != b.count_params()}
    return {frozenset({"Conv2D"}): "conv2d", frozenset({"Dense"}): "dense"}.get(frozenset(changed), "both")


def _baseline_parameters():
    from digitlab.model import baseline_cnn

    return baseline_cnn().count_params()


def _steps_per_epoch():
    from digitlab.train import split_validation

    (x_fit, _), _ = split_validation(np.zeros(60_000), np.zeros(60_000))
    return math.ceil(len(x_fit) / 128)


def _grid_size():
    from digitlab.model import DENSE_GRID, FILTERS_GRID, LEARNING_RATE_GRID

    return len(FILTERS_GRID) * len(DENSE_GRID) * len(LEARNING_RATE_GRID)


def _chief():
    """The tuner id for which Keras Tuner itself says "this process runs the oracle"."""
    import os
    from unittest import mock

    from keras_tuner.src.distribute import utils

    for tuner_id in ("chief", "tuner0", "worker", "oracle"):
        environment = {"KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": "127.0.0.1",
                       "KERASTUNER_ORACLE_PORT": "8000"}
        with mock.patch.dict(os.environ, environment):
            if utils.is_chief_oracle():
                return tuner_id
    raise AssertionError("no tuner id makes a chief")


def _most_confused():
    """The shipped CNN's most frequent mistake on the MNIST test set, as [true digit, digit read]."""
    from digitlab import evaluate
    from digitlab.data import DataError, load_mnist
    from digitlab.model import load_default

    try:
        _, (x_test, y_test) = load_mnist(download=False)
    except DataError as error:
        skip_here_fail_under_ci("05.most_confused's answer", f"MNIST is not available: {error}")
    predicted = evaluate.predict_probabilities(load_default(), x_test).argmax(axis=1)
    confusion = evaluate.confusion_matrix(y_test, predicted)
    (true, read, count), (_, _, runner_up) = evaluate.most_confused_pairs(confusion, k=2)
    assert count > runner_up, "a tie: the exercise would have two right answers"
    return [true, read]


def _sample_blobs():
    from digitlab import synth
    from digitlab.preprocess import binarize, load_image, to_grayscale, to_ink
    from digitlab.segment import find_blobs

    image = load_image(synth.SAMPLES_DIR / "overlapping_27.png")
    return len(find_blobs(binarize(to_ink(to_grayscale(image))))[1])


def _normalised_bar():
    """A 140 px tall bar drawn 14 px wide, normalised as the reader normalises every crop: where its ink is."""
    from digitlab.preprocess import normalize_digit

    return normalize_digit(np.ones((140, 14), np.float32)) > 0.5


def _margin():
    """The blank rows above a normalised crop whose ink is as tall as it can be."""
    return int(np.flatnonzero(_normalised_bar().any(axis=1))[0])


def _collapse():
    from digitlab import crnn

    path = "__4_44__77_7__"
    one_hot = np.eye(crnn.NUM_CLASSES)[[crnn.BLANK if c == "_" else int(c) + 1 for c in path]]
    return "".join(map(str, crnn.greedy_decode(one_hot).values))


def _min_frames():
    """The fewest frames on which CTC gives the text "1111" a non-zero probability."""
    from digitlab import crnn

    def possible(frames):
        uniform = np.full((frames, crnn.NUM_CLASSES), 1 / crnn.NUM_CLASSES)
        return math.isfinite(crnn.ctc_log_likelihood(uniform, "1111"))

    return next(frames for frames in range(1, 20) if possible(frames))


def _smoothed_target():
    """The prediction for the right digit that minimises the smoothed loss (0.1): the smoothed target."""
    from digitlab.model import SmoothedCrossentropy

    loss = SmoothedCrossentropy(0.1)
    candidates = np.linspace(0.5, 0.999, 500)
    predictions = np.array([[q] + [(1 - q) / 9] * 9 for q in candidates], np.float32)
    losses = [float(loss(np.array([0]), row[None])) for row in predictions]
    return round(float(candidates[int(np.argmin(losses))]), 3)


def _temperature():
    """The first of two probabilities, 0.8 and 0.2, softened at temperature 2 as distillation softens them."""
    from digitlab.distill import soften

    return float(np.asarray(soften(np.array([0.8, 0.2] + [0.0] * 8, np.float32), 2.0))[0])


COMPUTED = {
    "01.pixels": _pixels,
    "01.normalise": _normalised_51,
    "02.output_size": _output_size,
    "02.same_padding": _same_padding,
    "02.flatten": _flatten_length,
    "02.conv_parameters": _conv_parameters,
    "02.max_pool": _max_pool,
    "02.padding_changes": _padding_changes,
    "03.baseline_parameters": _baseline_parameters,
    "03.steps_per_epoch": _steps_per_epoch,
    "03.smoothed_target": _smoothed_target,
    "03.temperature": _temperature,
    "04.grid_size": _grid_size,
    "04.chief": _chief,
    "05.errors": lambda: round((1 - 0.9942) * 10_000),
    "05.precision": lambda: 490 / 500,
    "05.most_confused": _most_confused,
    "06.margin": _margin,
    "06.order": lambda: sorted(range(3), key=[90, 10, 50].__getitem__),
    "06.sample_blobs": _sample_blobs,
    "07.mnist_box": lambda: int(_normalised_bar().any(axis=1).sum()),
    "07.pen_at_20px": lambda: int(_normalised_bar().any(axis=0).sum()),
    "08.collapse": _collapse,
    "08.min_frames": _min_frames,
    "09.string_accuracy": lambda: 0.993 ** 8,
}
#: Needs the full MNIST test set and the shipped model.
SLOW = {"05.most_confused"}

#: Questions of judgement: the choices each question offers (no code computes which is right).
CHOICES = {
    "01.flip": [True, False],
    "03.overfitting": ["overfitting", "underfitting"],
    "03.cure": ["more epochs", "dropout", "more dense units"],
    "08.exact_boxes": ["contours", "crnn"],
    "09.which_half": ["choose", "report"],
}


def test_every_exercise_is_tested():
    assert not set(COMPUTED) & set(CHOICES)
    assert set(COMPUTED) | set(CHOICES) == set(exercises.EXERCISES)


@pytest.mark.parametrize(
    "exercise_id",
    [pytest.param(exercise_id, marks=pytest.mark.slow) if exercise_id in SLOW else exercise_id
     for exercise_id in sorted(COMPUTED)],
)
def test_the_computed_answer_is_right(exercise_id, capsys):
    answer = COMPUTED[exercise_id]()
    assert exercises.check(exercise_id, answer) is True
    assert "is right" in capsys.readouterr().out


@pytest.mark.parametrize("exercise_id", sorted(CHOICES))
def test_a_judgement_accepts_exactly_one_of_the_choices_it_offers(exercise_id):
    question = exercises.EXERCISES[exercise_id].question
    choices = CHOICES[exercise_id]
    for choice in choices:
        offered = "True or False" if isinstance(choice, bool) else repr(choice)
        assert offered in question, f"{exercise_id} does not offer {offered}"
    assert sum(exercises.is_right(exercise_id, choice) for choice in choices) == 1


def test_the_half_to_report_on_is_the_benchmark_s_report_half():
    from digitlab import unipen

    assert [half for half in unipen.HALVES if exercises.is_right("09.which_half", half)] == ["report"]


# --- What the student sees -------------------------------------------------


@pytest.mark.parametrize(
    ("exercise_id", "wrong"),
    [("01.pixels", 28), ("01.normalise", 51), ("01.flip", True), ("02.output_size", 24),
     ("02.flatten", "3136 numbers"), ("02.padding_changes", "both"), ("03.overfitting", "underfitting"),
     ("03.cure", "more epochs"), ("06.order", [0, 1, 2]), ("05.precision", 0.49), ("05.most_confused", [3, 5]),
     ("04.grid_size", None), ("08.collapse", "47"), ("08.collapse", 4477), ("08.min_frames", 4)],
)
def test_wrong_answer_is_refused_with_a_hint(exercise_id, wrong, capsys):
    assert exercises.check(exercise_id, wrong) is False
    out = capsys.readouterr().out
    assert "not right yet" in out
    assert f"Hint: {exercises.EXERCISES[exercise_id].hint}" in out


def test_tolerance_and_case():
    assert exercises.is_right("01.normalise", 51 / 255)
    assert exercises.is_right("03.overfitting", "  Overfitting ")
    assert exercises.is_right("02.output_size", 12.0)
    assert exercises.is_right("05.most_confused", (5, 3))
    assert not exercises.is_right("01.flip", 0)  # a number is not a yes/no answer


@pytest.mark.parametrize("exercise_id", sorted(exercises.EXERCISES))
def test_an_unanswered_exercise_gets_a_reminder_and_the_hint_not_false(exercise_id, capsys):
    # None: a notebook cell ending in check(...) then shows the printed reminder and no bare False.
    assert exercises.check(exercise_id, ...) is None
    out = capsys.readouterr().out
    assert "not answered yet: replace ... with your answer" in out
    assert f"Hint: {exercises.EXERCISES[exercise_id].hint}" in out
    assert "False" not in out


def test_unknown_exercise_lists_the_known_ones():
    with pytest.raises(KeyError, match="02.output_size"):
        exercises.check("02.nope", 1)


def test_show_prints_the_question(capsys):
    exercises.show("02.flatten")
    assert "7x7x64" in capsys.readouterr().out


def test_every_notebook_has_exercises():
    for number in ("01", "02", "03", "04", "05", "06", "07", "08", "09"):
        assert exercises.exercises_for(number), number
    assert exercises.exercises_for("notebooks/02_convolution_pooling_padding_flatten.ipynb")[0] == "02.output_size"
