"""The README and docs/MODELS.md name what the repository holds: every module, notebook, benchmark and model."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def layout_row(path: str) -> str:
    """The README's "Layout" table row for ``path`` (e.g. "digitlab/")."""
    [row] = [line for line in README.splitlines() if line.startswith(f"| `{path}` |")]
    return row


def named(text: str) -> set[str]:
    return set(re.findall(r"`([\w.]+)`", text))


def test_the_layout_names_every_module_of_the_package_and_no_other():
    modules = {path.stem for path in (ROOT / "digitlab").glob("*.py") if not path.stem.startswith("_")}
    modules |= {path.parent.name for path in (ROOT / "digitlab").glob("*/__init__.py")}  # crnn, a package
    listed = named(layout_row("digitlab/"))
    assert listed == modules, (f"README's layout: not listed {sorted(modules - listed)}, "
                               f"no such module {sorted(listed - modules)}")


def test_the_layout_names_every_benchmark():
    benchmarks = {path.stem for path in (ROOT / "benchmarks").glob("*.py")}
    listed = named(layout_row("benchmarks/"))
    # fresh_process is not a benchmark but how memory_bench and train_memory run their commands.
    assert benchmarks - listed <= {"fresh_process"}, sorted(benchmarks - listed)
    assert listed <= benchmarks, sorted(listed - benchmarks)


def test_the_course_table_names_every_notebook():
    notebooks = {path.stem for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    listed = set(re.findall(r"^\| `(\d\d_\w+)` \|", README, re.MULTILINE))
    assert listed == notebooks


def test_every_shipped_model_is_in_the_readme_and_in_models_md():
    models = {path.name for path in (ROOT / "digitlab" / "models").glob("*.keras")}
    models_md = (ROOT / "docs" / "MODELS.md").read_text()
    assert models, "no shipped models found"
    for name in models:
        assert f"`digitlab/models/{name}`" in README, f"README's model table lacks {name}"
        assert f"| `{name}` |" in models_md, f"docs/MODELS.md's table lacks {name}"
