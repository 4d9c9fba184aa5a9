"""Peak memory and time of reading adversarial images, each in a fresh process.

Generates a set of images made to cost memory or time (the largest image the
pixel budget allows, as RGBA PNG, 16-bit TIFF and float TIFF; a JPEG far over
it that is decoded at reduced size; one over it, refused; 289 short bars in
rows, each a blob the CRNN reads whole; dust; a blurred-noise photo; 300
nested open rings, which segmentation weighs pair by pair) and
reads each in a fresh process (method "auto", the shipped models) by each of
the three ways a user reads an image (``--via``):

- ``cli``: ``python -m digitlab.cli read IMAGE --json``;
- ``reader``: ``Reader.default().read(path)`` in Python, as a notebook does;
- ``upload``: the file's bytes given to the pad's ``DigitPad.read_photo``, as
  its upload button does (which also shows the photo, annotated).

Prints, for each image and way, the peak resident memory of that whole
process (``ru_maxrss`` from ``os.wait4``), its wall time, and what it read
(how many digits, and how many of them at least
``digitlab.reading.UNSURE_BELOW`` sure: a page without writing should read
as nothing sure), then the worst of each against the targets:

- <= 1.2 GB peak RSS for the whole process (Binder gives 1-2 GB; TensorFlow
  and the models alone take about 0.6 GB);
- <= 30 s wall time on 2 cores.

A process that grows past ``--kill-above`` (default 4 GB) is killed, so that a
regression cannot take the machine down; it counts as over the target.

Each image is also made in a process of its own: on Linux a child's ``ru_maxrss`` starts at its
parent's peak, so the parent stays small (its peak, printed, is the floor of every figure).

    python benchmarks/memory_bench.py                   # all images
    python benchmarks/memory_bench.py --only short_bars noise_photo
    python benchmarks/memory_bench.py --via cli        # one way of reading only
    python benchmarks/memory_bench.py --keep runs/adversarial   # keep the images

Run it on an otherwise idle machine: other jobs change the timings.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from digitlab.card import cpus
from digitlab.image_files import MAX_PIXELS
from digitlab.reading import UNSURE_BELOW
from fresh_process import jax_warning, last_line, run_in_fresh_process

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "data" / "samples"

#: Targets for one read, whatever the image: peak RSS of the whole process, and wall time.
MAX_RSS_BYTES = 1.2e9
MAX_SECONDS = 30.0


# --- The images ---------------------------------------------------------------


def _page(height: int, width: int) -> np.ndarray:
    """White paper with the sample scan (31415) pasted near the top left, uint8."""
    page = np.full((height, width), 255, np.uint8)
    sample = np.asarray(Image.open(SAMPLES_DIR / "scan_31415.png").convert("L"))
    page[height // 8:height // 8 + sample.shape[0], width // 8:width // 8 + sample.shape[1]] = sample
    return page


def _largest_under_budget(aspect: float = 4 / 3) -> tuple[int, int]:
    """(height, width) of the largest image of ``aspect`` within the pixel budget."""
    height = int((MAX_PIXELS / aspect) ** 0.5)
    return height, int(MAX_PIXELS // height)


def huge_rgba_png(path: Path) -> None:
    page = _page(*_largest_under_budget())
    Image.fromarray(np.dstack([page] * 3 + [np.full_like(page, 255)])).save(path.with_suffix(".png"))


def huge_tiff16(path: Path) -> None:
    page = _page(*_largest_under_budget()).astype(np.uint16) * 257
    Image.frombytes("I;16B", page.shape[::-1], page.astype(">u2").tobytes()).save(
        path.with_suffix(".tif"), compression="tiff_deflate")


def near_uniform_float(path: Path) -> None:
    """The budget's largest float image of 0.5 with one pixel 1e-7 brighter: blank, not a stretched digit."""
    pixels = np.full(_largest_under_budget(), 0.5, np.float32)
    pixels[100, 100] += 1e-7
    Image.fromarray(pixels, mode="F").save(path.with_suffix(".tif"), compression="tiff_deflate")


