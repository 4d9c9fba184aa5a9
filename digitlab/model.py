"""The CNNs: a plain baseline, our best model, a fast one, their loss and the tuner's hypermodel.

Taught in ``notebooks/03_training_the_cnn.ipynb`` (models, loss) and
``notebooks/04_hyperparameter_tuning.ipynb`` (the hypermodel).

Models take 28x28x1 float images in [0, 1] (white ink on black, as MNIST) and
return 10 softmax probabilities. Augmentation (:mod:`digitlab.augmentation`) is
applied to training batches only, so the saved classifiers hold no random layers.
"""

from __future__ import annotations

import weakref
from pathlib import Path

import keras
from keras import layers, ops

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = MODELS_DIR / "digit_cnn.keras"
CANDIDATE_MODEL = MODELS_DIR / "candidate_cnn.keras"

#: The tuning grid (Keras Tuner) over the baseline's width and learning rate.
FILTERS_GRID = (32, 64, 128)
DENSE_GRID = (32, 64, 128)
LEARNING_RATE_GRID = (1e-2, 1e-3, 1e-4)


# --- The baseline CNN -------------------------------------------------------


def baseline_cnn(filters: int = 32, dense_units: int = 128, dropout: float = 0.5) -> keras.Model:
    """The baseline CNN: conv -> pool -> conv -> pool -> flatten -> dense -> softmax.

    The second convolution has twice the filters of the first, as in Keras'
    ``mnist_convnet`` example. Used for teaching and as the speed baseline.
    """
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            layers.Conv2D(filters, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(2 * filters, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dropout(dropout),
            layers.Dense(dense_units, activation="relu"),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name=f"baseline_cnn_{filters}_{dense_units}",
    )


# --- Our CNN --------------------------------------------------------------


def conv_bn(x, filters: int, kernel_size, strides: int = 1, padding: str = "same", conv=layers.Conv2D):
    """Convolution (no bias: batch norm has one) -> batch norm -> ReLU; ``conv`` may be ``layers.Conv1D``."""
    x = conv(filters, kernel_size, strides=strides, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


def digit_cnn(width: int = 32, dropout: float = 0.4, classes: int = NUM_CLASSES,
              name: str = "digit_cnn") -> keras.Model:
    """Our best single CNN: batch norm, dropout and learned down-sampling.

    Deotte's design (two 3x3 convolutions then a strided 5x5 "learned
    pooling", twice) reaches ~99.64 % but spends most of its time at 28x28:
    about 10x the baseline's cost per epoch here. This one keeps one convolution
    at 28x28, down-samples with strided 3x3 convolutions, ends with two
    unpadded convolutions and global average pooling: about 3.5x the baseline's
    cost per epoch (``benchmarks/train_speed.py --recipe standard`` measures it).

    :func:`candidate_cnn` is the same network with an 11th output.
    """
    inputs = keras.Input(INPUT_SHAPE)
    x = conv_bn(inputs, width, 3)
    x = conv_bn(x, width, 3, strides=2)                    # 28 -> 14, learned down-sampling
    x = conv_bn(x, 2 * width, 3)
    x = conv_bn(x, 2 * width, 3, strides=2)                # 14 -> 7
    x = layers.Dropout(dropout / 2)(x)
    x = conv_bn(x, 4 * width, 3, padding="valid")          # 7 -> 5
    x = conv_bn(x, 4 * width, 3, padding="valid")          # 5 -> 3
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=name)


def fast_cnn(width: int = 20, dropout: float = 0.3, classes: int = NUM_CLASSES) -> keras.Model:
    """A CNN shaped for a CPU's throughput, trained by the "fast" recipe (:data:`digitlab.recipes.RECIPES`).

    On a CPU, time goes to the layers at full resolution, and to batch norm
    there, more than to multiply-adds: so this one starts with a strided 5x5
    convolution (28 -> 14) and never holds a 28x28 feature map, pools once
    more (14 -> 7) and ends like :func:`digit_cnn`. One epoch costs less
    than the baseline's here, and with batch norm a high learning rate
    reaches the baseline's accuracy in a few epochs.
    """
    inputs = keras.Input(INPUT_SHAPE)
    x = conv_bn(inputs, width, 5, strides=2)               # 28 -> 14, learned down-sampling
    x = conv_bn(x, 2 * width, 3)
    x = layers.MaxPooling2D(2)(x)                          # 14 -> 7
    x = conv_bn(x, 4 * width, 3, padding="valid")          # 7 -> 5
    x = conv_bn(x, 4 * width, 3, padding="valid")          # 5 -> 3
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="fast_cnn")


