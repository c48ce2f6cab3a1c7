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
LANDING = REPO / "notebooks" / "week00_start_here.ipynb"  # the course map `make lab` opens first
LESSON_SOURCES = sorted(p for p in (REPO / "lessons").glob("week[0-9][0-9]_*.py") if p.stem != LANDING.stem)
CELL_TIMEOUT = 300  # seconds per cell in fast mode (the slowest cell trains 8 small runs)


def execute(path, fast: bool = True, timeout: int = CELL_TIMEOUT,
            env: dict[str, str] | None = None) -> tuple[nbformat.NotebookNode, float]:
    """Run the notebook at `path` in a fresh python3 kernel (cwd = its folder) with `env` added to the
    environment; return it and the seconds."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    changes = {"COURSE_FAST": "1" if fast else "0", **(env or {})}
    before = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)  # the kernel inherits this process's environment
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        start = time.perf_counter()
        client.execute()
        return nb, time.perf_counter() - start
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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


def test_landing_page_links_every_lesson_and_every_link_resolves():
    import re

    text = "\n".join(c.source for c in nbformat.read(LANDING, as_version=4).cells if c.cell_type == "markdown")
    links = re.findall(r"\]\(([^)#]+\.ipynb)\)", text)
    assert {f"{p.stem}.ipynb" for p in LESSON_SOURCES} <= set(links), "a lesson is missing from the course map"
    assert all((LANDING.parent / link).is_file() for link in links), links
    assert "Expected results - fast mode" in text and "Expected results - full mode" in text


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


@pytest.fixture(scope="module")
def mnist_only_env(tmp_path_factory) -> dict[str, str]:
    """A data root holding only the required MNIST (the real files, linked), and no Debian copy of
    Fashion-MNIST: what a machine sees when `make data` could not get the optional data sets."""
    from course_lib import data, paths

    real = paths.data_root() / "MNIST"
    if not data.is_available("mnist"):
        pytest.skip("real MNIST not provisioned: run `make data`")
    root = tmp_path_factory.mktemp("mnist_only")
    (root / "MNIST").symlink_to(real.resolve(), target_is_directory=True)
    hidden = tmp_path_factory.mktemp("no_debian_copy")
    return {"COURSE_DATA": str(root), "COURSE_FASHION_MNIST_DIR": str(hidden),
            "COURSE_PROGRESS_DIR": str(tmp_path_factory.mktemp("progress"))}


@pytest.mark.slow
@pytest.mark.parametrize("path", GENERATED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_notebook_runs_without_the_optional_data_sets(path, mnist_only_env):
    """Fashion-MNIST (and CIFAR) absent: every lesson, quiz review and summary still runs top to bottom,
    and a lesson that would have used Fashion-MNIST says so in a NOTE."""
    from course_lib import data

    assert not data.is_available("fashion_mnist", mnist_only_env["COURSE_DATA"])
    nb, seconds = execute(path, fast=True, env=mnist_only_env)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    uses_fashion = any("fashion_mnist" in c.source for c in nb.cells if c.cell_type == "code")
    text = "".join(o.get("text", "") + o.get("data", {}).get("text/markdown", "")
                   for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    if path == LANDING:  # the readiness table says it is missing, and optional
        assert "| fashion_mnist | (1, 28, 28) | 10 | missing (optional" in text, text
    elif path.parent.name == "notebooks" and uses_fashion:
        assert "NOTE: Fashion-MNIST is not on this machine" in text or "NOTE: fashion_mnist is not" in text
    print(f"{path.parent.name}/{path.name}: {seconds:.1f} s without Fashion-MNIST")
