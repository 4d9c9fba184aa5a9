"""The ``digitlab`` command: data, train, ensemble, evaluate, read.

Run ``digitlab --help`` or ``digitlab COMMAND --help``. ``train`` and its options are in
:mod:`digitlab.train_command`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from digitlab.card import command_line
from digitlab.train_command import add_train_command


def _data(args) -> int:
    from digitlab import data

    if args.action == "download":
        try:
            folder = data.download_mnist(args.to)
        except data.DataError as error:  # no network, no mirror
            print(f"digitlab data download: {error}", file=sys.stderr)
            return 2
        except OSError as error:  # a folder we cannot make or write
            print(f"digitlab data download: {error.filename or args.to or data.DEFAULT_DIR}: cannot write there "
                  f"({error.strerror or error}).", file=sys.stderr)
            return 2
        print(f"MNIST downloaded and verified in {folder}")
        return 0
    try:
        location = data.require_mnist(args.path)
        for name, file in location.files.items():
            data.verify_file(file, name)
    except data.DataError as error:
        print(f"digitlab data: {error}", file=sys.stderr)
        return 1
    print(f"MNIST found in {location.folder} ({location.source}): all 4 files verified (sha256).")
    return 0


def _ensemble(args) -> int:
    from digitlab.recipes import ensemble_and_save
    from digitlab.model import DEFAULT_MODEL, ModelFileError

    try:
        ensemble_and_save(args.members, args.out or DEFAULT_MODEL, command=command_line(args.argv))
    except (ValueError, OSError, ModelFileError) as error:
        print(f"digitlab ensemble: {error}", file=sys.stderr)
        return 2
    return 0


def _evaluate(args) -> int:
    from digitlab import evaluate, model as models

    try:
        classifier = models.load_model(args.model) if args.model else models.load_default()
    except models.ModelFileError as error:
        print(f"digitlab evaluate: {error}", file=sys.stderr)
        return 2
    print(evaluate.report_for(classifier))
    return 0


def _read(args) -> int:
    from digitlab.image_files import open_image
    from digitlab.preprocess import MAX_WORKING_SIDE, ImageError

    annotations, problem = _annotation_paths(args.annotate, args.image) if args.annotate else ({}, None)
    if problem:
        print(f"digitlab read: --annotate {args.annotate}: {problem}", file=sys.stderr)
        return 2
    readable = []
    for image in args.image:  # the headers only, before loading the model: what is no image, or too large, fails fast
        try:
            open_image(image, max_side=MAX_WORKING_SIDE).close()
            readable.append(image)
        except ImageError as error:
            print(f"digitlab read: {error}", file=sys.stderr)
    if not readable:
        return 2
    from digitlab.model import ModelFileError
    from digitlab.reader import Reader

    try:
        reader = Reader.from_file(args.model, method=args.method) if args.model else Reader.default(method=args.method)
    except ModelFileError as error:
        print(f"digitlab read: {error}", file=sys.stderr)
        return 2
    except ValueError as error:  # a model that is no digit classifier
        print(f"digitlab read: --model {args.model}: {error}", file=sys.stderr)
        return 2
    failed = len(readable) < len(args.image)
    for image in readable:
        try:
            failed |= not _read_one(reader, image, args, named=len(args.image) > 1, annotation=annotations.get(image))
        except ModelFileError as error:  # the CRNN or the candidate CNN, loaded at the first read that needs it
            print(f"digitlab read: {error}", file=sys.stderr)
            return 2
    return 2 if failed else 0


def _read_one(reader, image: str, args, named: bool, annotation: Path | None = None) -> bool:
    """Read ``image`` and print what was read (``named``: each line after the image's name, as grep does with
    several files; JSON with an ``"image"`` key); True when it was read and its annotation saved to
    ``annotation`` (if given)."""
    import json

    from digitlab.preprocess import ImageError
    from digitlab.reader import UNSURE_BELOW
    from digitlab.reading import read_with_notes

    try:  # decoded here (a large JPEG at a reduced size): a truncated file or NaN pixels fail now
        reading, notes = read_with_notes(reader.read, image)
    except ImageError as error:
        message = str(error) if str(error).startswith(image) else f"{image}: {error}"
        print(f"digitlab read: {message}", file=sys.stderr)
        return False
    for note in notes:
        print(f"digitlab read: {image}: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps({"image": image, **reading.to_dict()} if named else reading.to_dict()), flush=True)
    elif reading.text:
        print("\n".join(f"{image}: {line}" if named else line for line in reading.lines), flush=True)
    if not reading.digits:
        print(f"digitlab read: {image}: no digits found" if named else "no digits found", file=sys.stderr)
    unsure = reading.unsure()
    if unsure:  # said, not hidden: a page of noise reads as many unsure digits, a misread digit is often unsure
        print(f"digitlab read: {image}: unsure of {len(unsure)} digit{'s' if len(unsure) > 1 else ''} of "
              f"{len(reading.digits)} (confidence under {UNSURE_BELOW:.0%}); --json gives each digit's confidence",
              file=sys.stderr)
    problem = annotation and _save_annotated(reading, annotation)
    if problem:
        print(f"digitlab read: --annotate {annotation}: {problem}", file=sys.stderr)
        return False
    return True


def _annotation_paths(annotate: str, images: list[str]) -> tuple[dict[str, Path], str | None]:
    """Where ``--annotate`` saves each image's annotation, and what is wrong with it, found before anything is
    read (None: nothing). An image file name takes one image's; a folder (made if missing) takes
    ``NAME_annotated.png`` for each image ``NAME.*``."""
    path = Path(annotate)
    is_folder = path.is_dir()
    if _is_image_name(annotate) and not is_folder:
        if len(images) > 1:
            return {}, f"one image file, and {len(images)} images were given: give a folder to annotate each in"
        paths = {images[0]: path}
    elif path.suffix and not is_folder:
        return {}, "not an image file name (use .png or .jpg) nor a folder"
    elif path.exists() and not is_folder:
        return {}, "a file, not a folder: give a folder to annotate in, or a file name such as OUT.png"
    else:
        paths = {image: path / f"{Path(image).stem}_annotated.png" for image in images}
    by_path = {}
    for image, annotation in paths.items():
        resolved = annotation.resolve()
        if annotation.exists() and resolved == Path(image).resolve():
            return {}, f"{annotation} is an image being read; give another name"
        if by_path.setdefault(resolved, image) != image:
            return {}, f"{by_path[resolved]} and {image} would both be annotated as {annotation}"
    return paths, None


def _save_annotated(reading, path: Path) -> str | None:
    """Write the annotated image (:func:`digitlab.files.replaced_atomically`: a failed write never destroys an
    existing file). Returns what went wrong, or None."""
    from PIL import Image

    from digitlab.files import replaced_atomically

    try:
        with replaced_atomically(path) as temporary:
            Image.fromarray(reading.annotated()).save(temporary, format=Image.registered_extensions()[path.suffix.lower()])
        return None
    except (OSError, ValueError) as error:  # no folder, no space, no permission, a format without RGB
        return f"cannot write it: {error}"


def _is_image_name(path: str) -> bool:
    """Does ``path`` end in an extension PIL can write (.png, .jpg, ...)?"""
    from PIL import Image

    return Image.registered_extensions().get(Path(path).suffix.lower()) in Image.SAVE


def _add_read_command(commands) -> None:
    from digitlab.reader import METHODS

    read = commands.add_parser("read", help="read the digit string in an image, or in each of several")
    read.add_argument("image", nargs="+", metavar="IMAGE",
                      help="an image file (PNG, JPEG, ...); with several, each line read starts with its file's "
                           "name (grep's way), and each JSON object has an \"image\" key")
    read.add_argument("--json", action="store_true", help="text, digits (value, confidence, box) and lines as JSON")
    read.add_argument("--annotate", metavar="OUT.png|FOLDER",
                      help="also save the image with boxes and digits drawn; for several images, a folder: "
                           "NAME_annotated.png for each")
    read.add_argument("--model", help="the digit CNN of method contours, a .keras file (default: the shipped one)")
    read.add_argument("--method", choices=METHODS, default="auto",
                      help="auto (default): groups pieces of ink into the digits a CNN reads best, weighed against "
                           "the CRNN's reading of the whole line; contours: segments and reads each digit with the "
                           "CNN; crnn: reads each line whole with the CRNN")
    read.set_defaults(run=_read)


def build_parser() -> argparse.ArgumentParser:
    from digitlab import __version__

    parser = argparse.ArgumentParser(
        prog="digitlab", description="Handwritten digit strings: get MNIST, train and evaluate the networks, read "
                                     "the digits in an image. Each command's options: digitlab COMMAND --help.")
    parser.add_argument("--version", action="version", version=f"digitlab {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="find and verify MNIST, or download it")
    data.add_argument("action", nargs="?", choices=["check", "download"], default="check")
    data.add_argument("--path", help="folder to check instead of the usual search order")
    data.add_argument("--to", help="download into this folder (default: data/mnist)")
    data.set_defaults(run=_data)

    add_train_command(commands)

    ensemble = commands.add_parser("ensemble", help="average trained digit CNNs into one model with its card")
    ensemble.add_argument("members", nargs="+", help=".keras files written by `digitlab train` (with cards)")
    ensemble.add_argument("--out", help="where to write it (default: digitlab/models/digit_cnn.keras)")
    ensemble.set_defaults(run=_ensemble)

    evaluate = commands.add_parser("evaluate", help="test accuracy and classification report")
    evaluate.add_argument("--model", help="a .keras file (default: the shipped model)")
    evaluate.set_defaults(run=_evaluate)

    _add_read_command(commands)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    from digitlab.data import DataError

    try:
        return args.run(args)
    except DataError as error:  # MNIST missing or damaged, found by whichever command needed it
        print(f"digitlab {argv[0]}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
