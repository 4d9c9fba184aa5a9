"""The CNNs, augmentation, the hypermodel, saved models, and THE shipped model."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from digitlab.model import (  # noqa: E402
    DEFAULT_MODEL,
    ModelFileError,
    SmoothedCrossentropy,
    build_hypermodel,
    digit_cnn,
    fast_cnn,
    load_default,
    load_model,
    baseline_cnn,
    warm_start,
)

SHIPPED_FLOOR = 0.996


# --- Architectures --------------------------------------------------------


@pytest.mark.parametrize("builder", [baseline_cnn, digit_cnn, fast_cnn])
def test_models_map_digits_to_ten_probabilities(builder):
    model = builder()
    assert model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 10)
    probabilities = np.asarray(model(np.zeros((3, 28, 28, 1), np.float32), training=False))
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_baseline_cnn_takes_its_width_from_the_arguments():
    model = baseline_cnn(filters=64, dense_units=32)
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [layer.filters for layer in convolutions] == [64, 128]
    assert [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)] == [32, 10]


@pytest.mark.parametrize(
    "filters, dense_units, learning_rate",
    [(32, 32, 1e-2), (64, 128, 1e-3), (128, 64, 1e-4)],
)
def test_build_hypermodel_follows_each_draw(filters, dense_units, learning_rate):
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    hp.Fixed("filters", filters)
    hp.Fixed("dense_units", dense_units)
    hp.Fixed("learning_rate", learning_rate)
    model = build_hypermodel(hp)
    assert model.output_shape == (None, 10)
    assert model.get_layer(index=0).filters == filters
    assert [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)][0] == dense_units
    assert float(model.optimizer.learning_rate) == pytest.approx(learning_rate)
    assert model.loss == "sparse_categorical_crossentropy"


def test_build_hypermodel_declares_the_seed_grid():
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    build_hypermodel(hp)
    grid = {p.name: list(p.values) for p in hp.space}
    assert grid == {"filters": [32, 64, 128], "dense_units": [32, 64, 128],
                    "learning_rate": [1e-2, 1e-3, 1e-4]}


# --- The loss -------------------------------------------------------------


def test_smoothed_crossentropy_is_cross_entropy_against_softened_targets():
    labels = np.array([0, 2])
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
    plain = keras.losses.SparseCategoricalCrossentropy()(labels, probabilities)
    np.testing.assert_allclose(SmoothedCrossentropy(0.0)(labels, probabilities), plain, rtol=1e-5)
    smoothing = 0.3
    targets = np.full((2, 3), smoothing / 3) + (1 - smoothing) * np.eye(3)[labels]
    expected = -np.mean(np.sum(targets * np.log(probabilities), axis=1))
    np.testing.assert_allclose(SmoothedCrossentropy(smoothing)(labels, probabilities), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="label_smoothing"):
        SmoothedCrossentropy(1.0)


# --- Saved models ---------------------------------------------------------


def test_loading_a_missing_model_names_the_file(tmp_path):
    missing = tmp_path / "nowhere" / "digit_cnn.keras"
    with pytest.raises(ModelFileError, match="not found.*nowhere/digit_cnn.keras"):
        load_model(missing)


def test_commands_name_a_missing_model_in_one_line(tmp_path, capsys):
    from digitlab.cli import main

    missing, out = str(tmp_path / "none.keras"), tmp_path / "ensemble.keras"
    assert main(["evaluate", "--model", missing]) == 2
    assert capsys.readouterr().err.startswith("digitlab evaluate: Model file not found")
    assert main(["ensemble", missing, missing, "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith("digitlab ensemble: Model file not found")
    assert not out.exists()


def test_loading_a_corrupted_model_names_the_file(tmp_path):
    damaged = tmp_path / "damaged.keras"
    damaged.write_bytes(b"PK\x03\x04 this is no zip archive" * 10)
    with pytest.raises(ModelFileError, match="damaged.keras"):
        load_model(damaged)


def test_a_file_that_is_no_model_is_refused_in_one_short_line(tmp_path, capsys):
    from digitlab.cli import main

    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG not a model")
    assert main(["evaluate", "--model", str(photo)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"digitlab evaluate: {photo} is not a model file") and error.count("\n") == 1
    assert "SavedModel" not in error  # Keras' own paragraph about another format


def test_a_saved_model_predicts_the_same_after_loading(tmp_path, rng):
    from digitlab.card import save_model

    model = digit_cnn()
    images = rng.random((5, 28, 28, 1), dtype=np.float32)
    before = np.asarray(model(images, training=False))
    save_model(model, tmp_path / "m.keras")
    assert not list(tmp_path.glob(".*partial*")), "a temporary file was left behind"
    after = np.asarray(load_model(tmp_path / "m.keras")(images, training=False))
    np.testing.assert_allclose(after, before, atol=1e-6)


def test_a_trained_model_is_saved_without_its_optimizer_and_trains_on(tmp_path, rng):
    import zipfile

    from digitlab.card import save_model

    model = baseline_cnn(filters=8, dense_units=16)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    images, labels = rng.random((16, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 16)
    model.fit(images, labels, epochs=1, verbose=0)
    save_model(model, tmp_path / "trained.keras")
    with zipfile.ZipFile(tmp_path / "trained.keras") as archive:
        saved = archive.read("model.weights.h5")
    assert b"optimizer" not in saved, "the optimizer's state was saved beside the weights"
    loaded = load_model(tmp_path / "trained.keras")
    for kept, original in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(kept, original)
    model.fit(images, labels, epochs=1, verbose=0)  # the saved model's optimizer is still its own
    assert model.optimizer.iterations.numpy() == 2


def test_warm_start_copies_the_layers_that_fit_and_names_the_others(rng):
    images = rng.random((3, 28, 28, 1), dtype=np.float32)
    trained = baseline_cnn(filters=32, dense_units=128)
    same = baseline_cnn(filters=32, dense_units=128)
    assert warm_start(same, trained) == []
    np.testing.assert_allclose(same(images, training=False), trained(images, training=False), atol=1e-6)

    narrower = baseline_cnn(filters=32, dense_units=64)
    fresh = warm_start(narrower, trained)
    dense = [layer.name for layer in narrower.layers if isinstance(layer, keras.layers.Dense)]
    assert fresh == dense  # both dense layers changed shape; the convolutions were copied
    for copied, source in zip(narrower.layers, trained.layers):
        if isinstance(copied, keras.layers.Conv2D):
            np.testing.assert_array_equal(copied.get_weights()[0], source.get_weights()[0])


def test_warm_start_starts_a_model_with_a_layer_added_from_all_the_others():
    trained = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8), keras.layers.Dense(3)])
    grown = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8), keras.layers.Dense(8, name="added"),
                              keras.layers.Dense(3)])
    assert warm_start(grown, trained) == ["added"]
    np.testing.assert_array_equal(grown.layers[0].get_weights()[0], trained.layers[0].get_weights()[0])
    np.testing.assert_array_equal(grown.layers[2].get_weights()[0], trained.layers[1].get_weights()[0])


def test_warm_start_refuses_an_unrelated_model():
    from digitlab.crnn import crnn

    with pytest.raises(ValueError, match="different models"):
        warm_start(baseline_cnn(), crnn())


# --- THE shipped model ----------------------------------------------------


def test_ensemble_averages_its_members(quick_model):
    from digitlab.model import ensemble

    import keras

    images = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    keras.utils.set_random_seed(3)
    other = digit_cnn(width=8)  # untrained: a member that reads otherwise
    averaged = ensemble([quick_model, other])
    expected = (np.asarray(quick_model(images)) + np.asarray(other(images))) / 2
    assert not np.allclose(np.asarray(quick_model(images)), np.asarray(other(images)), atol=1e-3)
    np.testing.assert_allclose(averaged(images), expected, atol=1e-6)
    with pytest.raises(ValueError, match="at least 2"):
        ensemble([quick_model])


@pytest.mark.slow
def test_shipped_model_reaches_its_floor_and_matches_its_card(mnist):
    from digitlab.card import read_card
    from digitlab.evaluate import test_accuracy as model_test_accuracy

    _, (x_test, y_test) = mnist
    score = model_test_accuracy(load_default(), x_test, y_test)
    assert score >= SHIPPED_FLOOR, f"shipped model: {score:.2%} < {SHIPPED_FLOOR:.2%} on MNIST's test set"
    card = read_card(DEFAULT_MODEL)
    assert card["test_images"] == len(x_test) == 10_000
    assert card["test_accuracy"] == pytest.approx(score, abs=1e-4), "the model card disagrees with the model"
    members = card.get("members", [card])  # an ensemble's card keeps its members' cards
    assert not any(member["quick"] for member in members)
    assert all(member["train_images"] == 55_000 for member in members)


# --- Model files are data, never code ----------------------------------------


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_a_model_with_code_in_it_is_refused_and_its_code_never_runs(tmp_path, capsys, suffix):
    """A Lambda layer holds Python code; loading must refuse it (Keras' safe mode), not run it."""
    from digitlab.cli import main
    from digitlab.model import ModelFileError, load_model
    from digitlab.synth import SAMPLES_DIR

    marker = tmp_path / "payload-ran"
    inputs = keras.Input((28, 28, 1))
    payload = keras.layers.Lambda(lambda t, path=str(marker): (open(path, "w").close(), t)[1])(inputs)
    marker.unlink()  # building the model called the lambda once; only loading matters below
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(payload))
    path = tmp_path / f"evil{suffix}"
    keras.Model(inputs, outputs).save(path)

    with pytest.raises(ModelFileError, match="Lambda"):
        load_model(path)
    assert main(["read", str(SAMPLES_DIR / "4096.png"), "--model", str(path)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not marker.exists()


#: The first Keras whose safe mode has no known way around it (Lambda code run at load was possible up to 3.11.2,
#: archive path traversal up to 3.13): the floor that load_model's refusal above relies on.
FIRST_SAFE_KERAS = (3, 14)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.match(r"\d+(\.\d+)*", text).group().split("."))


def test_every_keras_the_project_installs_has_a_safe_mode_without_known_bypasses():
    root = Path(__file__).resolve().parent.parent
    [floor] = re.findall(r'"keras>=([\d.]+)', (root / "pyproject.toml").read_text())
    [pinned] = re.findall(r"^keras==([\d.]+)$", (root / "binder" / "requirements.txt").read_text(), re.MULTILINE)
    for version in (floor, pinned, keras.__version__):
        assert _version(version) >= FIRST_SAFE_KERAS, version


# --- Model files that would cost gigabytes, or lie about what they are (issue 23) ------------


def _deflated_spaces(size: int, block: int = 2**24) -> bytes:
    """Raw deflate of ``size`` spaces (a multiple of ``block``), made in a moment: after a full flush
    each block compresses to the same bytes, so the first one's are repeated."""
    import zlib

    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(b" " * block) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(b" " * block) + compressor.flush(zlib.Z_FULL_FLUSH)
    return first + again * (size // block - 1) + compressor.flush()


def _zip(path, members: dict) -> None:
    """A zip archive of ``members``: name -> (deflated bytes, unpacked size). CRCs are left at 0."""
    import struct

    local, central = b"", b""
    for name, (deflated, size) in members.items():
        fields = struct.pack("<HHHHHIII", 20, 0, 8, 0, 0x21, 0, len(deflated), size)
        central += b"PK\x01\x02" + struct.pack("<H", 20) + fields + struct.pack(
            "<HHHHHII", len(name), 0, 0, 0, 0, 0, len(local)) + name.encode()
        local += b"PK\x03\x04" + fields + struct.pack("<HH", len(name), 0) + name.encode() + deflated
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, len(members), len(members), len(central), len(local), 0)
    path.write_bytes(local + central + end)


def test_a_keras_file_whose_config_unpacks_to_gigabytes_is_refused_unread(tmp_path):
    """A 1.5 GiB config.json in a 1.5 MB .keras file took 3.8 GB to load."""
    import tracemalloc
    import zlib

    def deflated(data: bytes):
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        return compressor.compress(data) + compressor.flush(), len(data)

    path = tmp_path / "bomb.keras"
    _zip(path, {"metadata.json": deflated(b"{}"), "config.json": (_deflated_spaces(3 * 2**29), 3 * 2**29),
                "model.weights.h5": deflated(b"\0" * 1000)})
    assert path.stat().st_size < 4 * 2**20
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="bomb.keras: its config.json unpacks to 1,536 MiB, more than the 16 MiB"):
            load_model(path)
        assert tracemalloc.get_traced_memory()[1] < 2**25  # never read: 32 MiB at most
    finally:
        tracemalloc.stop()


