"""benchmarks/fresh_process.py: one command in a fresh process, measured, killed on a limit."""

from __future__ import annotations

import sys

import pytest


@pytest.fixture(scope="module")
def fresh_process(benchmark):
    return benchmark("fresh_process")


def test_a_command_that_ends_by_itself_is_measured(fresh_process):
    run = fresh_process.run_in_fresh_process([sys.executable, "-c", "x = bytearray(200 * 10**6); print('done')"],
                                             kill_above=2e9, timeout=60)
    assert run["exit"] == 0 and run["killed"] == "" and run["stdout"] == "done\n"
    assert run["peak_rss_mb"] >= 200  # what it held (on Linux a child's peak starts at its parent's: no upper bound)


def test_children_that_end_at_once_are_measured_beside_the_memory_watch(fresh_process):
    """The memory watch never reaps the child: the measuring wait would fail with "No child processes"."""
    for _ in range(40):
        run = fresh_process.run_in_fresh_process(["true"], kill_above=2e9, timeout=60)
        assert run["exit"] == 0 and run["killed"] == ""


@pytest.mark.parametrize("limit, why", [({"kill_above": 100e6}, "memory"), ({"timeout": 0.5}, "time")])
def test_a_command_past_its_limit_is_killed_and_says_why(fresh_process, limit, why):
    hog = "import time; x = bytearray(300 * 10**6); time.sleep(60)"
    run = fresh_process.run_in_fresh_process([sys.executable, "-c", hog], **limit)
    assert run["killed"] == why and run["exit"] == -9 and run["seconds"] < 30
