"""Training recipes compared on people's writing: several seeds each, read on the choose writers, arm against arm.

One training cannot tell two recipes apart on real handwriting: the seed alone moves the choose writers' strings
by up to a point (docs/EXPERIMENTS.md, "Which recipe knobs move people's digits"). This trains every *arm* (a
recipe: options of ``digitlab train``) with every seed, ``--jobs`` trainings at a time, reads each network with
``benchmarks/real_strokes.py`` on the choose half (never the report half: that is read once, after the choice),
and prints:

- per arm, each set's string accuracy over the seeds, as the mean and the range, and the MNIST test accuracy
  from the models' cards;
- each arm against the first (the first ever named for ``OUT``, also when a later run adds arms), seed by seed
  on the same items: how many the arm reads right that the first reads wrong, and the other way round ("+7 -3"),
  summed over the seeds both have.

Networks go to ``OUT/ARM-sSEED.keras`` with their cards and training logs, readings to
``OUT/ARM-sSEED.choose.json``, each arm's options to ``OUT/arms.json``. What is there already is not done again, so a
run cut off goes on where it stopped; an arm named again must be the same recipe.
``--no-read`` only trains (on a machine without the real-stroke digits: a GPU machine shares its GPU between
several trainings); run again without ``--arm`` where the digits are, and it reads what ``OUT`` holds and prints
the table.

Run: python benchmarks/compare_recipes.py OUT [--model candidate_cnn] [--epochs N] [--arm NAME="OPTIONS" ...]
[--seeds 0 1 2] [--jobs 1] [--n 1000] [--data PATH] [--no-read] [--quick]

For example, 30 epochs of the candidate CNN with its shipped styles against thicker strokes, three seeds each:
python benchmarks/compare_recipes.py runs/strokes --epochs 30 --arm shipped="--styles 0.3"
--arm thick="--styles 0.3 --stroke-width 1.0"
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from digitlab import unipen
from digitlab.card import card_path, read_card
from digitlab.data import DataError
from digitlab.evaluate import disagreements
from digitlab.files import check_writable, write_json

REAL_STROKES = Path(__file__).resolve().parent / "real_strokes.py"
#: An arm's name goes into file names: letters, digits, "_" and "." only.
ARM_NAME = re.compile(r"^[A-Za-z0-9_.]+$")
#: Each arm's ``digitlab train`` options, in the order the arms were first named: the first is the one the
#: others are paired with, also when the folder is read again without ``--arm``.
ARMS_FILE = "arms.json"
NETWORK_FILE = re.compile(r"^(?P<arm>[A-Za-z0-9_.]+)-s(?P<seed>\d+)\.keras$")
#: How ``real_strokes.py`` is told which network to read, by the card's ``model``: "auto" reads with the
#: candidate CNN and the CRNN, "contours" with a 10-class CNN.
READ_AS = {"candidate_cnn": ["--candidate"], "crnn": ["--crnn"]}
READ_AS_DIGIT_CNN = ["--method", "contours", "--cnn"]


def parse_arm(text: str) -> tuple[str, list[str]]:
    """``NAME=OPTIONS`` -> (name, options split as a shell would)."""
    name, equals, options = text.partition("=")
    if not equals or not ARM_NAME.match(name):
        raise argparse.ArgumentTypeError(
            f"{text!r}: an arm is NAME=\"OPTIONS\", NAME of letters, digits, '_' and '.' (it names files)")
    try:
        return name, shlex.split(options)
    except ValueError as error:  # an unclosed quote
        raise argparse.ArgumentTypeError(f"{text!r}: {error}") from None


def recorded_arms(out: Path) -> dict[str, list[str]]:
    """The arms trained into ``out`` so far, in the order first named: each one's ``digitlab train`` options."""
    path = out / ARMS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def record_arms(out: Path, arms: dict[str, list[str]]) -> dict[str, list[str]]:
    """Add ``arms`` to those ``out`` records, and return them all; an arm named again must be the same recipe
    (its networks are reused), else ``ValueError``."""
    recorded = recorded_arms(out)
    for name, options in arms.items():
        if recorded.get(name, options) != options:
            raise ValueError(f"--arm {name}: {out} holds it trained with `{shlex.join(recorded[name])}`, not "
                             f"`{shlex.join(options)}`: give another recipe a name of its own.")
    if arms:
        recorded.update(arms)
        write_json(recorded, out / ARMS_FILE)
    return recorded


def network_path(out: Path, arm: str, seed: int) -> Path:
    return out / f"{arm}-s{seed}.keras"


