"""Distributed hyperparameter search: the chief and worker roles, and a whole search run on one machine.

Keras Tuner distributes a search by itself: the same script runs once as the
chief (which only hands out trials and collects results) and once per worker,
told apart by environment variables (:func:`distributed_environment`)::

    KERASTUNER_TUNER_ID=chief  KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000 \\
        python -m digitlab.tune --directory runs --max-trials 6 --quick &
    KERASTUNER_TUNER_ID=tuner0 KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000 \\
        python -m digitlab.tune --directory runs --max-trials 6 --quick &
    KERASTUNER_TUNER_ID=tuner1 ...

:func:`distributed_role` tells a process which one it is;
:func:`distributed_search` starts such a chief and its workers on this
machine, waits for them (with a time limit) and returns the chief's table.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from digitlab.trials import TuningError

ENV_TUNER_ID = "KERASTUNER_TUNER_ID"
ENV_ORACLE_IP = "KERASTUNER_ORACLE_IP"
ENV_ORACLE_PORT = "KERASTUNER_ORACLE_PORT"


# --- Roles ----------------------------------------------------------------


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


# --- A whole search on this machine ---------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def distributed_search(directory: str | os.PathLike, workers: int = 2, max_trials: int = 4, quick: bool = True,
                       extra_args: tuple[str, ...] = (), port: int | None = None, timeout: float = 300.0) -> dict:
    """Run a chief and ``workers`` workers of ``python -m digitlab.tune`` here.

    Every process gets the same arguments and its own :func:`distributed_environment`;
    ``extra_args`` adds command-line options (for instance ``("--train-size",
    "500")``). Each process logs to ``directory/<tuner id>.log``. Waits at most
    ``timeout`` seconds, stops everything as soon as one process fails, and
    always stops every process it started. Returns ``{"table": ..., "logs":
    {tuner_id: output}}`` with the chief's table of all trials; raises
    :class:`~digitlab.trials.TuningError`, with the logs, if a process fails
    or time runs out.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}.")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    table_path = directory / "trials.json"
    table_path.unlink(missing_ok=True)
    command = [sys.executable, "-m", "digitlab.tune", "--directory", str(directory),
               "--max-trials", str(max_trials), *(["--quick"] if quick else []), *extra_args]
    commands = {"chief": command + ["--table", str(table_path)]}
    commands.update({f"tuner{i}": command for i in range(workers)})
    log_paths = {tuner_id: directory / f"{tuner_id}.log" for tuner_id in commands}

    exit_codes = _run_all(commands, log_paths, port or free_port(), timeout)

    logs = {tuner_id: path.read_text(errors="replace") for tuner_id, path in log_paths.items()}
    problems = {tuner_id: code for tuner_id, code in exit_codes.items() if code != 0}
    if problems or not table_path.is_file():
        details = "\n".join(f"--- {tuner_id} ---\n{log[-3000:]}" for tuner_id, log in logs.items())
        raise TuningError(
            f"the distributed search failed (exit codes {problems or 'all 0, but no table'}; "
            f"time limit {timeout:.0f} s). Logs:\n{details}"
        )
    return {"table": json.loads(table_path.read_text()), "logs": logs}


def _run_all(commands: dict, log_paths: dict, port: int, timeout: float) -> dict:
    """Start one process per tuner id, each logging to its file; ``{tuner_id: exit code}``.

    Waits until all end, one fails, or ``timeout`` seconds pass; a process
    still running then is killed (its exit code is the signal's, negative).
    """
    processes = {}
    try:
        for tuner_id, command in commands.items():
            with open(log_paths[tuner_id], "w") as log:
                processes[tuner_id] = subprocess.Popen(
                    command,
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
    return {tuner_id: process.returncode for tuner_id, process in processes.items()}


def _wait_all(processes: dict, timeout: float) -> None:
    """Wait until all processes end, one fails, or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        codes = [process.poll() for process in processes.values()]
        if all(code is not None for code in codes) or any(code not in (None, 0) for code in codes):
            return
        time.sleep(0.2)