def huge_jpeg(path: Path) -> None:
    """A 12000x9000 (108 Mpx) phone-sized photo: over the budget in full, decoded at reduced size."""
    Image.fromarray(_page(9000, 12000)).convert("RGB").save(path.with_suffix(".jpg"), quality=80)


def over_budget_png(path: Path) -> None:
    """13000x13000 RGB (169 Mpx, a few hundred KB; 0.5 GB decoded): refused before decoding."""
    Image.fromarray(_page(13000, 13000)).convert("RGB").save(path.with_suffix(".png"))


def short_bars(path: Path) -> None:
    """2048x2048, 17 rows of 17 bars 100x2 px: each a blob wide enough for the CRNN to read whole, whose
    strip is as wide as strips get (its 2-px ink scaled to 24 rows: 40 times as wide)."""
    page = np.full((2048, 2048), 255, np.uint8)
    for row in range(17):
        for column in range(17):
            y, x = 60 + 113 * row, 40 + 115 * column
            page[y:y + 2, x:x + 100] = 0
    Image.fromarray(page).save(path.with_suffix(".png"))


def dust(path: Path) -> None:
    """2048x2048 with 20,000 specks of 2-4 px: many tiny blobs."""
    rng = np.random.default_rng(0)
    page = np.full((2048, 2048), 255, np.uint8)
    for y, x, size in zip(rng.integers(0, 2044, 20000), rng.integers(0, 2044, 20000), rng.integers(2, 5, 20000)):
        page[y:y + size, x:x + size] = 0
    Image.fromarray(page).save(path.with_suffix(".png"))


def noise_photo(path: Path) -> None:
    """A 1696x1134 photo of colour noise blurred over a few pixels (no digits at all): of the blurs tried
    (1 to 6 px), the one that reads the most digits and costs the most."""
    rng = np.random.default_rng(0)
    noise = rng.normal(128, 60, (1134, 1696, 3)).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 1.5)
    noise = (noise - noise.min()) / (noise.max() - noise.min()) * 255
    Image.fromarray(noise.astype(np.uint8)).save(path.with_suffix(".jpg"), quality=90)


def nested_rings(path: Path) -> None:
    """2048x2048, 300 rings of 1 px one inside the other, each open on its right: every ring's box holds
    all the smaller ones, and no ring is around any (:mod:`digitlab.marks`), so segmentation weighs them
    pair by pair, hundreds of times."""
    page = np.full((2048, 2048), 255, np.uint8)
    for ring in range(300):
        radius = 1000 - 3 * ring
        cv2.ellipse(page, (1024, 1024), (radius, radius), 0, 30, 330, 0, 1)
    Image.fromarray(page).save(path.with_suffix(".png"))


def sample(path: Path) -> None:
    """The shipped scan of 31415: what an ordinary read costs."""
    Image.open(SAMPLES_DIR / "scan_31415.png").save(path.with_suffix(".png"))


IMAGES = {function.__name__: function for function in (
    sample, huge_rgba_png, huge_tiff16, near_uniform_float, huge_jpeg, over_budget_png, short_bars, dust,
    noise_photo, nested_rings)}


# --- One read ---------------------------------------------------------------


#: The ways of reading an image: the command line, ``Reader.read`` in Python, and the pad's upload.
WAYS = ("cli", "reader", "upload")


def read_in_fresh_process(path: Path, way: str, kill_above: float, timeout: float) -> dict:
    """Read ``path`` one of the :data:`WAYS` in a new process: its peak RSS, wall time and outcome."""
    if way == "cli":
        command = [sys.executable, "-m", "digitlab.cli", "read", str(path), "--json"]
    else:
        command = [sys.executable, __file__, "--read", way, str(path)]
    run = run_in_fresh_process(command, kill_above=kill_above, timeout=timeout)
    return {"image": path.name, "via": way, "file_kb": round(path.stat().st_size / 1024),
            "seconds": round(run["seconds"], 1), "peak_rss_mb": run["peak_rss_mb"], "exit": run["exit"],
            "outcome": _outcome(run)}


