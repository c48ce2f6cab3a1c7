"""Exercises: every registered exercise checks its reference as right and its typical mistakes as wrong
(with a message), stubs as "not answered yet"; hints and solutions appear only when asked for."""
from __future__ import annotations

import pytest
import torch

from course_lib import exercises
from course_lib.exercises import Exercise, ExerciseView, expect_choice, expect_function, expect_number, expect_shape

ALL = exercises.all_exercises()


@pytest.mark.parametrize("exercise", ALL, ids=lambda e: e.id)
def test_reference_answer_is_right_and_typical_mistakes_are_wrong(exercise: Exercise):
    verdict = exercise.check(exercise.reference)
    assert verdict.correct, f"{exercise.id}: reference answer checked as {verdict}"
    assert exercise.typical_mistakes, f"{exercise.id}: give at least one typical mistake to test the checker"
    for mistake in exercise.typical_mistakes:
        verdict = exercise.check(mistake)
        assert verdict.status == "wrong" and len(verdict.message) > 10, (exercise.id, mistake, verdict)
    assert exercise.check(...).status == "unanswered" and exercise.check(None).status == "unanswered"
    assert exercise.hints and exercise.solution_text()


def _toy() -> Exercise:
    return Exercise("toy/softmax", "fill in", "softmax over classes",
                    expect_function(lambda z: z.softmax(1), lambda: (torch.randn(4, 3),)),
                    hints=("exponentiate", "divide by the row sums"),
                    solution="def softmax(z):\n    return z.exp() / z.exp().sum(1, keepdim=True)",
                    explanation="each row is one image's scores")


def test_function_checker_says_what_is_wrong_and_keeps_the_learners_random_state():
    toy = _toy()
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    assert toy.check(lambda z: z.exp() / z.exp().sum(1, keepdim=True)).correct
    assert torch.equal(torch.rand(1), before)  # checking did not reseed the learner's generator
    assert "wrong values" in toy.check(lambda z: z.exp() / z.exp().sum(0, keepdim=True)).message
    assert "shape (4, 2)" in toy.check(lambda z: z[:, :2]).message
    assert toy.check(lambda z: None).status == "unanswered"
    raised = toy.check(lambda z: 1 / 0)
    assert raised.status == "wrong" and "ZeroDivisionError" in raised.message


def test_number_shape_and_choice_checkers_compute_the_answer_when_checked():
    calls = []
    number = expect_number(lambda: calls.append(1) or 5130, why=lambda v: "C*K + K")
    assert number(5130).correct and "C*K + K" in number(5130).message and calls
    assert number(5000).message == "5,000 is too low." and "C*K" not in number(5000).message  # no giveaway
    assert not number("many").correct
    shape = expect_shape(lambda: torch.Size([64, 10]))
    assert shape("(64, 10)").correct and shape([64, 10]).correct and shape("64x10").correct
    assert "dimension 1" in shape((64, 9)).message and "the tensor has 2" in shape((64, 10, 1)).message
    choice = expect_choice(lambda: "b", {"a": "nothing", "b": "the loss blows up"})
    assert choice("B").correct and "the run gives (b)" in choice("a").message and not choice("z").correct


def test_hints_and_solution_appear_only_when_asked_for():
    view = ExerciseView(_toy(), _toy().check(...))
    assert "Not answered yet" in view.verdict_line.value
    assert view.hint_area.value == "" and view.solution_area.value == ""
    assert view._repr_mimebundle_()["text/plain"].startswith("NOT ANSWERED YET")
    assert view.hint() == "exponentiate" and "1 of 2" in view.hint_area.value and view.solution_area.value == ""
    assert view.hint() == "divide by the row sums" and view.hint_button.disabled
    text = view.show_solution()
    assert "z.exp().sum(1" in text and "z.exp().sum(1" in view.solution_area.value
    assert "each row is one image" in view.solution_area.value and view.solution_button.disabled


def test_unknown_exercise_lists_the_valid_ids():
    with pytest.raises(KeyError, match="unknown exercise 'week99/none'"):
        exercises.check("week99/none", 1)
