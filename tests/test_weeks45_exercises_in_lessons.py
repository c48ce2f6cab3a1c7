"""Weeks 4 and 5: every registered exercise is checked in its lesson, and "Run All" in fast mode leaves every
exercise unanswered and shows no hint, solution or explanation anywhere in the outputs (nor in the widget
state the run stores)."""
from __future__ import annotations

import json

import nbformat
import pytest

from course_lib import exercises

from .conftest import REPO
from .test_notebooks import execute

LESSONS = {"week04": "week04_successive_distillation", "week05": "week05_final_layer_heads"}


def _secrets(exercise: exercises.Exercise, source: str) -> list[str]:
    """Texts only a click may reveal: the solution, its lines not already in the lesson, hints, explanation."""
    solution = exercise.solution_text()
    lines = [line.strip() for line in solution.splitlines()]
    texts = [solution, *exercise.hints, exercise.explanation]
    texts += [line for line in lines if len(line) > 12 and line not in source]
    return [t for t in texts if t]


@pytest.mark.parametrize("week", sorted(LESSONS))
def test_every_exercise_of_the_week_is_checked_in_its_lesson(week):
    source = (REPO / "lessons" / f"{LESSONS[week]}.py").read_text()
    registered = [e.id for e in exercises.all_exercises(week)]
    assert 4 <= len(registered) <= 8, registered
    for exercise_id in registered:
        assert source.count(f'exercises.check("{exercise_id}"') == 1, exercise_id
    kinds = {e.kind for e in exercises.all_exercises(week)}
    assert kinds == set(exercises.KINDS), kinds  # predict, fill in and break it, every week


@pytest.mark.slow
@pytest.mark.parametrize("week", sorted(LESSONS))
def test_run_all_reveals_no_solution(week, tmp_path):
    path = REPO / "notebooks" / f"{LESSONS[week]}.ipynb"
    source = (REPO / "lessons" / f"{LESSONS[week]}.py").read_text()
    nb, _ = execute(path, fast=True, env={"COURSE_PROGRESS_DIR": str(tmp_path)})
    outputs = json.dumps([c.get("outputs", []) for c in nb.cells if c.cell_type == "code"])
    shown = outputs + json.dumps(nb.metadata.get("widgets", {}))
    assert "NOT ANSWERED YET" in outputs
    checks = [c for c in nb.cells if c.cell_type == "code" and "exercises.check(" in c.source]
    assert len(checks) == len(exercises.all_exercises(week))
    for cell in checks:  # every stub left as it is: "not answered yet", never right or wrong
        text = "".join(o.get("data", {}).get("text/plain", "") for o in cell.outputs)
        assert text.startswith("NOT ANSWERED YET"), (cell.source, text)
    for exercise in exercises.all_exercises(week):
        for secret in _secrets(exercise, source):
            assert json.dumps(secret)[1:-1] not in shown, (exercise.id, secret)
    nbformat.validate(nb)
