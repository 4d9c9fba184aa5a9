"""The Makefile's user-facing targets: `make lab` as root and as a user, `make read`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from digitlab.synth import SAMPLES_DIR

ROOT = Path(__file__).resolve().parent.parent
# The installation is taken as done (-o: never remade); the commands run from the Python running the tests.
MAKE = ["make", "--no-print-directory", "-o", ".venv/.installed", "-o", ".venv/.installed-test",
        f"BIN={Path(sys.executable).parent}"]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")


def lab_command(tmp_path, user_id: int, *variables: str) -> str:
    """The command `make lab` would run (make -n) for a user whose `id -u` is ``user_id``."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir(exist_ok=True)
    (fake_bin / "id").write_text(f"#!/bin/sh\necho {user_id}\n")
    (fake_bin / "id").chmod(0o755)
    environment = {**os.environ, "PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run([*MAKE, "-n", "lab", *variables], cwd=ROOT, env=environment, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    [line] = [line for line in run.stdout.splitlines() if "jupyter lab" in line]
    return line


def test_make_lab_runs_as_root_and_as_a_user_on_localhost_with_a_token(tmp_path):
    as_root, as_user = lab_command(tmp_path, 0), lab_command(tmp_path, 1000)
    assert "--ServerApp.allow_root=True" in as_root
    assert "allow_root" not in as_user
    for line in (as_root, as_user):  # Jupyter's defaults: localhost only, a token in the printed link
        assert "--notebook-dir=notebooks" in line and "ip=" not in line and "token" not in line.lower()


def test_lab_args_replace_the_guess(tmp_path):
    line = lab_command(tmp_path, 0, "LAB_ARGS=--ServerApp.open_browser=False")
    assert "--ServerApp.open_browser=False" in line and "allow_root" not in line


def test_make_read_without_an_image_says_how_in_one_line():
    run = subprocess.run([*MAKE, "read"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert run.stderr.strip().splitlines()[0] == "usage: make read IMAGE=path/to/image.png"


@pytest.mark.slow
def test_make_read_prints_the_digits_of_the_readme_example():
    image = (SAMPLES_DIR / "scan_31415.png").relative_to(ROOT)
    run = subprocess.run([*MAKE, "-s", "read", f"IMAGE={image}"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "31415"
