"""Print the Binder link (and a Markdown badge) for this repository, made from its GitHub remote.

Binder builds a repository from GitHub, so the link names its owner and name: this reads them from
``git remote get-url origin`` (https or ssh form) and prints the link that opens the draw-and-read
notebook in JupyterLab.

Run: python tools/binder_link.py [--remote origin] [--notebook notebooks/07_draw_and_read.ipynb]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

GITHUB = re.compile(r"^(?:https://github\.com/|git@github\.com:|ssh://git@github\.com/)([\w.-]+)/([\w.-]+?)(?:\.git)?/?$")


def binder_link(remote_url: str, notebook: str, ref: str = "HEAD") -> str:
    """The mybinder.org link that opens ``notebook`` in JupyterLab, for a GitHub ``remote_url``."""
    match = GITHUB.match(remote_url.strip())
    if not match:
        raise ValueError(f"{remote_url!r} is not a GitHub repository address (Binder builds from GitHub).")
    owner, name = match.groups()
    return f"https://mybinder.org/v2/gh/{owner}/{name}/{ref}?urlpath=lab/tree/{notebook}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--remote", default="origin", help="the git remote to read (default origin)")
    parser.add_argument("--notebook", default="notebooks/07_draw_and_read.ipynb", help="the notebook to open")
    args = parser.parse_args()
    found = subprocess.run(["git", "remote", "get-url", args.remote], capture_output=True, text=True)
    if found.returncode != 0:
        print(f"binder_link: no git remote {args.remote!r}: add the GitHub repository with "
              f"`git remote add {args.remote} https://github.com/OWNER/NAME`", file=sys.stderr)
        return 2
    try:
        link = binder_link(found.stdout, args.notebook)
    except ValueError as error:
        print(f"binder_link: {error}", file=sys.stderr)
        return 2
    print(link)
    print(f"[![Binder](https://mybinder.org/badge_logo.svg)]({link})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