def reading_path(network: Path) -> Path:
    return network.with_name(network.stem + ".choose.json")


def networks_in(out: Path, first: list[str] = ()) -> dict[str, dict[int, Path]]:
    """The trained networks in ``out`` (each with its card), by arm and seed: the arms named in ``first`` in
    that order, then any others by name."""
    found = sorted((match["arm"], int(match["seed"]), path) for path in out.glob("*.keras")
                   if (match := NETWORK_FILE.match(path.name)) and card_path(path).is_file())
    arms: dict[str, dict[int, Path]] = {arm: {} for arm in first}
    for arm, seed, path in found:
        arms.setdefault(arm, {})[seed] = path
    return {arm: dict(sorted(seeds.items())) for arm, seeds in arms.items() if seeds}


def run_all(commands: dict[str, tuple[list[str], Path]], jobs: int, done_as: str, doing: str) -> list[str]:
    """Run each ``name: (command, log)``, ``jobs`` at a time, output to its log; print a line as each ends.
    Returns the names that failed."""
    failed, done = [], 0
    environment = dict(os.environ)
    # Several trainings on one GPU: each takes the memory it needs, not most of the card (JAX's and TensorFlow's
    # default), and TensorFlow keeps its start-up messages out of the logs.
    environment.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    environment.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    def run(name: str) -> tuple[str, int, float]:
        command, log = commands[name]
        started = time.monotonic()
        with open(log, "w") as output:
            code = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, env=environment).returncode
        return name, code, time.monotonic() - started

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for future in as_completed([pool.submit(run, name) for name in commands]):
            name, code, seconds = future.result()
            done += 1
            log = commands[name][1]
            if code == 0:
                print(f"[{done}/{len(commands)}] {name} {done_as} in {seconds:.0f} s", flush=True)
            else:
                last = next((line for line in reversed(log.read_text().splitlines()) if line.strip()), "")
                print(f"[{done}/{len(commands)}] {name}: {doing} failed (exit {code}): {last.strip()} (log {log})",
                      flush=True)
                failed.append(name)
    return failed


def train(out: Path, arms: dict[str, list[str]], seeds: list[int], jobs: int) -> list[str]:
    """Train each arm (its options of ``digitlab train``) with each seed that has no network in ``out`` yet."""
    commands = {}
    for arm, options in arms.items():
        for seed in seeds:
            path = network_path(out, arm, seed)
            if not path.exists():
                command = [sys.executable, "-m", "digitlab", "train", *options, "--seed", str(seed),
                           "--out", str(path)]
                commands[path.stem] = (command, path.with_suffix(".log"))
    if commands:
        print(f"Training {_networks(len(commands))}, {jobs} at a time, into {out}", flush=True)
    return run_all(commands, jobs, "trained", "training")


def read_command(network: Path, read_options: list[str], data: str | None) -> list[str]:
    """The ``real_strokes.py`` arguments that read ``network`` on the choose half (without ``--json``)."""
    model = read_card(network).get("model")
    which = READ_AS.get(model, READ_AS_DIGIT_CNN)
    return [*read_options, *(["--data", data] if data else []), "--half", "choose", *which, str(network)]


def read(arms: dict[str, dict[int, Path]], read_options: list[str], data: str | None, jobs: int) -> list[str]:
    """Read every network whose reading is missing, or was made with other arguments."""
    commands = {}
    for seeds in arms.values():
        for network in seeds.values():
            arguments = read_command(network, read_options, data)
            reading = reading_path(network)
            if reading.exists() and json.loads(reading.read_text()).get("arguments") == arguments:
                continue
            command = [sys.executable, str(REAL_STROKES), *arguments, "--json", str(reading)]
            commands[network.stem] = (command, network.with_name(network.stem + ".choose.log"))
    if commands:
        print(f"Reading {_networks(len(commands))} on the choose writers, {jobs} at a time", flush=True)
    return run_all(commands, jobs, "read", "reading")


def _networks(count: int) -> str:
    return f"{count} network" + ("" if count == 1 else "s")


def spread(values: list[float]) -> str:
    """Mean and range, in %: "94.35 (94.00-94.90)"."""
    mean = 100 * statistics.fmean(values)
    return f"{mean:.2f}" if len(values) == 1 else f"{mean:.2f} ({100 * min(values):.2f}-{100 * max(values):.2f})"


