"""Run notebooks (quick mode) and keep only the text outputs of `# NBVAL_CHECK_OUTPUT` cells.

Usage: DIGITLAB_QUICK=1 DIGITLAB_DATA=... python tools/store_notebook_outputs.py notebooks/01_*.ipynb ...
Every other output is cleared, every other execution count set to null and the widgets' saved state dropped,
so the committed notebook holds exactly what nbval compares.
"""
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

MARK = "# NBVAL_CHECK_OUTPUT"


def store(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for number, cell in enumerate(code_cells, start=1):
        cell.execution_count = None
        if MARK not in cell.source:
            cell.outputs = []
            continue
        # nbval skips cells whose execution_count is null ("unrun"): checked cells keep
        # the count they would have had in a top-to-bottom run.
        cell.execution_count = number
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
        cell.outputs = kept
    notebook.metadata.pop("widgets", None)  # the widgets' views, as the run left them: an output too
    nbformat.write(notebook, path)
    print(f"stored the checked outputs of {path}")


if __name__ == "__main__":
    for name in sys.argv[1:]:
        store(Path(name))
