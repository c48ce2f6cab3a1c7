"""One exercise round trip in JupyterLab + headless Chromium, as a learner does it (issue 16): Run All shows the
verdict only (no hint, no solution); a wrong answer typed into the cell says "Not yet"; Hint reveals the hints one
click at a time; the right answer says "Right"; Show solution reveals the solution and why.

The notebook is week 2's Exercise 1 (its markdown, answer cell and check cell, copied from the generated lesson
notebook) after an import cell, so the round trip takes seconds, not the lesson's full Run All.
Needs Chromium (skipped without it, failed under CI=true).
"""
from __future__ import annotations

import re
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from course_lib import exercises

from . import browser_harness as bh
from .conftest import REPO

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

LESSON = REPO / "notebooks" / "week02_network_from_scratch.ipynb"
EXERCISE = "week02/parameters"
NOTEBOOK = "exercise_round_trip.ipynb"


def _exercise_cells() -> list:
    """Week 2's Exercise 1: the markdown that asks, the answer cell, the check cell (as the lesson has them)."""
    cells = nbformat.read(LESSON, as_version=4).cells
    check = next(i for i, c in enumerate(cells) if f'exercises.check("{EXERCISE}"' in c.source)
    assert cells[check - 1].source.startswith("my_answer = ..."), cells[check - 1].source
    assert cells[check - 2].cell_type == "markdown" and "Exercise 1" in cells[check - 2].source
    return [cells[check - 2], cells[check - 1], cells[check]]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    bh.require_browser()
    work = tmp_path_factory.mktemp("exercise-browser")
    root = work / "course"
    root.mkdir()
    nb = new_notebook(cells=[new_code_cell("from course_lib import exercises")] + _exercise_cells(),
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, root / NOTEBOOK)
    with bh.lab_and_browser(root, work / "lab", env={"COURSE_FAST": "1"}) as (server, browser):
        yield server, browser


def _verdict(page) -> str:
    return " ".join(page.locator(".course-exercise").inner_text().split())


def _answer_and_check(page, nb: bh.Lesson, text: str) -> str:
    """Replace the answer cell's code with `text`, run it and the check cell (Shift+Enter twice); the verdict."""
    cells = page.locator(".jp-NotebookPanel .jp-CodeCell")
    answer, check = cells.nth(1), cells.nth(2)
    old = check.locator(".jp-InputArea-prompt").inner_text().strip()
    answer.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(text)
    page.keyboard.press("Shift+Enter")
    page.keyboard.press("Shift+Enter")
    deadline = time.monotonic() + 60
    while check.locator(".jp-InputArea-prompt").inner_text().strip() in (old, "[*]:"):
        assert time.monotonic() < deadline, "the check cell did not run again"
        time.sleep(0.3)
    nb.wait_kernel_idle()
    assert not nb.errors(), nb.errors()
    page.wait_for_timeout(300)
    return _verdict(page)


def test_exercise_round_trip_in_browser(lab):
    server, browser = lab
    exercise = exercises.get(EXERCISE)
    right = exercise.reference
    wrong = exercise.typical_mistakes[0]
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        nb = bh.Lesson(page, server, NOTEBOOK)
        nb.open()
        nb.run_all()
        nb.wait_until_executed(300)
        assert not nb.errors(), nb.errors()
        page.locator(".course-exercise").wait_for()
        first = _verdict(page)
        assert "Not answered yet:" in first, first
        page_text = page.locator(".jp-NotebookPanel").inner_text()
        assert exercise.hints[0] not in page_text and "784 * 32 + 32" not in page_text.split("Exercise 1")[0]
        assert "Solution" not in first and "Hints" not in first  # Run All reveals neither

        verdict = _answer_and_check(page, nb, f"my_answer = {wrong}")
        assert "Not yet:" in verdict and "Right:" not in verdict, verdict

        hint_button = page.locator(".course-exercise button", has_text="Hint")
        hint_button.click()
        page.locator(".course-exercise", has_text=exercise.hints[0]).wait_for(timeout=15_000)
        assert exercise.hints[1] not in _verdict(page)  # one hint per click
        hint_button.click()
        page.locator(".course-exercise", has_text=exercise.hints[1]).wait_for(timeout=15_000)
        assert "(2 of 2)" in _verdict(page) and hint_button.is_disabled()

        verdict = _answer_and_check(page, nb, f"my_answer = {right}")
        assert "Right:" in verdict, verdict
        assert exercise.hints[0] not in verdict  # a new check starts a fresh box

        page.locator(".course-exercise button", has_text="Show solution").click()
        box = page.locator(".course-exercise", has_text="Solution")
        box.wait_for(timeout=15_000)
        shown = " ".join(box.inner_text().split())
        assert " ".join(exercise.solution_text().split()) in shown, shown
        assert "Why:" in shown and re.search(r"784 weights and a bias", shown), shown
        assert page.locator(".course-exercise button", has_text="Show solution").is_disabled()
        assert not bh.missing_glyphs(page, ".course-exercise")
    finally:
        context.close()
        server.shutdown_kernels()
