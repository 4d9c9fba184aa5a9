"""digitlab.synth: composed strings, their boxes, damage, seeded datasets and the samples."""

import json

import cv2
import numpy as np
import pytest

from digitlab.synth import add_specks, benchmark_strings, break_strokes, make_dataset, make_samples, make_sequence


def square_digit(width=10, height=20):
    """A 28x28 'digit': a filled rectangle of the given size."""
    image = np.zeros((28, 28), np.uint8)
    image[4:4 + height, 9:9 + width] = 255
    return image


def components(image, inverted=False):
    ink = (255 - image if inverted else image) > 127
    return cv2.connectedComponents(ink.astype(np.uint8))[0] - 1


def test_make_sequence_text_and_boxes_hold_the_ink():
    digits = [square_digit(6), square_digit(10), square_digit(14)]
    sequence = make_sequence(digits, [1, 0, 7], gap=0.5)
    assert sequence.text == "107"
    assert sequence.labels == [1, 0, 7]
    assert [box[2:] for box in sequence.boxes] == [(6, 20), (10, 20), (14, 20)]
    lefts = [box[0] for box in sequence.boxes]
    assert lefts == sorted(lefts)
    for (x, y, w, h), right in zip(sequence.boxes, sequence.boxes[1:]):
        assert right[0] - (x + w) == 10  # gap 0.5 of a 20 px digit
        assert sequence.image[y:y + h, x:x + w].min() == 255
    assert sequence.image.sum() == sum(w * h * 255 for _, _, w, h in sequence.boxes)


def test_overlap_composes_by_pixelwise_max():
    sequence = make_sequence([square_digit(10), square_digit(10)], [1, 1], overlap=0.5)
    (x0, _, w0, _), (x1, _, _, _) = sequence.boxes
    assert x0 + w0 - x1 == 5  # half of the narrower digit
    assert sequence.image.max() == 255
    assert components(sequence.image) == 1


