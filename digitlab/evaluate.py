"""Evaluation: accuracy, confusion matrix, classification report, curves, mistakes.

Taught in ``notebooks/05_evaluation.ipynb`` (and the curves in
``notebooks/03_training_the_cnn.ipynb``). Plot helpers take ``ax=None`` and
return the figure; the gallery of mistakes, which needs many axes, takes
``figure=None`` instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from digitlab.preprocess import to_model_input

# --- Predictions and accuracy ---------------------------------------------

#: Images per model call when predicting a whole set. On 2 cores calls of 128 digits run as fast per digit as
#: larger ones and hold less (a call of 1,000 about 150 MB more): that matters at the end of a training, which
#: evaluates the test set while the training's memory is still held.
PREDICT_BATCH = 128


def predict_probabilities(model, images, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Softmax probabilities (N, 10) for uint8 or float digit images."""
    return np.asarray(model.predict(to_model_input(images), batch_size=batch_size, verbose=0))


def accuracy(y_true, y_pred) -> float:
    """Fraction of predictions equal to the labels."""
    y_true, y_pred = _paired(y_true, y_pred)
    if y_true.size == 0:
        raise ValueError("no predictions to score: labels and predictions are empty.")
    return float(np.mean(y_true == y_pred))


def per_class_accuracy(y_true, y_pred, num_classes: int = 10) -> np.ndarray:
    """The accuracy on each class alone: ``result[k]`` is the fraction of the digits ``k`` read as ``k``
    (NaN for a class with no digits). Taught in ``notebooks/09_real_handwriting.ipynb``."""
    y_true, y_pred = _paired(y_true, y_pred)
    right = np.bincount(y_true[y_true == y_pred], minlength=num_classes)[:num_classes]
    total = np.bincount(y_true, minlength=num_classes)[:num_classes]
    with np.errstate(invalid="ignore", divide="ignore"):
        return right / total


def disagreements(first_right, second_right) -> tuple[int, int]:
    """Two readings of the same items, item by item: how many ``second`` reads right and ``first`` wrong, and
    how many the other way round. Two networks of equal accuracy can differ on many items, and one training's
    luck decides some of them: a recipe is better when it wins seed after seed, on the same items. Taught in
    ``notebooks/09_real_handwriting.ipynb``."""
    first_right, second_right = np.asarray(first_right, dtype=bool), np.asarray(second_right, dtype=bool)
    if first_right.shape != second_right.shape:
        raise ValueError(f"readings of {first_right.shape} and {second_right.shape} items: pair readings of the "
                         "same items.")
    return int(np.sum(second_right & ~first_right)), int(np.sum(first_right & ~second_right))


def _paired(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predictions as arrays of one shape, or a ValueError that says how they differ."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"labels {y_true.shape} and predictions {y_pred.shape} differ in shape.")
    return y_true, y_pred


def test_accuracy(model, x_test=None, y_test=None) -> float:
    """Accuracy of ``model`` on MNIST's 10,000 test images (or the given ones)."""
    if x_test is None:
        from digitlab.data import load_mnist

        _, (x_test, y_test) = load_mnist()
    return accuracy(y_test, predict_probabilities(model, x_test).argmax(axis=1))


def mean_cross_entropy(y_true, probabilities) -> float:
    """The mean loss -log p(true class): lower is better; breaks ties between equally accurate models."""
    y_true, probabilities = np.asarray(y_true), np.asarray(probabilities)
    return float(-np.log(np.clip(probabilities[np.arange(len(y_true)), y_true], 1e-7, 1.0)).mean())


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


# --- Confusion matrix -----------------------------------------------------


def confusion_matrix(y_true, y_pred, num_classes: int = 10) -> np.ndarray:
    """Counts (num_classes, num_classes): row = true digit, column = predicted digit."""
    from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

    y_true, y_pred = _paired(y_true, y_pred)
    outside = [int(v) for v in np.unique(np.concatenate([y_true.ravel(), y_pred.ravel()]))
               if not 0 <= v < num_classes]
    if outside:
        raise ValueError(f"labels and predictions must be 0 to {num_classes - 1}, got {outside}.")
    return sklearn_confusion_matrix(y_true, y_pred, labels=list(range(num_classes)))


def _check_square(cm) -> np.ndarray:
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"a confusion matrix is square, got shape {cm.shape}.")
    return cm


def most_confused_pairs(cm, k: int = 5, symmetric: bool = False) -> list[tuple[int, int, int]]:
    """The ``k`` largest off-diagonal counts as ``(true, predicted, count)``, largest first.

    With ``symmetric=True`` both directions are added up and each pair comes
    once as ``(smaller digit, larger digit, count)``: 4/9 and 5/6 are the
    usual suspects on MNIST. Pairs never confused are left out.
    """
    cm = _check_square(cm)
    counts = cm + cm.T if symmetric else cm
    pairs = [
        (int(i), int(j), int(counts[i, j]))
        for i in range(len(cm))
        for j in range(len(cm))
        if i != j and counts[i, j] > 0 and (not symmetric or i < j)
    ]
    return sorted(pairs, key=lambda pair: (-pair[2], pair[0], pair[1]))[:k]