def test_a_truncated_keras_file_is_called_truncated_not_missing(tmp_path):
    whole = DEFAULT_MODEL.read_bytes()
    path = tmp_path / "cut.keras"
    for size in (1000, len(whole) // 2, len(whole) - 100):
        path.write_bytes(whole[:size])
        with pytest.raises(ModelFileError, match="cut.keras is not a complete .keras file") as error:
            load_model(path)
        assert "truncated" in str(error.value) and "not found" not in str(error.value).lower()
        assert "\n" not in str(error.value)


def test_a_legacy_h5_model_still_loads(tmp_path):
    path = tmp_path / "small.h5"
    keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]).save(path)
    assert load_model(path).predict(np.zeros((1, 28, 28, 1)), verbose=0).shape == (1, 10)


def test_an_h5_file_whose_arrays_unpack_to_gigabytes_is_refused_unread(tmp_path):
    """HDF5 compresses arrays too: a 1 GiB array of zeros, never written, takes a few KB on disk."""
    import h5py

    path = tmp_path / "bomb.h5"
    with h5py.File(path, "w") as file:
        file.attrs["model_config"] = "{}"
        file.create_dataset("weights", shape=(2**30,), dtype="uint8", chunks=(2**20,), compression="gzip")
    assert path.stat().st_size < 2**20
    with pytest.raises(ModelFileError, match="bomb.h5: its arrays unpack 1,024 MiB, more than the 256 MiB"):
        load_model(path)