def test_invert_height_and_noise():
    sequence = make_sequence([square_digit()] * 3, [1, 2, 3], invert=True, height=280, noise=0.05, rng=0)
    assert sequence.image.shape[0] == 280
    assert sequence.inverted
    assert np.median(sequence.image) > 200  # light paper
    x, y, w, h = sequence.boxes[0]
    assert h == pytest.approx(140, abs=2)  # 20 px of a 40 px canvas, scaled to 280
    assert sequence.image[y + h // 2, x + w // 2] < 60  # dark ink


@pytest.mark.parametrize("bad", [{"overlap": 0.6}, {"scale": 0}])
def test_make_sequence_rejects_bad_options(bad):
    with pytest.raises(ValueError):
        make_sequence([square_digit()], [1], **bad)


def test_make_sequence_rejects_mismatched_or_empty_digits():
    with pytest.raises(ValueError, match="one label per digit"):
        make_sequence([square_digit()], [1, 2])
    with pytest.raises(ValueError, match="no ink"):
        make_sequence([np.zeros((28, 28), np.uint8)], [1])


def test_break_strokes_splits_digits_and_specks_avoid_them():
    sequence = make_sequence([square_digit(4, 20)] * 3, [1, 1, 1], gap=1.0)
    broken = break_strokes(sequence, width=0.1, rng=0)
    assert components(broken.image) == 6
    assert broken.text == sequence.text and broken.boxes == sequence.boxes
    specked = add_specks(sequence, count=4, size=0.1, rng=0)
    assert components(specked.image) > 3
    for x, y, w, h in sequence.boxes:
        assert np.array_equal(specked.image[y:y + h, x:x + w], sequence.image[y:y + h, x:x + w])


def test_make_dataset_is_seeded_and_varied(mnist):
    first = make_dataset(40, length=(1, 10), seed=3, mnist=mnist, invert_fraction=0.5, overlap=(0.0, 0.5))
    again = make_dataset(40, length=(1, 10), seed=3, mnist=mnist, invert_fraction=0.5, overlap=(0.0, 0.5))
    other = make_dataset(40, length=(1, 10), seed=4, mnist=mnist, invert_fraction=0.5, overlap=(0.0, 0.5))
    assert first.texts == again.texts
    assert all(np.array_equal(a, b) for a, b in zip(first.images, again.images))
    assert first.texts != other.texts
    lengths = {len(text) for text in first.texts}
    assert min(lengths) >= 1 and max(lengths) <= 10 and len(lengths) > 4
    assert {sequence.inverted for sequence in first} == {True, False}
    assert all(len(boxes) == len(text) for boxes, text in zip(first.boxes, first.texts))
    assert ["".join(map(str, labels)) for labels in first.labels] == first.texts


def test_make_dataset_uses_the_requested_split(mnist):
    test_digits = make_dataset(1, length=1, seed=0, mnist=mnist, split="test")[0].image
    train_digits = make_dataset(1, length=1, seed=0, mnist=mnist, split="train")[0].image
    assert not np.array_equal(test_digits, train_digits)
    with pytest.raises(ValueError, match="split"):
        make_dataset(1, split="validation", mnist=mnist)
    with pytest.raises(ValueError, match=r"overlap must be .* low <= high, got \(0.5, 0.1\)"):
        make_dataset(1, overlap=(0.5, 0.1), mnist=mnist)


def test_make_samples_writes_small_images_and_their_truth(tmp_path, mnist):
    entries = make_samples(tmp_path, mnist=mnist)
    listed = json.loads((tmp_path / "samples.json").read_text())
    assert listed == entries
    assert any("\n" in entry["text"] for entry in entries)
    for entry in entries:
        path = tmp_path / entry["file"]
        assert path.stat().st_size < 100_000
        assert entry["text"] == "\n".join(entry["lines"])


def test_shipped_samples_are_what_make_samples_makes(tmp_path, mnist):
    from PIL import Image

    from digitlab.synth import SAMPLES_DIR

    entries = make_samples(tmp_path, mnist=mnist)
    assert json.loads((SAMPLES_DIR / "samples.json").read_text()) == entries
    for entry in entries:
        shipped = np.asarray(Image.open(SAMPLES_DIR / entry["file"]))
        assert np.array_equal(shipped, np.asarray(Image.open(tmp_path / entry["file"])))


def test_make_dataset_fixed_height_and_damage(mnist):
    dataset = make_dataset(10, length=(2, 6), seed=0, mnist=mnist, height=32, stroke=(-1, 1), slant=(-0.2, 0.2))
    assert {image.shape[0] for image in dataset.images} == {32}
    clean = make_dataset(10, length=4, seed=5, mnist=mnist, gap=0.5)
    damaged = make_dataset(10, length=4, seed=5, mnist=mnist, gap=0.5, broken=True, specks=5)
    assert damaged.texts == clean.texts
    assert sum(components(d.image) > components(c.image) for d, c in zip(damaged, clean)) >= 8


def test_benchmark_strings_are_the_kinds_they_are_named_after(mnist):
    gaps = benchmark_strings("5 digits, gaps", 20, mnist=mnist)
    assert all(len(sequence.text) == 5 for sequence in gaps)
    # Spaced digits stand apart: each digit's box ends before the next one starts.
    assert all(a[0] + a[2] <= b[0] for sequence in gaps for a, b in zip(sequence.boxes, sequence.boxes[1:]))
    touching = benchmark_strings("touching 4-8, 10-40 %", 20, mnist=mnist)
    assert all(4 <= len(sequence.text) <= 8 for sequence in touching)
    assert all(a[0] + a[2] > b[0] for sequence in touching for a, b in zip(sequence.boxes, sequence.boxes[1:]))
    # The same name gives the same strings; another seed, others of the same kind.
    assert benchmark_strings("5 digits, gaps", 3, mnist=mnist).texts == gaps.texts[:3]
    assert benchmark_strings("5 digits, gaps", 3, mnist=mnist, seed=9).texts != gaps.texts[:3]


def test_benchmark_strings_name_their_kinds_when_asked_for_another(mnist):
    with pytest.raises(ValueError, match="touching"):
        benchmark_strings("smudged", 1, mnist=mnist)
