"""The one notebook build (tools/notebook_build): lessons -> notebooks, summaries, quiz reviews; they run.

A summary is rebuilt from the lesson cells tagged `summary`, the review notebooks from quizzes/weekNN.yaml,
both by `make notebooks`; tests/test_notebooks.py checks that every generated file in the repository is
up to date. Here the build runs on a small lesson in a temporary folder.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_output

from tools import notebook_build
from tools.notebook_build.summaries import YOUR_CELL, undefined_names
from tools.notebook_build.writer import Stale, has_outputs

from .conftest import REPO

SUMMARY_NOTEBOOKS = sorted((REPO / "summaries").glob("*.ipynb"))
QUIZ_NOTEBOOKS = sorted((REPO / "quizzes").glob("*.ipynb"))
CELL_TIMEOUT = 300

FAKE_LESSON = """\
# %% [markdown]
# # Week 9 - A fake topic
#
# Intro.

# %%
x = 1  # not in the summary

# %% [markdown] tags=["summary", "other"]
# ## Summary
#
# - seven squared

# %% tags=["summary"]
print(7 * 7)

# %%
# !echo a shell line

# %% [markdown]
# Untagged ending.
"""


def _fake_course(root: Path, lesson: str = FAKE_LESSON) -> Path:
    """A course folder with one lesson source; returns the lesson's path."""
    (root / "lessons").mkdir(parents=True, exist_ok=True)
    path = root / "lessons" / "week09_fake_topic.py"
    path.write_text(lesson, encoding="utf-8")
    return path


def _cells(path: Path) -> list[tuple[str, str, list]]:
    nb = nbformat.read(path, as_version=4)
    return [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in nb.cells]


# ------------------------------------------------------------------ the build, on a small course

def test_lesson_source_becomes_a_notebook_with_tags_and_shell_lines(tmp_path):
    _fake_course(tmp_path)
    assert notebook_build.check(tmp_path) == [
        Stale(tmp_path / "notebooks" / "week09_fake_topic.ipynb", "missing"),
        Stale(tmp_path / "summaries" / "week09_summary.ipynb", "missing")]
    done, problems = notebook_build.build(tmp_path)
    assert len(done) == 2 and problems == []
    path = tmp_path / "notebooks" / "week09_fake_topic.ipynb"
    assert _cells(path) == [
        ("markdown", "# Week 9 - A fake topic\n\nIntro.", []),
        ("code", "x = 1  # not in the summary", []),
        ("markdown", "## Summary\n\n- seven squared", ["summary", "other"]),
        ("code", "print(7 * 7)", ["summary"]),
        ("code", "!echo a shell line", []),
        ("markdown", "Untagged ending.", [])]
    nb = nbformat.read(path, as_version=4)
    assert [c.id for c in nb.cells] == [f"week09-{i:02d}" for i in range(6)]
    assert nb.metadata["kernelspec"]["name"] == "python3" and not has_outputs(nb)


def test_summary_is_title_setup_and_tagged_cells_in_order_without_outputs(tmp_path):
    _fake_course(tmp_path)
    notebook_build.build(tmp_path)
    nb = nbformat.read(tmp_path / "summaries" / "week09_summary.ipynb", as_version=4)
    assert nb.cells[0].source.startswith("# Week 9 summary - A fake topic")
    assert "week09_fake_topic.ipynb" in nb.cells[0].source and "`make notebooks`" in nb.cells[0].source
    assert "import course_lib" in nb.cells[1].source
    assert [(c.cell_type, c.source) for c in nb.cells[2:4]] == [
        ("markdown", "## Summary\n\n- seven squared"), ("code", "print(7 * 7)")]
    assert nb.cells[4].source.startswith("## Your own summary") and nb.cells[5].source == YOUR_CELL
    assert not has_outputs(nb)
    assert notebook_build.check(tmp_path) == []
    assert notebook_build.build(tmp_path) == ([], [])  # rebuilding writes nothing


