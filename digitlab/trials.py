"""The table of a hyperparameter search's trials: build it, sort it, check it, print it, draw it.

:func:`digitlab.tune.tune` returns such a table: one dict per Keras Tuner
trial, completed trials first and the best score first. A search whose trials
all failed raises :class:`TuningError` instead of returning a table of failures.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

#: File written in each trial's folder, naming the tuner process that ran it.
RAN_BY_FILE = "ran_by.txt"

#: The hyperparameters of the tuning grid (:func:`digitlab.model.build_hypermodel`), one column each.
HYPERPARAMETERS = ("filters", "dense_units", "learning_rate")


class TuningError(RuntimeError):
    """A search that gave no usable result: no trial completed, or a process of it failed."""


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
        rows.append(
            {
                "trial_id": trial.trial_id,
                **{name: values.get(name) for name in HYPERPARAMETERS},
                "val_accuracy": _metric(trial, "val_accuracy"),
                "val_loss": _metric(trial, "val_loss"),
                "score": None if trial.score is None else float(trial.score),
                "status": str(trial.status),
                "tuner_id": _ran_by(trial.trial_id, project_dir),
                "message": (trial.message or "").strip(),
            }
        )
    return sort_trials(rows)


def _metric(trial, name: str) -> float | None:
    if not trial.metrics.exists(name):
        return None
    value = trial.metrics.get_best_value(name)
    return None if value is None else float(value)


def _ran_by(trial_id: str, project_dir: str | os.PathLike | None) -> str | None:
    """The tuner id recorded in the trial's folder, or ``None`` when there is none."""
    if project_dir is None:
        return None
    path = Path(project_dir, f"trial_{trial_id}", RAN_BY_FILE)
    return path.read_text().strip() if path.is_file() else None


def sort_trials(table: list[dict]) -> list[dict]:
    """Completed trials by descending score, then the others by trial id."""

    def key(row):
        completed = row["status"] == "COMPLETED" and row["score"] is not None
        return (not completed, -(row["score"] or 0.0) if completed else 0.0, row["trial_id"])

    return sorted(table, key=key)


def check_completed(table: list[dict]) -> None:
    """Raise :class:`TuningError` unless at least one trial completed.

    Warns when some, but not all, trials failed. Keras Tuner records a trial
    that raised as failed and carries on, so without this check a search
    whose every trial failed would look like a search with results.
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

    Bars follow the table's order (best first for :func:`digitlab.tune.tune`'s
    table) and are labelled ``filters/dense``. Returns the figure.
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
