"""Hyperparameter search over the tuning grid with Keras Tuner, alone or distributed.

Taught in ``notebooks/04_hyperparameter_tuning.ipynb``.

:func:`tune` runs a random search over :func:`digitlab.model.build_hypermodel`
(filters {32, 64, 128}, dense units {32, 64, 128}, Adam learning rate
{1e-2, 1e-3, 1e-4}) on a subset of MNIST's *training* set, scored on a
validation split of that same training set: the test set never chooses
anything. It returns a tidy table (a list of dicts, best trial first) that
:func:`format_trials` prints and :func:`plot_trials` draws.

Distributed search is Keras Tuner's own: the same script runs once as the
chief (which only hands out trials and collects results) and once per worker,
told apart by environment variables (see :func:`distributed_environment`)::

    KERASTUNER_TUNER_ID=chief  KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000 \\
        python -m digitlab.tune --directory runs --max-trials 6 --quick &
    KERASTUNER_TUNER_ID=tuner0 KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000 \\
        python -m digitlab.tune --directory runs --max-trials 6 --quick &
    KERASTUNER_TUNER_ID=tuner1 ...

:func:`distributed_search` starts such a chief and its workers on this
machine, waits for them (with a time limit) and returns the chief's table.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from digitlab.config import quick_mode

# --- Settings -------------------------------------------------------------

PROJECT_NAME = "seed_grid"
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

#: File written in each trial's folder, naming the tuner process that ran it.
RAN_BY_FILE = "ran_by.txt"

HYPERPARAMETERS = ("filters", "dense_units", "learning_rate")
ENV_TUNER_ID = "KERASTUNER_TUNER_ID"
ENV_ORACLE_IP = "KERASTUNER_ORACLE_IP"
ENV_ORACLE_PORT = "KERASTUNER_ORACLE_PORT"


class TuningError(RuntimeError):
    """A search finished without a single completed trial."""


# --- Roles in a distributed search ----------------------------------------


def distributed_role() -> str:
    """``"chief"``, ``"worker"`` or ``"alone"``, read from Keras Tuner's variables.

    Keras Tuner runs distributed when ``KERASTUNER_ORACLE_IP`` is set; the
    process whose ``KERASTUNER_TUNER_ID`` contains ``chief`` then serves the
    oracle and every other one is a worker.
    """
    if ENV_ORACLE_IP not in os.environ:
        return "alone"
    missing = [name for name in (ENV_ORACLE_PORT, ENV_TUNER_ID) if not os.environ.get(name)]
    if missing:
        raise ValueError(
            f"{ENV_ORACLE_IP} is set, so this is a distributed search, but {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not: set {ENV_TUNER_ID} (chief, tuner0, "
            f"tuner1, ...) and {ENV_ORACLE_PORT} for every process."
        )
    return "chief" if "chief" in os.environ[ENV_TUNER_ID] else "worker"


def distributed_environment(tuner_id: str, port: int, ip: str = "127.0.0.1") -> dict:
    """The environment variables of one process of a distributed search.

    ``tuner_id`` is ``"chief"`` for the process serving the oracle and
    ``"tuner0"``, ``"tuner1"``, ... for the workers; all share ``ip`` and ``port``.
    """
    if not 0 < int(port) < 65536:
        raise ValueError(f"port must be between 1 and 65535, got {port}.")
    return {
        ENV_TUNER_ID: str(tuner_id),
        ENV_ORACLE_IP: str(ip),
        ENV_ORACLE_PORT: str(int(port)),
        # gRPC would send even loopback traffic through an http(s)_proxy.
        "no_grpc_proxy": f"{ip},localhost,127.0.0.1",
    }


# --- The search -----------------------------------------------------------


def _tuner_class():
    """A RandomSearch that records which process ran each trial."""
    import keras_tuner

    class SeedGridSearch(keras_tuner.RandomSearch):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.finished_trials = []

        def on_trial_end(self, trial):
            Path(self.get_trial_dir(trial.trial_id), RAN_BY_FILE).write_text(self.tuner_id)
            super().on_trial_end(trial)
            # Ask now: a worker's chief may be gone once the search ends.
            self.finished_trials.append(self.oracle.get_trial(trial.trial_id))

    return SeedGridSearch


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


def search_settings(max_trials: int | None = None, epochs: int | None = None, train_size: int | None = None,
                    validation_size: int | None = None, quick: bool | None = None) -> tuple[int, int, int, int]:
    """``(max_trials, epochs, train_size, validation_size)`` for :func:`tune`: the given ones, else the defaults
    of a full search or of a quick one (``quick``, or ``None`` and :func:`digitlab.quick_mode`).

    Raises ``ValueError`` for a search that would run nothing, before any data is loaded.
    """
    quick = quick_mode() if quick is None else quick

    def default(value, full, quick_value):
        return (quick_value if quick else full) if value is None else value

    max_trials = default(max_trials, MAX_TRIALS, QUICK_MAX_TRIALS)
    epochs = default(epochs, EPOCHS, QUICK_TRIAL_EPOCHS)
    if max_trials < 1 or epochs < 1:
        raise ValueError(f"max_trials and epochs must be at least 1, got {max_trials} and {epochs}.")
    return (max_trials, epochs, default(train_size, TRAIN_SIZE, QUICK_TRAIN_SIZE),
            default(validation_size, VALIDATION_SIZE, QUICK_VALIDATION_SIZE))


def tune(
    x=None,
    y=None,
    directory: str | os.PathLike = "tuning",
    max_trials: int | None = None,
    epochs: int | None = None,
    train_size: int | None = None,
    validation_size: int | None = None,
    batch_size: int = 128,
    quick: bool | None = None,
    seed: int = 0,
    project_name: str = PROJECT_NAME,
    overwrite: bool = True,
    hypermodel=None,
    verbose: int = 0,
) -> list[dict]:
    """Random search over the tuning grid; the table of trials, best first.

    Results go to ``directory/project_name``, replaced when ``overwrite`` is
    true (Keras Tuner otherwise silently reuses old trials). ``max_trials``,
    ``epochs``, ``train_size`` and ``validation_size`` default to a search of
    several minutes, or of seconds in quick mode (``quick=True``, or ``None``
    and :func:`digitlab.quick_mode`). ``hypermodel`` defaults to
    :func:`digitlab.model.build_hypermodel`.

    Run under Keras Tuner's distributed variables (:func:`distributed_role`),
    the chief serves the oracle until the workers are done and returns every
    trial; a worker returns the trials it ran. Only the chief overwrites, so
    that a late worker never deletes a running search.

    Raises :class:`TuningError` if no trial (of this worker's) completed:
    Keras Tuner records a trial that raised (a missing dependency, a broken
    model) as failed and carries on, so a short search can otherwise
    "succeed" with no results.
    """
    from digitlab.model import build_hypermodel

    max_trials, epochs, train_size, validation_size = search_settings(
        max_trials, epochs, train_size, validation_size, quick
    )
    role = distributed_role()

    # --- Data: a subset of the training set and a validation split of it
    data = None
    if role != "chief":  # the chief trains nothing
        (x_fit, y_fit), (x_val, y_val) = search_data(x, y, train_size, validation_size, seed)
        data = dict(x=x_fit, y=y_fit, validation_data=(x_val, y_val))

    # --- The tuner
    tuner = _tuner_class()(
        hypermodel=hypermodel or build_hypermodel,
        objective=OBJECTIVE,
        max_trials=max_trials,
        seed=seed,
        directory=str(directory),
        project_name=project_name,
        overwrite=overwrite and role != "worker",
    )

    # --- The search
    if role == "chief":
        tuner.search(verbose=verbose)  # serves the workers until they are done
        trials = list(tuner.oracle.trials.values())
    else:
        tuner.search(**data, epochs=epochs, batch_size=batch_size, verbose=verbose)
        trials = tuner.finished_trials if role == "worker" else list(tuner.oracle.trials.values())

    table = trials_table(trials, tuner.project_dir)
    if table or role != "worker":  # a worker may find every trial taken by the others
        check_completed(table)
    return table


# --- The table of trials --------------------------------------------------


def trials_table(trials, project_dir: str | os.PathLike | None = None) -> list[dict]:
    """One dict per Keras Tuner trial, completed ones first, best score first.

    Keys: ``trial_id``, ``filters``, ``dense_units``, ``learning_rate``,
    ``val_accuracy``, ``val_loss``, ``score`` (the tuner's objective, the best
    epoch's validation accuracy), ``status`` (``COMPLETED``, ``FAILED``, ...),
    ``tuner_id`` (the process that ran it, when ``project_dir`` tells) and
    ``message`` (the error of a failed trial, else ``""``).
    """
    rows = []
    for trial in trials:
        values = trial.hyperparameters.values
        ran_by = Path(project_dir, f"trial_{trial.trial_id}", RAN_BY_FILE) if project_dir else None
        rows.append(
            {
                "trial_id": trial.trial_id,
                **{name: values.get(name) for name in HYPERPARAMETERS},
                "val_accuracy": _metric(trial, "val_accuracy"),
                "val_loss": _metric(trial, "val_loss"),
                "score": None if trial.score is None else float(trial.score),
                "status": str(trial.status),
                "tuner_id": ran_by.read_text().strip() if ran_by and ran_by.is_file() else None,
                "message": (trial.message or "").strip(),
            }
        )
    return sort_trials(rows)


def _metric(trial, name: str) -> float | None:
    if not trial.metrics.exists(name):
        return None
    value = trial.metrics.get_best_value(name)
    return None if value is None else float(value)


def sort_trials(table: list[dict]) -> list[dict]:
    """Completed trials by descending score, then the others by trial id."""

    def key(row):
        completed = row["status"] == "COMPLETED" and row["score"] is not None
        return (not completed, -(row["score"] or 0.0) if completed else 0.0, row["trial_id"])

    return sorted(table, key=key)


def check_completed(table: list[dict]) -> None:
    """Raise :class:`TuningError` unless at least one trial completed.

    Warns when some, but not all, trials failed.
    """
    failed = [row for row in table if row["status"] != "COMPLETED"]
    if table and len(failed) < len(table):
        if failed:
            warnings.warn(
                f"{len(failed)} of {len(table)} trials did not complete "
                f"(trial {failed[0]['trial_id']}: {_last_line(failed[0]['message'])}).",
                stacklevel=3,
            )
        return
    if not table:
        raise TuningError("The search ran no trial at all (max_trials reached by an old search?).")
    raise TuningError(
        f"None of the {len(table)} trials completed; the first one failed with:\n"
        f"{failed[0]['message'] or failed[0]['status']}\n"
        "Keras Tuner records failing trials and carries on. Common causes: tensorboard is not "
        "installed (keras-tuner imports it), or the hypermodel does not build."
    )


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def format_trials(table: list[dict]) -> str:
    """The table as aligned text, one line per trial, in the table's order."""
    columns = [
        ("trial", "trial_id", "{}"),
        ("filters", "filters", "{}"),
        ("dense", "dense_units", "{}"),
        ("learning rate", "learning_rate", "{:g}"),
        ("val accuracy", "val_accuracy", "{:.2%}"),
        ("status", "status", "{}"),
        ("tuner", "tuner_id", "{}"),
    ]
    cells = [[title for title, _, _ in columns]]
    for row in table:
        cells.append(["-" if row.get(key) is None else fmt.format(row[key]) for _, key, fmt in columns])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(line, widths)) for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def plot_trials(table: list[dict], ax=None):
    """Bar chart of each trial's validation accuracy, coloured by learning rate.

    Bars follow the table's order (best first for :func:`tune`'s table) and
    are labelled ``filters/dense``. Returns the figure.
    """
    import matplotlib.pyplot as plt

    if not table:
        raise ValueError("the table of trials is empty: nothing to plot.")
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(table) + 2), 3.5))
    rates = sorted({row["learning_rate"] for row in table}, reverse=True)
    colours = dict(zip(rates, plt.get_cmap("viridis")(np.linspace(0.1, 0.85, len(rates)))))
    positions = np.arange(len(table))
    heights = [row["val_accuracy"] or 0.0 for row in table]
    ax.bar(positions, heights, color=[colours[row["learning_rate"]] for row in table])
    ax.set_xticks(positions, [f"{row['filters']}/{row['dense_units']}" for row in table], rotation=45)
    ax.set_xlabel("filters / dense units")
    ax.set_ylabel("validation accuracy")
    completed = [h for h in heights if h > 0]
    ax.set_ylim(max(0.0, min(completed, default=0.0) - 0.05), 1.0)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[rate]) for rate in rates]
    ax.legend(handles, [f"lr {rate:g}" for rate in rates], title="Adam", loc="upper left",
              bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"{len(table)} trials, best first")
    return ax.figure


