"""Evaluation: accuracy, confusion matrix, classification report, curves, mistakes.

Taught in ``notebooks/05_evaluation.ipynb`` (and the curves in
``notebooks/03_training_the_cnn.ipynb``). Plot helpers take ``ax=None`` and
return the figure.
"""

from __future__ import annotations

import numpy as np

from digitlab.preprocess import to_model_input


def predict_probabilities(model, images, batch_size: int = 1000) -> np.ndarray:
    """Softmax probabilities (N, 10) for uint8 or float digit images."""
    return np.asarray(model.predict(to_model_input(images), batch_size=batch_size, verbose=0))


def accuracy(y_true, y_pred) -> float:
    """Fraction of predictions equal to the labels."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"labels {y_true.shape} and predictions {y_pred.shape} differ in shape.")
    return float(np.mean(y_true == y_pred))


def test_accuracy(model, x_test=None, y_test=None) -> float:
    """Accuracy of ``model`` on MNIST's 10,000 test images (or the given ones)."""
    if x_test is None:
        from digitlab.data import load_mnist

        _, (x_test, y_test) = load_mnist()
    return accuracy(y_test, predict_probabilities(model, x_test).argmax(axis=1))


def classification_report(y_true, y_pred) -> str:
    """scikit-learn's per-digit precision, recall and F1, as text."""
    from sklearn.metrics import classification_report as report

    return report(y_true, y_pred, digits=4, zero_division=0)


def report_for(model, x_test=None, y_test=None) -> str:
    """Test accuracy and classification report of ``model`` on MNIST's test set."""
    if x_test is None:
        from digitlab.data import load_mnist

        _, (x_test, y_test) = load_mnist()
    y_pred = predict_probabilities(model, x_test).argmax(axis=1)
    return (
        f"Test accuracy: {accuracy(y_test, y_pred):.2%} on {len(y_test)} images\n\n"
        + classification_report(y_test, y_pred)
    )
