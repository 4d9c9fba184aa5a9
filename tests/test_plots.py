"""The course's figures: right number of things drawn, helpful errors, ax=None or a given axes."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from digitlab import plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def digits(rng):
    return (rng.random((12, 28, 28)) * 255).astype(np.uint8), np.arange(12) % 10


def test_mosaic_places_every_image(digits):
    images, _ = digits
    tiled = plots.mosaic(images, columns=5, gap=2)
    assert tiled.shape == (3 * 28 + 2 * 2, 5 * 28 + 4 * 2)
    np.testing.assert_array_equal(tiled[30:58, 30:58], images[6])  # second row, second column
    assert np.all(tiled[28:30, :] == 0)
    with pytest.raises(ValueError):
        plots.mosaic(images[0], columns=5)


def test_sample_grid_writes_labels_and_marks_mistakes(digits):
    images, labels = digits
    predictions = labels.copy()
    predictions[3] = 9
    figure = plots.sample_grid(images, labels, predictions, columns=6)
    texts = figure.axes[0].texts
    assert len(texts) == 12
    red = [text.get_text() for text in texts if text.get_color() == "red"]
    assert red == ["3 → 9"]
    with pytest.raises(ValueError, match="labels"):
        plots.sample_grid(images, labels[:5])


def test_class_balance_counts(digits):
    _, labels = digits
    figure = plots.class_balance(labels)
    heights = [patch.get_height() for patch in figure.axes[0].patches]
    assert heights == [2, 2, 1, 1, 1, 1, 1, 1, 1, 1]


def test_helpers_draw_into_a_given_axes(digits):
    images, labels = digits
    figure, ax = plt.subplots()
    assert plots.class_balance(labels, ax=ax) is figure
    figure, ax = plt.subplots()
    assert plots.image_row([images[0], images[1][:20, :20]], ["a", "b"], ax=ax) is figure
    assert len(ax.images) == 2 and ax.images[1].get_extent() == [32, 52, 20, 0]


def test_image_row_checks_titles(digits):
    images, _ = digits
    with pytest.raises(ValueError, match="titles"):
        plots.image_row(images[:2], ["only one"])
    with pytest.raises(ValueError):
        plots.image_row([])


def test_augmentation_row_changes_the_digit(mnist):
    from digitlab.augmentation import augmentation

    (x_train, _), _ = mnist
    figure = plots.augmentation_row(x_train[0], augmentation(seed=0), count=4, title="all")
    arrays = [np.asarray(image.get_array()) for image in figure.axes[0].images]
    assert len(arrays) == 5
    assert all(not np.allclose(arrays[0], augmented) for augmented in arrays[1:])
    assert figure.axes[0].get_title(loc="left") == "all"


def test_matrix_writes_every_value():
    figure = plots.matrix(np.array([[-1, 0.5], [2, 0]]))
    assert [text.get_text() for text in figure.axes[0].texts] == ["-1", "0.5", "2", "0"]
    assert list(figure.axes[0].get_xticks()) == []


def test_matrix_numbers_rows_and_columns_when_labelled():
    ax = plots.matrix(np.eye(3, dtype=int) * 7, decimals=0, xlabel="predicted", ylabel="true").axes[0]
    assert list(ax.get_xticks()) == [0, 1, 2] and ax.get_ylabel() == "true"
    assert [text.get_text() for text in ax.texts][:3] == ["7", "0", "0"]


@pytest.mark.parametrize("builder", ["baseline_cnn", "digit_cnn"])
def test_diagram_and_table_cover_every_layer(builder):
    from digitlab import model as models

    model = getattr(models, builder)()
    rows = plots.layer_table(model)
    assert sum(parameters for *_, parameters in rows) == model.count_params()
    labels = [text.get_text() for text in plots.model_diagram(model).axes[0].texts if text.get_text()]
    assert len(labels) == len(rows) + 1  # plus the input
    assert labels[0] == "Input  →  28x28x1" and labels[-1].startswith("Dense  →  10")


def test_model_diagram_of_the_seed():
    from digitlab.model import baseline_cnn

    model = baseline_cnn()
    figure = plots.model_diagram(model)
    labels = [text.get_text() for text in figure.axes[0].texts if text.get_text()]
    assert len(labels) == len(model.layers) + 1  # plus the input
    assert labels[1] == "Conv2D  →  26x26x32   (320 params)"
    assert any(label.startswith("Flatten  →  1600") for label in labels)
    assert figure.axes[0].get_title() == "baseline_cnn_32_128: 225,034 parameters"


def test_boxes_draws_one_rectangle_and_label_each(digits):
    images, _ = digits
    figure = plots.boxes(images[0], [(2, 3, 10, 12), (15, 3, 8, 12)], labels=[4, 7])
    ax = figure.axes[0]
    assert [(patch.get_x(), patch.get_width()) for patch in ax.patches] == [(1.5, 10), (14.5, 8)]
    assert [text.get_text() for text in ax.texts] == ["4", "7"]
    with pytest.raises(ValueError, match="labels"):
        plots.boxes(images[0], [(2, 3, 10, 12)], labels=[1, 2])


def test_compare_runs_one_curve_per_run():
    histories = {"fast": {"val_loss": [1.0, 0.5, 0.4]}, "slow": {"val_loss": [2.0, 1.8]}}
    lines = plots.compare_runs(histories).axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["fast", "slow"]
    assert list(lines[1].get_ydata()) == [2.0, 1.8]
    with pytest.raises(ValueError, match="accuracy"):
        plots.compare_runs(histories, metric="accuracy")


def test_compare_runs_training_against_validation():
    history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}
    lines = plots.compare_runs({"seed": history}, ["loss", "val_loss"]).axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["seed: loss", "seed: val loss"]
    assert [line.get_linestyle() for line in lines] == ["-", "--"]


def test_per_class_draws_one_bar_per_model_and_digit():
    figure = plots.per_class({"plain": np.linspace(0.8, 1.0, 10), "styled": np.full(10, 0.95)})
    ax = figure.axes[0]
    assert len(ax.patches) == 20
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["plain", "styled"]
    with pytest.raises(ValueError, match="expected 10 accuracies"):
        plots.per_class({"short": [0.9, 0.8]})
    _, given = plt.subplots()
    assert plots.per_class({"one": np.ones(10)}, ax=given) is given.figure
