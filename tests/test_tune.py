"""The hyperparameter search (digitlab.tune): a real 2-trial search, its table of trials (digitlab.trials)
and plot, the distributed roles (digitlab.distributed_tuning) and the command line."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from digitlab import distributed_tuning, trials  # noqa: E402
from digitlab.distributed_tuning import distributed_environment, distributed_role  # noqa: E402
from digitlab.model import DENSE_GRID, FILTERS_GRID, LEARNING_RATE_GRID  # noqa: E402
from digitlab.trials import TuningError, check_completed, format_trials, plot_trials, sort_trials  # noqa: E402
from digitlab.tune import PROJECT_NAME, search_data, tune  # noqa: E402


def _row(trial_id, score, status="COMPLETED", filters=32, dense_units=64, learning_rate=1e-3):
    return {
        "trial_id": trial_id, "filters": filters, "dense_units": dense_units,
        "learning_rate": learning_rate, "val_accuracy": score, "val_loss": None, "score": score,
        "status": status, "tuner_id": "tuner0", "message": "" if status == "COMPLETED" else "boom",
    }


# --- A real search --------------------------------------------------------


@pytest.mark.training
def test_two_trial_search_fills_a_table_best_first(tmp_path, mnist):
    (x_train, y_train), _ = mnist
    stale = tmp_path / PROJECT_NAME / "stale_trial.txt"
    stale.parent.mkdir()
    stale.write_text("from an old search")

    table = tune(x_train[:3000], y_train[:3000], directory=tmp_path, max_trials=2, epochs=1,
                 train_size=600, validation_size=300, quick=False)

    assert not stale.exists(), "overwrite=True must start from an empty project"
    assert len(table) == 2
    assert sorted(row["trial_id"] for row in table) == ["0", "1"]
    for row in table:
        assert row["status"] == "COMPLETED", row["message"]
        assert row["filters"] in FILTERS_GRID
        assert row["dense_units"] in DENSE_GRID
        assert row["learning_rate"] in LEARNING_RATE_GRID
        assert 0.0 < row["val_accuracy"] <= 1.0
        assert row["score"] == pytest.approx(row["val_accuracy"])
        assert row["tuner_id"] == "tuner0"
    assert table[0]["score"] >= table[1]["score"]
    assert len(list((tmp_path / PROJECT_NAME).glob("trial_*"))) == 2


@pytest.mark.training
def test_search_where_every_trial_fails_raises(tmp_path, rng):
    import keras_tuner

    from digitlab.model import build_hypermodel

    class TrainingFails(keras_tuner.HyperModel):
        """Builds, then fails in fit as keras-tuner does without tensorboard."""

        def build(self, hp):
            return build_hypermodel(hp)

        def fit(self, hp, model, *args, **kwargs):
            raise ModuleNotFoundError("No module named 'tensorboard'")

    images = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 40)
    with pytest.raises(TuningError, match="None of the 2 trials completed(.|\\n)*tensorboard"):
        tune(images, labels, directory=tmp_path, max_trials=2, epochs=1, train_size=20,
             validation_size=10, hypermodel=TrainingFails())


# --- Data -----------------------------------------------------------------


def test_search_data_splits_the_training_set_only(rng):
    images = rng.integers(0, 256, (250, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = np.arange(250)  # a tag to find each image again
    labels = np.arange(250) % 10
    (x_fit, y_fit), (x_val, y_val) = search_data(images, labels, train_size=100, validation_size=50)
    assert x_fit.shape == (100, 28, 28, 1) and x_val.shape == (50, 28, 28, 1)
    assert x_fit.dtype == np.float32 and 0.0 <= x_fit.min() and x_fit.max() <= 1.0
    fit_tags = set(np.rint(x_fit[:, 0, 0, 0] * 255).astype(int))
    val_tags = set(np.rint(x_val[:, 0, 0, 0] * 255).astype(int))
    assert not fit_tags & val_tags
    assert all(labels[tag] == label for tag, label in zip(np.rint(x_val[:, 0, 0, 0] * 255).astype(int), y_val))


def test_search_data_rejects_mismatched_inputs(rng):
    images = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    with pytest.raises(ValueError, match="30 images but y has 29"):
        search_data(images, np.zeros(29), train_size=10, validation_size=5)
    with pytest.raises(ValueError, match="both x and y"):
        search_data(images, None)


# --- The table ------------------------------------------------------------


def test_sort_trials_puts_completed_best_first_and_failures_last():
    table = [_row("0", 0.5), _row("1", None, status="FAILED"), _row("2", 0.9), _row("3", 0.7)]
    assert [row["trial_id"] for row in sort_trials(table)] == ["2", "3", "0", "1"]


def test_check_completed_warns_on_some_failures_and_raises_on_all():
    with pytest.warns(UserWarning, match="1 of 2 trials did not complete.*boom"):
        check_completed([_row("0", 0.9), _row("1", None, status="FAILED")])
    with pytest.raises(TuningError, match="None of the 1 trials completed(.|\\n)*boom"):
        check_completed([_row("0", None, status="INVALID")])
    with pytest.raises(TuningError, match="no trial at all"):
        check_completed([])


def test_format_trials_prints_one_aligned_line_per_trial():
    text = format_trials([_row("1", 0.9876, filters=128), _row("0", None, status="FAILED")])
    lines = text.splitlines()
    assert len(lines) == 4  # header, rule, two trials
    assert "learning rate" in lines[0] and "val accuracy" in lines[0]
    assert "98.76%" in lines[2] and "128" in lines[2]
    assert "FAILED" in lines[3] and " -" in lines[3]
    assert len({len(line) for line in lines}) == 1


def test_plot_trials_draws_one_bar_per_trial_coloured_by_learning_rate():
    import matplotlib.pyplot as plt

    table = [_row("0", 0.98, learning_rate=1e-3), _row("1", 0.95, learning_rate=1e-2),
             _row("2", 0.60, learning_rate=1e-4)]
    figure, ax = plt.subplots()
    assert plot_trials(table, ax=ax) is figure
    bars = ax.patches
    assert [bar.get_height() for bar in bars] == pytest.approx([0.98, 0.95, 0.60])
    assert len({tuple(bar.get_facecolor()) for bar in bars}) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["lr 0.01", "lr 0.001", "lr 0.0001"]
    plt.close(figure)
    with pytest.raises(ValueError, match="empty"):
        plot_trials([])


# --- Distributed roles ----------------------------------------------------


def test_distributed_role_reads_keras_tuner_variables(monkeypatch):
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert distributed_role() == "alone"
    for name, value in distributed_environment("chief", 8123).items():
        monkeypatch.setenv(name, value)
    assert distributed_role() == "chief"
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner1")
    assert distributed_role() == "worker"
    monkeypatch.delenv("KERASTUNER_ORACLE_PORT")
    with pytest.raises(ValueError, match="KERASTUNER_ORACLE_PORT"):
        distributed_role()


def test_distributed_environment_checks_the_port():
    assert distributed_environment("tuner0", 8000)["KERASTUNER_ORACLE_PORT"] == "8000"
    with pytest.raises(ValueError, match="port"):
        distributed_environment("tuner0", 70000)


def test_tune_rejects_an_empty_search(tmp_path, rng):
    images = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
    with pytest.raises(ValueError, match="max_trials and epochs"):
        tune(images, np.zeros(40), directory=tmp_path, max_trials=0)


def test_tune_offers_the_table_and_the_distributed_search():
    """Notebook 04 and the command line reach them all through ``digitlab.tune``."""
    import digitlab.tune

    for name in ("TuningError", "format_trials", "plot_trials", "trials_table", "check_completed"):
        assert getattr(digitlab.tune, name) is getattr(trials, name)
    for name in ("distributed_role", "distributed_environment", "distributed_search"):
        assert getattr(digitlab.tune, name) is getattr(distributed_tuning, name)


def test_tune_command_refuses_an_empty_search_in_one_line(tmp_path, capsys):
    from digitlab.tune import main

    assert main(["--max-trials", "0", "--directory", str(tmp_path / "tuning")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("python -m digitlab.tune: max_trials and epochs must be at least 1, got 0 and ")
    assert error.count("\n") == 1  # one line, no traceback
    assert not (tmp_path / "tuning").exists()
