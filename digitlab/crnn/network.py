"""The CRNN: convolutions over a strip, 1-D convolutions along it, frame scores for CTC (notebook 08)."""

from __future__ import annotations

import keras
from keras import layers

from digitlab.crnn.ctc import NUM_CLASSES
from digitlab.crnn.strips import STRIP_HEIGHT, SUBFRAMES
from digitlab.model import conv_bn


# --- The model ------------------------------------------------------------


def crnn(width: int = 16, sequence_units: int = 128, sequence_layers: int = 2,
         kernel_size: int = 5, dropout: float = 0.2) -> keras.Model:
    """A small CRNN: strip (32, W, 1) -> logits (W / 2, 11) for CTC (class 0 is blank).

    - Convolutions: ``width`` filters at full size, then 2x, 4x, 4x, with
      2x2 poolings twice (32 -> 8 rows, W -> W / 4 columns) and 2x1 once more
      (8 -> 4 rows): each column sees a 4-pixel-wide band and its neighbours.
    - The 4 remaining rows are flattened into one feature vector per column.
    - Sequence: ``sequence_layers`` residual 1-D convolutions of ``kernel_size``
      columns (faster than a recurrent layer on a CPU, and wide enough to
      see a whole digit and its neighbours).
    - A dense layer scores SUBFRAMES frames per column: logits, as CTC's
      loss and decoder take them. With one frame per 4 pixels, two
      overlapping "1"s had no room for the blank that must separate them.
    """
    inputs = keras.Input((STRIP_HEIGHT, None, 1), name="strip")
    x = conv_bn(inputs, width, 3)
    x = layers.MaxPooling2D(2)(x)                          # 16 x W/2
    x = conv_bn(x, 2 * width, 3)
    x = layers.MaxPooling2D(2)(x)                          # 8 x W/4
    x = conv_bn(x, 4 * width, 3)
    x = layers.MaxPooling2D((2, 1))(x)                     # 4 x W/4
    x = conv_bn(x, 4 * width, 3)
    # (batch, rows, frames, channels) -> (batch, frames, rows * channels)
    x = layers.Permute((2, 1, 3))(x)
    x = layers.Reshape((-1, (STRIP_HEIGHT // 8) * 4 * width))(x)
    x = layers.Dense(sequence_units, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    for _ in range(sequence_layers):
        context = conv_bn(layers.Dropout(dropout)(x), sequence_units, kernel_size, conv=layers.Conv1D)
        x = layers.Add()([x, context])
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(SUBFRAMES * NUM_CLASSES, name="frame_scores")(x)
    outputs = layers.Reshape((-1, NUM_CLASSES), name="logits")(x)  # (columns, 2 * 11) -> (frames, 11)
    return keras.Model(inputs, outputs, name="crnn")
