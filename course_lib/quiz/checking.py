"""Checking and scoring answers (plain functions; each question's kind does the judging).

    quiz.check_answer(bank.questions[0], "(512, 7, 7)")  # -> CheckResult(correct, message, expected)
    quiz.check_code(question, globals())                 # runs the check on the learner's variable
    quiz.score(bank.questions, {"backbone-output": "512x7x7"})
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .bank import Bank, Question
from .kinds import KINDS, CheckResult


@dataclass(frozen=True)
class Score:
    """How many questions were answered right, answered at all, and asked."""

    correct: int
    answered: int
    total: int

    def __str__(self) -> str:
        return f"{self.correct}/{self.total} correct ({self.answered} answered)"


def validate_answers(bank: Bank) -> list[str]:
    """Compute every computed answer now; 'file:line: ...' for each that fails or does not fit its kind."""
    problems = []
    for q in bank.questions:
        if q.answer_from is None:  # literal answers were checked when the bank was read
            continue
        try:
            value = q.expected()
        except Exception as exc:
            problems.append(f"{q.where}: question {q.id!r}: {q.answer_from.describe()} failed: "
                            f"{type(exc).__name__}: {exc}")
            continue
        problem = q.handler.answer_problem(q, value)
        if problem:
            problems.append(f"{q.where}: question {q.id!r}: {problem}")
    return problems


def sample_questions(banks: Iterable[Bank], per_bank: int = 2, seed: int = 0,
                     kinds: Iterable[str] | None = None) -> list[Question]:
    """A mixed review: `per_bank` questions of the given kinds (default: those fit for a mixed review,
    i.e. not answered in code) from each bank, chosen by `seed`."""
    kinds = tuple(k for k, kind in KINDS.items() if kind.in_mixed_review) if kinds is None else tuple(kinds)
    rng, picked = random.Random(seed), []
    for bank in banks:
        pool = [q for q in bank.questions if q.kind in kinds]
        picked += rng.sample(pool, min(per_bank, len(pool)))
    return picked


def check_answer(question: Question, given: Any, namespace: Mapping[str, Any] | None = None) -> CheckResult:
    """Is `given` right? Questions answered in code look up `question.name` in `namespace` instead."""
    return question.handler.check(question, given, namespace or {})


def score(questions: Iterable[Question], answers: Mapping[str, Any],
          namespace: Mapping[str, Any] | None = None) -> Score:
    """Score `answers` ({question id or key: given}); code questions are checked in `namespace`."""
    questions = list(questions)
    correct = answered = 0
    for q in questions:
        was_answered, given = q.handler.given_answer(q, answers, namespace)
        if not was_answered:
            continue
        answered += 1
        correct += check_answer(q, given, namespace).correct
    return Score(correct, answered, len(questions))


def format_answer(question: Question, value: Any = None) -> str:
    """The expected answer as text for the review."""
    return question.handler.format(question, question.expected() if value is None else value)
