"""Run notebooks (quick mode) and store the text outputs of `# NBVAL_CHECK_OUTPUT` cells in tests/notebook_outputs.json.

Usage: DIGITLAB_QUICK=1 DIGITLAB_DATA=... python tools/store_notebook_outputs.py notebooks/01_*.ipynb ...
The notebooks stay committed without outputs: this clears every output, execution count, cell execution
timestamp and the widgets' saved state in them. nbval gets the stored outputs of checked cells, matched by
their source, from the root conftest.py.
"""
import json
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

MARK = "# NBVAL_CHECK_OUTPUT"
OUTPUTS = Path(__file__).resolve().parent.parent / "tests" / "notebook_outputs.json"


def checked_outputs(cell, number: int, path: Path) -> list:
    """The text outputs of a checked cell, numbered as in a top-to-bottom run (nbval compares text only)."""
    kept = []
    for output in cell.outputs:
        if output.output_type == "stream" and output.name == "stdout":
            kept.append(output)
        elif output.output_type == "execute_result" and set(output.data) == {"text/plain"}:
            output.execution_count = number
            kept.append(output)
        else:
            raise SystemExit(f"{path}: a checked cell made a {output.output_type} output "
                             f"({output.get('name') or list(output.get('data', {}))}):\n{cell.source}")
    if not kept:
        raise SystemExit(f"{path}: a checked cell printed nothing:\n{cell.source}")
    return kept


def store(path: Path, expected: dict) -> None:
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    entries = []
    for number, cell in enumerate(code_cells, start=1):
        if MARK in cell.source:
            # nbval skips cells whose execution_count is null ("unrun"): checked cells keep
            # the count they would have had in a top-to-bottom run.
            entries.append({"source": cell.source, "execution_count": number,
                            "outputs": checked_outputs(cell, number, path)})
        cell.outputs = []
        cell.execution_count = None
        cell.metadata.pop("execution", None)
    notebook.metadata.pop("widgets", None)  # the widgets' views, as the run left them: an output too
    nbformat.write(notebook, path)
    if entries:
        expected[path.name] = entries
    else:
        expected.pop(path.name, None)
    print(f"cleared {path}; {len(entries)} checked outputs stored in {OUTPUTS}")


if __name__ == "__main__":
    stored = json.loads(OUTPUTS.read_text()) if OUTPUTS.is_file() else {}
    for name in sys.argv[1:]:
        store(Path(name), stored)
    OUTPUTS.write_text(json.dumps(dict(sorted(stored.items())), indent=1, ensure_ascii=False) + "\n")
