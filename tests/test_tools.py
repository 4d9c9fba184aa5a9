"""Maintenance scripts in tools/: the Binder link made from the repository's GitHub remote, the course's index page."""

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


def test_course_index_links_every_rendered_notebook_by_its_title(tmp_path):
    (tmp_path / "01_mnist_and_preprocessing.html").write_text("<html></html>")
    (tmp_path / "06_segmenting_sequences.html").write_text("<html></html>")
    run = subprocess.run([sys.executable, str(TOOLS / "course_index.py"), str(tmp_path)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    index = (tmp_path / "index.html").read_text()
    assert index.index('href="01_mnist_and_preprocessing.html"') < index.index('href="06_segmenting_sequences.html"')
    assert ">01 · " in index and ">06 · " in index  # the notebooks' own titles, not their file names


def test_course_index_without_rendered_notebooks_says_what_to_run(tmp_path):
    run = subprocess.run([sys.executable, str(TOOLS / "course_index.py"), str(tmp_path)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2 and "make docs" in run.stderr and len(run.stderr.strip().splitlines()) == 1
