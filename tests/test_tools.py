"""Maintenance scripts in tools/: the Binder link made from the repository's GitHub remote."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parent.parent / "tools"


@pytest.mark.parametrize("remote", [
    "https://github.com/someone/digitlab.git",
    "https://github.com/someone/digitlab",
    "git@github.com:someone/digitlab.git",
    "ssh://git@github.com/someone/digitlab.git",
])
def test_binder_link_from_a_github_remote(tmp_path, remote):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "remote", "add", "origin", remote], check=True)
    run = subprocess.run([sys.executable, str(TOOLS / "binder_link.py")], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    link, badge = run.stdout.splitlines()
    assert link == "https://mybinder.org/v2/gh/someone/digitlab/HEAD?urlpath=lab/tree/notebooks/07_draw_and_read.ipynb"
    assert badge == f"[![Binder](https://mybinder.org/badge_logo.svg)]({link})"


@pytest.mark.parametrize("remote, message", [(None, "no git remote 'origin'"),
                                             ("https://gitlab.com/someone/digitlab.git", "not a GitHub repository")])
def test_binder_link_without_a_github_remote_says_why(tmp_path, remote, message):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    if remote:
        subprocess.run(["git", "-C", str(tmp_path), "remote", "add", "origin", remote], check=True)
    run = subprocess.run([sys.executable, str(TOOLS / "binder_link.py")], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2 and run.stdout == ""
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1
