"""benchmarks/compare_recipes.py: recipes trained with several seeds, read on the choose writers, paired arm by arm;
and real_strokes.py's --json, which it reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPARE = ROOT / "benchmarks" / "compare_recipes.py"


def _compare(*arguments, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(COMPARE), *map(str, arguments)], capture_output=True, text=True,
                          timeout=900, cwd=cwd)


def _reading(path: Path, rights: dict[str, list[bool]], arguments: list[str]) -> None:
    """A reading as real_strokes.py --json writes it."""
    sets = {name: {"count": len(right), "string_accuracy": sum(right) / len(right), "right": right}
            for name, right in rights.items()}
    path.write_text(json.dumps({"arguments": arguments, "sets": sets}))


def _network(folder: Path, name: str, test_accuracy: float, rights, arguments=("--n", "4")) -> None:
    (folder / f"{name}.keras").write_bytes(b"weights")
    (folder / f"{name}.json").write_text(json.dumps({"model": "candidate_cnn", "test_accuracy": test_accuracy}))
    _reading(folder / f"{name}.choose.json", rights, [*arguments, "--candidate", str(folder / f"{name}.keras")])


def test_the_table_gives_each_arms_mean_and_range_and_pairs_each_arm_with_the_first(tmp_path, benchmark):
    compare = benchmark("compare_recipes")
    _network(tmp_path, "base-s0", 0.99, {"pad": [True, True, False, False]})
    _network(tmp_path, "base-s1", 0.98, {"pad": [True, True, True, False]})
    _network(tmp_path, "wide-s0", 0.97, {"pad": [False, True, True, True]})   # +2 -1 against base-s0
    _network(tmp_path, "wide-s1", 0.96, {"pad": [True, True, True, True]})    # +1 -0 against base-s1
    _network(tmp_path, "wide-s2", 0.95, {"pad": [True, False, False, False]})  # no base-s2: not paired
    text = compare.table(compare.networks_in(tmp_path, ["base", "wide"]))
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[1] == "| base | 0, 1 | 62.50 (50.00-75.00) | 98.50 (98.00-99.00) |"
    assert rows[2] == "| wide | 0, 1, 2 | 66.67 (25.00-100.00) | 96.00 (95.00-97.00) |"
    assert "wide against base, seeds 0, 1 (read right by wide only, by base only): pad +3 -1" in text


def test_readings_of_other_items_are_not_paired(tmp_path, benchmark):
    compare = benchmark("compare_recipes")
    _network(tmp_path, "base-s0", 0.99, {"pad": [True, False]})
    _network(tmp_path, "more-s0", 0.99, {"pad": [True, True]}, arguments=("--n", "2"))  # other strings than --n 4
    text = compare.table(compare.networks_in(tmp_path, ["base"]))
    assert "| more | 0 | 100.00 |" in text and "against" not in text


@pytest.mark.parametrize("arguments, message", [
    (["--arm", "two words=--styles 0"], "an arm is NAME="),
    (["--arm", "a=--styles 0", "--arm", "a=--styles 0.3"], "a name of its own"),
    ([], "holds no networks yet"),
    (["--arm", "a=--styles 0", "--jobs", "0"], "must be at least 1"),
    (["--arm", 'a="--styles 0'], "No closing quotation"),
])
def test_bad_arguments_say_so_in_one_line(tmp_path, arguments, message):
    run = _compare(tmp_path / "out", *arguments)
    assert run.returncode == 2 and message in run.stderr
    assert not list((tmp_path / "out").glob("*.keras"))


def test_an_arm_keeps_its_recipe_and_its_place(tmp_path, benchmark):
    compare = benchmark("compare_recipes")
    assert list(compare.record_arms(tmp_path, {"b": ["--styles", "0"], "a": ["--styles", "0.3"]})) == ["b", "a"]
    assert list(compare.record_arms(tmp_path, {"c": ["--epochs", "1"], "a": ["--styles", "0.3"]})) == ["b", "a", "c"]
    with pytest.raises(ValueError, match="holds it trained with `--styles 0.3`, not `--styles 0.5`"):
        compare.record_arms(tmp_path, {"a": ["--styles", "0.5"]})
    run = _compare(tmp_path, "--arm", "b=--styles 0.5", "--no-read")  # b was "--styles 0" with other options
    assert run.returncode == 2 and "give another recipe a name of its own" in run.stderr
    assert not list(tmp_path.glob("*.log"))  # nothing trained


def test_without_the_real_stroke_digits_it_says_so_before_training(tmp_path):
    run = _compare(tmp_path / "out", "--arm", "a=--styles 0", "--data", tmp_path / "missing.jsonl.gz", "--quick")
    assert run.returncode == 2 and "missing.jsonl.gz" in run.stderr and "--no-read" in run.stderr
    assert "Training" not in run.stdout


def test_a_training_that_fails_is_named_with_its_reason_and_the_others_go_on(tmp_path):
    run = _compare(tmp_path / "out", "--arm", "wrong=--styles 2", "--seeds", "0", "1", "--no-read", "--quick")
    assert run.returncode == 1
    for seed in (0, 1):
        assert (f"wrong-s{seed}: training failed (exit 2): digitlab train: --styles must be a fraction in [0, 1]"
                in run.stdout)
    assert not list((tmp_path / "out").glob("*.keras"))


@pytest.mark.training
def test_arms_are_trained_read_and_paired_and_a_second_run_does_nothing_again(tmp_path, mnist, real_choose_half):
    out = tmp_path / "arms"
    run = _compare(out, "--arm", "plain=--styles 0", "--arm", "styled=--styles 0.3", "--seeds", "3", "--jobs", "2",
                   "--quick")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "[2/2] " in run.stdout and "failed" not in run.stdout
    readings = {arm: json.loads((out / f"{arm}-s3.choose.json").read_text()) for arm in ("plain", "styled")}
    assert json.loads((out / "plain-s3.json").read_text())["seed"] == 3
    pairs = run.stdout.split("styled against plain, seeds 3 (read right by styled only, by plain only): ")[1]
    for name, figures in readings["plain"]["sets"].items():
        plain, styled = figures["right"], readings["styled"]["sets"][name]["right"]
        assert len(plain) == len(styled) == figures["count"]
        gained = sum(s and not p for p, s in zip(plain, styled))
        lost = sum(p and not s for p, s in zip(plain, styled))
        assert sum(styled) - sum(plain) == gained - lost
        assert f"{name} +{gained} -{lost}" in pairs
    again = _compare(out, "--quick")
    assert again.returncode == 0 and "Training" not in again.stdout and "Reading" not in again.stdout
    assert again.stdout.splitlines()[-3:] == run.stdout.splitlines()[-3:]


def test_real_strokes_json_leaves_out_only_its_own_file(benchmark):
    real_strokes = benchmark("real_strokes")
    assert real_strokes.reading_arguments(["--n", "5", "--json", "a.json", "--quick"]) == ["--n", "5", "--quick"]
    assert real_strokes.reading_arguments(["--json=a.json", "--half", "report"]) == ["--half", "report"]


def test_real_strokes_json_that_cannot_be_written_is_refused_before_reading(tmp_path):
    (tmp_path / "file").write_text("")
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "real_strokes.py"), "--quick", "--json",
                          str(tmp_path / "file" / "out.json")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "--json: cannot write" in run.stderr
