"""Every lesson notebook runs top to bottom in fast mode (COURSE_FAST=1) and is stored without outputs.

The notebooks assert their own teaching facts (gradients == autograd, GAP->FC == 1x1conv->GAP, ...), so
executing them is a real test. Run one: `COURSE_FAST=1 pytest tests/test_notebooks.py -k week03`.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import nbformat
import pytest

from tools.notebook_build.writer import has_outputs

from .conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
GENERATED = [p for folder in ("notebooks", "summaries", "quizzes") for p in sorted((REPO / folder).glob("*.ipynb"))]
LESSON_SOURCES = sorted((REPO / "lessons").glob("week[0-9][0-9]_*.py"))
CELL_TIMEOUT = 300  # seconds per cell in fast mode (the slowest cell trains 8 small runs)


def execute(path, fast: bool = True, timeout: int = CELL_TIMEOUT) -> tuple[nbformat.NotebookNode, float]:
    """Run the notebook at `path` in a fresh python3 kernel (cwd = its folder); return it and the seconds."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env_before = os.environ.get("COURSE_FAST")
    os.environ["COURSE_FAST"] = "1" if fast else "0"  # the kernel inherits this process's environment
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        start = time.perf_counter()
        client.execute()
        return nb, time.perf_counter() - start
    finally:
        if env_before is None:
            os.environ.pop("COURSE_FAST", None)
        else:
            os.environ["COURSE_FAST"] = env_before


def test_there_are_lessons():
    names = [p.name for p in NOTEBOOKS]
    assert len([n for n in names if n.startswith("week")]) >= 6, names


def test_notebooks_are_stored_without_outputs():
    """nbstripout (what `make strip-notebooks` runs) would change nothing in any generated notebook."""
    done = subprocess.run([sys.executable, "-m", "nbstripout", "--keep-id", "--verify", *map(str, GENERATED)],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, f"{done.stdout}{done.stderr}run `make strip-notebooks`"
    assert len(GENERATED) >= 20 and not any(has_outputs(nbformat.read(p, as_version=4)) for p in GENERATED)


def test_generated_notebooks_are_up_to_date():
    """notebooks/, summaries/ and the quiz reviews are what `make notebooks` makes of lessons/ and the banks."""
    done = subprocess.run([sys.executable, "-m", "tools.notebook_build", "--check"],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "up to date" in done.stdout


@pytest.mark.parametrize("source", LESSON_SOURCES, ids=lambda p: p.stem)
def test_lesson_states_results_and_has_summary_cells(source):
    nb = nbformat.read(REPO / "notebooks" / f"{source.stem}.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "Expected results - fast mode" in text and "Expected results - full mode" in text
    tagged = [c for c in nb.cells if "summary" in c.metadata.get("tags", [])]
    assert any(c.cell_type == "markdown" for c in tagged), "no markdown cell tagged 'summary'"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "import *" not in code and "course_lib" in code


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_fast_mode(path):
    nb, seconds = execute(path, fast=True)  # a failing cell raises CellExecutionError with its traceback
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    if path.stem in {p.stem for p in LESSON_SOURCES}:  # the lessons with widgets show static figures too
        assert images >= 2, f"{path.name}: expected figures in the outputs, got {images}"
    print(f"{path.name}: {seconds:.1f} s in fast mode, {images} figures")
