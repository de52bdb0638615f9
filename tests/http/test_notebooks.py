"""The notebooks: what CI checks in them is real, and the dashboard notebook really serves.

``pytest --nbval-lax notebooks`` (part of the README's test command) runs every notebook and
compares the outputs of cells marked ``# NBVAL_CHECK_OUTPUT``. These tests keep that honest:
enough checked cells with saved outputs, no saved output anywhere else (Panel and Bokeh output
carries random ids), only the public API, a fixed moment, and ``panel serve
notebooks/dashboard.ipynb`` answering with the dashboard over the demo.
"""

from __future__ import annotations

import ast
import sys
import time

import nbformat
import pytest

from tests.servers import ROOT, free_port, serving, session_text

NOTEBOOKS = ROOT / "notebooks"
MARK = "# NBVAL_CHECK_OUTPUT"
ANALYSES = [
    "01-quickstart.ipynb",
    "02-funnel-analysis.ipynb",
    "03-trends-and-goals.ipynb",
    "04-run-monitoring.ipynb",
    "05-on-spark.ipynb",
]
#: The imports a notebook may use: the public API, the components, and the tools around them.
ALLOWED_IMPORTS = {"opdash", "opdash.components", "panel", "pandas", "datetime", "pathlib"}
ALLOWED_IMPORTS |= {"os", "json", "hashlib", "tempfile"}


def code_cells(name: str) -> list[nbformat.NotebookNode]:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_every_notebook_is_there_and_at_least_three_check_their_outputs() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(
        [*ANALYSES, "dashboard.ipynb"]
    )
    checking = [n for n in ANALYSES if any(MARK in c.source for c in code_cells(n))]
    assert len(checking) >= 3, checking


@pytest.mark.parametrize("name", [*ANALYSES, "dashboard.ipynb"])
def test_only_checked_cells_keep_outputs_and_none_is_a_drawing(name: str) -> None:
    for cell in code_cells(name):
        if MARK in cell.source:
            assert cell.outputs, f"{name}: a checked cell has no saved output:\n{cell.source}"
            assert cell.execution_count is not None  # nbval calls a cell without one unrun
            for output in cell.outputs:
                assert output.output_type in ("stream", "execute_result"), output.output_type
                kinds = set(output.get("data", {}))
                assert not kinds - {"text/plain"}, f"{name}: checked output {kinds}"
                assert output.get("name") != "stderr"
            assert "panel" not in cell.source and "pn." not in cell.source, cell.source
        else:
            assert not cell.outputs, f"{name}: an unchecked cell keeps output:\n{cell.source}"


@pytest.mark.parametrize("name", [*ANALYSES, "dashboard.ipynb"])
def test_notebooks_use_the_public_api_on_the_demo_at_a_fixed_moment(name: str) -> None:
    source = "\n".join(cell.source for cell in code_cells(name))
    tree = ast.parse(source)
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= ALLOWED_IMPORTS, imported - ALLOWED_IMPORTS
    assert "data/demo" in source
    private = [
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr.startswith("_")
    ]
    assert not private, private
    if name in ANALYSES:
        assert 'opdash.instant("2026-11-20T16:00:00Z")' in source
        assert "datetime.now" not in source and "date.today" not in source


def test_panel_serve_serves_the_dashboard_notebook() -> None:
    """``panel serve notebooks/dashboard.ipynb`` (from the repository root, as the notebook
    says) answers with the demo's dashboard: its pages, the day's loop and the demo's State
    page from its dashboard.yaml."""
    port = free_port()
    cmd = [sys.executable, "-m", "panel", "serve", "notebooks/dashboard.ipynb", "--port", str(port)]
    cmd += ["--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}"]
    with serving(cmd, port, cwd=ROOT, path="dashboard", timeout=90) as url:
        overview = drawn(url, "?to=2026-11-20", "Pending tasks")
        state = drawn(url, "?page=state&to=2026-11-20", "Phase index")
    assert "opdash" in overview and "newest event 2026-11-20 15:59 UTC" in overview
    assert "Operator loop funnel" in overview and "Signal→Candidate" in overview
    assert "This tile could not be shown" not in state and "scanner-agent" in state


def drawn(url: str, query: str, text: str, timeout: float = 60) -> str:
    """A new session's document once ``text`` is in it: a view whose answer is not computed
    yet is drawn after the page loads (no browser here), so ask again until the shared cache
    holds it — the server computes it for the first session, or in its start-up warming."""
    deadline = time.monotonic() + timeout
    while True:
        document = session_text(url, query)
        if text in document or time.monotonic() > deadline:
            return document
        time.sleep(1)
