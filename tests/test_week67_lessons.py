"""Weeks 6 and 7 run top to bottom in fast mode with every exercise unanswered, and reveal no solution:
no solution or explanation text in any output or stored widget state, every check says "not answered yet"."""
from __future__ import annotations

import html
import json

import pytest

from course_lib import exercises

from .conftest import REPO
from .test_notebooks import execute

LESSONS = {"week06": "week06_modular_training", "week07": "week07_many_devices"}


def solution_fragments(week: str) -> list[str]:
    """Distinctive pieces of every solution and explanation of `week`: lines of 25+ characters."""
    pieces = []
    for exercise in exercises.all_exercises(week):
        text = exercise.solution_text() + "\n" + exercise.explanation
        pieces += [line.strip() for line in text.splitlines() if len(line.strip()) >= 25]
        pieces += [text.strip()[:40]]  # the start of a one-line written solution
    return pieces


def test_every_week_has_four_to_eight_exercises_of_all_kinds():
    for week in LESSONS:
        mine = exercises.all_exercises(week)
        assert 4 <= len(mine) <= 8, (week, len(mine))
        assert {e.kind for e in mine} == {"predict", "fill in", "break it"}, week


def test_the_fragments_find_a_revealed_solution():
    """The search above would see a solution once it is shown (the test can fail)."""
    for week in LESSONS:
        for exercise in exercises.all_exercises(week):
            view = exercises.ExerciseView(exercise, exercise.check(...))
            view.show_solution()
            shown = json.dumps({"value": view.solution_area.value})
            mine = [f for f in solution_fragments(week) if json.dumps(html.escape(f))[1:-1] in shown]
            assert mine, exercise.id


@pytest.mark.slow
@pytest.mark.parametrize("week", LESSONS)
def test_lesson_runs_with_open_exercises_and_shows_no_solution(week):
    nb, _ = execute(REPO / "notebooks" / f"{LESSONS[week]}.ipynb", fast=True)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = json.dumps([o for o in outputs]) + json.dumps(nb.metadata.get("widgets", {}))
    for fragment in solution_fragments(week):
        for form in (fragment, html.escape(fragment)):  # as printed, or inside a widget's HTML
            assert json.dumps(form)[1:-1] not in shown, f"{week}: solution text visible after Run All: {fragment!r}"
    checks = [c for c in nb.cells if c.cell_type == "code" and "exercises.check(" in c.source]
    ids = {c.source.split('"')[1] for c in checks}
    assert ids == {e.id for e in exercises.all_exercises(week)}, "every exercise is checked in the lesson"
    for cell in checks:
        plain = "".join(o.get("data", {}).get("text/plain", "") for o in cell.outputs)
        assert plain.startswith("NOT ANSWERED YET"), (cell.source, plain)
