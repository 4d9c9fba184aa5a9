"""Time the course notebooks and measure their kernels' peak memory.

Runs each notebook top to bottom in a fresh kernel (nbclient), in quick or full
mode, without writing anything back, and prints the wall time and the peak
resident memory of the kernel's process tree (polled with psutil), against the
targets: quick mode <= 60 s, full mode <= 10 min and <= 1.5 GB per notebook.

    python benchmarks/notebooks.py                      # quick mode, every notebook of the course
    python benchmarks/notebooks.py --mode full notebooks/03_training_the_cnn.ipynb
    python benchmarks/notebooks.py --json results.json  # also save the figures

MNIST comes from ``$DIGITLAB_DATA`` (or ``data/mnist``), as in the notebooks.
Run it on an otherwise idle machine: other jobs change the timings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

from digitlab.card import cpus

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
COURSE = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
#: Per-notebook targets: (seconds, bytes of peak kernel memory or None).
TARGETS = {"quick": (60, None), "full": (600, 1.5e9)}


# --- Memory ---------------------------------------------------------------


class PeakMemory:
    """Polls the resident memory of a process and all its children until stopped."""

    def __init__(self, pid: int, interval: float = 0.1):
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _tree_rss(self) -> int:
        total = 0
        for process in [self.process, *self.process.children(recursive=True)]:
            try:
                total += process.memory_info().rss
            except psutil.Error:  # a child that just ended
                pass
        return total

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self._tree_rss())
            except psutil.Error:
                return
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


# --- One notebook -----------------------------------------------------------


def _kernel_pid(client: NotebookClient) -> int:
    provisioner = client.km.provisioner
    process = getattr(provisioner, "process", None)
    if process is None:
        raise RuntimeError("cannot find the kernel's process (not a local kernel?).")
    return process.pid


def run_notebook(path: Path, quick: bool, timeout: int = 600) -> dict:
    """Execute ``path`` in a fresh kernel; return its wall time, peak kernel memory and status."""
    os.environ["DIGITLAB_QUICK"] = "1" if quick else "0"  # the kernel inherits our environment
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    status, started = "ok", time.perf_counter()
    with client.setup_kernel():
        with PeakMemory(_kernel_pid(client)) as memory:
            try:
                for index, cell in enumerate(notebook.cells):
                    client.execute_cell(cell, index)
            except (CellExecutionError, CellTimeoutError) as error:
                status = f"failed: {str(error).strip().splitlines()[-1][:120]}"
    return {
        "notebook": path.name,
        "mode": "quick" if quick else "full",
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(memory.peak / 1e6),
        "status": status,
    }


# --- All of them ----------------------------------------------------------


def verdict(result: dict) -> str:
    seconds, memory = TARGETS[result["mode"]]
    problems = []
    if result["seconds"] > seconds:
        problems.append(f"> {seconds} s")
    if memory is not None and result["peak_rss_mb"] * 1e6 > memory:
        problems.append(f"> {memory / 1e9:.1f} GB")
    return "within targets" if not problems else "OVER: " + ", ".join(problems)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook of the course")
    parser.add_argument("--mode", choices=["quick", "full"], default="quick")
    parser.add_argument("--timeout", type=int, default=600, help="per cell, seconds (a hung cell fails the notebook)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)

    notebooks = args.notebooks or COURSE
    print(f"{cpus()}, mode {args.mode}, "
          f"DIGITLAB_DATA={os.environ.get('DIGITLAB_DATA', '(unset)')}")
    print(f"{'notebook':<48} {'seconds':>8} {'peak MB':>8}  status")
    results = []
    for path in notebooks:
        result = run_notebook(path.resolve(), quick=args.mode == "quick", timeout=args.timeout)
        results.append(result)
        note = result["status"] if result["status"] != "ok" else verdict(result)
        print(f"{result['notebook']:<48} {result['seconds']:>8.1f} {result['peak_rss_mb']:>8}  {note}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0 if all(result["status"] == "ok" for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
