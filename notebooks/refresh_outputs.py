"""Run every notebook here and save the outputs CI compares — and only those.

Cells marked ``# NBVAL_CHECK_OUTPUT`` keep their output (``pytest --nbval-lax notebooks``
compares it on every CI run); every other cell is saved without output or execution count, so
no Panel/Bokeh output with its random ids is ever stored. Run it after a change that is meant to
change a checked number, and review the diff:

    python notebooks/refresh_outputs.py [NOTEBOOK ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
MARK = "NBVAL_CHECK_OUTPUT"


def refresh(path: Path) -> int:
    """Execute ``path`` in the repository root (as CI does) and keep only checked outputs."""
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=300, resources={"metadata": {"path": str(HERE.parent)}}
    ).execute()
    kept = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if MARK in cell.source:
            kept += 1  # keeps its execution count too: nbval calls a cell without one unrun
        else:
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    nbformat.write(notebook, path)
    return kept


def main(names: list[str]) -> None:
    paths = [Path(n) for n in names] or sorted(HERE.glob("*.ipynb"))
    for path in paths:
        print(f"{path.name}: {refresh(path)} checked cells saved")


if __name__ == "__main__":
    main(sys.argv[1:])
