"""Peak memory of each of the project's trainings, each in a fresh ``digitlab train`` process.

Runs the trainings that make the shipped models (and the distilled student of
notebook 03) for a few epochs each, writing into a temporary folder, and
prints the peak resident memory of each whole process (``ru_maxrss`` from
``os.wait4``, in MB of 10^6 bytes), its wall time, its CPU time and the
kernel's share of it (page faults, when memory goes back and forth to the
kernel), then the worst peak against the target:

- <= 1.2 GB peak RSS for any ``digitlab train`` (Binder gives 1-2 GB;
  TensorFlow alone takes about 0.6 GB).

A training's memory grows a little from epoch to epoch, most in its first
ones; two epochs show most of it, a full run is the check.

    python benchmarks/train_memory.py                        # every training, 2 epochs each: about 25 minutes
    python benchmarks/train_memory.py --only distilled --epochs 5
    python benchmarks/train_memory.py --quick                # 2,000 images: a smoke test of the benchmark

Run it on an otherwise idle machine: other jobs change the timings, not the memory.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from digitlab.card import cpus
from fresh_process import jax_warning, last_line, run_in_fresh_process

MODELS_DIR = Path(__file__).resolve().parent.parent / "digitlab" / "models"

#: Target for any training: peak RSS of the whole process.
MAX_RSS_BYTES = 1.2e9

#: The trainings: name -> ``digitlab train`` options (without ``--epochs`` and ``--out``).
TRAININGS = {
    "digit_cnn": ["--model", "digit_cnn"],
    "fast_cnn": ["--model", "fast_cnn", "--recipe", "fast"],
    "candidate_cnn": ["--model", "candidate_cnn", "--styles", "0.3"],
    "distilled": ["--model", "digit_cnn", "--teacher", str(MODELS_DIR / "digit_cnn.keras")],
    "crnn": ["--model", "crnn"],
}


def train_in_fresh_process(options: list[str], epochs: int, quick: bool, folder: Path) -> dict:
    """Run ``digitlab train`` with ``options`` in a new process: its peak RSS, wall and CPU time, exit status."""
    command = [sys.executable, "-m", "digitlab.cli", "train", *options, "--epochs", str(epochs),
               "--out", str(folder / "model.keras"), "--log"] + (["--quick"] if quick else [])
    run = run_in_fresh_process(command)
    return {"seconds": round(run["seconds"]), "peak_rss_mb": run["peak_rss_mb"], "exit": run["exit"],
            "cpu_seconds": run["cpu_seconds"], "kernel_seconds": run["kernel_seconds"],
            "error": "" if run["exit"] == 0 else last_line(run["stderr"])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(TRAININGS), help="these trainings only")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each training (default 2)")
    parser.add_argument("--quick", action="store_true", help="2,000 images (crnn: 400 strings): a smoke test")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    names = args.only or list(TRAININGS)
    print(f"{cpus()}; {args.epochs} epoch(s) each"
          f"{', quick' if args.quick else ''}; target <= {MAX_RSS_BYTES / 1e6:.0f} MB peak RSS", flush=True)
    if warning := jax_warning():
        print(warning, flush=True)
    print(f"{'training':15s} {'seconds':>8s} {'peak MB':>8s} {'CPU s':>7s} {'kernel':>6s}  options", flush=True)
    results = {}
    for name in names:
        with tempfile.TemporaryDirectory() as folder:
            results[name] = train_in_fresh_process(TRAININGS[name], args.epochs, args.quick, Path(folder))
        result = results[name]
        kernel_share = result["kernel_seconds"] / max(result["cpu_seconds"], 1e-9)
        print(f"{name:15s} {result['seconds']:>8d} {result['peak_rss_mb']:>8d} {result['cpu_seconds']:>7.0f} "
              f"{kernel_share:>6.0%}  {' '.join(TRAININGS[name])}"
              + (f"  FAILED (exit {result['exit']}): {result['error']}" if result["exit"] else ""), flush=True)
    worst = max(results, key=lambda name: results[name]["peak_rss_mb"])
    within = all(result["exit"] == 0 for result in results.values()) and (
        results[worst]["peak_rss_mb"] * 1e6 <= MAX_RSS_BYTES)
    print(f"worst peak RSS: {results[worst]['peak_rss_mb']} MB ({worst}), target <= {MAX_RSS_BYTES / 1e6:.0f} MB: "
          f"{'within' if within else 'NOT within'}")
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