def read_here(way: str, path: Path) -> int:
    """Read ``path`` in this process by ``Reader.read`` or the pad's upload; print the reading as the CLI's
    ``--json`` does, or its one-line error on stderr (exit 2)."""
    from digitlab.reader import Reader

    if way == "reader":
        from digitlab.image_files import ImageError

        try:
            reading = Reader.default().read(path)
        except ImageError as error:
            print(error, file=sys.stderr)
            return 2
    else:
        from digitlab.widget import DigitPad

        pad = DigitPad(Reader.default())
        reading = pad.read_photo(path.read_bytes(), path.name)
        if reading is None:
            print(html.unescape(re.sub("<[^>]+>", "", pad.message.value)), file=sys.stderr)  # the student's message
            return 2
    print(json.dumps(reading.to_dict()))
    return 0


def _outcome(run: dict) -> str:
    if run["killed"] == "memory":
        return "KILLED above --kill-above"
    if run["killed"] == "time":
        return "KILLED at --timeout"
    if run["exit"] == 0:
        digits = json.loads(run["stdout"])["digits"]
        sure = sum(digit["confidence"] >= UNSURE_BELOW for digit in digits)
        return f"read {len(digits)} digits, {sure} of them sure"
    lines = len(run["stderr"].strip().splitlines())
    return f"exit {run['exit']}: {last_line(run['stderr'])}" + (f" ({lines} lines)" if lines > 1 else "")


# --- All of them --------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=IMAGES, help="these images only (default: all)")
    parser.add_argument("--keep", type=Path, help="write the images to this folder and keep them")
    parser.add_argument("--kill-above", type=float, default=4e9, help="bytes of RSS (default 4e9)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per read (default 300)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--via", nargs="+", choices=WAYS, default=list(WAYS),
                        help="ways of reading each image (default: all)")
    parser.add_argument("--make", nargs=2, metavar=("IMAGE", "FOLDER"), help=argparse.SUPPRESS)  # one image, here
    parser.add_argument("--read", nargs=2, metavar=("WAY", "PATH"), help=argparse.SUPPRESS)  # one read, here
    args = parser.parse_args(argv)
    if args.make:
        IMAGES[args.make[0]](Path(args.make[1]) / args.make[0])
        return 0
    if args.read:
        return read_here(args.read[0], Path(args.read[1]))

    floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
    print(f"{cpus()}, load {os.getloadavg()[0]:.1f}; pixel budget "
          f"{MAX_PIXELS / 1e6:.0f} Mpx; targets <= {MAX_RSS_BYTES / 1e9:.1f} GB peak RSS, <= {MAX_SECONDS:.0f} s; "
          f"this process {floor:.0f} MB")
    if warning := jax_warning():
        print(warning)
    print(f"{'image':<24} {'via':<7} {'file KB':>8} {'seconds':>8} {'peak MB':>8}  outcome", flush=True)
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for name in args.only or IMAGES:
            subprocess.run([sys.executable, __file__, "--make", name, str(folder)], check=True)
            path = next(folder.glob(f"{name}.*"))
            for way in args.via:
                result = read_in_fresh_process(path, way, args.kill_above, args.timeout)
                results.append(result)
                print(f"{result['image']:<24} {way:<7} {result['file_kb']:>8} {result['seconds']:>8.1f} "
                      f"{result['peak_rss_mb']:>8}  {result['outcome']}", flush=True)
    worst_rss = max(results, key=lambda result: result["peak_rss_mb"])
    worst_time = max(results, key=lambda result: result["seconds"])
    killed = [f"{result['image']} via {result['via']}" for result in results if result["outcome"].startswith("KILLED")]
    within = not killed and worst_rss["peak_rss_mb"] * 1e6 <= MAX_RSS_BYTES and worst_time["seconds"] <= MAX_SECONDS
    print(f"worst peak RSS: {worst_rss['peak_rss_mb']} MB ({worst_rss['image']} via {worst_rss['via']}), "
          f"target <= {MAX_RSS_BYTES / 1e6:.0f} MB")
    print(f"worst time: {worst_time['seconds']:.1f} s ({worst_time['image']} via {worst_time['via']}), "
          f"target <= {MAX_SECONDS:.0f} s")
    print("within targets" if within else f"OVER target{': killed ' + ', '.join(killed) if killed else ''}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
