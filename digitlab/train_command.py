"""The ``digitlab train`` command: its options, their checks before anything is loaded, and the training they start.

Run ``digitlab train --help``; ``docs/MODELS.md`` gives the commands that made the shipped models.
"""

from __future__ import annotations

import sys
from pathlib import Path

from digitlab.card import command_line


def add_train_command(commands) -> None:
    """Add ``train`` and its options to the ``digitlab`` command's subcommands (:mod:`digitlab.cli`)."""
    from digitlab.recipes import RECIPES

    train = commands.add_parser("train", help="train a CNN (or the CRNN) and write it with its model card")
    train.add_argument("--model", choices=["digit_cnn", "fast_cnn", "baseline_cnn", "candidate_cnn", "crnn"],
                       default="digit_cnn")
    train.add_argument("--recipe", choices=list(RECIPES), default="standard",
                       help="; ".join(f"{name}: {recipe}" for name, recipe in RECIPES.items())
                            + " (default standard; fast is for the digit CNNs, made for --model fast_cnn)")
    train.add_argument("--epochs", type=int, help="default: the recipe's")
    train.add_argument("--learning-rate", type=float, help="peak learning rate (default: the recipe's)")
    train.add_argument("--seed", type=int, default=0,
                       help="seeds the initial weights, styles, order and augmentation: the same command trains the "
                            "same network (default 0)")
    train.add_argument("--out", help="where to write the .keras file (default: digitlab/models/MODEL.keras, "
                                     "the shipped model; with --quick, runs/MODEL_quick.keras)")
    train.add_argument("--init", metavar="MODEL.keras",
                       help="start from this trained model (with its card): every layer whose weights "
                            "have the same shapes is copied, the others start fresh")
    train.add_argument("--overlapping", type=float, metavar="FRACTION",
                       help="crnn: share of training strings whose digits overlap (default 0.6; the rest are spaced)")
    train.add_argument("--as-written", type=float, metavar="FRACTION",
                       help="crnn: share of training strings that overlap with every digit as MNIST wrote it, "
                            "no scale, slant, stroke or noise changes (default 0.5; at most --overlapping)")
    train.add_argument("--styles", type=float, default=0.0, metavar="FRACTION",
                       help="share of training digits (crnn: of those its lines are made of) given a writing style "
                            "MNIST lacks (slashed 0, continental 1, crossed 7, floating 5 bar, uniform pen; "
                            "digitlab.styles), default 0")
    train.add_argument("--non-digits", type=float, metavar="FRACTION",
                       help="candidate_cnn: examples of 'not one digit' per training digit (pieces, pairs, specks; "
                            "digitlab.non_digits), default digitlab.non_digits.NON_DIGIT_FRACTION")
    train.add_argument("--stroke-width", type=float, metavar="STRENGTH",
                       help="digit CNNs: how far augmentation thins or thickens each training digit's strokes, "
                            "0 to 1 (digitlab.augmentation.RandomStrokeWidth; default digitlab.augmentation.STROKE)")
    train.add_argument("--teacher", metavar="MODEL.keras",
                       help="digit CNNs: also learn this trained model's probabilities (knowledge distillation, "
                            "digitlab.distill), e.g. the shipped ensemble digitlab/models/digit_cnn.keras")
    train.add_argument("--quick", action="store_true", help="2,000 images (crnn: 400 strings), 2 epochs: a smoke test")
    train.add_argument("--log", action="store_true", help="one line per epoch instead of a progress bar")
    train.set_defaults(run=_train)


