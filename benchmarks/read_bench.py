"""Reading accuracy and speed of digitlab.reader on seeded strings of MNIST *test* digits.

Prints a table of string accuracy (and digit accuracy) for each reader method
("contours", "crnn", "auto") on:

- 5-digit strings with gaps (target: >= 98 %, and "auto" >= "contours");
- the same with broken strokes and specks;
- touching strings: 4-8 digits overlapping by 10-40 % (target for "auto": >= 95 %);

then the time to read an 8-digit, 280 px high image with ``Reader``
("auto" and "contours") versus a naive pipeline that calls ``model.predict``
once per digit (same segmentation), as speed-up ratios (target: >= 10x).
"auto" takes longer on a hard line (more CRNN views, CTC scoring, second
opinions), so it times ``--lines`` different images (median of repeated
reads each) and prints the median over them and the slowest.

The strings are drawn from the *benchmark* half of the test digits
(:func:`digitlab.data.test_half`). Choose rules and models on the other half,
``--digits development`` (new writers too), and run the default once at
the end.
``--crnn PATH`` reads with another CRNN than the shipped one; ``--cnn PATH``
with another digit CNN for "contours" and the per-digit pipeline than the
shipped ensemble (a single network reads faster).

Run: python benchmarks/read_bench.py [--n 500] [--quick] [--digits benchmark|development]
[--cnn MODEL.keras] [--crnn MODEL.keras] [--candidate MODEL.keras] [--methods ...] [--lines 10]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from tqdm.auto import tqdm

from digitlab import crnn
from digitlab.data import TEST_HALVES, load_mnist, test_half
from digitlab.model import ModelFileError, load_model
from digitlab.preprocess import normalize_digit, prepare
from digitlab.reader import METHODS, Reader
from digitlab.segment import segment
from digitlab.touching import segment_ink
from digitlab.synth import BENCHMARK_STRINGS, benchmark_strings, make_dataset


def accuracy(reader: Reader, dataset, name: str = "reading") -> tuple[float, float]:
    """String accuracy, and digit accuracy (position by position; a wrong count misses them all). A progress
    bar named ``name`` shows on a terminal."""
    strings = digits = total = 0
    for sequence in tqdm(dataset, desc=name, leave=False, disable=None):
        text = reader.read(sequence.image).text
        strings += text == sequence.text
        if len(text) == len(sequence.text):
            digits += sum(a == b for a, b in zip(text, sequence.text))
        total += len(sequence.text)
    return strings / len(dataset), digits / total


def naive_read(model, image) -> str:
    """The plain way: segment, then one ``model.predict`` per digit."""
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
    parser.add_argument("--quick", action="store_true", help="30 strings, 2 lines timed 5 times each: a smoke test")
    parser.add_argument("--digits", choices=TEST_HALVES, default="benchmark",
                        help="the benchmark half of MNIST's test digits (default), or the development half")
    parser.add_argument("--cnn", metavar="MODEL.keras",
                        help="method contours and the per-digit pipeline: this CNN instead of the shipped ensemble")
    parser.add_argument("--crnn", metavar="MODEL.keras", help="read with this CRNN instead of the shipped one")
    parser.add_argument("--candidate", metavar="MODEL.keras",
                        help="method auto: read with this 11-class recognizer instead of the shipped one")
    parser.add_argument("--digit-cost", type=float, metavar="COST",
                        help="method auto: the price per digit read (default digitlab.decode.DIGIT_COST)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                        help="the methods to measure (default: all)")
    parser.add_argument("--lines", type=int, default=10, help="8-digit images to time (default 10)")
    args = parser.parse_args()
    if args.n < 1 or args.lines < 1:
        parser.error(f"--n and --lines must be at least 1, got {args.n} and {args.lines}.")
    n, repeats, lines = (30, 5, 2) if args.quick else (args.n, 15, args.lines)

    mnist = test_half(load_mnist(), args.digits)
    try:
        cnn = load_model(args.cnn) if args.cnn else Reader.default().model
        crnn_model = crnn.load_model(args.crnn) if args.crnn else crnn.load_default()
        candidate_model = load_model(args.candidate) if args.candidate else None
    except ModelFileError as error:
        parser.error(str(error))
    methods = args.methods
    readers = {method: Reader(cnn, method=method, crnn_model=crnn_model, candidate_model=candidate_model,
                              digit_cost=args.digit_cost) for method in methods}
    sets = {name: benchmark_strings(name, n, mnist=mnist) for name in BENCHMARK_STRINGS}
    source = f"the {args.digits} half of MNIST's test digits"
    if args.cnn:
        source += f", CNN {args.cnn}"
    if args.crnn:
        source += f", CRNN {args.crnn}"
    print(f"String accuracy (digit accuracy), n={n} strings each, {source}:")
    print(f"  {'set':26s}" + "".join(f"{method:>22s}" for method in methods))
    for name, dataset in sets.items():
        cells = [accuracy(readers[method], dataset, f"{name}, {method}") for method in methods]
        print(f"  {name:26s}" + "".join(f"{s:>13.2%} ({d:6.2%})" for s, d in cells))

    timed = [method for method in methods if method != "crnn"]
    times = {method: [] for method in timed} | {"per-digit predict": []}
    for sequence in make_dataset(lines, length=8, seed=2, mnist=mnist, height=280):
        image = sequence.image
        for method in timed:
            times[method].append(median_seconds(lambda: readers[method].read(image), repeats))
        times["per-digit predict"].append(median_seconds(lambda: naive_read(cnn, image), max(3, repeats // 3)))
    print(f"{lines} 8-digit images, {image.shape[0]} px high (each the median of repeated reads): "
          + ", ".join(f"{name} {statistics.median(seconds) * 1000:.1f} ms (slowest {max(seconds) * 1000:.1f})"
                      for name, seconds in times.items()))
    slow = statistics.median(times["per-digit predict"])
    for name in timed:
        worst = min(naive / own for naive, own in zip(times["per-digit predict"], times[name]))
        print(f"  {name}: {slow / statistics.median(times[name]):.1f}x faster than per-digit predict "
              f"(medians; {worst:.1f}x on its worst image)")


if __name__ == "__main__":
    main()
