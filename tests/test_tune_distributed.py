"""Keras Tuner's distributed search for real: a chief and two workers on 127.0.0.1.

Each process is ``python -m digitlab.tune`` under its own ``KERASTUNER_*``
variables (:func:`digitlab.tune.distributed_search` starts them). The chief
serves the oracle over gRPC; the workers train the trials on a tiny subset.
"""

from __future__ import annotations

import pytest

from digitlab.model import DENSE_GRID, FILTERS_GRID, LEARNING_RATE_GRID
from digitlab.tune import TuningError, distributed_search

TINY = ("--train-size", "300", "--validation-size", "200", "--epochs", "1")


def _children():
    psutil = pytest.importorskip("psutil")
    return psutil.Process().children(recursive=True)


@pytest.mark.usefixtures("mnist")  # the subprocesses read MNIST too: skip where it is absent
def test_chief_and_two_workers_share_the_trials(tmp_path):
    result = distributed_search(tmp_path, workers=2, max_trials=4, quick=True, extra_args=TINY,
                                timeout=240)

    table = result["table"]
    assert sorted(row["trial_id"] for row in table) == ["0", "1", "2", "3"]
    for row in table:
        assert row["status"] == "COMPLETED", row["message"]
        assert row["filters"] in FILTERS_GRID and row["dense_units"] in DENSE_GRID
        assert row["learning_rate"] in LEARNING_RATE_GRID
        assert 0.0 < row["val_accuracy"] <= 1.0
    ran_by = {row["tuner_id"] for row in table}
    assert ran_by == {"tuner0", "tuner1"}, f"trials were not spread over both workers: {table}"
    assert [row["score"] for row in table] == sorted((row["score"] for row in table), reverse=True)

    logs = result["logs"]
    assert "[chief] all trials" in logs["chief"]
    for worker in ("tuner0", "tuner1"):
        assert f"[{worker}] trials run by {worker}" in logs[worker]
        ran_here = sum(row["tuner_id"] == worker for row in table)
        assert logs[worker].count("COMPLETED") == ran_here
    assert not _children(), "distributed_search left processes behind"


def test_a_search_past_its_time_limit_is_stopped_and_cleaned_up(tmp_path):
    with pytest.raises(TuningError, match="time limit 2 s"):
        distributed_search(tmp_path, workers=1, max_trials=2, quick=True, extra_args=TINY, timeout=2)
    assert not _children(), "processes that ran past the time limit were not stopped"
