"""Figures for the course: digits, grids, class balance, augmentation, kernels, models, runs.

Taught in ``notebooks/01_mnist_and_preprocessing.ipynb`` (digits, grids, class
balance, augmentation), ``notebooks/02_convolution_pooling_padding_flatten.ipynb``
(image rows, matrices, the model diagram), ``notebooks/03_training_the_cnn.ipynb``
and ``notebooks/04_hyperparameter_tuning.ipynb`` (training runs compared),
``notebooks/06_segmenting_sequences.ipynb`` (boxes on an image) and
``notebooks/09_real_handwriting.ipynb`` (accuracy per class, models compared).

Every helper takes ``ax=None`` (a new figure is made when it is ``None``) and
returns the matplotlib figure. Several images share one axes, laid side by
side at their true sizes, so a 26x26 output really looks smaller than its
28x28 input.
"""

from __future__ import annotations

import numpy as np

# --- Axes -----------------------------------------------------------------


def _axes(ax, size=(6, 4)):
    """``ax`` and its figure, or a new figure and axes of ``size`` inches."""
    import matplotlib.pyplot as plt

    if ax is None:
        figure, ax = plt.subplots(figsize=size, layout="constrained")
        return figure, ax
    return ax.figure, ax


def _as_image(image) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3):
        raise ValueError(f"expected a 2D (grey) or 3D (colour) image, got shape {image.shape}.")
    return image


# --- Digits ---------------------------------------------------------------


def digit(image, title: str | None = None, ax=None):
    """One image in grey levels, without axes ticks."""
    image = _as_image(image)
    aspect = image.shape[1] / image.shape[0]
    figure, ax = _axes(ax, (min(10, 2.5 * max(1, aspect)), 2.5 * min(1, 1 / aspect) + 0.3))
    ax.imshow(image, cmap="gray")
    ax.set_axis_off()
    if title is not None:
        ax.set_title(title)
    return figure


def image_row(images, titles=None, ax=None, gap: int = 4, cmap: str = "gray"):
    """Images side by side at their true pixel sizes, each under its title.

    Each image is scaled to its own grey range, so a filtered image with
    negative values is still visible.
    """
    images = [_as_image(image) for image in images]
    if not images:
        raise ValueError("image_row needs at least one image.")
    titles = list(titles) if titles is not None else [None] * len(images)
    if len(titles) != len(images):
        raise ValueError(f"got {len(images)} images but {len(titles)} titles.")
    width = sum(image.shape[1] for image in images) + gap * (len(images) - 1)
    height = max(image.shape[0] for image in images)
    figure, ax = _axes(ax, (min(2.4 * len(images), 14), 2.8))
    left = 0
    for image, title in zip(images, titles):
        rows, columns = image.shape[:2]
        ax.imshow(image, cmap=cmap, extent=(left, left + columns, rows, 0), interpolation="nearest")
        if title:
            ax.text(left + columns / 2, -1, title, ha="center", va="bottom", fontsize=9)
        left += columns + gap
    ax.set_xlim(0, width)
    ax.set_ylim(height, -0.1 * height)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return figure


