"""Regenerate data/samples/ (sample images made from MNIST test digits, and samples.json).

Run: python tools/make_samples.py [--out FOLDER]
"""

import argparse

from digitlab.synth import SAMPLES_DIR, make_samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(SAMPLES_DIR), help=f"folder (default: {SAMPLES_DIR})")
    args = parser.parse_args()
    for entry in make_samples(args.out):
        print(f"{entry['file']}: {entry['text']!r} ({entry['description']})")


if __name__ == "__main__":
    main()
