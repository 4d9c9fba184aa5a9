"""The notebooks as files: committed clean, structured as a course, importing only the package.

nbval (``pytest --nbval-lax notebooks/``) runs them; these tests read them without running anything.
A notebook stores no outputs. The text outputs nbval compares for its ``# NBVAL_CHECK_OUTPUT`` cells are in
``tests/notebook_outputs.json`` (with an execution count: nbval skips cells whose count is null as "unrun"),
and the root ``conftest.py`` hands them to nbval.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat
import pytest

from digitlab import exercises

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
PACKAGE_DIR = NOTEBOOKS_DIR.parent / "digitlab"
COURSE = [
    "01_mnist_and_preprocessing.ipynb",
    "02_convolution_pooling_padding_flatten.ipynb",
    "03_training_the_cnn.ipynb",
    "04_hyperparameter_tuning.ipynb",
    "05_evaluation.ipynb",
    "06_segmenting_sequences.ipynb",
    "07_draw_and_read.ipynb",
    "08_beyond_segmentation.ipynb",
    "09_real_handwriting.ipynb",
]
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
EXPECTED_OUTPUTS = Path(__file__).resolve().parent / "notebook_outputs.json"
#: What a notebook may import besides digitlab: the standard scientific stack and a little stdlib.
ALLOWED_IMPORTS = {"digitlab", "numpy", "matplotlib", "ipywidgets", "keras", "json", "os", "pathlib", "tempfile", "time", "keras_tuner"}
FORBIDDEN = {
    "sys.path manipulation": re.compile(r"\bsys\.path\b"),
    "%run": re.compile(r"^\s*%run\b", re.MULTILINE),
    "a star import": re.compile(r"\bimport\s+\*"),
    "an import by path": re.compile(r"spec_from_file_location|SourceFileLoader|load_source|\brunpy\b|exec\(open"),
}

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def read(path: Path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    return notebook


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def python_of(source: str) -> str:
    """The cell's source without IPython magics and shell escapes, for ``ast``."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def test_the_course_is_complete():
    missing = [name for name in COURSE if not (NOTEBOOKS_DIR / name).is_file()]
    assert not missing, f"notebooks missing: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebooks_are_committed_without_outputs(path):
    notebook = read(path)
    assert "widgets" not in notebook.metadata, f"{path.name} stores widget state (views and images) in its metadata"
    for index, cell in enumerate(code_cells(notebook)):
        where = f"{path.name}, code cell {index + 1}:\n{cell.source[:200]}"
        assert cell.outputs == [], f"outputs not cleared in {where}"
        assert cell.execution_count is None, f"execution count not cleared in {where}"
        assert "execution" not in cell.metadata, f"execution timestamps not cleared in {where}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_every_checked_cell_has_its_expected_text_output(path):
    entries = json.loads(EXPECTED_OUTPUTS.read_text()).get(path.name, [])
    checked = [cell.source for cell in code_cells(read(path)) if CHECK_MARK in cell.source]
    stale = [entry["source"][:200] for entry in entries if entry["source"] not in checked]
    assert not stale, f"{EXPECTED_OUTPUTS.name} holds outputs of cells {path.name} no longer has: {stale}"
    for source in checked:
        where = f"{path.name}:\n{source[:200]}\n(run tools/store_notebook_outputs.py)"
        entry = next((entry for entry in entries if entry["source"] == source), None)
        assert entry is not None, f"a checked cell has no expected output (nbval would compare nothing) in {where}"
        assert entry["outputs"], f"a checked cell expects no output in {where}"
        assert entry["execution_count"] is not None, f"nbval skips a checked cell without execution count: {where}"
        for output in entry["outputs"]:
            text_only = (output["output_type"] == "stream" and output["name"] == "stdout") or (
                output["output_type"] == "execute_result" and set(output["data"]) == {"text/plain"}
            )
            assert text_only, f"a checked cell expects a {output['output_type']} output (only text is compared) in {where}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_starts_with_learning_goals_and_ends_with_summary_jargon_and_exercises(path):
    notebook = read(path)
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "the first cell must be a titled markdown cell"
    assert "learning goals" in first.source.lower(), "the first cell must state the learning goals"
    assert re.match(r"# \d\d · \S", first.source), "the title reads '# NN · Title'"
    headings = [line for cell in notebook.cells if cell.cell_type == "markdown"
                for line in cell.source.splitlines() if line.startswith("#")]
    sections = [next((i for i, line in enumerate(headings) if re.match(rf"^#+ (\d+\. )?{name}", line)), None)
                for name in ("Summary", "Jargon", "Exercises")]
    assert None not in sections, f"sections Summary, Jargon and Exercises, found at {sections}"
    assert sections == sorted(sections), "a summary, then the jargon, then the exercises"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_imports_only_the_package_and_the_scientific_stack(path):
    cells = code_cells(read(path))
    for cell in cells:
        for problem, pattern in FORBIDDEN.items():
            assert not pattern.search(cell.source), f"{problem} in {path.name}:\n{cell.source}"
        for node in ast.walk(ast.parse(python_of(cell.source))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"relative import in {path.name}"
                modules = [node.module]
            else:
                continue
            for module in modules:
                assert module.split(".")[0] in ALLOWED_IMPORTS, f"{path.name} imports {module}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_digitlab_is_imported_first(path):
    """``import digitlab`` quiets TensorFlow before anything can import it."""
    first_import = next(
        node
        for cell in code_cells(read(path))
        for node in ast.parse(python_of(cell.source)).body
        if isinstance(node, (ast.Import, ast.ImportFrom))
    )
    assert isinstance(first_import, ast.Import) and first_import.names[0].name == "digitlab"


@pytest.mark.parametrize("path", [NOTEBOOKS_DIR / name for name in COURSE], ids=lambda path: path.name)
def test_exercises_exist_and_belong_to_their_notebook(path):
    if not path.is_file():
        pytest.skip(f"{path.name} not written yet")
    source = "\n".join(cell.source for cell in code_cells(read(path)))
    used = re.findall(r"exercises\.check\(\s*[\"']([^\"']+)[\"']", source)
    assert used, f"{path.name} has no exercise checked by digitlab.exercises"
    for exercise_id in used:
        assert exercise_id in exercises.EXERCISES, f"{path.name} checks unknown exercise {exercise_id!r}"
        assert exercise_id.startswith(path.name[:2] + "."), f"{exercise_id!r} belongs to another notebook"
    # The placeholder the student replaces must still let the notebook run (check() does not raise on ...).
    assert re.search(r"^answer = \.\.\.", source, re.MULTILINE)


def test_every_exercise_is_asked_in_its_notebook():
    """An exercise in digitlab.exercises that no notebook checks is one no student sees."""
    checked = {path.name[:2]: set(re.findall(r"exercises\.check\(\s*[\"']([^\"']+)[\"']",
                                              "\n".join(cell.source for cell in code_cells(read(path)))))
               for path in NOTEBOOKS}
    unasked = [exercise_id for exercise_id in exercises.EXERCISES if exercise_id not in checked.get(exercise_id[:2], ())]
    assert not unasked, f"exercises no notebook checks: {unasked}"


def test_modules_name_notebooks_that_exist():
    """Docstrings say where each helper is taught; those notebooks must exist under that name."""
    wrong = sorted(
        f"{module.name} names {name}"
        for module in PACKAGE_DIR.glob("*.py")
        for name in re.findall(r"notebooks/(\d\d_\w+\.ipynb)", module.read_text())
        if not (NOTEBOOKS_DIR / name).is_file()
    )
    assert not wrong, wrong
