"""How fast does a recipe reach the baseline's accuracy? One run, three figures.

1. the time of one epoch of the baseline CNN (``baseline_cnn``, ``train`` defaults);
2. the time a recipe takes to reach the baseline's 99.45 % test accuracy, checked
   at every epoch end: by default the fast recipe (``fast_cnn``, ``RECIPES["fast"]``),
   with ``--recipe standard`` the long one (``digit_cnn``, ``RECIPES["standard"]``);
3. the peak resident memory (RSS) of the whole run.

Times are wall-clock seconds and CPU seconds (all threads of the process): a
machine shared with others can pause a process for seconds, which only the wall
clock sees. The goals: "time to 99.45 % / baseline epoch" <= 4 and <= 1.2 GB.
Checking the *test* set every epoch is fine here: this measures speed and
chooses nothing (training itself never looks at the test set).

    python benchmarks/train_speed.py                     # full data, fast recipe: about 3 minutes on 2 cores
    python benchmarks/train_speed.py --recipe standard   # the standard recipe: 20-30 minutes
    python benchmarks/train_speed.py --quick             # 2,000 images, 2 epochs: a smoke test

Taught in ``notebooks/03_training_the_cnn.ipynb``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np

from digitlab.data import load_mnist  # first: digitlab quiets TensorFlow's start-up logs
from digitlab.card import cpus
from digitlab.model import baseline_cnn, digit_cnn, fast_cnn
from digitlab.preprocess import to_model_input
from digitlab.recipes import RECIPES
from digitlab.train import QUICK_EPOCHS, train

import keras  # noqa: E402 (after digitlab, see above)

BASELINE_ACCURACY = 0.9945
GOAL_RATIO = 4.0
GOAL_PEAK_RSS_GB = 1.2
QUICK_TEST_SIZE = 2000
#: The network each recipe was made for.
RECIPE_MODELS = {"fast": fast_cnn, "standard": digit_cnn}


class TimeToAccuracy(keras.callbacks.Callback):
    """Test accuracy at each epoch end; stops training once ``target`` is reached.

    ``reached_at`` is ``(wall seconds, CPU seconds)`` of training only: the time spent evaluating is left out.
    """

    def __init__(self, x_test, y_test, target: float):
        super().__init__()
        self.x_test, self.y_test, self.target = to_model_input(x_test), np.asarray(y_test), target
        self.epochs, self.reached_at = [], None

    def on_train_begin(self, logs=None):
        self.started, self.evaluating = clocks(), np.zeros(2)

    def on_epoch_end(self, epoch, logs=None):
        before = clocks()
        elapsed = before - self.started - self.evaluating
        predictions = self.model.predict(self.x_test, batch_size=1000, verbose=0).argmax(axis=1)
        accuracy = float(np.mean(predictions == self.y_test))
        self.evaluating += clocks() - before
        self.epochs.append((epoch + 1, accuracy))
        print(f"  epoch {epoch + 1:2d}: test accuracy {accuracy:.2%} after {elapsed[0]:6.1f} s "
              f"({elapsed[1]:.1f} CPU s)", flush=True)
        if accuracy >= self.target and self.reached_at is None:
            self.reached_at = elapsed
            self.model.stop_training = True


class Stopwatch(keras.callbacks.Callback):
    """``elapsed``: ``[wall seconds, CPU seconds]`` of training, from its first batch to its end."""

    def on_train_begin(self, logs=None):
        self.started = clocks()

    def on_train_end(self, logs=None):
        self.elapsed = clocks() - self.started


def verdict(ratio: float) -> str:
    return "meets the goal" if ratio <= GOAL_RATIO else "misses the goal"


def clocks() -> np.ndarray:
    """``[wall seconds, CPU seconds of this process]``, to subtract one reading from another."""
    return np.array([time.perf_counter(), time.process_time()])


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far, in GB of 10^9 bytes (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak * (1 if sys.platform == "darwin" else 1024) / 1e9


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", choices=list(RECIPE_MODELS), default="fast",
                        help="fast (default): fast_cnn, 3 epochs; standard: digit_cnn, 20 epochs")
    parser.add_argument("--quick", action="store_true", help="2,000 training images, 2 epochs")
    parser.add_argument("--target", type=float, default=BASELINE_ACCURACY, help="test accuracy to reach")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    (x_train, y_train), (x_test, y_test) = load_mnist()
    if args.quick:
        x_test, y_test = x_test[:QUICK_TEST_SIZE], y_test[:QUICK_TEST_SIZE]
    mode = "quick (2,000 training images)" if args.quick else "full MNIST"
    print(f"Training speed on {mode}, {len(x_test)} test images, target {args.target:.2%}; "
          f"{cpus()}")

    # --- 1. one epoch of the baseline CNN
    stopwatch = Stopwatch()
    train(baseline_cnn(), x_train, y_train, epochs=1, quick=args.quick, seed=args.seed, verbose=0,
          callbacks=[stopwatch])
    baseline_epoch = stopwatch.elapsed
    print(f"baseline_cnn, one epoch: {baseline_epoch[0]:.1f} s ({baseline_epoch[1]:.1f} CPU s)")

    # --- 2. the recipe until it reaches the target
    recipe, model = RECIPES[args.recipe], RECIPE_MODELS[args.recipe]()
    quick_note = f"; quick: {min(recipe.epochs, QUICK_EPOCHS)} epochs" if args.quick else ""
    print(f"{model.name}, the {args.recipe} recipe ({recipe}{quick_note}):")
    clock = TimeToAccuracy(x_test, y_test, args.target)
    train(model, x_train, y_train, quick=args.quick, seed=args.seed, verbose=0, callbacks=[clock],
          epochs=recipe.epochs, learning_rate=recipe.learning_rate, label_smoothing=recipe.label_smoothing)
    best_epoch, best_accuracy = max(clock.epochs, key=lambda row: row[1])

    # --- 3. the figures
    print()
    if clock.reached_at is None:
        print(f"target {args.target:.2%} NOT reached in {len(clock.epochs)} epochs; "
              f"best {best_accuracy:.2%} at epoch {best_epoch}")
    else:
        wall_ratio, cpu_ratio = clock.reached_at / baseline_epoch
        print(f"time to {args.target:.2%}: {clock.reached_at[0]:.1f} s, {clock.reached_at[1]:.1f} CPU s "
              f"(epoch {len(clock.epochs)})")
        print(f"time to {args.target:.2%} / baseline_cnn epoch, goal <= {GOAL_RATIO:g}: {wall_ratio:.2f} in wall time "
              f"({verdict(wall_ratio)}), {cpu_ratio:.2f} in CPU time ({verdict(cpu_ratio)})")
    rss = peak_rss_gb()
    print(f"peak RSS of this run (both trainings): {rss:.2f} GB "
          f"({'within' if rss <= GOAL_PEAK_RSS_GB else 'above'} the {GOAL_PEAK_RSS_GB} GB goal)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