def candidate_cnn() -> keras.Model:
    """:func:`digit_cnn` with an 11th class, "not one digit" (:mod:`digitlab.non_digits`).

    The recognizer of the reader's segmentation graph (:mod:`digitlab.decode`,
    notebook 06): it scores every way of grouping pieces of ink into digits,
    and learned to score a wrong grouping low.
    """
    return digit_cnn(classes=NUM_CLASSES + 1, name="candidate_cnn")


def ensemble(members, name: str = "digit_cnn") -> keras.Model:
    """One model that averages the softmax outputs of trained ``members``.

    Members trained with different seeds make different mistakes, so their
    average is right more often than any one of them. The shipped model is
    three ``digit_cnn`` averaged (``digitlab ensemble``); its card lists them.
    """
    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}.")
    inputs = keras.Input(INPUT_SHAPE)
    renamed = [keras.Model(m.inputs[0], m.outputs[0], name=f"member_{i}") for i, m in enumerate(members)]
    outputs = layers.Average()([member(inputs) for member in renamed])
    return keras.Model(inputs, outputs, name=name)


# --- Loss and compilation ---------------------------------------------------


@keras.saving.register_keras_serializable(package="digitlab")
class SmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy against digit labels (0-9, not one-hot) with label smoothing.

    Smoothing by ``s`` trains towards ``1 - s + s / classes`` for the right
    class and ``s / classes`` for each other: the network is never pushed to
    infinite confidence, so large learning rates stay stable and a short
    training generalises sooner. Keras' sparse cross-entropy has no smoothing.
    """

    def __init__(self, label_smoothing: float = 0.1, name: str = "smoothed_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}.")
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        one_hot = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), ops.shape(y_pred)[-1])
        return keras.losses.categorical_crossentropy(one_hot, y_pred, label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def compile_model(model: keras.Model, learning_rate: float = 1e-3, label_smoothing: float = 0.0) -> keras.Model:
    """Adam, cross-entropy against digit labels (smoothed when ``label_smoothing`` > 0, see
    :class:`SmoothedCrossentropy`), accuracy (passed as ``metrics=``)."""
    loss = SmoothedCrossentropy(label_smoothing) if label_smoothing else "sparse_categorical_crossentropy"
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=["accuracy"])
    return model


# --- Keras Tuner ----------------------------------------------------------


def build_hypermodel(hp) -> keras.Model:
    """A compiled :func:`baseline_cnn` over the tuning grid, for Keras Tuner.

    Filters {32, 64, 128}, dense units {32, 64, 128}, Adam learning rate
    {1e-2, 1e-3, 1e-4}. Smoke-test it with
    ``build_hypermodel(keras_tuner.HyperParameters())``.
    """
    model = baseline_cnn(
        filters=hp.Choice("filters", list(FILTERS_GRID)),
        dense_units=hp.Choice("dense_units", list(DENSE_GRID)),
    )
    return compile_model(model, hp.Choice("learning_rate", list(LEARNING_RATE_GRID)))


# --- Saved models ---------------------------------------------------------


class ModelFileError(RuntimeError):
    """A model file is missing or cannot be loaded."""


#: The file names Keras 3 loads a whole model from (``.h5``/``.hdf5``: the legacy HDF5 format).
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")

#: The most bytes a ``.keras`` archive's weights (``model.weights.h5``) and each of its other members (the
#: JSON config and metadata, which Keras reads whole and parses: a 1.5 GiB ``config.json`` took 3.8 GB)
#: may unpack to, checked in the zip's directory before Keras opens it. Ours: 3.7 MB of weights, 64 KB
#: of config. A legacy HDF5 file (``.h5``) is held to the same: its arrays, and all else it holds.
MAX_WEIGHTS_BYTES = 256 * 2**20
MAX_MEMBER_BYTES = 16 * 2**20


def load_model(path: str | Path, train_options: str = "") -> keras.Model:
    """Load a ``.keras`` file, with a one-line error that names the file when it fails (and, when it is
    missing, the ``digitlab train`` command, with ``train_options``, that makes one).

    A ``.keras`` file is a zip archive: one that is truncated, or whose members would unpack to more
    than :data:`MAX_WEIGHTS_BYTES` and :data:`MAX_MEMBER_BYTES`, is refused before Keras reads it; so is
    a legacy HDF5 file (``.h5``) whose arrays or attributes would (HDF5 compresses them too).
    """
    path = Path(path)
    if not path.exists():
        raise ModelFileError(
            f"Model file not found: {path}. Train one with `digitlab train {train_options}--out {path}`."
        )
    if not path.is_file():
        raise ModelFileError(f"{path} is not a model file (a folder, a pipe or a device).")
    if path.suffix not in MODEL_SUFFIXES:
        raise ModelFileError(f"{path} is not a model file: Keras 3 reads files named {', '.join(MODEL_SUFFIXES)}, "
                             "and `digitlab train` writes .keras ones.")
    _check_archive(path)
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a damaged zip or config
        reason = " ".join(f"{type(error).__name__}: {error}".split())  # one line, whatever Keras wrote
        raise ModelFileError(
            f"Could not load model file {path}: {reason}. "
            "The file is damaged or not a Keras 3 model; retrain it with `digitlab train`."
        ) from error


def _check_archive(path: Path) -> None:
    """Raise :class:`ModelFileError` if ``path`` (named ``.keras``, or a zip) is no complete zip archive, or
    one whose members unpack to more than the limits; or if it is an HDF5 file whose contents would
    (:func:`_check_hdf5`). Other files are left to Keras, which refuses them."""
    import zipfile

    if path.suffix != ".keras" and not zipfile.is_zipfile(path):
        _check_hdf5(path)
        return
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ModelFileError(
            f"{path} is not a complete .keras file (a zip archive): {error}. It is truncated or damaged: "
            "copy it again, or retrain it with `digitlab train`."
        ) from None
    for member in members:
        limit = MAX_WEIGHTS_BYTES if member.filename.endswith(".h5") else MAX_MEMBER_BYTES
        if member.file_size > limit:
            raise ModelFileError(
                f"{path}: its {member.filename} unpacks to {member.file_size / 2**20:,.0f} MiB, more than "
                f"the {limit / 2**20:.0f} MiB a model of ours needs; refused without reading it."
            )


def _check_hdf5(path: Path) -> None:
    """Raise :class:`ModelFileError` if ``path`` is an HDF5 file whose arrays would unpack to more than
    :data:`MAX_WEIGHTS_BYTES`, or whose other contents (attributes, where Keras keeps the JSON config,
    which HDF5 never compresses) take more than :data:`MAX_MEMBER_BYTES` of the file. Sizes come from
    HDF5's headers; nothing is read or unpacked."""
    import h5py

    if not h5py.is_hdf5(path):
        return
    datasets = []

    def collect(name, item):
        if isinstance(item, h5py.Dataset):
            datasets.append(item)

    try:
        with h5py.File(path, "r") as file:
            file.visititems(collect)
            unpacked = sum(dataset.size * dataset.dtype.itemsize for dataset in datasets)
            stored = sum(dataset.id.get_storage_size() for dataset in datasets)
    except OSError as error:
        raise ModelFileError(f"{path} is a damaged HDF5 file: {error}. Copy it again, or retrain it with "
                             "`digitlab train`.") from None
    for what, size, limit in [("arrays unpack", unpacked, MAX_WEIGHTS_BYTES),
                              ("attributes and headers take", path.stat().st_size - stored, MAX_MEMBER_BYTES)]:
        if size > limit:
            raise ModelFileError(
                f"{path}: its {what} {size / 2**20:,.0f} MiB, more than the {limit / 2**20:.0f} MiB a model "
                "of ours needs; refused without reading it."
            )


