"""Weeks 1-3 run top to bottom with every exercise still open: each registered exercise is checked in its
lesson, every check says "not answered yet", and no solution, hint or explanation appears in any output
(they are shown only by the Hint / Show solution buttons)."""
from __future__ import annotations

import nbformat
import pytest

from course_lib import exercises

from .conftest import REPO
from .test_notebooks import execute

LESSONS = {"week01": "week01_tensors_datasets_loaders", "week02": "week02_network_from_scratch",
           "week03": "week03_batch_life_cycle"}


def _strings(obj) -> list[str]:
    """Every string inside a notebook's outputs (stream text, text/plain, HTML, widget state...)."""
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


@pytest.mark.parametrize("week", LESSONS)
def test_every_exercise_of_the_week_is_checked_in_its_lesson(week):
    nb = nbformat.read(REPO / "notebooks" / f"{LESSONS[week]}.ipynb", as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for exercise in exercises.all_exercises(week):
        assert f'exercises.check("{exercise.id}", ' in code, f"{exercise.id} is never checked in the lesson"
        assert exercise.solution_text() not in code, f"{exercise.id}: the lesson's source shows the solution"


@pytest.mark.slow
@pytest.mark.parametrize("week", LESSONS)
def test_run_all_leaves_every_exercise_open_and_shows_no_solution(week):
    nb, _ = execute(REPO / "notebooks" / f"{LESSONS[week]}.ipynb", fast=True)
    shown = "\n".join(_strings([c.outputs for c in nb.cells if c.cell_type == "code"])
                      + _strings(nb.metadata.get("widgets", {})))
    checks = [o for c in nb.cells if c.cell_type == "code" and "exercises.check(" in c.source for o in c.outputs
              if "text/plain" in o.get("data", {})]
    found = exercises.all_exercises(week)
    assert len(checks) == len(found)
    assert all(o["data"]["text/plain"].startswith("NOT ANSWERED YET") for o in checks), checks
    for exercise in found:
        assert exercise.solution_text() not in shown, f"{exercise.id}: its solution is in the outputs"
        assert exercise.explanation not in shown, f"{exercise.id}: its explanation is in the outputs"
        assert not any(hint in shown for hint in exercise.hints), f"{exercise.id}: a hint is in the outputs"
    assert "Show solution" in shown  # the buttons are there (widget state), only not pressed