def mosaic(images, columns: int, gap: int = 2, fill: float = 0.0) -> np.ndarray:
    """Equal-sized grey images tiled into one float array, row by row, ``gap`` pixels of ``fill`` apart."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"expected (N, height, width) images, got shape {images.shape}.")
    if columns < 1:
        raise ValueError(f"columns must be at least 1, got {columns}.")
    count, height, width = images.shape
    rows = -(-count // columns)
    tiled = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap), fill, dtype=np.float32)
    for index, image in enumerate(images):
        top, left = (index // columns) * (height + gap), (index % columns) * (width + gap)
        tiled[top:top + height, left:left + width] = image
    return tiled


def sample_grid(images, labels, predictions=None, columns: int = 10, ax=None):
    """A grid of digits with their labels (and predictions: red where wrong)."""
    import matplotlib

    images, labels = np.asarray(images), np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(f"got {len(images)} images but {len(labels)} labels.")
    if predictions is not None and len(predictions) != len(labels):
        raise ValueError(f"got {len(labels)} labels but {len(predictions)} predictions.")
    columns = min(columns, len(images))
    rows = -(-len(images) // columns)
    figure, ax = _axes(ax, (1.0 * columns, 1.15 * rows))
    height, width = images.shape[1:3]
    gap = 10
    cmap = matplotlib.colormaps["gray"].with_extremes(bad="white")  # the gaps (NaN) stay white
    ax.imshow(mosaic(images, columns, gap, fill=np.nan), cmap=cmap)
    for index, label in enumerate(labels):
        x = (index % columns) * (width + gap) + width / 2
        y = (index // columns) * (height + gap) + height + 0.5
        if predictions is None:
            text, color = f"{label}", "black"
        else:
            text = f"{label} → {predictions[index]}"
            color = "black" if predictions[index] == label else "red"
        ax.text(x, y, text, ha="center", va="top", fontsize=9, color=color)
    ax.set_axis_off()
    return figure


def class_balance(labels, ax=None, title: str = "Images per digit"):
    """A bar chart of how many images each digit has."""
    counts = np.bincount(np.asarray(labels), minlength=10)
    figure, ax = _axes(ax, (6, 3))
    bars = ax.bar(range(len(counts)), counts, color="tab:blue")
    ax.bar_label(bars, fontsize=8)
    ax.axhline(counts.mean(), color="gray", linestyle="--", linewidth=1, label="mean")
    ax.set_xticks(range(len(counts)))
    ax.set_xlabel("digit")
    ax.set_ylabel("images")
    ax.set_title(title)
    ax.legend(loc="lower right")
    return figure


def augmentation_row(image, augment, count: int = 7, seed: int = 0, title: str | None = None, ax=None):
    """The same digit, then ``count`` random augmentations of it by ``augment``.

    ``augment`` is a Keras layer or model such as :func:`digitlab.augmentation.augmentation`
    or one of its layers; ``title`` goes above the row, on the left.
    """
    import keras

    from digitlab.preprocess import to_model_input

    batch = np.repeat(to_model_input(image), count, axis=0)
    keras.utils.set_random_seed(seed)
    augmented = np.asarray(augment(batch, training=True))[..., 0]
    figure, ax = _axes(ax, (min(2.4 * (count + 1), 14), 2.8))
    image_row(
        [batch[0, ..., 0], *augmented],
        ["original"] + [f"random {index + 1}" for index in range(count)],
        ax=ax,
    )
    if title is not None:
        ax.set_title(title, loc="left", fontsize=10)
    return figure


def per_class(accuracies: dict, ax=None, title: str = "Accuracy per digit"):
    """Grouped bars: for each digit 0-9, one bar per entry of ``accuracies`` (name -> 10 accuracies)."""
    figure, ax = _axes(ax, (8, 3.2))
    width = 0.8 / max(1, len(accuracies))
    for index, (name, values) in enumerate(accuracies.items()):
        values = np.asarray(values, dtype=float)
        if values.shape != (10,):
            raise ValueError(f"{name!r}: expected 10 accuracies (digits 0-9), got shape {values.shape}.")
        ax.bar(np.arange(10) + (index - (len(accuracies) - 1) / 2) * width, values, width, label=name)
    lowest = min(float(np.nanmin(np.asarray(values, dtype=float))) for values in accuracies.values())
    ax.set_ylim(max(0.0, lowest - 0.05), 1.0)
    ax.set_xticks(range(10))
    ax.set_xlabel("digit written")
    ax.set_ylabel("read right")
    ax.set_title(title)
    ax.legend(loc="lower right")
    return figure


def boxes(image, rectangles, labels=None, ax=None, color: str = "tab:green"):
    """``image`` with each ``(x, y, width, height)`` rectangle drawn on it, and its label above it."""
    from matplotlib.patches import Rectangle

    rectangles = [tuple(rectangle) for rectangle in rectangles]
    labels = list(labels) if labels is not None else [None] * len(rectangles)
    if len(labels) != len(rectangles):
        raise ValueError(f"got {len(rectangles)} rectangles but {len(labels)} labels.")
    image = _as_image(image)
    aspect = image.shape[1] / image.shape[0]
    figure, ax = _axes(ax, (min(10, 3 * max(1, aspect)), 3 * min(1, 1 / aspect) + 0.3))
    ax.imshow(image, cmap="gray")
    for (x, y, width, height), label in zip(rectangles, labels):
        # Pixel (x, y) covers x - 0.5 to x + 0.5 in imshow's coordinates.
        ax.add_patch(Rectangle((x - 0.5, y - 0.5), width, height, fill=False, edgecolor=color, linewidth=2))
        if label is not None:
            ax.text(x, y - 2, str(label), color=color, fontsize=11, fontweight="bold", va="bottom")
    ax.set_axis_off()
    return figure


# --- Training runs --------------------------------------------------------


def compare_runs(histories: dict, metric="val_loss", ax=None):
    """Curves of training runs: each ``metric`` after each epoch, one curve per run and metric.

    ``histories`` maps a run's label to its history dict (as
    :func:`digitlab.train.train` returns). ``metric`` is one name or a list,
    e.g. ``["loss", "val_loss"]`` for training against validation loss.
    """
    from matplotlib.ticker import MaxNLocator

    if not histories:
        raise ValueError("histories is empty: nothing to compare.")
    metrics = [metric] if isinstance(metric, str) else list(metric)
    figure, ax = _axes(ax, (6, 3.5))
    for label, history in histories.items():
        for name in metrics:
            if name not in history:
                raise ValueError(f"run {label!r} has no {name!r}; it has {', '.join(sorted(history))}.")
            values = history[name]
            curve = str(label) if len(metrics) == 1 else f"{label}: {name.replace('_', ' ')}"
            style = "--" if name.startswith("val_") and len(metrics) > 1 else "-"
            ax.plot(range(1, len(values) + 1), values, style, marker="o", markersize=3, label=curve)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(" / ".join(name.replace("_", " ") for name in metrics))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return figure


# --- Numbers --------------------------------------------------------------


def matrix(values, title: str | None = None, ax=None, decimals: int = 2,
           xlabel: str | None = None, ylabel: str | None = None):
    """A small 2D array drawn as coloured cells with its numbers written in.

    With ``xlabel`` or ``ylabel`` the rows and columns are numbered (as in a
    confusion matrix); without, the axes stay bare.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"expected a 2D array, got shape {values.shape}.")
    figure, ax = _axes(ax, (0.45 * values.shape[1] + 1, 0.45 * values.shape[0] + 0.6))
    ax.imshow(values, cmap="coolwarm" if values.min() < 0 else "Blues")
    middle = (values.max() + values.min()) / 2
    for (row, column), value in np.ndenumerate(values):
        text = f"{value:.{decimals}f}".rstrip("0").rstrip(".") if decimals else f"{value:.0f}"
        ax.text(column, row, text or "0", ha="center", va="center", fontsize=9,
                color="white" if values.min() >= 0 and value > middle else "black")
    if xlabel is None and ylabel is None:
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        ax.set_xticks(range(values.shape[1]))
        ax.set_yticks(range(values.shape[0]))
        ax.set_xlabel(xlabel or "")
        ax.set_ylabel(ylabel or "")
    if title is not None:
        ax.set_title(title)
    return figure


