"""Run one command in a fresh process and measure it: peak resident memory, wall time, exit status, output.

Used by ``memory_bench.py`` (reading) and ``train_memory.py`` (training): a
fresh process shows what one command costs, TensorFlow's start-up included,
untouched by what ran before it. The peak is the child's ``ru_maxrss`` from
``os.wait4``, given in MB of 10^6 bytes like the targets. On Linux a child's
``ru_maxrss`` starts at its parent's peak, so the parent should stay small.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import tempfile
import threading
import time

import psutil


def jax_warning() -> str:
    """A line to print when JAX is importable here, else "": TensorFlow then imports it too (its lite converter
    does), and every process holds 100-150 MB that a user's (``make lab``, Binder: no JAX) does not."""
    if importlib.util.find_spec("jax") is None:
        return ""
    return ("warning: JAX is importable here and TensorFlow imports it: each process holds 100-150 MB more than a "
            "user's (`make install-test` keeps JAX apart: tests/jax-backend.txt)")


def run_in_fresh_process(command: list[str], kill_above: float | None = None,
                         timeout: float | None = None) -> dict:
    """Run ``command``; kill it if its RSS passes ``kill_above`` bytes or it runs past ``timeout`` seconds.

    Returns ``exit`` (its exit status), ``seconds`` (wall time), ``peak_rss_mb``,
    ``cpu_seconds`` (user + kernel) and ``kernel_seconds`` (time the kernel
    spent for it: page faults, as a rule), ``stdout``, ``stderr`` and
    ``killed``: "" if it ended by itself, else "memory" or "time".
    """
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdout=out, stderr=err)
        watcher = _Watcher(process.pid)
        if kill_above is not None:
            threading.Thread(target=watcher.watch, args=(kill_above,), daemon=True).start()
        timer = threading.Timer(timeout, watcher.kill, args=("time",)) if timeout else None
        if timer:
            timer.start()
        _, status, usage = os.wait4(process.pid, 0)  # the only wait: nothing else may reap the child first
        watcher.finished()
        if timer:
            timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0), err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    return {"exit": process.returncode, "seconds": seconds, "peak_rss_mb": round(usage.ru_maxrss * 1024 / 1e6),
            "cpu_seconds": usage.ru_utime + usage.ru_stime, "kernel_seconds": usage.ru_stime,
            "stdout": stdout, "stderr": stderr, "killed": watcher.killed}


class _Watcher:
    """Kills the child ``pid`` on demand or when its memory passes a limit, without ever waiting for it:
    ``Popen.poll()`` from another thread would reap the child before ``os.wait4`` reads its usage, and
    ``os.wait4`` would fail with "No child processes". Until it is reaped its pid is its own (a zombie),
    so a kill before :meth:`finished` cannot reach another process."""

    def __init__(self, pid: int):
        self.pid, self.killed = pid, ""
        self._lock, self._done = threading.Lock(), False

    def finished(self) -> None:
        with self._lock:
            self._done = True

    def kill(self, why: str) -> None:
        with self._lock:
            if not self._done and not self.killed:
                self.killed = why
                os.kill(self.pid, signal.SIGKILL)

    def watch(self, kill_above: float) -> None:
        """Kill the child, "memory", when its resident memory passes ``kill_above`` bytes."""
        try:
            watched = psutil.Process(self.pid)
            while not self._done:
                if watched.memory_info().rss > kill_above:
                    self.kill("memory")
                    return
                time.sleep(0.05)
        except psutil.Error:  # it ended
            return


def last_line(stderr: str, width: int = 110) -> str:
    """The last line a failed command wrote (its error, as a rule), cut to ``width`` characters."""
    lines = stderr.strip().splitlines()
    return lines[-1][:width] if lines else "(nothing on stderr)"