def test_an_h5_file_with_a_config_of_many_megabytes_is_refused_unread(tmp_path):
    """Keras keeps an .h5 model's JSON config in an attribute, which it reads whole and parses."""
    import h5py

    path = tmp_path / "config.h5"
    with h5py.File(path, "w") as file:
        file.attrs["model_config"] = " " * (20 * 2**20)
    with pytest.raises(ModelFileError, match="config.h5: its attributes and headers take 20 MiB, more than the 16"):
        load_model(path)


def test_a_damaged_h5_file_is_called_damaged(tmp_path):
    good, cut = tmp_path / "good.h5", tmp_path / "cut.h5"
    keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]).save(good)
    cut.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(ModelFileError, match="cut.h5") as error:
        load_model(cut)
    assert "not found" not in str(error.value).lower() and "\n" not in str(error.value)


# --- Compiled once per model ------------------------------------------------


def test_models_compiled_one_after_another_are_not_warned_of_retracing():
    """Each model's compiled forward is traced once; a third reader made in a notebook prints no warning."""
    import logging

    from digitlab.model import compiled_forward

    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    tensorflow_logger, keep = logging.getLogger("tensorflow"), Keep(logging.WARNING)
    tensorflow_logger.addHandler(keep)
    try:
        models = [keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]) for _ in range(8)]
        for model in models:
            outputs = compiled_forward(model, (4,))(np.ones((3, 4), np.float32))
            np.testing.assert_allclose(outputs, model(np.ones((3, 4), np.float32)), atol=1e-6)
        twice = compiled_forward(models[0], (4,))
        assert twice is compiled_forward(models[0], (4,))  # one function per model, kept
    finally:
        tensorflow_logger.removeHandler(keep)
    assert not [message for message in seen if "retracing" in message], seen
