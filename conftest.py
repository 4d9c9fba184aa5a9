"""Settings for every pytest run, the notebooks' (nbval) included: their kernels inherit this environment.

The notebooks are committed without outputs; the outputs nbval compares for cells marked
``# NBVAL_CHECK_OUTPUT`` live in ``tests/notebook_outputs.json`` (written by
``tools/store_notebook_outputs.py``), and the hook below hands them to nbval.
"""

import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
# Tests and the notebooks' kernels run in quick mode (DIGITLAB_QUICK=0 forces full runs).
os.environ.setdefault("DIGITLAB_QUICK", "1")

NOTEBOOK_OUTPUTS = Path(__file__).resolve().parent / "tests" / "notebook_outputs.json"
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"


def pytest_collection_modifyitems(items):
    """Give nbval the reference outputs of checked notebook cells, from NOTEBOOK_OUTPUTS.

    A checked cell is matched by its exact source; one with no entry stays "unrun" for nbval
    (nothing compared), and tests/test_notebooks_static.py reports it.
    """
    checked = [item for item in items if CHECK_MARK in getattr(getattr(item, "cell", None), "source", "")]
    if not checked:
        return
    import nbformat

    expected = json.loads(NOTEBOOK_OUTPUTS.read_text())
    for item in checked:
        entries = expected.get(Path(str(item.fspath)).name, [])
        entry = next((entry for entry in entries if entry["source"] == item.cell.source), None)
        if entry is not None:
            item.cell.outputs = [nbformat.from_dict(output) for output in entry["outputs"]]
            item.cell.execution_count = entry["execution_count"]
