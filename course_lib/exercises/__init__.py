"""Exercises checked in the notebook: `check("week03/ce-gradient", my_function)`.

    check(exercise_id, answer)   # verdict + Hint / Show solution buttons (nothing revealed until clicked)
    get(exercise_id).hint ...    # the Exercise: checker, hints, solution, reference answer
Each week's exercises are registered in `course_lib/exercises/weekNN.py`.
"""
from __future__ import annotations

from typing import Any

from .core import (
    EXERCISES,
    KINDS,
    Exercise,
    Verdict,
    all_exercises,
    expect_choice,
    expect_function,
    expect_number,
    expect_shape,
    get,
    parse_shape,
    register,
)
from .widgets import ExerciseView

__all__ = ["EXERCISES", "KINDS", "Exercise", "ExerciseView", "Verdict", "all_exercises", "check",
           "expect_choice", "expect_function", "expect_number", "expect_shape", "get", "parse_shape",
           "register"]


def check(exercise_id: str, answer: Any) -> ExerciseView:
    """Check `answer` for exercise `exercise_id`; displays the verdict with hint and solution buttons."""
    exercise = get(exercise_id)
    return ExerciseView(exercise, exercise.check(answer))
