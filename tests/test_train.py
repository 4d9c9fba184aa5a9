"""Training: the validation split, the schedule, a quick real training, the model card."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from digitlab.card import card_path, read_card  # noqa: E402
from digitlab.recipes import RECIPES, train_and_save  # noqa: E402
from digitlab.data import CHECKSUMS  # noqa: E402
from digitlab.augmentation import augmentation  # noqa: E402
from digitlab.model import compile_model, digit_cnn, fast_cnn, load_model  # noqa: E402
from digitlab.train import (  # noqa: E402
    TrainingBatches, batch_norm_momentum, split_validation, train, training_batches, warmup_cosine,
)

# --- The validation split -------------------------------------------------


def test_split_validation_is_seeded_disjoint_and_complete():
    x, y = np.arange(100), np.arange(100) % 10
    (x_fit, y_fit), (x_val, y_val) = split_validation(x, y, validation_size=20, seed=3)
    assert len(x_fit) == 80 and len(x_val) == 20
    assert sorted(np.concatenate([x_fit, x_val]).tolist()) == list(range(100))
    np.testing.assert_array_equal(y_val, x_val % 10)
    (_, _), (x_again, _) = split_validation(x, y, validation_size=20, seed=3)
    np.testing.assert_array_equal(x_val, x_again)
    (_, _), (x_other, _) = split_validation(x, y, validation_size=20, seed=4)
    assert not np.array_equal(x_val, x_other)


@pytest.mark.parametrize("size", [0, 100, -5])
def test_split_validation_rejects_impossible_sizes(size):
    with pytest.raises(ValueError, match="validation_size"):
        split_validation(np.zeros(100), np.zeros(100), validation_size=size)


# --- The learning-rate schedule -------------------------------------------


def test_warmup_cosine_rises_to_the_peak_then_decays():
    schedule = warmup_cosine(steps=1000, peak_learning_rate=3e-3, warmup_fraction=0.1)
    rates = np.array([float(schedule(step)) for step in range(0, 1001, 50)])
    peak = int(np.argmax(rates))
    assert rates[peak] == pytest.approx(3e-3, rel=1e-3)
    assert 50 <= peak * 50 <= 150  # at the end of the warm-up
    assert np.all(np.diff(rates[: peak + 1]) > 0) and np.all(np.diff(rates[peak:]) < 0)
    assert rates[0] < 3e-3 / 10 and rates[-1] < 3e-3 / 50


@pytest.mark.parametrize("peak", [0.0, -1e-3, math.inf, math.nan])
def test_training_refuses_a_learning_rate_that_is_not_positive_before_loading_data(peak, monkeypatch):
    monkeypatch.setattr("digitlab.train.training_set", lambda *args: pytest.fail("data loaded"))
    with pytest.raises(ValueError, match="positive"):
        train(digit_cnn(), learning_rate=peak)


# --- Argument checks (no training) ----------------------------------------


def test_train_rejects_bad_arguments():
    model = digit_cnn()
    with pytest.raises(ValueError, match="epochs"):
        train(model, np.zeros((10, 28, 28)), np.zeros(10), epochs=0)
    with pytest.raises(ValueError, match="both x and y"):
        train(model, np.zeros((10, 28, 28)))
    with pytest.raises(ValueError, match="10 images but y has 9"):
        train(model, np.zeros((10, 28, 28)), np.zeros(9))


def test_batch_norm_momentum_is_restored():
    model = digit_cnn()
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms
    with batch_norm_momentum(model, 0.5):
        assert {layer.momentum for layer in norms} == {0.5}
    assert {layer.momentum for layer in norms} == {0.99}


def one_epoch(batches):
    """The (images, labels) of one pass over a ``tf.data`` dataset or a :class:`TrainingBatches`, as numpy."""
    if isinstance(batches, TrainingBatches):
        passed = [batches[index] for index in range(len(batches))]
        batches.on_epoch_end()  # as Keras calls it after each epoch
    else:
        passed = list(batches)
    return [(np.asarray(images), np.asarray(labels)) for images, labels in passed]


@pytest.mark.parametrize("make", [training_batches, TrainingBatches], ids=["tf.data", "any backend"])
def test_each_epoch_of_training_batches_holds_every_image_once_with_its_label_in_a_new_order(make):
    images = np.arange(300, dtype=np.uint8).reshape(300, 1, 1, 1)  # image i is the single pixel i (mod 256)
    labels = np.arange(300, dtype=np.int64)
    batches = make(images, labels, batch_size=64, augment=None, seed=0)
    orders = []
    for _ in range(2):
        seen_images, seen_labels = zip(*one_epoch(batches))
        seen_labels = np.concatenate(seen_labels)
        assert sorted(seen_labels) == list(range(300))
        assert np.allclose(np.concatenate(seen_images).ravel(), (seen_labels % 256) / 255)  # scaled, beside its label
        orders.append(seen_labels)
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[0], labels)


@pytest.mark.parametrize("make", [training_batches, TrainingBatches], ids=["tf.data", "any backend"])
def test_training_batches_augmented_with_the_same_seeds_are_the_same_in_every_run(make, mnist):
    """Run to run, the same images in the same order, augmented alike (batches prepared in parallel drew their
    augmentation in whatever order their threads came)."""
    (x, y), _ = mnist
    runs = []
    for _ in range(2):
        keras.utils.set_random_seed(0)
        batches = make(x[:1024, ..., None], y[:1024].astype(np.int64), 16, augmentation(seed=0), seed=0)
        runs.append(np.concatenate([images for images, _ in one_epoch(batches)]))
    assert np.array_equal(runs[0], runs[1])


def test_training_batches_on_another_backend_are_a_keras_dataset_that_augments_and_fits(monkeypatch, mnist):
    (x, y), _ = mnist
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")  # what a GPU machine without TensorFlow runs
    batches = training_batches(x[:512, ..., None], y[:512].astype(np.int64), 128, augmentation(seed=0), seed=0)
    assert isinstance(batches, TrainingBatches) and len(batches) == 4
    plain = TrainingBatches(x[:512, ..., None], y[:512], 128, augment=None, seed=0)
    augmented_images, labels = (np.asarray(part) for part in batches[0])
    plain_images, plain_labels = plain[0]
    assert np.array_equal(labels, plain_labels) and not np.allclose(augmented_images, plain_images)
    monkeypatch.undo()
    keras.utils.set_random_seed(0)
    model = digit_cnn()
    compile_model(model, 1e-3)
    history = model.fit(batches, epochs=2, verbose=0).history
    assert len(history["loss"]) == 2 and history["loss"][1] < history["loss"][0]


def test_training_batches_refuse_images_without_labels():
    with pytest.raises(ValueError, match="3 images, 2 labels"):
        TrainingBatches(np.zeros((3, 28, 28, 1), np.uint8), np.zeros(2), batch_size=2)


# --- A real quick training, saved with its card ---------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist):
    """``digitlab train --quick`` as a function: 2,000 images, 2 epochs, model + card + history."""
    out = tmp_path_factory.mktemp("trained") / "digit_cnn.keras"
    card = train_and_save(digit_cnn(), out, epochs=2, quick=True, seed=0, learning_rate=3e-3,
                          command="digitlab train --quick", verbose=0)
    return out, card


@pytest.mark.training
def test_quick_training_on_2000_images_lowers_the_loss(trained):
    out, _ = trained
    history = json.loads(out.with_suffix(".history.json").read_text())
    assert history["train_size"] == 2000 and history["epochs"] == 2
    assert history["loss"][1] < history["loss"][0]
    assert history["val_loss"][-1] < 0.5 * math.log(10)  # chance level is ln 10
    assert history["val_accuracy"][-1] > 0.8


def test_a_card_names_the_backend_and_the_gpu_a_model_trained_on(monkeypatch):
    from digitlab import card

    monkeypatch.setattr(card, "backend", lambda: "jax")
    for gpus, expected in [([], "Keras on jax, no GPU used"), (["NVIDIA H200"], "Keras on jax, on NVIDIA H200"),
                           (["NVIDIA H200"] * 2, "Keras on jax, on NVIDIA H200, the first of 2 GPUs")]:
        monkeypatch.setattr(card, "_gpu_names", lambda: gpus)
        assert card.machine().endswith(f"CPU cores, {expected}")


def test_a_card_names_the_cpu_a_model_trained_on(tmp_path, monkeypatch):
    from digitlab import card

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9B14\n\n"
                       "processor\t: 1\nmodel name\t: AMD EPYC 9B14\n")
    assert card.processor(cpuinfo) == "AMD EPYC 9B14"
    monkeypatch.setattr(card.platform, "processor", lambda: "")
    cpuinfo.write_text("processor\t: 0\nmodel name\t: \n")  # named nowhere: the architecture
    assert card.processor(cpuinfo) == card.platform.machine()
    assert card.processor(tmp_path / "missing") == card.platform.machine()
    monkeypatch.setattr(card, "processor", lambda: "AMD EPYC 9B14")
    assert ", AMD EPYC 9B14, " in card.machine()


@pytest.mark.training
def test_model_card_round_trip(trained, mnist):
    from digitlab.evaluate import test_accuracy as model_test_accuracy

    out, card = trained
    assert card_path(out) == out.with_suffix(".json") and card_path(out).is_file()
    assert read_card(out) == card
    assert card["file"] == "digit_cnn.keras" and card["model"] == "digit_cnn"
    assert card["quick"] is True and card["train_images"] == 2000 and card["epochs"] == 2
    assert card["data_sha256"] == CHECKSUMS
    assert card["command"] == "digitlab train --quick"
    assert "keras" in card["versions"] and "python" in card["versions"]
    assert card["machine"].endswith("CPU cores, Keras on tensorflow, no GPU used")  # CI's machine has no GPU

    model = load_model(out)
    _, (x_test, y_test) = mnist
    assert card["test_accuracy"] == pytest.approx(model_test_accuracy(model, x_test, y_test), abs=1e-4)
    assert card["parameters"] == model.count_params()
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert {layer.momentum for layer in norms} == {0.99}, "quick training must not change the saved model"


# --- The fast recipe --------------------------------------------------------


@pytest.mark.training
def test_fast_recipe_beats_the_standard_one_in_the_same_steps(mnist):
    """``fast_cnn`` trained for two epochs on 2,000 images by each recipe, with seeds 0, 1 and 2: the fast
    recipe reads more of the 10,000 test digits right on average. (Accuracy, not cross-entropy: a model
    trained towards smoothed targets is never fully sure, so its cross-entropy has a floor by design.)

    Training on the CPU is not bit-reproducible, so one run of a seed differs from the next: the mean gap
    is about 0.6 points with a spread of about 0.4 per seed, measured over six seeds; the mean of three
    seeds on the whole test set keeps the chance of a wrong verdict well under one in a hundred."""
    from digitlab.evaluate import accuracy, predict_probabilities

    (x_train, y_train), (x_test, y_test) = mnist
    accuracies = {}
    for name in ["fast", "standard"]:
        recipe, right = RECIPES[name], []
        for seed in [0, 1, 2]:
            model = fast_cnn()
            history = train(model, x_train, y_train, quick=True, seed=seed, verbose=0, epochs=recipe.epochs,
                            learning_rate=recipe.learning_rate, label_smoothing=recipe.label_smoothing)
            assert history["epochs"] == 2 and history["train_size"] == 2000  # the same steps
            right.append(accuracy(y_test, predict_probabilities(model, x_test).argmax(axis=1)))
        accuracies[name] = float(np.mean(right))
    assert accuracies["fast"] > accuracies["standard"], accuracies


@pytest.mark.training
def test_train_command_takes_epochs_and_rate_from_the_recipe_unless_given(tmp_path, mnist):
    from digitlab.cli import main

    out = tmp_path / "fast.keras"
    assert main(["train", "--model", "fast_cnn", "--recipe", "fast", "--quick", "--out", str(out)]) == 0
    card = read_card(out)
    assert card["model"] == "fast_cnn" and card["label_smoothing"] == RECIPES["fast"].label_smoothing
    assert card["learning_rate"].endswith(f"peak {RECIPES['fast'].learning_rate}")
    assert main(["train", "--model", "fast_cnn", "--recipe", "fast", "--learning-rate", "0.002", "--quick",
                 "--out", str(out)]) == 0
    assert read_card(out)["learning_rate"].endswith("peak 0.002")


# --- digitlab train --init ------------------------------------------------


@pytest.mark.training
def test_train_init_starts_from_a_saved_model_and_says_so_in_its_card(tmp_path, mnist, capsys):
    from digitlab.cli import main

    first, second = tmp_path / "first.keras", tmp_path / "second.keras"
    assert main(["train", "--model", "baseline_cnn", "--quick", "--out", str(first)]) == 0
    assert main(["train", "--model", "baseline_cnn", "--quick", "--init", str(first), "--out", str(second)]) == 0
    card = read_card(second)
    assert card["initialised_from"] == read_card(first)
    assert card["total_epochs"] == card["epochs"] + read_card(first)["epochs"]
    assert card["fresh_layers"] == [] and "validation_note" not in card  # same layers, same split

    assert main(["train", "--model", "digit_cnn", "--quick", "--init", str(first), "--out", str(tmp_path / "x.keras")]) == 2
    assert "different models" in capsys.readouterr().err
    assert not (tmp_path / "x.keras").exists()


@pytest.mark.training
@pytest.mark.parametrize("option, value, history_key, card_key, card_words", [
    ("--styles", "0.3", "styles", "styles", "30% of training digits restyled"),
    ("--stroke-width", "1", "stroke_width", "augmentation", "stroke width +-1"),
])
def test_train_records_what_its_digits_were_given_in_the_card_and_history(tmp_path, mnist, option, value,
                                                                          history_key, card_key, card_words):
    from digitlab.cli import main

    out = tmp_path / "model.keras"
    assert main(["train", "--model", "baseline_cnn", "--quick", option, value, "--out", str(out)]) == 0
    assert card_words in read_card(out)[card_key]
    assert json.loads(out.with_suffix(".history.json").read_text())[history_key] == float(value)


# --- digitlab train: its numbers and where it writes -----------------------


@pytest.mark.parametrize("options, message", [
    (["--epochs", "0"], "epochs must be at least 1, got 0"),
    (["--model", "crnn", "--epochs", "-3"], "epochs must be at least 1, got -3"),
    (["--learning-rate", "-1"], "learning rate must be a positive number, got -1"),
    (["--learning-rate", "nan"], "learning rate must be a positive number, got nan"),
    (["--styles", "1.5"], "--styles must be a fraction in [0, 1], got 1.5"),
    (["--styles", "nan"], "--styles must be a fraction in [0, 1]"),
    (["--model", "crnn", "--styles", "-0.1"], "--styles must be a fraction in [0, 1], got -0.1"),
    (["--model", "crnn", "--recipe", "fast"], "--recipe fast is for the digit CNNs"),
    (["--stroke-width", "1.5"], "--stroke-width must be in [0, 1], got 1.5"),
    (["--model", "crnn", "--stroke-width", "1"], "--stroke-width is for the digit CNNs"),
    (["--model", "candidate_cnn", "--non-digits", "0"], "--non-digits must be a fraction in (0, 1], got 0.0"),
    (["--model", "candidate_cnn", "--non-digits", "nan"], "--non-digits must be a fraction in (0, 1]"),
    (["--non-digits", "0.1"], "--non-digits is for --model candidate_cnn"),
])
def test_train_command_refuses_bad_numbers_before_writing_anything(tmp_path, capsys, options, message):
    from digitlab.cli import main

    out = tmp_path / "model.keras"
    assert main(["train", *options, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_train_command_names_a_missing_init_model(tmp_path, capsys):
    from digitlab.cli import main

    out = tmp_path / "model.keras"
    assert main(["train", "--model", "baseline_cnn", "--quick", "--init", str(tmp_path / "none.keras"),
                 "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("digitlab train: --init") and "none.keras" in error and "Traceback" not in error
    assert not out.exists()


def test_train_command_refuses_an_out_it_cannot_write_before_training(tmp_path, capsys, monkeypatch):
    from digitlab import train as training
    from digitlab.cli import main

    monkeypatch.setattr(training, "train", lambda *args, **kwargs: pytest.fail("trained before checking --out"))
    (tmp_path / "a_file").write_text("not a folder")
    out = tmp_path / "a_file" / "model.keras"  # a folder that cannot be made, as root too
    assert main(["train", "--model", "baseline_cnn", "--quick", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"digitlab train: --out {out}: cannot write there") and len(error.splitlines()) == 1
    assert (tmp_path / "a_file").read_text() == "not a folder"


@pytest.mark.training
def test_quick_training_without_out_never_replaces_the_shipped_weights(tmp_path, monkeypatch, mnist):
    from digitlab.cli import main
    from digitlab.model import MODELS_DIR

    shipped = {path.name: path.read_bytes() for path in MODELS_DIR.glob("*.keras")}
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--model", "baseline_cnn", "--quick"]) == 0
    assert (tmp_path / "runs" / "baseline_cnn_quick.keras").exists()
    assert read_card(tmp_path / "runs" / "baseline_cnn_quick.keras")["quick"] is True
    assert {path.name: path.read_bytes() for path in MODELS_DIR.glob("*.keras")} == shipped


@pytest.mark.training
def test_the_same_train_command_trains_the_same_network_and_another_seed_another(tmp_path, mnist):
    """A card's command is its recipe: typed again it gives the same weights, the initial ones included."""
    from digitlab.cli import main

    weights = {}
    for name, seed in [("first", "3"), ("again", "3"), ("other seed", "4")]:
        out = tmp_path / f"{name}.keras"
        assert main(["train", "--model", "baseline_cnn", "--quick", "--epochs", "1", "--seed", seed,
                     "--out", str(out)]) == 0
        weights[name] = load_model(out).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(weights["first"], weights["again"]))
    assert not all(np.array_equal(a, b) for a, b in zip(weights["first"], weights["other seed"]))
