"""Convolution, padding, stride, pooling and flatten, computed by hand in NumPy.

Taught in ``notebooks/02_convolution_pooling_padding_flatten.ipynb``. Each
helper does one thing a CNN layer does, slowly and visibly, so the notebook
can check it against the real Keras layer (:func:`keras_output_size`). The
``*_explorer`` functions return ipywidgets slider demos.
"""

from __future__ import annotations

import numpy as np

# --- Kernels --------------------------------------------------------------

#: Classic 3x3 image-processing kernels (weights a CNN could learn).
KERNELS = {
    "identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float32),
    "box blur": np.full((3, 3), 1 / 9, dtype=np.float32),
    "gaussian blur": np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.float32) / 16,
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float32),
    "edges": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype=np.float32),
    "vertical edges": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32),
    "horizontal edges": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float32),
}

#: Padding modes: "valid" (none), "same"/"half" (k // 2 a side), "full" (k - 1 a side).
PADDING_MODES = ("valid", "same", "half", "full")


def kernel(name: str) -> np.ndarray:
    """A copy of the named kernel from :data:`KERNELS`."""
    if name not in KERNELS:
        raise ValueError(f"unknown kernel {name!r}; choose one of {', '.join(KERNELS)}.")
    return KERNELS[name].copy()


def box_kernel(size: int) -> np.ndarray:
    """A ``size`` x ``size`` averaging (blur) kernel whose weights sum to 1."""
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}.")
    return np.full((size, size), 1 / size**2, dtype=np.float32)


# --- The output-size formula ----------------------------------------------


def padding_amount(kernel_size: int, mode: str) -> int:
    """Zeros added on *each* side of the input for a padding ``mode``.

    ``"valid"`` adds none; ``"half"`` adds ``kernel_size // 2`` (for odd
    kernels the output keeps the input's size at stride 1, which is what
    Keras calls ``"same"``); ``"full"`` adds ``kernel_size - 1``, so every
    position where the kernel touches the image at all gives an output.
    """
    if mode not in PADDING_MODES:
        raise ValueError(f"unknown padding {mode!r}; choose one of {', '.join(PADDING_MODES)}.")
    return {"valid": 0, "same": kernel_size // 2, "half": kernel_size // 2, "full": kernel_size - 1}[mode]


def output_size(input_size: int, kernel_size: int, stride: int = 1, padding: int | str = 0) -> int:
    """The output length along one axis: ``floor((n + 2p - k) / s) + 1``.

    ``padding`` is the zeros added on each side (an int) or a mode name from
    :data:`PADDING_MODES`. Keras' ``"same"`` always gives ``ceil(n / s)``,
    which this formula matches for odd kernels.
    """
    for name, value in (("input_size", input_size), ("kernel_size", kernel_size), ("stride", stride)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if padding == "same":
        return -(-input_size // stride)  # ceil(n / s), as Keras computes it
    pad = padding_amount(kernel_size, padding) if isinstance(padding, str) else padding
    if not isinstance(pad, (int, np.integer)) or pad < 0:
        raise ValueError(f"padding must be a mode name or a non-negative integer, got {padding!r}.")
    if input_size + 2 * pad < kernel_size:
        raise ValueError(
            f"a {kernel_size}x{kernel_size} kernel does not fit in {input_size} pixels "
            f"with padding {pad}: the output would be empty."
        )
    return (input_size + 2 * pad - kernel_size) // stride + 1


def keras_output_size(input_size: int, kernel_size: int, stride: int = 1, padding: str = "valid") -> int:
    """The same size measured on a real Keras ``Conv2D`` (what :func:`output_size` predicts).

    Keras knows ``"valid"`` and ``"same"``; ``"half"`` and ``"full"`` are
    built as ``ZeroPadding2D`` followed by a ``"valid"`` convolution.
    """
    import keras

    pad = padding_amount(kernel_size, padding)
    inputs = keras.Input((input_size, input_size, 1))
    x = inputs
    if padding in ("half", "full") and pad:
        x = keras.layers.ZeroPadding2D(pad)(x)
    keras_padding = "same" if padding == "same" else "valid"
    x = keras.layers.Conv2D(1, kernel_size, strides=stride, padding=keras_padding)(x)
    return int(x.shape[1])


# --- Filtering ------------------------------------------------------------


def pad(image: np.ndarray, amount: int) -> np.ndarray:
    """``image`` with ``amount`` rows and columns of zeros added on every side."""
    if amount < 0:
        raise ValueError(f"amount must be non-negative, got {amount}.")
    return np.pad(np.asarray(image, dtype=np.float32), amount)


def convolve(image: np.ndarray, weights: np.ndarray, stride: int = 1, padding: int | str = 0) -> np.ndarray:
    """Slide ``weights`` over a 2D ``image``: at each position, multiply and sum.

    Strictly this is cross-correlation (the kernel is not flipped), which is
    what ``keras.layers.Conv2D`` computes. ``padding`` is as in
    :func:`output_size`; ``"same"`` here means ``"half"``.
    """
    image, weights = np.asarray(image, dtype=np.float32), np.asarray(weights, dtype=np.float32)
    if image.ndim != 2 or weights.ndim != 2:
        raise ValueError(f"expected a 2D image and a 2D kernel, got {image.shape} and {weights.shape}.")
    if weights.shape[0] != weights.shape[1]:
        raise ValueError(f"expected a square kernel, got {weights.shape}.")
    size = weights.shape[0]
    amount = padding_amount(size, padding) if isinstance(padding, str) else padding
    padded = pad(image, amount)
    rows = output_size(image.shape[0], size, stride, amount)
    columns = output_size(image.shape[1], size, stride, amount)
    # Every kernel-sized window, then keep one in ``stride``: shape (rows, columns, k, k).
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size))[::stride, ::stride]
    return np.einsum("ijkl,kl->ij", windows[:rows, :columns], weights)


def brightness_contrast(image: np.ndarray, brightness: float = 0.0, contrast: float = 1.0) -> np.ndarray:
    """A 1x1 "kernel": ``contrast * (pixel - 0.5) + 0.5 + brightness``, clipped to [0, 1].

    Works on images in [0, 1] (uint8 images are scaled first).
    """
    image = np.asarray(image)
    if image.dtype == np.uint8:
        image = image / 255.0
    return np.clip(contrast * (image - 0.5) + 0.5 + brightness, 0.0, 1.0).astype(np.float32)


# --- Pooling and flatten --------------------------------------------------


def pool(image: np.ndarray, size: int = 2, stride: int | None = None, mode: str = "max") -> np.ndarray:
    """Max or average pooling of a 2D ``image`` (no padding; stride defaults to ``size``)."""
    if mode not in ("max", "average"):
        raise ValueError(f"mode must be 'max' or 'average', got {mode!r}.")
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"expected a 2D image, got shape {image.shape}.")
    stride = size if stride is None else stride
    rows, columns = output_size(image.shape[0], size, stride), output_size(image.shape[1], size, stride)
    windows = np.lib.stride_tricks.sliding_window_view(image, (size, size))[::stride, ::stride]
    windows = windows[:rows, :columns]
    return windows.max(axis=(2, 3)) if mode == "max" else windows.mean(axis=(2, 3))


