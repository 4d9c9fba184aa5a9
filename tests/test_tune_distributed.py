"""Keras Tuner's distributed search for real: a chief and two workers on 127.0.0.1.

Each process is ``python -m digitlab.tune`` under its own ``KERASTUNER_*``
variables (:func:`digitlab.distributed_tuning.distributed_search` starts them).
The chief serves the oracle over gRPC; the workers train the trials on a tiny
subset. Which worker gets which trial, and whether one worker gets them all,
depends on scheduling: the tests check what holds either way.
"""

from __future__ import annotations

import pytest

from digitlab.distributed_tuning import distributed_search
from digitlab.model import DENSE_GRID, FILTERS_GRID, LEARNING_RATE_GRID
from digitlab.trials import TuningError

TINY = ("--train-size", "300", "--validation-size", "200", "--epochs", "1")
WORKERS = ("tuner0", "tuner1")


def _children():
    psutil = pytest.importorskip("psutil")
    return psutil.Process().children(recursive=True)


def _printed_trial_ids(log: str, worker: str) -> list[str]:
    """The trial ids of the table a worker prints last (``[tuner0] trials run by tuner0:``, header, rule, rows).

    Fails the test if the worker never printed it, that is never reached the end of its search.
    """
    lines = log.splitlines()
    heading = f"[{worker}] trials run by {worker}:"
    assert heading in lines, f"{worker} did not finish its search:\n{log[-3000:]}"
    start = lines.index(heading)
    width = len(lines[start + 1])  # every line of the table is as wide as its header
    ids = []
    for line in lines[start + 3:]:
        if len(line) != width or not line.split()[0].isdigit():
            break
        ids.append(line.split()[0])
    return ids


@pytest.mark.usefixtures("mnist")  # the subprocesses read MNIST too: skip where it is absent
def test_chief_and_two_workers_run_every_trial_once(tmp_path):
    result = distributed_search(tmp_path, workers=len(WORKERS), max_trials=4, quick=True, extra_args=TINY,
                                timeout=240)

    # The chief's table: every trial, completed, on the grid, best first, each run by a worker.
    table = result["table"]
    assert sorted(row["trial_id"] for row in table) == ["0", "1", "2", "3"]
    for row in table:
        assert row["status"] == "COMPLETED", row["message"]
        assert row["filters"] in FILTERS_GRID and row["dense_units"] in DENSE_GRID
        assert row["learning_rate"] in LEARNING_RATE_GRID
        assert 0.0 < row["val_accuracy"] <= 1.0
        assert row["tuner_id"] in WORKERS, f"trial {row['trial_id']} was not run by a worker: {row}"
    assert [row["score"] for row in table] == sorted((row["score"] for row in table), reverse=True)

    # Every process ran to its end (distributed_search raises if one exited with an error), and the
    # workers' own tables split the trials between them: each trial ran exactly once, where the chief says.
    logs = result["logs"]
    assert "[chief] all trials:" in logs["chief"]
    printed = {worker: _printed_trial_ids(logs[worker], worker) for worker in WORKERS}
    assert sorted(sum(printed.values(), [])) == ["0", "1", "2", "3"], printed
    for worker, ids in printed.items():
        assert sorted(ids) == sorted(row["trial_id"] for row in table if row["tuner_id"] == worker)
    assert not _children(), "distributed_search left processes behind"


def test_a_search_past_its_time_limit_is_stopped_and_cleaned_up(tmp_path):
    with pytest.raises(TuningError, match="time limit 2 s"):
        distributed_search(tmp_path, workers=1, max_trials=2, quick=True, extra_args=TINY, timeout=2)
    assert not _children(), "processes that ran past the time limit were not stopped"