def plot_confusion_matrix(cm, ax=None, labels=None):
    """The confusion matrix as a heat map with the count in each cell. Returns the figure.

    The colour scale is logarithmic so that a handful of mistakes shows
    beside a thousand correct answers.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    cm = _check_square(cm)
    labels = list(range(len(cm))) if labels is None else list(labels)
    if len(labels) != len(cm):
        raise ValueError(f"{len(labels)} labels for a {len(cm)}x{len(cm)} confusion matrix.")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5))
    image = ax.imshow(np.maximum(cm, 0.5), cmap="Blues", norm=LogNorm(vmin=0.5, vmax=max(1, cm.max())))
    threshold = np.sqrt(max(1, cm.max()))
    for (i, j), count in np.ndenumerate(cm):
        if count:
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                    color="white" if count > threshold else "black")
    ticks = np.arange(len(cm))
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title("Confusion matrix")
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="images")
    return ax.figure


# --- Training curves ------------------------------------------------------


def load_history(history) -> dict:
    """A history as a dict, from a dict, a Keras ``History`` or a JSON file saved by ``train``."""
    if hasattr(history, "history"):  # keras.callbacks.History
        return dict(history.history)
    if isinstance(history, (str, Path)):
        return json.loads(Path(history).read_text())
    if isinstance(history, dict):
        return history
    raise TypeError(f"expected a dict, a keras History or a JSON path, got {type(history).__name__}.")


def plot_history(history, metric: str = "accuracy", ax=None):
    """Training and validation ``metric`` per epoch ("accuracy" or "loss"). Returns the figure.

    ``history`` is the dict :func:`digitlab.train.train` returns, its JSON
    file (``digitlab/models/digit_cnn.history.json``) or a Keras ``History``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    history = load_history(history)
    curves = {name: history[key] for name, key in (("training", metric), ("validation", f"val_{metric}"))
              if key in history}
    if not curves:
        available = sorted(key for key, values in history.items() if isinstance(values, list))
        raise ValueError(f"the history has no {metric!r} curve; it has {available}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    for name, values in curves.items():
        epochs = np.arange(1, len(values) + 1)
        ax.plot(epochs, values, marker="o", markersize=3, label=name)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric.capitalize()} per epoch")
    ax.grid(alpha=0.3)
    ax.legend()
    return ax.figure


# --- Mistakes -------------------------------------------------------------


def misclassified(y_true, y_pred, confidences=None) -> np.ndarray:
    """Indices of the wrong predictions, the most confident mistakes first."""
    y_true, y_pred = _paired(y_true, y_pred)
    wrong = np.flatnonzero(y_true != y_pred)
    if confidences is None:
        return wrong
    confidences = np.asarray(confidences)
    if confidences.shape != y_true.shape:
        raise ValueError(f"confidences {confidences.shape} and labels {y_true.shape} differ in shape.")
    return wrong[np.argsort(-confidences[wrong], kind="stable")]


def plot_misclassified(images, y_true, y_pred, confidences, max_images: int = 16, columns: int = 8,
                       figure=None):
    """A gallery of mistakes, most confident first, titled "true 4 / pred 9 (97%)".

    Takes all predictions and picks the wrong ones (:func:`misclassified`).
    It needs one axis per image, so it takes a ``figure`` (a new one by
    default) instead of an ``ax``; returns the figure.
    """
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    if len(images) != len(y_true):
        raise ValueError(f"{len(images)} images but {len(y_true)} labels.")
    if max_images < 1 or columns < 1:
        raise ValueError(f"max_images and columns must be at least 1, got {max_images} and {columns}.")
    indices = misclassified(y_true, y_pred, confidences)[:max_images]
    columns = min(columns, max(1, len(indices)))
    rows = max(1, int(np.ceil(len(indices) / columns)))
    if figure is None:
        figure = plt.figure(figsize=(max(4.0, 1.4 * columns), 0.4 + 1.7 * rows), layout="constrained")
    if len(indices) == 0:
        ax = figure.add_subplot()
        ax.text(0.5, 0.5, "No misclassified images", ha="center", va="center")
        ax.axis("off")
        return figure
    axes = figure.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    brightest = 255 if images.dtype == np.uint8 else 1.0
    for ax, index in zip(axes.flat, indices):
        ax.imshow(np.squeeze(images[index]), cmap="gray", vmin=0, vmax=brightest)
        ax.set_title(f"true {y_true[index]} / pred {y_pred[index]}\n({confidences[index]:.0%})", fontsize=8)
    figure.suptitle(f"{len(indices)} mistakes, most confident first", fontsize=10)
    return figure
