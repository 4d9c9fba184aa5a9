"""Evaluation helpers on a small prediction set whose mistakes are known."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from digitlab.evaluate import (  # noqa: E402
    accuracy,
    classification_report,
    confusion_matrix,
    disagreements,
    misclassified,
    most_confused_pairs,
    per_class_accuracy,
    plot_confusion_matrix,
    plot_history,
    plot_misclassified,
    predict_probabilities,
    report_for,
)
from digitlab.evaluate import test_accuracy as model_test_accuracy  # noqa: E402 (not a test)

# Twenty predictions with four mistakes: 4 -> 9 twice, 9 -> 4 once, 5 -> 6 once.
Y_TRUE = np.array([0, 1, 2, 3, 4, 4, 4, 4, 5, 5, 6, 6, 7, 8, 9, 9, 9, 9, 1, 0])
Y_PRED = np.array([0, 1, 2, 3, 4, 4, 9, 9, 5, 6, 6, 6, 7, 8, 9, 9, 4, 9, 1, 0])
CONFIDENCES = np.linspace(0.5, 0.99, len(Y_TRUE))

HISTORY = {
    "accuracy": [0.90, 0.97, 0.985],
    "val_accuracy": [0.95, 0.98, 0.99],
    "loss": [0.4, 0.1, 0.05],
    "val_loss": [0.2, 0.07, 0.04],
    "epochs": 3,
    "seconds": 12.0,
}


def teardown_function():
    plt.close("all")


# --- Numbers --------------------------------------------------------------


def test_accuracy_counts_matches_and_checks_shapes():
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(16 / 20)
    with pytest.raises(ValueError, match="differ in shape"):
        accuracy(Y_TRUE, Y_PRED[:-1])
    with pytest.raises(ValueError, match="no predictions"):
        accuracy([], [])


def test_confusion_matrix_counts_each_true_predicted_pair():
    cm = confusion_matrix(Y_TRUE, Y_PRED)
    assert cm.shape == (10, 10)
    assert cm.sum() == 20 and np.trace(cm) == 16
    assert cm[4, 9] == 2 and cm[9, 4] == 1 and cm[5, 6] == 1
    assert cm[4, 4] == 2 and cm[9, 9] == 3 and cm[6, 6] == 2
    assert cm[6, 5] == 0
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(Y_TRUE, minlength=10))
    with pytest.raises(ValueError, match=r"must be 0 to 9, got \[-1, 12\]"):  # not silently left out
        confusion_matrix([1, 12, 3], [1, 2, -1])


def test_most_confused_pairs_ranks_the_mistakes():
    cm = confusion_matrix(Y_TRUE, Y_PRED)
    assert most_confused_pairs(cm, k=3) == [(4, 9, 2), (5, 6, 1), (9, 4, 1)]
    assert most_confused_pairs(cm, k=1) == [(4, 9, 2)]
    assert most_confused_pairs(cm, k=5, symmetric=True) == [(4, 9, 3), (5, 6, 1)]
    assert most_confused_pairs(np.eye(10, dtype=int) * 7) == []
    with pytest.raises(ValueError, match="square"):
        most_confused_pairs(np.zeros((3, 4)))


def test_classification_report_text_has_the_per_digit_scores():
    report = classification_report(Y_TRUE, Y_PRED)
    lines = {line.split()[0]: line.split() for line in report.splitlines() if line.strip()}
    # digit 4: 2 of 3 predicted 4s are right (precision 0.6667), 2 of 4 found (recall 0.5)
    assert lines["4"][1:] == ["0.6667", "0.5000", "0.5714", "4"]
    # digit 6: both true 6s found, one of three predicted 6s is a 5
    assert lines["6"][1:3] == ["0.6667", "1.0000"]
    assert lines["accuracy"][1] == "0.8000"


def test_misclassified_lists_mistakes_most_confident_first():
    wrong = misclassified(Y_TRUE, Y_PRED)
    assert wrong.tolist() == [6, 7, 9, 16]
    assert misclassified(Y_TRUE, Y_PRED, CONFIDENCES).tolist() == [16, 9, 7, 6]
    with pytest.raises(ValueError, match="confidences"):
        misclassified(Y_TRUE, Y_PRED, CONFIDENCES[:3])


# --- Figures --------------------------------------------------------------


def test_plot_confusion_matrix_draws_on_the_given_axes():
    cm = confusion_matrix(Y_TRUE, Y_PRED)
    figure, ax = plt.subplots()
    assert plot_confusion_matrix(cm, ax=ax) is figure
    texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    assert texts[(4, 9)] == "2" and texts[(9, 4)] == "1" and texts[(9, 9)] == "3"
    assert (6, 5) not in texts  # zeros are left blank
    assert ax.get_xlabel() == "predicted digit" and ax.get_ylabel() == "true digit"
    assert plot_confusion_matrix(cm).axes  # a new figure when no ax is given


def test_plot_history_draws_training_and_validation_curves(tmp_path):
    figure, (left, right) = plt.subplots(1, 2)
    assert plot_history(HISTORY, ax=left) is figure
    (training, validation) = left.get_lines()
    assert training.get_ydata().tolist() == HISTORY["accuracy"]
    assert validation.get_ydata().tolist() == HISTORY["val_accuracy"]
    assert training.get_xdata().tolist() == [1, 2, 3]

    path = tmp_path / "digit_cnn.history.json"
    path.write_text(json.dumps(HISTORY))
    plot_history(path, metric="loss", ax=right)
    assert right.get_lines()[1].get_ydata().tolist() == HISTORY["val_loss"]
    with pytest.raises(ValueError, match="no 'top5' curve"):
        plot_history(HISTORY, metric="top5")
    with pytest.raises(TypeError, match="JSON path"):
        plot_history([0.1, 0.2])


def test_plot_misclassified_titles_each_mistake(rng):
    images = rng.integers(0, 256, (len(Y_TRUE), 28, 28), dtype=np.uint8)
    figure = plot_misclassified(images, Y_TRUE, Y_PRED, CONFIDENCES, max_images=3)
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert titles == [
        f"true 9 / pred 4\n({CONFIDENCES[16]:.0%})",
        f"true 5 / pred 6\n({CONFIDENCES[9]:.0%})",
        f"true 4 / pred 9\n({CONFIDENCES[7]:.0%})",
    ]
    np.testing.assert_array_equal(figure.axes[0].get_images()[0].get_array(), images[16])

    given = plt.figure()
    none_wrong = plot_misclassified(images, Y_TRUE, Y_TRUE, CONFIDENCES, figure=given)
    assert none_wrong is given
    assert none_wrong.axes[0].texts[0].get_text() == "No misclassified images"
    with pytest.raises(ValueError, match="images but"):
        plot_misclassified(images[:5], Y_TRUE, Y_PRED, CONFIDENCES)


# --- With a trained model -------------------------------------------------


def test_quick_model_predictions_and_report(quick_model, mnist):
    _, (x_test, y_test) = mnist
    x_test, y_test = x_test[:500], y_test[:500]
    probabilities = predict_probabilities(quick_model, x_test)
    assert probabilities.shape == (500, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)

    score = model_test_accuracy(quick_model, x_test, y_test)
    assert score > 0.8  # seconds of training on 2,000 images
    assert score == pytest.approx(accuracy(y_test, probabilities.argmax(axis=1)))
    report = report_for(quick_model, x_test, y_test)
    assert report.startswith(f"Test accuracy: {score:.2%} on 500 images")
    assert "precision" in report and "macro avg" in report


def test_disagreements_count_the_items_each_reading_alone_reads_right():
    first, second = [True, True, False, False, True], [False, True, True, True, True]
    assert disagreements(first, second) == (2, 1)  # second only: items 2 and 3; first only: item 0
    assert disagreements(second, first) == (1, 2)
    assert disagreements(first, first) == (0, 0)
    with pytest.raises(ValueError, match="same items"):
        disagreements([True], [True, False])


def test_per_class_accuracy_scores_each_digit_alone():
    truth = [0, 0, 0, 0, 1, 1, 7]
    read = [0, 8, 8, 0, 1, 7, 7]
    result = per_class_accuracy(truth, read)
    assert result.shape == (10,)
    assert result[0] == 0.5 and result[1] == 0.5 and result[7] == 1.0
    assert np.isnan(result[3])  # no 3 was written