def _train(args) -> int:
    """Check the options, build the model (from ``--init``, with ``--teacher``), train it and write it with its
    card; 2, with one line on stderr, for options or files that cannot be used."""
    import keras

    from digitlab import model as models
    from digitlab.files import check_writable

    _take_recipe(args)
    problem = _training_option_problem(args)
    if problem:
        print(f"digitlab train: {problem}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else _default_out(args)
    try:
        check_writable(out)
    except OSError as error:
        print(f"digitlab train: --out {out}: cannot write there ({error.strerror or error}).", file=sys.stderr)
        return 2
    builder, trainer, mixture = _recipe(args)
    keras.utils.set_random_seed(args.seed)  # the initial weights too: the same command trains the same network
    model = builder()
    try:
        started_from = _start_from(args.init, model) if args.init else None
    except (ValueError, OSError, models.ModelFileError) as error:
        print(f"digitlab train: --init {args.init}: {error}", file=sys.stderr)
        return 2
    try:
        mixture |= _teacher(args.teacher, model) if args.teacher else {}
    except (ValueError, OSError, models.ModelFileError) as error:
        print(f"digitlab train: --teacher {args.teacher}: {error}", file=sys.stderr)
        return 2
    trainer(model, out, epochs=args.epochs, quick=args.quick, seed=args.seed, learning_rate=args.learning_rate,
            command=command_line(args.argv), verbose=2 if args.log else "auto", started_from=started_from, **mixture)
    return 0


def _recipe(args):
    """``digitlab train --model``'s builder, training recipe (:mod:`digitlab.recipes`) and data mixture."""
    from digitlab import model as models
    from digitlab.recipes import train_and_save, train_and_save_crnn

    if args.model == "crnn":  # strings of digits, not single digits: its own data and card
        from digitlab import crnn

        return crnn.crnn, train_and_save_crnn, {**_crnn_mixture(args), "styles": args.styles}
    digits = {"styles": args.styles, "stroke_width": args.stroke_width, "label_smoothing": args.label_smoothing}
    if args.model == "candidate_cnn":
        from digitlab.non_digits import NON_DIGIT_FRACTION

        non_digits = NON_DIGIT_FRACTION if args.non_digits is None else args.non_digits
        return models.candidate_cnn, train_and_save, {**digits, "non_digits": non_digits}
    builders = {"digit_cnn": models.digit_cnn, "fast_cnn": models.fast_cnn, "baseline_cnn": models.baseline_cnn}
    return builders[args.model], train_and_save, digits


def _crnn_mixture(args) -> dict:
    from digitlab import crnn

    return {"overlapping_fraction": crnn.OVERLAPPING_FRACTION if args.overlapping is None else args.overlapping,
            "plain_fraction": crnn.PLAIN_FRACTION if args.as_written is None else args.as_written}


def _start_from(path: str, model) -> tuple[dict, list[str]]:
    """Copy the saved model at ``path`` into ``model`` (:func:`digitlab.model.warm_start`): its card and the
    layers left fresh. Its card is read before the run's output may replace it."""
    from digitlab.card import read_card
    from digitlab.model import load_model, warm_start

    source, start_card = load_model(path), read_card(path)
    fresh = warm_start(model, source)
    if fresh:
        print(f"Starting from {path}; these layers are new or changed shape, and start fresh: {', '.join(fresh)}")
    return start_card, fresh


def _teacher(path: str, model) -> dict:
    """The trained model at ``path`` (with its card) that ``model`` will learn from, checked to match it."""
    from digitlab.card import read_card
    from digitlab.distill import check_teacher
    from digitlab.model import load_model

    teacher = load_model(path)
    check_teacher(teacher, model)
    return {"teacher": teacher, "teacher_path": path, "teacher_card": read_card(path)}


def _take_recipe(args) -> None:
    """Fill the options left out (``--epochs``, ``--learning-rate``) from ``--recipe``; the label smoothing
    always comes from it."""
    from digitlab.recipes import RECIPES

    recipe = RECIPES[args.recipe]
    args.epochs = recipe.epochs if args.epochs is None else args.epochs
    args.learning_rate = recipe.learning_rate if args.learning_rate is None else args.learning_rate
    args.label_smoothing = recipe.label_smoothing


def _training_option_problem(args) -> str | None:
    """What is wrong with ``digitlab train``'s options, checked before any data or model is loaded."""
    from digitlab.train import check_schedule

    try:
        check_schedule(args.epochs, args.learning_rate)
    except ValueError as error:
        return f"--epochs/--learning-rate: {error}"
    if not 0 <= args.styles <= 1:
        return f"--styles must be a fraction in [0, 1], got {args.styles}"
    if args.non_digits is not None:
        if args.model != "candidate_cnn":
            return "--non-digits is for --model candidate_cnn, the one with a class for 'not one digit'"
        if not 0 < args.non_digits <= 1:
            return f"--non-digits must be a fraction in (0, 1], got {args.non_digits}"
    if args.model != "crnn":
        if args.overlapping is not None or args.as_written is not None:
            return "--overlapping and --as-written are for --model crnn"
        if args.stroke_width is not None and not 0 <= args.stroke_width <= 1:
            return f"--stroke-width must be in [0, 1], got {args.stroke_width}"
        return None
    if args.stroke_width is not None:
        return "--stroke-width is for the digit CNNs; the CRNN's lines vary their strokes themselves"
    if args.teacher:
        return "--teacher is for the digit CNNs, not --model crnn"
    if args.recipe != "standard":
        return f"--recipe {args.recipe} is for the digit CNNs; the CRNN trains with the standard recipe"
    from digitlab import crnn

    try:
        crnn.check_fractions(**_crnn_mixture(args))
    except ValueError as error:
        return f"--overlapping/--as-written: {error}"
    return None


def _default_out(args) -> Path:
    """Where ``digitlab train`` writes without ``--out``: the shipped model's file, except for a ``--quick``
    smoke test, which goes to ``runs/MODEL_quick.keras`` so that it never replaces shipped weights."""
    from digitlab.model import MODELS_DIR

    return Path("runs") / f"{args.model}_quick.keras" if args.quick else MODELS_DIR / f"{args.model}.keras"