def compiled_forward(model, input_shape: tuple[int, ...]):
    """``model(x, training=False)`` compiled once per model, for batches of any size of ``input_shape``.

    Calling a Keras model eagerly runs its layers one by one (about 25 ms for
    the CRNN here); the compiled graph takes a few ms. Callables that are not
    Keras models (test doubles) are returned as they are. On a Keras backend
    other than TensorFlow (a model trained on a GPU machine's JAX), the model
    is called as it is: slower, the same readings.
    """
    if not isinstance(model, keras.Model):
        return model
    if keras.backend.backend() != "tensorflow":
        return lambda batch: model(batch, training=False)
    if model not in _COMPILED:
        import tensorflow as tf

        signature = [tf.TensorSpec((None, *input_shape), tf.float32)]
        reference = weakref.ref(model)  # the cache must not keep the model alive

        def forward(batch):
            return reference()(batch, training=False)

        _COMPILED[model] = tf.function(forward, input_signature=signature, autograph=False)  # no Python control flow
        tf.get_logger().addFilter(_traced_once_per_model)  # added once: the same filter is not added again
    return _COMPILED[model]


def _traced_once_per_model(record) -> bool:
    """False for TensorFlow's warning that :func:`compiled_forward`'s functions "triggered tf.function retracing".

    Each model's function is traced once, as it should be, but TensorFlow counts the traces of all of them as one
    function's (it keys them by their code): a student who runs a notebook's cell that makes a reader a third time
    would be told of retracing that is not there. Other warnings, and other functions' retracing, pass."""
    message = record.getMessage()
    return not ("tf.function retracing" in message and "compiled_forward" in message)