# --- Models ---------------------------------------------------------------


def layer_table(model) -> list[tuple[str, str, str, int]]:
    """``(layer name, layer type, output shape, parameters)`` for each layer of ``model`` after its input."""
    rows = []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":  # functional models list their input too
            continue
        shape = tuple(layer.output.shape[1:]) if hasattr(layer, "output") else ()
        rows.append((layer.name, type(layer).__name__, "x".join(str(d) for d in shape), layer.count_params()))
    return rows


_LAYER_COLOURS = {
    "Conv2D": "#8ecae6", "MaxPooling2D": "#ffb703", "AveragePooling2D": "#ffb703",
    "GlobalAveragePooling2D": "#ffb703", "Flatten": "#b5e48c", "Dense": "#f4978e",
    "Dropout": "#dddddd", "BatchNormalization": "#cdb4db", "ReLU": "#e9edc9",
}


def model_diagram(model, ax=None):
    """The model's layers as a column of boxes: type, output shape and parameters.

    Drawn with matplotlib from ``model.layers`` (no graphviz needed).
    """
    from matplotlib.patches import FancyBboxPatch

    rows = [("input", "Input", "x".join(str(d) for d in model.input_shape[1:]), 0)] + layer_table(model)
    figure, ax = _axes(ax, (5, 0.55 * len(rows) + 0.5))
    for index, (name, kind, shape, parameters) in enumerate(rows):
        y = len(rows) - 1 - index
        box = FancyBboxPatch((0.05, y + 0.12), 0.9, 0.7, boxstyle="round,pad=0.02",
                             facecolor=_LAYER_COLOURS.get(kind, "#ffffff"), edgecolor="black")
        ax.add_patch(box)
        label = f"{kind}  →  {shape}" + (f"   ({parameters:,} params)" if parameters else "")
        ax.text(0.5, y + 0.47, label, ha="center", va="center", fontsize=9)
        if index:
            ax.annotate("", xy=(0.5, y + 0.82), xytext=(0.5, y + 1.12),
                        arrowprops={"arrowstyle": "->", "color": "gray"})
    ax.set_xlim(0, 1)
    ax.set_ylim(0, len(rows))
    ax.set_axis_off()
    ax.set_title(f"{model.name}: {model.count_params():,} parameters")
    return figure