def flattened_length(shape: tuple[int, ...]) -> int:
    """How many numbers ``keras.layers.Flatten`` makes of one feature map of ``shape``.

    A 5x5x5 feature map becomes a vector of 125.
    """
    if not shape or any(not isinstance(d, (int, np.integer)) or d < 1 for d in shape):
        raise ValueError(f"shape must be positive integers, got {shape!r}.")
    return int(np.prod(shape))


def conv_parameters(kernel_size: int, in_channels: int, filters: int, bias: bool = True) -> int:
    """Weights of a ``Conv2D``: one ``k x k x in_channels`` kernel (and a bias) per filter."""
    return filters * (kernel_size * kernel_size * in_channels + int(bias))


# --- Interactive demos ----------------------------------------------------


def filter_explorer(image: np.ndarray):
    """Sliders and a menu: pick a kernel, brightness and contrast, see ``image`` change."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from digitlab.plots import image_row

    image = brightness_contrast(image)

    def show(kernel_name, brightness, contrast):
        adjusted = brightness_contrast(image, brightness, contrast)
        filtered = convolve(adjusted, kernel(kernel_name), padding="same")
        image_row(
            [image, adjusted, filtered],
            ["original", f"brightness {brightness:+.1f}, contrast {contrast:.1f}", kernel_name],
        )
        plt.show()

    return widgets.interactive(
        show,
        kernel_name=widgets.Dropdown(options=list(KERNELS), value="edges", description="kernel"),
        brightness=widgets.FloatSlider(value=0.0, min=-0.5, max=0.5, step=0.1, description="brightness"),
        contrast=widgets.FloatSlider(value=1.0, min=0.0, max=3.0, step=0.1, description="contrast"),
    )


def describe_convolution(input_size: int, kernel_size: int, stride: int, padding: str) -> str:
    """The formula filled in, and the size Keras gives, as one line of text."""
    pad_each = padding_amount(kernel_size, padding)
    predicted = output_size(input_size, kernel_size, stride, padding)
    measured = keras_output_size(input_size, kernel_size, stride, padding)
    if padding == "same":
        formula = f"ceil({input_size} / {stride}) = {predicted}"
    else:
        formula = f"floor(({input_size} + 2*{pad_each} - {kernel_size}) / {stride}) + 1 = {predicted}"
    verdict = "matches" if predicted == measured else "DIFFERS FROM"
    return f"{padding!r}: {formula}, which {verdict} Keras Conv2D: {measured}"


def convolution_explorer(image: np.ndarray):
    """Sliders for kernel size, stride and padding: the output, the formula and Keras' answer."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from digitlab.plots import image_row

    image = brightness_contrast(image)

    def show(kernel_size, stride, padding):
        print(describe_convolution(image.shape[0], kernel_size, stride, padding))
        output = convolve(image, box_kernel(kernel_size), stride, padding)
        image_row(
            [pad(image, padding_amount(kernel_size, padding)), output],
            [f"input, padded ({padding})", f"output {output.shape[0]}x{output.shape[1]}"],
        )
        plt.show()

    return widgets.interactive(
        show,
        kernel_size=widgets.IntSlider(value=3, min=1, max=9, step=2, description="kernel"),
        stride=widgets.IntSlider(value=1, min=1, max=4, description="stride"),
        padding=widgets.Dropdown(options=list(PADDING_MODES), value="valid", description="padding"),
    )