def table(arms: dict[str, dict[int, Path]]) -> str:
    """The comparison as Markdown: per arm, each set over its seeds; then each arm against the first."""
    readings = {arm: {seed: json.loads(reading.read_text()) for seed, path in seeds.items()
                      if (reading := reading_path(path)).exists()} for arm, seeds in arms.items()}
    readings = {arm: by_seed for arm, by_seed in readings.items() if by_seed}
    if not readings:
        return "No readings yet."
    sets = list(next(iter(next(iter(readings.values())).values()))["sets"])
    lines = ["| arm | seeds | " + " | ".join(sets) + " | MNIST test |", "|---" * (len(sets) + 3) + "|"]
    for arm, by_seed in readings.items():
        tests = [card["test_accuracy"] for seed in by_seed
                 if (card := read_card(arms[arm][seed])).get("test_accuracy") is not None]
        cells = [spread([reading["sets"][name]["string_accuracy"] for reading in by_seed.values()]) for name in sets]
        lines.append(f"| {arm} | {', '.join(map(str, by_seed))} | " + " | ".join(cells)
                     + f" | {spread(tests) if tests else '-'} |")
    first_arm, first = next(iter(readings.items()))
    for arm, by_seed in list(readings.items())[1:]:
        common = [seed for seed in by_seed if seed in first
                  and by_seed[seed]["arguments"][:-1] == first[seed]["arguments"][:-1]]  # the same items read
        if not common:
            continue
        counts = [[disagreements(first[seed]["sets"][name]["right"], by_seed[seed]["sets"][name]["right"])
                   for seed in common] for name in sets]
        lines.append(f"\n{arm} against {first_arm}, seeds {', '.join(map(str, common))} (read right by {arm} only, "
                     f"by {first_arm} only): " + "; ".join(
                         f"{name} +{sum(g for g, _ in pairs)} -{sum(l for _, l in pairs)}"
                         for name, pairs in zip(sets, counts)))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the folder of the networks, their cards, logs and readings")
    parser.add_argument("--model", default="candidate_cnn", help="the network to train (default candidate_cnn)")
    parser.add_argument("--epochs", type=int, help="epochs of every training (default: digitlab train's)")
    parser.add_argument("--arm", type=parse_arm, action="append", default=[], metavar='NAME="OPTIONS"',
                        help="an arm: its name and its options of digitlab train (repeat for each arm; the "
                             "first is the one the others are paired with)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of each arm (default 0 1 2)")
    parser.add_argument("--jobs", type=int, default=1, help="trainings or readings at a time (default 1)")
    parser.add_argument("--n", type=int, default=1000, help="strings per set of each reading (default 1000)")
    parser.add_argument("--data", metavar="PATH", help="the real-stroke digits (as real_strokes.py's --data)")
    parser.add_argument("--no-read", action="store_true", help="train only")
    parser.add_argument("--quick", action="store_true",
                        help="quick trainings and quick readings: a smoke test of the comparison, not a comparison")
    args = parser.parse_args()
    if args.jobs < 1 or args.n < 1 or (args.epochs is not None and args.epochs < 1):
        parser.error(f"--jobs, --n and --epochs must be at least 1, got {args.jobs}, {args.n} and {args.epochs}.")
    names = [name for name, _ in args.arm]
    if len(set(names)) < len(names):
        parser.error(f"--arm: each arm needs a name of its own, got {', '.join(names)}.")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"{args.out}: a file, not a folder.")
    if not args.arm and not networks_in(args.out):
        parser.error(f"{args.out} holds no networks yet: name the arms to train with --arm.")
    try:
        check_writable(args.out / "any.keras")
    except OSError as error:
        parser.error(f"{args.out}: cannot write there ({error.strerror or error}).")
    if not args.no_read:
        try:  # before any training: hours of it should not end in "no data"
            unipen.load_digits(args.data)
        except DataError as error:
            print(f"compare_recipes: {error} (or train with --no-read and read elsewhere)", file=sys.stderr)
            return 2

    base = ["--model", args.model, *(["--epochs", str(args.epochs)] if args.epochs else []),
            *(["--quick"] if args.quick else []), "--log"]  # the logs: a line per epoch, not progress bars
    arms = {name: [*base, *options] for name, options in args.arm}
    try:
        order = list(record_arms(args.out, arms))  # the first arm ever named stays the one paired with
    except ValueError as error:
        parser.error(str(error))
    failed = train(args.out, arms, args.seeds, args.jobs)
    if not args.no_read:
        read_options = ["--quick"] if args.quick else ["--n", str(args.n)]
        networks = networks_in(args.out, order)
        failed += read(networks, read_options, args.data, args.jobs)
        print(table(networks))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
