"""Choose the segmentation graph's two prices on data meant for choosing, and print every candidate's score.

The graph (:mod:`digitlab.decode`) has two weights: a price per digit read
(``DIGIT_COST``) and a price per piece read as no digit (``SKIP_COST``).
This script builds every line's scored graph once, then finds each line's
best path under every pair of prices on a grid, and prints, for each pair,
the exact-string accuracy on each set and their mean:

- the real-stroke benchmark's *choose* writers (:mod:`digitlab.unipen`):
  every digit alone and ``--n`` strings on the pad (read from their
  strokes), the same strings on paper;
- the *development* half of MNIST's test digits
  (:func:`digitlab.data.test_half`): strings with gaps, with broken strokes
  and specks, and touching strings, as ``benchmarks/read_bench.py`` makes them.

Never the halves that report. Run: python benchmarks/choose_prices.py [--n 500] [--candidate MODEL.keras]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import replace

import numpy as np
from tqdm.auto import tqdm

from digitlab import decode, unipen
from digitlab.data import DataError, load_mnist, test_half
from digitlab.model import load_model
from digitlab.reader import Reader
from digitlab.synth import BENCHMARK_STRINGS, benchmark_strings

DIGIT_COSTS = (-1.0, -0.5, 0.0, 0.5, 1.0)
SKIP_COSTS = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0)


class RecordingReader(Reader):
    """A reader that keeps every line's graph it searches: the prices are chosen on the graphs the reader
    itself builds (a pad's strokes drawn with MNIST's pen, tilted lines levelled), not on a copy of its steps."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.searched: list[decode.Lattice] = []

    def lattices(self, *args, **kwargs) -> list[decode.Lattice]:
        found = super().lattices(*args, **kwargs)
        self.searched.extend(found)
        return found


def graphs(reader: RecordingReader, items, read, name: str, total: int) -> list[list[tuple[int, list]]]:
    """Per item, per line: (piece count, edges without crops) of the graphs ``read(item)`` searched; a
    progress bar named ``name`` over the ``total`` items shows on a terminal."""
    found = []
    for item in tqdm(items, desc=name, total=total, leave=False, disable=None):
        reader.searched.clear()
        read(item)
        found.append([(len(lattice.pieces), [replace(edge, confidences=(), boxes=(), crop=None)
                                             for edge in lattice.edges]) for lattice in reader.searched])
    return found


def text(lines, digit_cost: float, skip_cost: float) -> str:
    return "".join(str(value) for count, edges in lines
                   for edge in decode.best_path(count, edges, digit_cost, skip_cost) for value in edge.values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="strings per set (default 500)")
    parser.add_argument("--candidate", metavar="MODEL.keras", help="the 11-class recognizer (default: the shipped one)")
    args = parser.parse_args()
    try:
        digits = unipen.writers_half(unipen.load_digits(), "choose")
    except DataError as error:
        print(f"choose_prices: {error}", file=sys.stderr)
        return 2
    reader = RecordingReader.default(candidate_model=load_model(args.candidate) if args.candidate else None)
    paper_rng = np.random.default_rng(2)

    def from_strokes(pen):  # as the pad reads them
        return reader.read_strokes(pen.strokes, pen.size, pen.pen_width)

    lines = unipen.strings(digits, args.n)
    mnist = test_half(load_mnist(), "development")
    gaps, broken, touching = (benchmark_strings(name, args.n, mnist=mnist) for name in BENCHMARK_STRINGS)
    sets = {
        "isolated, pad": (unipen.isolated(digits), from_strokes, [str(d.label) for d in digits]),
        "strings, pad": (lines, from_strokes, [line.text for line in lines]),
        "strings, paper": ((unipen.on_paper(line.on_pad(), paper_rng) for line in lines), reader.read,
                           [line.text for line in lines]),
        "MNIST gaps": ((s.image for s in gaps), reader.read, [s.text for s in gaps]),
        "MNIST broken + specks": ((s.image for s in broken), reader.read, [s.text for s in broken]),
        "MNIST touching": ((s.image for s in touching), reader.read, [s.text for s in touching]),
    }
    scored = {}
    for name, (items, read, truths) in sets.items():
        print(f"scoring the graphs of {name} ...", file=sys.stderr)
        scored[name] = (graphs(reader, items, read, name, len(truths)), truths)

    print("digit cost, skip cost: " + ", ".join(sets) + ", mean")
    results = []
    for digit_cost, skip_cost in itertools.product(DIGIT_COSTS, SKIP_COSTS):
        accuracies = [np.mean([text(item, digit_cost, skip_cost) == truth for item, truth in zip(found, truths)])
                      for found, truths in scored.values()]
        results.append((float(np.mean(accuracies)), digit_cost, skip_cost))
        print(f"{digit_cost:5.1f} {skip_cost:4.1f}: " + "  ".join(f"{a:7.2%}" for a in accuracies)
              + f"  mean {np.mean(accuracies):7.2%}")
    best = max(results)
    print(f"best mean {best[0]:.2%}: DIGIT_COST = {best[1]}, SKIP_COST = {best[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
