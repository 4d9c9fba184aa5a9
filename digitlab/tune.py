"""Hyperparameter search over the tuning grid with Keras Tuner, alone or distributed.

Taught in ``notebooks/04_hyperparameter_tuning.ipynb``.

:func:`tune` runs a random search over :func:`digitlab.model.build_hypermodel`
(filters {32, 64, 128}, dense units {32, 64, 128}, Adam learning rate
{1e-2, 1e-3, 1e-4}) on a subset of MNIST's *training* set, scored on a
validation split of that same training set: the test set never chooses
anything. It returns a tidy table (a list of dicts, best trial first) that
:func:`format_trials` prints and :func:`plot_trials` draws.

``python -m digitlab.tune`` runs :func:`tune` from the command line, alone or
as the chief or a worker of a distributed search. This module is the place to
import the search from: it also offers the table's functions
(:mod:`digitlab.trials`) and the distributed ones
(:mod:`digitlab.distributed_tuning`: :func:`distributed_role`,
:func:`distributed_environment`, :func:`distributed_search`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np

from digitlab.config import quick_mode
from digitlab.distributed_tuning import (
    ENV_ORACLE_IP,
    ENV_ORACLE_PORT,
    ENV_TUNER_ID,
    distributed_environment,
    distributed_role,
    distributed_search,
    free_port,
)
from digitlab.trials import (
    HYPERPARAMETERS,
    RAN_BY_FILE,
    TuningError,
    check_completed,
    format_trials,
    plot_trials,
    sort_trials,
    trials_table,
)

__all__ = [
    "PROJECT_NAME", "OBJECTIVE", "TRAIN_SIZE", "VALIDATION_SIZE", "EPOCHS", "MAX_TRIALS",
    "QUICK_TRAIN_SIZE", "QUICK_VALIDATION_SIZE", "QUICK_TRIAL_EPOCHS", "QUICK_MAX_TRIALS",
    "SearchSettings", "search_settings", "search_data", "tune", "build_parser", "main",
    # the table of trials (digitlab.trials)
    "HYPERPARAMETERS", "RAN_BY_FILE", "TuningError", "check_completed", "format_trials", "plot_trials",
    "sort_trials", "trials_table",
    # distributed search (digitlab.distributed_tuning)
    "ENV_ORACLE_IP", "ENV_ORACLE_PORT", "ENV_TUNER_ID", "distributed_environment", "distributed_role",
    "distributed_search", "free_port",
]

# --- Settings -------------------------------------------------------------

PROJECT_NAME = "tuning_grid"
OBJECTIVE = "val_accuracy"

#: Full search: enough data and epochs to rank the grid (several minutes on 2 cores).
TRAIN_SIZE = 10_000
VALIDATION_SIZE = 5_000
EPOCHS = 3
MAX_TRIALS = 10

#: Quick search (``quick=True`` or ``DIGITLAB_QUICK=1``): seconds.
QUICK_TRAIN_SIZE = 1_000
QUICK_VALIDATION_SIZE = 500
QUICK_TRIAL_EPOCHS = 1
QUICK_MAX_TRIALS = 3


class SearchSettings(NamedTuple):
    """How big a search is: its number of trials, epochs per trial and numbers of images."""

    max_trials: int
    epochs: int
    train_size: int
    validation_size: int


def search_settings(max_trials: int | None = None, epochs: int | None = None, train_size: int | None = None,
                    validation_size: int | None = None, quick: bool | None = None) -> SearchSettings:
    """The given settings, else the defaults of a full search or of a quick one (``quick``, or ``None``
    and :func:`digitlab.quick_mode`).

    Raises ``ValueError`` for a search that would run nothing, before any data is loaded.
    """
    quick = quick_mode() if quick is None else quick

    def default(value, full, quick_value):
        return (quick_value if quick else full) if value is None else value

    max_trials = default(max_trials, MAX_TRIALS, QUICK_MAX_TRIALS)
    epochs = default(epochs, EPOCHS, QUICK_TRIAL_EPOCHS)
    if max_trials < 1 or epochs < 1:
        raise ValueError(f"max_trials and epochs must be at least 1, got {max_trials} and {epochs}.")
    return SearchSettings(max_trials, epochs, default(train_size, TRAIN_SIZE, QUICK_TRAIN_SIZE),
                          default(validation_size, VALIDATION_SIZE, QUICK_VALIDATION_SIZE))


def search_data(x=None, y=None, train_size: int = TRAIN_SIZE, validation_size: int = VALIDATION_SIZE,
                seed: int = 0):
    """``(x_fit, y_fit), (x_val, y_val)`` for tuning, from the *training* set only.

    ``x``/``y`` default to MNIST's training images. The validation images are a
    seeded split (:func:`digitlab.train.split_validation`); the fitting images
    are the first ``train_size`` of the rest. Images come back as float32
    (N, 28, 28, 1) in [0, 1].
    """
    from digitlab.preprocess import to_model_input
    from digitlab.train import split_validation, training_set

    x, y = training_set(x, y)
    if train_size < 1:
        raise ValueError(f"train_size must be at least 1, got {train_size}.")
    (x_fit, y_fit), (x_val, y_val) = split_validation(x, y, validation_size, seed)
    x_fit, y_fit = x_fit[:train_size], y_fit[:train_size]
    return (
        (to_model_input(x_fit), np.asarray(y_fit, dtype=np.int64)),
        (to_model_input(x_val), np.asarray(y_val, dtype=np.int64)),
    )


# --- The search -----------------------------------------------------------


def tune(x=None, y=None, directory: str | os.PathLike = "tuning", max_trials: int | None = None,
         epochs: int | None = None, train_size: int | None = None, validation_size: int | None = None,
         batch_size: int = 128, quick: bool | None = None, seed: int = 0, project_name: str = PROJECT_NAME,
         overwrite: bool = True, hypermodel=None, verbose: int = 0) -> list[dict]:
    """Random search over the tuning grid; the table of trials, best first.

    Results go to ``directory/project_name``, replaced when ``overwrite`` is
    true (Keras Tuner otherwise silently reuses old trials). ``max_trials``,
    ``epochs``, ``train_size`` and ``validation_size`` default to a search of
    several minutes, or of seconds in quick mode (``quick=True``, or ``None``
    and :func:`digitlab.quick_mode`). ``hypermodel`` defaults to
    :func:`digitlab.model.build_hypermodel`.

    Run under Keras Tuner's distributed variables (:func:`distributed_role`),
    the chief serves the oracle until the workers are done and returns every
    trial; a worker returns the trials it ran, possibly none. Only the chief
    overwrites, so that a late worker never deletes a running search.

    Raises :class:`TuningError` if no trial completed (:func:`check_completed`); a worker
    that the others left no trial to returns an empty table instead.
    """
    settings = search_settings(max_trials, epochs, train_size, validation_size, quick)
    role = distributed_role()
    data = None
    if role != "chief":  # the chief trains nothing
        (x_fit, y_fit), validation = search_data(x, y, settings.train_size, settings.validation_size, seed)
        data = dict(x=x_fit, y=y_fit, validation_data=validation, epochs=settings.epochs, batch_size=batch_size)
    tuner = _tuner(hypermodel, settings.max_trials, seed, directory, project_name,
                   overwrite=overwrite and role != "worker")
    trials = _search(tuner, role, data, verbose)
    table = trials_table(trials, tuner.project_dir)
    if table or role != "worker":  # a worker may find every trial taken by the others
        check_completed(table)
    return table


def _tuner(hypermodel, max_trials: int, seed: int, directory, project_name: str, overwrite: bool):
    """A random search over ``hypermodel`` (default :func:`digitlab.model.build_hypermodel`)."""
    from digitlab.model import build_hypermodel

    return _tuner_class()(
        hypermodel=hypermodel or build_hypermodel,
        objective=OBJECTIVE,
        max_trials=max_trials,
        seed=seed,
        directory=str(directory),
        project_name=project_name,
        overwrite=overwrite,
    )


def _tuner_class():
    """A RandomSearch that records which process ran each trial (imported late: keras_tuner is slow)."""
    import keras_tuner

    class TuningGridSearch(keras_tuner.RandomSearch):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.finished_trials = []

        def on_trial_end(self, trial):
            Path(self.get_trial_dir(trial.trial_id), RAN_BY_FILE).write_text(self.tuner_id)
            super().on_trial_end(trial)
            # Ask now: a worker's chief may be gone once the search ends.
            self.finished_trials.append(self.oracle.get_trial(trial.trial_id))

    return TuningGridSearch


def _search(tuner, role: str, data: dict | None, verbose: int) -> list:
    """Run the search in this process's role; the trials it can report.

    The chief serves the workers until they are done and reports every trial;
    a worker reports the trials it ran; a search alone reports every trial.
    """
    if role == "chief":
        tuner.search(verbose=verbose)
        return list(tuner.oracle.trials.values())
    tuner.search(**data, verbose=verbose)
    return tuner.finished_trials if role == "worker" else list(tuner.oracle.trials.values())


# --- Command line: python -m digitlab.tune --------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m digitlab.tune",
        description="Random search over the tuning grid. Under KERASTUNER_TUNER_ID, "
        "KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT, run the same command once as "
        "the chief and once per worker.",
    )
    parser.add_argument("--directory", default="tuning", help="where Keras Tuner writes (default: tuning)")
    parser.add_argument("--project-name", default=PROJECT_NAME)
    parser.add_argument("--max-trials", type=int, help=f"default {MAX_TRIALS} ({QUICK_MAX_TRIALS} quick)")
    parser.add_argument("--epochs", type=int, help=f"per trial, default {EPOCHS} ({QUICK_TRIAL_EPOCHS} quick)")
    parser.add_argument("--train-size", type=int, help=f"default {TRAIN_SIZE} ({QUICK_TRAIN_SIZE} quick)")
    parser.add_argument("--validation-size", type=int,
                        help=f"default {VALIDATION_SIZE} ({QUICK_VALIDATION_SIZE} quick)")
    parser.add_argument("--quick", action="store_true", help="a search of seconds (also DIGITLAB_QUICK=1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--table", help="also write the table of trials to this JSON file")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    role = distributed_role()
    name = os.environ.get(ENV_TUNER_ID, "tuner0")
    try:  # only the settings: an error inside the search keeps its traceback
        settings = search_settings(args.max_trials, args.epochs, args.train_size, args.validation_size,
                                   args.quick or None)
    except ValueError as error:
        print(f"python -m digitlab.tune: {error}", file=sys.stderr)
        return 2
    table = tune(directory=args.directory, project_name=args.project_name, seed=args.seed, **settings._asdict())
    heading = {"chief": "all trials", "worker": f"trials run by {name}", "alone": "all trials"}[role]
    print(f"[{name}] {heading}:\n{format_trials(table)}", flush=True)
    if args.table:
        Path(args.table).write_text(json.dumps(table, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
