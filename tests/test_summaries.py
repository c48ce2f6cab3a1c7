"""Weekly summaries are up to date with their lessons; summaries and quiz review notebooks run in fast mode.

A summary is rebuilt from the lesson cells tagged `summary` (`python -m course_lib summaries build`);
the review notebooks come from tools/build_quiz_notebooks.py. Both are stored without outputs.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from course_lib import summaries
from course_lib.__main__ import main as cli
from course_lib.nbtools import has_outputs, notebook_paths

from .conftest import REPO

SUMMARY_NOTEBOOKS = notebook_paths(REPO / "summaries")
QUIZ_NOTEBOOKS = notebook_paths(REPO / "quizzes")
CELL_TIMEOUT = 300


# ------------------------------------------------------------------ up to date with the lessons

def test_every_lesson_with_summary_cells_has_an_up_to_date_summary():
    wanted = summaries.expected_summaries()
    assert wanted, "no lesson notebook has cells tagged 'summary'"
    stale = summaries.check()
    assert not stale, "\n".join(map(str, stale)) + "\nrun `python -m course_lib summaries build`"
    assert sorted(wanted) == SUMMARY_NOTEBOOKS  # and no summary without a lesson


def test_cli_summaries_check(capsys):
    assert cli(["summaries", "check"]) == 0
    assert "up to date" in capsys.readouterr().out


def _lesson(path: Path, cells) -> None:
    nb = new_notebook(cells=cells)
    nbformat.write(nb, path)


def _fake_lesson(folder: Path) -> Path:
    folder.mkdir()
    path = folder / "week09_fake_topic.ipynb"
    ran = new_code_cell("print(7 * 7)", metadata={"tags": ["summary"]}, execution_count=3,
                        outputs=[new_output("stream", name="stdout", text="49\n")])
    _lesson(path, [
        new_markdown_cell("# Week 9 - A fake topic\n\nIntro."),
        new_code_cell("x = 1  # not in the summary"),
        new_markdown_cell("## Summary\n\n- seven squared", metadata={"tags": ["summary", "other"]}),
        ran,
        new_markdown_cell("Untagged ending."),
    ])
    return path


def test_summary_is_title_setup_and_tagged_cells_in_order_without_outputs(tmp_path):
    lesson = _fake_lesson(tmp_path / "notebooks")
    out = tmp_path / "summaries"
    assert summaries.check(lesson.parent, out, tmp_path) == [summaries.Stale(out / "week09_summary.ipynb", "missing")]
    assert summaries.build(lesson.parent, out, tmp_path) == [out / "week09_summary.ipynb"]
    nb = nbformat.read(out / "week09_summary.ipynb", as_version=4)
    assert nb.cells[0].source.startswith("# Week 9 summary - A fake topic")
    assert "week09_fake_topic.ipynb" in nb.cells[0].source
    assert "import course_lib" in nb.cells[1].source
    assert [(c.cell_type, c.source) for c in nb.cells[2:]] == [
        ("markdown", "## Summary\n\n- seven squared"), ("code", "print(7 * 7)")]
    assert not has_outputs(nb)
    assert summaries.check(lesson.parent, out, tmp_path) == []
    assert summaries.build(lesson.parent, out, tmp_path) == []  # rebuilding is a no-op


def test_check_reports_stale_summaries(tmp_path):
    lesson = _fake_lesson(tmp_path / "notebooks")
    out = tmp_path / "summaries"
    summaries.build(lesson.parent, out, tmp_path)
    target = out / "week09_summary.ipynb"

    nb = nbformat.read(lesson, as_version=4)
    nb.cells[1].source = "x = 2  # an untagged cell changed"
    nbformat.write(nb, lesson)
    assert summaries.check(lesson.parent, out, tmp_path) == []  # the summary does not depend on it

    nb.cells[3].source = "print(8 * 8)"  # a tagged cell changed
    nbformat.write(nb, lesson)
    (stale,) = summaries.check(lesson.parent, out, tmp_path)
    assert stale.path == target and "out of date" in stale.reason
    summaries.build(lesson.parent, out, tmp_path)

    ran = nbformat.read(target, as_version=4)
    ran.cells[-1].outputs = [new_output("stream", name="stdout", text="64\n")]
    nbformat.write(ran, target)
    (stale,) = summaries.check(lesson.parent, out, tmp_path)
    assert stale.reason == "stores outputs"
    summaries.build(lesson.parent, out, tmp_path)

    for cell in nb.cells:
        cell.metadata.pop("tags", None)  # the lesson no longer has summary cells
    nbformat.write(nb, lesson)
    (stale,) = summaries.check(lesson.parent, out, tmp_path)
    assert "no cells tagged 'summary'" in stale.reason
    summaries.build(lesson.parent, out, tmp_path)
    assert not target.exists()


def test_check_flags_summary_cells_that_need_the_rest_of_the_lesson(tmp_path):
    lesson = _fake_lesson(tmp_path / "notebooks")
    nb = nbformat.read(lesson, as_version=4)
    nb.cells[3].source = "import math\nprint(math.sqrt(x), [k for k in range(3)])  # x comes from an untagged cell"
    nbformat.write(nb, lesson)
    out = tmp_path / "summaries"
    summaries.build(lesson.parent, out, tmp_path)
    (stale,) = summaries.check(lesson.parent, out, tmp_path)
    assert "use x without defining or importing them" in stale.reason
    assert summaries.undefined_names(["def f(a):\n    return a + b\nfor i in range(2):\n    f(i)"]) == ["b"]


# ------------------------------------------------------------------ quiz review notebooks

def test_quiz_review_notebooks_match_the_banks():
    names = {p.name for p in QUIZ_NOTEBOOKS}
    assert {f"week{w:02d}_quiz_review.ipynb" for w in range(1, 8)} | {"cumulative_review.ipynb"} <= names
    done = subprocess.run([sys.executable, str(REPO / "tools" / "build_quiz_notebooks.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("path", SUMMARY_NOTEBOOKS + QUIZ_NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    assert not has_outputs(nbformat.read(path, as_version=4)), f"{path.name} has outputs: run `make strip-notebooks`"


# ------------------------------------------------------------------ they run in fast mode

def _execute(path: Path) -> nbformat.NotebookNode:
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        if "DataError" in str(exc) and not os.environ.get("CI"):
            pytest.skip(f"{path.name} needs a data set that is not provisioned here: run `make data`")
        raise
    return nb


def _outputs(nb) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


@pytest.mark.parametrize("path", SUMMARY_NOTEBOOKS, ids=lambda p: p.stem)
def test_summary_runs_in_fast_mode(path, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")  # the kernel inherits this environment
    monkeypatch.setenv("COURSE_PROGRESS_DIR", str(tmp_path))
    nb = _execute(path)
    outputs = _outputs(nb)
    assert not [o for o in outputs if o.output_type == "error"]
    assert "fast mode: True" in "".join(o.get("text", "") for o in nb.cells[1].outputs)
    copied = [c for c in nb.cells[2:] if c.cell_type == "code"]
    assert all(c.outputs for c in copied), "a summary code cell showed nothing"


@pytest.mark.parametrize("path", QUIZ_NOTEBOOKS, ids=lambda p: p.stem)
def test_quiz_review_runs_in_fast_mode(path, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    monkeypatch.setenv("COURSE_PROGRESS_DIR", str(tmp_path))
    nb = _execute(path)
    outputs = _outputs(nb)
    assert not [o for o in outputs if o.output_type == "error"]
    widgets = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    reviews = "".join(o.get("data", {}).get("text/markdown", "") for o in outputs)
    assert len(widgets) == 1, "the quiz widget is shown once"
    assert reviews.count("**Why:**") >= 8 and "**Answer:**" in reviews
    assert not list(tmp_path.iterdir()), "running the notebook must not write progress by itself"