def test_rebuilding_a_summary_keeps_the_learners_own_cells(tmp_path):
    lesson = _fake_course(tmp_path)
    notebook_build.build(tmp_path)
    path = tmp_path / "summaries" / "week09_summary.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[-1].source = "My summary: a batch goes forward, then backward."
    extra = nbformat.v4.new_code_cell("print('my own check')", outputs=[
        new_output("stream", name="stdout", text="my own check\n")], execution_count=3)
    nb.cells.append(extra)
    nbformat.write(nb, path)
    assert notebook_build.check(tmp_path) == []  # the learner's part is not "out of date"
    lesson.write_text(FAKE_LESSON.replace("seven squared", "seven times seven"), encoding="utf-8")
    assert [s.path.name for s in notebook_build.check(tmp_path)] == ["week09_fake_topic.ipynb", path.name]
    notebook_build.build(tmp_path)
    rebuilt = nbformat.read(path, as_version=4)
    assert rebuilt.cells[2].source == "## Summary\n\n- seven times seven"  # the generated part follows the lesson
    assert rebuilt.cells[-2].source == "My summary: a batch goes forward, then backward."
    assert rebuilt.cells[-1].source == extra.source and rebuilt.cells[-1].outputs == extra.outputs
    assert rebuilt.cells[-1].id == extra.id


def test_check_reports_every_stale_file(tmp_path):
    lesson = _fake_course(tmp_path)
    notebook_build.build(tmp_path)
    notebook = tmp_path / "notebooks" / "week09_fake_topic.ipynb"
    summary = tmp_path / "summaries" / "week09_summary.ipynb"

    lesson.write_text(FAKE_LESSON.replace("x = 1", "x = 2"), encoding="utf-8")  # an untagged cell changed
    assert notebook_build.check(tmp_path) == [Stale(notebook, "out of date with its source")]

    lesson.write_text(FAKE_LESSON.replace("7 * 7", "8 * 8"), encoding="utf-8")  # a tagged cell changed
    assert notebook_build.check(tmp_path) == [Stale(notebook, "out of date with its source"),
                                              Stale(summary, "out of date with its source")]
    notebook_build.build(tmp_path)

    ran = nbformat.read(summary, as_version=4)
    ran.cells[3].outputs = [new_output("stream", name="stdout", text="64\n")]  # print(8 * 8), a generated cell
    nbformat.write(ran, summary)
    assert notebook_build.check(tmp_path) == [Stale(summary, "stores outputs")]
    notebook_build.build(tmp_path)

    lesson.write_text(FAKE_LESSON.replace(' tags=["summary", "other"]', "").replace(' tags=["summary"]', ""),
                      encoding="utf-8")  # the lesson no longer has summary cells
    assert notebook_build.check(tmp_path) == [Stale(notebook, "out of date with its source"),
                                              Stale(summary, "generated, but its source is gone")]
    notebook_build.build(tmp_path)
    assert not summary.exists() and notebook_build.check(tmp_path) == []

    lesson.unlink()  # a lesson removed: its notebook goes too, a learner's own notebook stays
    own = tmp_path / "notebooks" / "my_notes.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), own)
    assert notebook_build.check(tmp_path) == [Stale(notebook, "generated, but its source is gone")]
    notebook_build.build(tmp_path)
    assert not notebook.exists() and own.exists()


def test_make_strip_notebooks_gives_back_the_generated_file(tmp_path):
    _fake_course(tmp_path)
    notebook_build.build(tmp_path)
    path = tmp_path / "notebooks" / "week09_fake_topic.ipynb"
    ran = nbformat.read(path, as_version=4)
    ran.cells[3].outputs = [new_output("stream", name="stdout", text="49\n")]
    ran.cells[3].execution_count = 1
    ran.cells[3].metadata["ExecuteTime"] = {"end_time": "2026-11-25T18:01:00"}
    nbformat.write(ran, path)
    assert notebook_build.check(tmp_path) == [Stale(path, "stores outputs")]
    subprocess.run([sys.executable, "-m", "nbstripout", "--keep-id", str(path)], check=True)  # as in the Makefile
    assert notebook_build.check(tmp_path) == []


def test_check_flags_summary_cells_that_need_the_rest_of_the_lesson(tmp_path):
    _fake_course(tmp_path, FAKE_LESSON.replace(
        "print(7 * 7)", "import math\nprint(math.sqrt(x), [k for k in range(3)])  # x comes from an untagged cell"))
    done, (problem,) = notebook_build.build(tmp_path)
    assert problem.path == tmp_path / "summaries" / "week09_summary.ipynb"
    assert "use x without defining or importing them" in problem.reason
    assert notebook_build.check(tmp_path) == [problem]
    assert undefined_names(["def f(a):\n    return a + b\nfor i in range(2):\n    f(i)"]) == ["b"]


def test_quiz_review_notebooks_exist_for_every_bank():
    names = {p.name for p in QUIZ_NOTEBOOKS}
    assert {f"week{w:02d}_quiz_review.ipynb" for w in range(1, 8)} | {"cumulative_review.ipynb"} <= names


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
