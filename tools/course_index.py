"""Write index.html for the rendered course: one link per notebook, titled by its first heading.

Usage: python tools/course_index.py build/course   (after `jupyter nbconvert --to html` wrote the pages there;
`make docs` does both). The pages link to nothing outside the folder, so it can be opened straight from disk.
"""
import html
import json
import sys
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def title(notebook: Path) -> str:
    """The notebook's first markdown heading, without its '#'s (its file name if it has none)."""
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return notebook.stem


def main(folder: str) -> int:
    folder = Path(folder)
    pages = sorted(folder.glob("[0-9]*.html"))
    if not pages:
        print(f"course_index: no rendered notebooks in {folder}; run `make docs`.", file=sys.stderr)
        return 2
    items = "\n".join(f'<li><a href="{html.escape(page.name)}">{html.escape(title(NOTEBOOKS / (page.stem + ".ipynb")))}</a></li>'
                      for page in pages)
    (folder / "index.html").write_text(
        "<!doctype html>\n<meta charset='utf-8'>\n<title>digitlab: the course</title>\n"
        "<h1>digitlab: the course</h1>\n"
        "<p>Each notebook run top to bottom in quick mode (small trainings), with its figures.</p>\n"
        f"<ol>\n{items}\n</ol>\n")
    print(f"{len(pages)} notebooks: {folder / 'index.html'}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__.splitlines()[2], file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(main(sys.argv[1]))