# --- Running a distributed search on this machine -------------------------


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def distributed_search(
    directory: str | os.PathLike,
    workers: int = 2,
    max_trials: int = 4,
    quick: bool = True,
    extra_args: tuple[str, ...] = (),
    port: int | None = None,
    timeout: float = 300.0,
) -> dict:
    """Run a chief and ``workers`` workers of ``python -m digitlab.tune`` here.

    Every process gets the same arguments and its own :func:`distributed_environment`;
    ``extra_args`` adds command-line options (for instance ``("--train-size",
    "500")``). Each process logs to ``directory/<tuner id>.log``. Waits at most
    ``timeout`` seconds, stops everything as soon as one process fails, and
    always stops every process it started. Returns ``{"table": ..., "logs":
    {tuner_id: output}}`` with the chief's table of all trials; raises
    :class:`TuningError`, with the logs, if a process fails or time runs out.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}.")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    table_path = directory / "trials.json"
    table_path.unlink(missing_ok=True)
    command = [sys.executable, "-m", "digitlab.tune", "--directory", str(directory),
               "--max-trials", str(max_trials), *(["--quick"] if quick else []), *extra_args]
    tuner_ids = ["chief"] + [f"tuner{i}" for i in range(workers)]
    log_paths = {tuner_id: directory / f"{tuner_id}.log" for tuner_id in tuner_ids}
    processes = {}
    try:
        for tuner_id in tuner_ids:
            with open(log_paths[tuner_id], "w") as log:
                processes[tuner_id] = subprocess.Popen(
                    command + (["--table", str(table_path)] if tuner_id == "chief" else []),
                    env={**os.environ, **distributed_environment(tuner_id, port)},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        _wait_all(processes, timeout)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    logs = {tuner_id: path.read_text(errors="replace") for tuner_id, path in log_paths.items()}
    problems = {tuner_id: p.returncode for tuner_id, p in processes.items() if p.returncode != 0}
    if problems or not table_path.is_file():
        details = "\n".join(f"--- {tuner_id} ---\n{logs[tuner_id][-3000:]}" for tuner_id in tuner_ids)
        raise TuningError(
            f"the distributed search failed (exit codes {problems or 'all 0, but no table'}; "
            f"time limit {timeout:.0f} s). Logs:\n{details}"
        )
    return {"table": json.loads(table_path.read_text()), "logs": logs}


def _wait_all(processes: dict, timeout: float) -> None:
    """Wait until all processes end, one fails, or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        codes = [process.poll() for process in processes.values()]
        if all(code is not None for code in codes) or any(code not in (None, 0) for code in codes):
            return
        time.sleep(0.2)


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
        max_trials, epochs, train_size, validation_size = search_settings(
            args.max_trials, args.epochs, args.train_size, args.validation_size, args.quick or None
        )
    except ValueError as error:
        print(f"python -m digitlab.tune: {error}", file=sys.stderr)
        return 2
    table = tune(
        directory=args.directory,
        project_name=args.project_name,
        max_trials=max_trials,
        epochs=epochs,
        train_size=train_size,
        validation_size=validation_size,
        seed=args.seed,
    )
    heading = {"chief": "all trials", "worker": f"trials run by {name}", "alone": "all trials"}[role]
    print(f"[{name}] {heading}:\n{format_trials(table)}", flush=True)
    if args.table:
        Path(args.table).write_text(json.dumps(table, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