# --- The segmentation graph ---------------------------------------------------


def segmentation_graph(ink, lattice, ax=None, spans: int = 12):
    """One line's segmentation graph (:class:`digitlab.decode.Lattice`) drawn under its ink.

    The line's ink (white on black) is shown with each piece's box and
    number. Below it, the nodes (boundaries between pieces) sit on a line,
    and each candidate run of pieces is an arc from its first boundary to
    its last, labelled with its best reading ("-": not a digit) and the
    second best if it scores 0.01 or more (``exp(-cost)``, the probability when the price per
    digit is 0). The ``spans`` best runs are drawn, and the best path in
    green. Taught in ``notebooks/06_segmenting_sequences.ipynb``.
    """
    pieces = lattice.pieces
    if not pieces:
        raise ValueError("the lattice has no pieces to draw.")
    figure, ax = _axes(ax, size=(9, 5))
    left, top, right, bottom = _draw_pieces(ax, _as_image(ink), pieces)
    height = bottom - top
    # Boundary i sits between piece i-1 and piece i (at the line's ends, at its edges).
    centres = [piece.box[0] + piece.box[2] / 2 for piece in pieces]
    nodes = [left] + [(a + b) / 2 for a, b in zip(centres, centres[1:])] + [right]
    base = bottom + 0.2 * height
    deepest = _draw_runs(ax, lattice, nodes, base, height, spans)
    ax.plot(nodes, [base] * len(nodes), "o", color="black", markersize=4)
    ax.set_xlim(left - 0.1 * height, right + 0.1 * height)
    ax.set_ylim(base + 0.3 * height * deepest + 0.3 * height, top - 0.15 * height)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"Best path {lattice.text!r} in green; grey: other runs of pieces, the most probable")
    return figure


def _draw_pieces(ax, ink, pieces) -> tuple[int, int, int, int]:
    """The ink under the pieces, each piece's box and number; returns their extent (left, top, right, bottom)."""
    from matplotlib.patches import Rectangle

    from digitlab.decode import union_box

    left, top, width, height = union_box([piece.box for piece in pieces])
    right, bottom = left + width, top + height
    ax.imshow(ink[top:bottom, left:right], cmap="gray", extent=(left, right, bottom, top))
    for index, piece in enumerate(pieces):
        x, y, w, h = piece.box
        ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor="tab:orange", linewidth=1))
        ax.text(x + w / 2, y, str(index), color="tab:orange", ha="center", va="bottom", fontsize=8)
    return left, top, right, bottom


def _draw_runs(ax, lattice, nodes, base: float, height: float, spans: int) -> int:
    """Arcs over the ``spans`` most probable runs of pieces and the best path's (green, on top), labelled
    with their readings; returns the most pieces one drawn arc spans."""
    from matplotlib.patches import Arc

    by_span: dict[tuple[int, int], list] = {}
    for edge in sorted(lattice.edges, key=lambda edge: edge.cost):
        by_span.setdefault((edge.start, edge.end), []).append(edge)
    chosen = {(edge.start, edge.end) for edge in lattice.path}
    shown = sorted(by_span, key=lambda span: by_span[span][0].cost)[:spans]
    shown += [span for span in chosen if span not in shown]
    deepest = 1
    for span in sorted(shown, key=lambda span: span in chosen):  # the best path is drawn last, on top
        start, end = nodes[span[0]], nodes[span[1]]
        depth = span[1] - span[0]
        deepest = max(deepest, depth)
        lift = 0.3 * height * depth
        colour = "tab:green" if span in chosen else "0.6"
        ax.add_patch(Arc(((start + end) / 2, base), end - start, 2 * lift, theta1=0, theta2=180,
                         edgecolor=colour, linewidth=2.5 if span in chosen else 1))
        readings = [edge for edge in by_span[span][:2] if edge is by_span[span][0] or np.exp(-edge.cost) >= 0.01]
        label = "\n".join(f"{''.join(map(str, edge.values)) or '-'} {np.exp(-edge.cost):.2f}" for edge in readings)
        ax.text((start + end) / 2, base + lift, label, color=colour, ha="center", va="top", fontsize=7,
                fontweight="bold" if span in chosen else "normal")
    return deepest
