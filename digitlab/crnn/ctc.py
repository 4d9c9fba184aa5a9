"""CTC: labels, loss, greedy decoding and the likelihood of a text (notebook 08)."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

#: Class 0 is CTC's blank (Keras' ``keras.losses.CTC`` convention); digit d is class d + 1.
BLANK = 0
NUM_CLASSES = 11
MAX_DIGITS = 10


# --- CTC: labels, loss and decoding ---------------------------------------


def encode_labels(texts, max_digits: int = MAX_DIGITS) -> np.ndarray:
    """Texts of digits -> int32 (N, max_digits): digit d becomes class d + 1, padded with 0 (blank)."""
    labels = np.zeros((len(texts), max_digits), dtype=np.int32)
    for row, text in enumerate(texts):
        if not 1 <= len(text) <= max_digits or not text.isdigit():
            raise ValueError(f"each text must be 1 to {max_digits} digits, got {text!r}.")
        labels[row, :len(text)] = [int(digit) + 1 for digit in text]
    return labels


def ctc_loss() -> keras.losses.Loss:
    """Keras' CTC loss: labels from :func:`encode_labels`, logits (N, frames, 11), blank = class 0."""
    return keras.losses.CTC()


def softmax(logits: np.ndarray) -> np.ndarray:
    """Per-frame probabilities from logits (numpy, last axis)."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class Decoded:
    """A greedy CTC decoding: the digits, their confidences and the frames (first, last) of each."""

    values: list[int]
    confidences: list[float]
    spans: list[tuple[int, int]]


def greedy_decode(probabilities: np.ndarray) -> Decoded:
    """Best path decoding of one line's (frames, 11) probabilities.

    Take each frame's most likely class, merge runs of the same class, drop
    blanks: "1 1 _ 1 0 _ 0" gives 1, 1, 0, 0 ("1100"); a repeated digit needs
    a blank between its two runs. A digit's confidence is the highest
    probability any frame of its run gives it.
    """
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2 or probabilities.shape[1] != NUM_CLASSES:
        raise ValueError(f"expected (frames, {NUM_CLASSES}) probabilities, got shape {probabilities.shape}.")
    best = probabilities.argmax(axis=1)
    values, confidences, spans = [], [], []
    previous = BLANK
    for frame, label in enumerate(best):
        if label != BLANK and label == previous:
            first, _ = spans[-1]
            spans[-1] = (first, frame)
            confidences[-1] = max(confidences[-1], float(probabilities[frame, label]))
        elif label != BLANK:
            values.append(int(label) - 1)
            confidences.append(float(probabilities[frame, label]))
            spans.append((frame, frame))
        previous = label
    return Decoded(values, confidences, spans)


def ctc_log_likelihood(probabilities: np.ndarray, text: str) -> float | np.ndarray:
    """log P(text | frames) under CTC: the sum over *every* alignment of ``text`` to the frames.

    ``probabilities`` is one reading (frames, 11) or several of the same
    frames count (readings, frames, 11); returns a float or one per reading.
    The forward algorithm runs over ``text`` with blanks around each digit
    ("_1_1_"): a state may stay, move to the next one, or skip a blank
    between two different digits. :func:`ctc_log_likelihoods` scores several
    texts at once.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    single = probabilities.ndim == 2
    result = ctc_log_likelihoods(probabilities[None] if single else probabilities, [text])[:, 0]
    return float(result[0]) if single else result


def ctc_log_likelihoods(probabilities: np.ndarray, texts) -> np.ndarray:
    """:func:`ctc_log_likelihood` of each of ``texts`` in one pass: (readings, frames, 11) -> (readings, texts).

    The texts' state sequences run side by side, each padded at its end with
    impossible states (nothing flows backwards, so they change no figure).
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 3 or probabilities.shape[2] != NUM_CLASSES:
        raise ValueError(f"expected (readings, frames, {NUM_CLASSES}) probabilities, got shape {probabilities.shape}.")
    texts = list(texts)
    if not texts:
        raise ValueError("need at least one text to score.")
    for text in texts:
        if not isinstance(text, str) or (text and not text.isdigit()):
            raise ValueError(f"texts must be strings of digits, got {text!r}.")
    lengths = np.array([len(text) for text in texts])
    states = np.full((len(texts), 2 * lengths.max() + 1), BLANK)     # (texts, states)
    for row, text in enumerate(texts):
        states[row, 1:2 * len(text):2] = [int(digit) + 1 for digit in text]
    possible = np.arange(states.shape[1]) <= 2 * lengths[:, None]
    may_skip = np.zeros(states.shape, dtype=bool)
    may_skip[:, 2:] = (states[:, 2:] != BLANK) & (states[:, 2:] != states[:, :-2])
    # (readings, frames, texts, states); states past a text's end are impossible.
    log_p = np.where(possible, np.log(probabilities[:, :, states] + 1e-30), -np.inf)
    # alpha with two impossible states in front, so the moves are views of it, not new arrays.
    padded = np.full((len(probabilities), len(texts), states.shape[1] + 2), -np.inf)
    alpha, moved, skipped = padded[..., 2:], padded[..., 1:-1], padded[..., :-2]
    alpha[..., :2] = log_p[:, 0, :, :2]
    for frame in range(1, probabilities.shape[1]):
        alpha[:] = np.logaddexp(np.logaddexp(alpha, moved), np.where(may_skip, skipped, -np.inf)) + log_p[:, frame]
    rows = np.arange(len(texts))
    last, before_last = alpha[:, rows, 2 * lengths], alpha[:, rows, np.maximum(2 * lengths - 1, 0)]
    return np.where(lengths > 0, np.logaddexp(last, before_last), last)


def best_path(probabilities: np.ndarray) -> str:
    """Each frame's most likely class as one character: "_" for blank, else the digit."""
    return "".join("_" if label == BLANK else str(label - 1) for label in np.asarray(probabilities).argmax(axis=1))
