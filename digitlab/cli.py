"""The ``digitlab`` command: data, train, evaluate, read.

Run ``digitlab --help`` or ``digitlab COMMAND --help``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _data(args) -> int:
    from digitlab import data

    if args.action == "download":
        folder = data.download_mnist(args.to)
        print(f"MNIST downloaded and verified in {folder}")
        return 0
    try:
        location = data.find_mnist(args.path)
        if location is None:
            raise data.DataError(data._not_found_message(args.path))
        for name, file in location.files.items():
            data.verify_file(file, name)
    except data.DataError as error:
        print(f"digitlab data: {error}", file=sys.stderr)
        return 1
    print(f"MNIST found in {location.folder} ({location.source}): all 4 files verified (sha256).")
    return 0


def _train(args) -> int:
    from digitlab import model as models
    from digitlab.card import train_and_save

    builders = {"digit_cnn": models.digit_cnn, "seed_cnn": models.seed_cnn}
    out = Path(args.out) if args.out else models.MODELS_DIR / f"{args.model}.keras"
    train_and_save(
        builders[args.model](),
        out,
        epochs=args.epochs,
        quick=args.quick,
        seed=args.seed,
        learning_rate=args.learning_rate,
        command="digitlab " + " ".join(sys.argv[1:]),
        verbose=2 if args.log else "auto",
    )
    return 0


def _evaluate(args) -> int:
    from digitlab import evaluate, model as models

    classifier = models.load_model(args.model) if args.model else models.load_default()
    print(evaluate.report_for(classifier))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from digitlab import __version__

    parser = argparse.ArgumentParser(prog="digitlab", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"digitlab {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="find and verify MNIST, or download it")
    data.add_argument("action", nargs="?", choices=["check", "download"], default="check")
    data.add_argument("--path", help="folder to check instead of the usual search order")
    data.add_argument("--to", help="download into this folder (default: data/mnist)")
    data.set_defaults(run=_data)

    train = commands.add_parser("train", help="train a CNN and write it with its model card")
    train.add_argument("--model", choices=["digit_cnn", "seed_cnn"], default="digit_cnn")
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument("--learning-rate", type=float, default=3e-3, help="peak learning rate")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", help="where to write the .keras file (default: digitlab/models/MODEL.keras)")
    train.add_argument("--quick", action="store_true", help="2,000 images, 2 epochs: a smoke test")
    train.add_argument("--log", action="store_true", help="one line per epoch instead of a progress bar")
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("evaluate", help="test accuracy and classification report")
    evaluate.add_argument("--model", help="a .keras file (default: the shipped model)")
    evaluate.set_defaults(run=_evaluate)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