_COMPILED = weakref.WeakKeyDictionary()


def load_default() -> keras.Model:
    """The shipped ``digitlab/models/digit_cnn.keras`` (see its model card beside it)."""
    return load_model(DEFAULT_MODEL)


def load_candidate_model() -> keras.Model:
    """The shipped ``digitlab/models/candidate_cnn.keras`` (:func:`candidate_cnn`; its card is beside it)."""
    return load_model(CANDIDATE_MODEL, "--model candidate_cnn ")


def warm_start(model: keras.Model, source: keras.Model) -> list[str]:
    """Copy ``source``'s weights into ``model`` layer by layer; return the names of the layers left fresh.

    The layers that hold weights are paired in order: each of ``model``'s
    takes the next of ``source``'s if their weights have the same shapes,
    and starts fresh otherwise (the source's layer then waits for the next
    one). So a model whose architecture changed in one place (a wider
    output, a layer added) starts from everything it shares with the
    trained one (``digitlab train --init``): :func:`candidate_cnn` starts
    from a trained :func:`digit_cnn`, all but its output layer.
    Raises ``ValueError`` when nothing at all can be copied: the two are
    different models.
    """
    targets = [layer for layer in model.layers if layer.weights]
    sources = iter([layer for layer in source.layers if layer.weights])
    pending, unfit = next(sources, None), []
    for target in targets:
        if pending is not None and [tuple(w.shape) for w in pending.weights] == [tuple(w.shape) for w in target.weights]:
            target.set_weights(pending.get_weights())
            pending = next(sources, None)
        else:
            unfit.append(target.name)
    if len(unfit) == len(targets):
        raise ValueError(
            f"no layer of {source.name!r} fits {model.name!r}: they are different models, "
            "so there is nothing to start from."
        )
    return unfit
