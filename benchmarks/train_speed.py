"""How fast does our recipe reach the baseline's accuracy? One run, three figures.

1. the wall time of one epoch of the baseline CNN (``baseline_cnn``, ``train`` defaults);
2. the wall time our default recipe (``digit_cnn``, ``train`` defaults) takes
   to reach the baseline's 99.45 % test accuracy, checked at every epoch end;
3. the peak resident memory (RSS) of the whole run.

The goal is "time to 99.45 % / baseline epoch" <= 6, and <= 1.5 GB for a full
training. Checking the *test* set every epoch is fine here: this measures
speed and chooses nothing (training itself never looks at the test set).

    python benchmarks/train_speed.py              # full data: about 10-20 minutes on 2 cores
    python benchmarks/train_speed.py --quick      # 2,000 images, 2 epochs: a smoke test

Taught in ``notebooks/03_training_the_cnn.ipynb``.
"""

from __future__ import annotations

import argparse
import inspect
import resource
import sys
import time

import numpy as np

from digitlab.data import load_mnist  # first: digitlab quiets TensorFlow's start-up logs
from digitlab.model import digit_cnn, baseline_cnn
from digitlab.preprocess import to_model_input
from digitlab.train import QUICK_EPOCHS, train

import keras  # noqa: E402 (after digitlab, see above)

BASELINE_ACCURACY = 0.9945
GOAL_RATIO = 6.0
GOAL_PEAK_RSS_GB = 1.5
DEFAULT_EPOCHS = inspect.signature(train).parameters["epochs"].default
QUICK_TEST_SIZE = 2000


class TimeToAccuracy(keras.callbacks.Callback):
    """Test accuracy at each epoch end; stops training once ``target`` is reached.

    ``elapsed`` is training time only: the time spent evaluating is left out.
    """

    def __init__(self, x_test, y_test, target: float):
        super().__init__()
        self.x_test, self.y_test, self.target = to_model_input(x_test), np.asarray(y_test), target
        self.epochs, self.reached_at = [], None

    def on_train_begin(self, logs=None):
        self.started, self.evaluating = time.perf_counter(), 0.0

    def on_epoch_end(self, epoch, logs=None):
        before = time.perf_counter()
        elapsed = before - self.started - self.evaluating
        predictions = self.model.predict(self.x_test, batch_size=1000, verbose=0).argmax(axis=1)
        accuracy = float(np.mean(predictions == self.y_test))
        self.evaluating += time.perf_counter() - before
        self.epochs.append((epoch + 1, accuracy, elapsed))
        print(f"  epoch {epoch + 1:2d}: test accuracy {accuracy:.2%} after {elapsed:6.1f} s", flush=True)
        if accuracy >= self.target and self.reached_at is None:
            self.reached_at = elapsed
            self.model.stop_training = True


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far, in GB of 10^9 bytes (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak * (1 if sys.platform == "darwin" else 1024) / 1e9


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-epochs", type=int, default=DEFAULT_EPOCHS,
                        help=f"epochs of the recipe, and the most it may take (default {DEFAULT_EPOCHS}, "
                        "train's default: the schedule decays over them)")
    parser.add_argument("--quick", action="store_true", help="2,000 training images, 2 epochs")
    parser.add_argument("--target", type=float, default=BASELINE_ACCURACY, help="test accuracy to reach")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    (x_train, y_train), (x_test, y_test) = load_mnist()
    if args.quick:
        x_test, y_test = x_test[:QUICK_TEST_SIZE], y_test[:QUICK_TEST_SIZE]
    mode = "quick (2,000 training images)" if args.quick else "full MNIST"
    print(f"Training speed on {mode}, {len(x_test)} test images, target {args.target:.2%}")

    # --- 1. one epoch of the baseline CNN
    baseline_history = train(baseline_cnn(), x_train, y_train, epochs=1, quick=args.quick, seed=args.seed, verbose=0)
    baseline_epoch = baseline_history["seconds"]
    print(f"baseline_cnn, one epoch: {baseline_epoch:.1f} s ({baseline_history['train_size']} images)")

    # --- 2. our recipe until it reaches the target
    max_epochs = min(args.max_epochs, QUICK_EPOCHS) if args.quick else args.max_epochs
    print(f"digit_cnn, train defaults, at most {max_epochs} epochs:")
    clock = TimeToAccuracy(x_test, y_test, args.target)
    started = time.perf_counter()
    history = train(digit_cnn(), x_train, y_train, epochs=args.max_epochs, quick=args.quick, seed=args.seed,
                    verbose=0, callbacks=[clock])
    wall = time.perf_counter() - started - clock.evaluating
    best_epoch, best_accuracy, _ = max(clock.epochs, key=lambda row: row[1])

    # --- 3. the figures
    print()
    if clock.reached_at is None:
        print(f"target {args.target:.2%} NOT reached in {history['epochs']} epochs "
              f"({wall:.1f} s); best {best_accuracy:.2%} at epoch {best_epoch}")
    else:
        ratio = clock.reached_at / baseline_epoch
        verdict = "meets" if ratio <= GOAL_RATIO else "misses"
        print(f"time to {args.target:.2%}: {clock.reached_at:.1f} s (epoch {len(clock.epochs)}), "
              f"wall time with data preparation {wall:.1f} s")
        print(f"time to {args.target:.2%} / baseline_cnn epoch: {ratio:.2f} ({verdict} the goal <= {GOAL_RATIO:g})")
    rss = peak_rss_gb()
    print(f"peak RSS of this run (both trainings): {rss:.2f} GB "
          f"({'within' if rss <= GOAL_PEAK_RSS_GB else 'above'} the {GOAL_PEAK_RSS_GB} GB goal)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
