"""Reading accuracy and speed of digitlab.reader on seeded strings of MNIST *test* digits.

Prints a table of string accuracy (and digit accuracy) for each reader method
("contours", "crnn", "auto") on:

- 5-digit strings with gaps (target: >= 98 %, and "auto" >= "contours");
- the same with broken strokes and specks;
- touching strings: 4-8 digits overlapping by 10-40 % (target for "auto": >= 95 %);

then the median time to read one 8-digit, 280 px high image with ``Reader``
("auto" and "contours") versus a naive pipeline that calls ``model.predict``
once per digit (same segmentation), as speed-up ratios (target: >= 10x).

``--digits validation`` builds the same sets from the training digits that
no shipped model trained on (see :func:`held_out_digits`): choose rules and
settings there, and keep the test digits for the final figures.

Run: python benchmarks/read_bench.py [--n 500] [--quick] [--digits test|validation]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from digitlab import crnn
from digitlab.data import load_mnist
from digitlab.preprocess import normalize_digit, prepare
from digitlab.reader import METHODS, Reader
from digitlab.segment import segment, segment_ink
from digitlab.synth import make_dataset
from digitlab.train import VALIDATION_SEED, split_validation

#: The CRNN's second training stage held out the split of seed 1 instead of VALIDATION_SEED (see its card).
OTHER_SPLIT_SEEDS = (1,)


def accuracy(reader: Reader, dataset) -> tuple[float, float]:
    """String accuracy, and digit accuracy (position by position; a wrong count misses them all)."""
    strings = digits = total = 0
    for sequence in dataset:
        text = reader.read(sequence.image).text
        strings += text == sequence.text
        if len(text) == len(sequence.text):
            digits += sum(a == b for a, b in zip(text, sequence.text))
        total += len(sequence.text)
    return strings / len(dataset), digits / total


def held_out_digits(mnist):
    """A ``load_mnist()``-style tuple whose "test" digits are training digits no shipped model trained on.

    Every CNN member and every CRNN stage held out the 5,000 digits of one
    seeded split (VALIDATION_SEED, or one of OTHER_SPLIT_SEEDS); the digits
    in all of those splits at once (about 400) were never trained on.
    """
    (x_train, y_train), _ = mnist
    everything = index = np.arange(len(x_train))
    for seed in (VALIDATION_SEED, *OTHER_SPLIT_SEEDS):
        _, (held_out, _) = split_validation(everything, everything, 5000, seed)
        index = np.intersect1d(index, held_out)
    digits = (x_train[index], y_train[index])
    return digits, digits


def naive_read(model, image) -> str:
    """The seed's way: segment, then one ``model.predict`` per digit."""
    page = prepare(image)
    segmentation = segment(page.mask)
    text = []
    for seg in segmentation.segments:
        own, (x, y, w, h), _ = segment_ink(segmentation.components, seg, grow=1, claimed=segmentation.claimed)
        crop = normalize_digit(page.ink[y:y + h, x:x + w] * own)
        text.append(str(int(np.argmax(model.predict(crop[None, ..., None], verbose=0)))))
    return "".join(text)


def median_seconds(function, repeats: int) -> float:
    function()  # warm-up: traces and caches
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="strings per set (default 500)")
    parser.add_argument("--quick", action="store_true", help="30 strings and 5 timing runs: a smoke test")
    parser.add_argument("--digits", choices=("test", "validation"), default="test",
                        help="MNIST test digits (default), or training digits no shipped model trained on")
    args = parser.parse_args()
    n, repeats = (30, 5) if args.quick else (args.n, 30)

    mnist = load_mnist()
    if args.digits == "validation":
        mnist = held_out_digits(mnist)
    cnn, crnn_model = Reader.default().model, crnn.load_default()
    readers = {method: Reader(cnn, method=method, crnn_model=crnn_model) for method in METHODS}
    sets = {
        "5 digits, gaps": make_dataset(n, length=5, seed=0, mnist=mnist, gap=(0.2, 0.6), jitter=0.1),
        "broken strokes + specks": make_dataset(n, length=5, seed=1, mnist=mnist, gap=(0.2, 0.6),
                                                broken=True, specks=6),
        "touching 4-8, 10-40 %": crnn.touching_strings(n, mnist=mnist),
    }
    source = "MNIST test digits" if args.digits == "test" else f"{len(mnist[1][1])} held-out training digits"
    print(f"String accuracy (digit accuracy), n={n} strings each, {source}:")
    print(f"  {'set':26s}" + "".join(f"{method:>22s}" for method in METHODS))
    for name, dataset in sets.items():
        cells = [accuracy(readers[method], dataset) for method in METHODS]
        print(f"  {name:26s}" + "".join(f"{s:>13.2%} ({d:6.2%})" for s, d in cells))

    image = make_dataset(1, length=8, seed=2, mnist=mnist, height=280)[0].image
    auto = median_seconds(lambda: readers["auto"].read(image), repeats)
    contours = median_seconds(lambda: readers["contours"].read(image), repeats)
    slow = median_seconds(lambda: naive_read(cnn, image), max(3, repeats // 3))
    print(f"8-digit image {image.shape[1]}x{image.shape[0]} (medians): auto {auto * 1000:.1f} ms, "
          f"contours {contours * 1000:.1f} ms, per-digit predict {slow * 1000:.1f} ms: "
          f"auto {slow / auto:.1f}x faster, contours {slow / contours:.1f}x faster")


if __name__ == "__main__":
    main()
