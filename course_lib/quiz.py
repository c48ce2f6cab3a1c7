"""Quizzes: check and score answers (plain functions); banks are loaded by `quiz_bank`.

    bank = quiz.load_bank("week05")                      # validated, errors name file:line
    quiz.check_answer(bank.questions[0], "(512, 7, 7)")  # -> CheckResult(correct, message, expected)
    quiz.check_code(question, globals())                 # runs the check on the learner's variable
    quiz.score(bank.questions, {"backbone-output": "512x7x7"})

`quiz_widgets` renders a bank in the notebook, `quiz_progress` keeps the learner's answers.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .quiz_bank import (
    BANK_DIR,
    KINDS,
    Bank,
    Computed,
    Question,
    QuizBankError,
    _is_number,
    bank_paths,
    load_all_banks,
    load_bank,
    parse_bank,
)
from .quiz_checks import CODE_CHECKS

__all__ = ["BANK_DIR", "KINDS", "Bank", "CheckResult", "Computed", "Question", "QuizBankError", "Score",
           "bank_paths", "check_answer", "check_code", "format_answer", "load_all_banks", "load_bank",
           "parse_bank", "parse_number", "parse_shape", "sample_questions", "score", "validate_answers"]


@dataclass(frozen=True)
class CheckResult:
    correct: bool
    message: str
    expected: Any = None


@dataclass(frozen=True)
class Score:
    correct: int
    answered: int
    total: int

    def __str__(self) -> str:
        return f"{self.correct}/{self.total} correct ({self.answered} answered)"


def validate_answers(bank: Bank) -> list[str]:
    """Compute every computed answer now; 'file:line: ...' for each that fails or does not fit its kind."""
    problems = []
    for q in bank.questions:
        if q.answer_from is None and q.kind != "single":
            continue
        try:
            value = q.expected()
        except Exception as exc:
            problems.append(f"{q.where}: question {q.id!r}: {q.answer_from.describe()} failed: "
                            f"{type(exc).__name__}: {exc}")
            continue
        if q.kind == "single" and value not in q.choices:
            problems.append(f"{q.where}: question {q.id!r}: the answer {value!r} is not among the choices")
        elif q.kind == "multiple" and not set(value) <= set(q.choices):
            problems.append(f"{q.where}: question {q.id!r}: the answer {list(value)} is not among the choices")
        elif q.kind == "numeric" and not _is_number(value):
            problems.append(f"{q.where}: question {q.id!r}: computed answer {value!r} is not a number")
    return problems



def sample_questions(banks: Iterable[Bank], per_bank: int = 2, seed: int = 0,
                     kinds: Iterable[str] = ("single", "multiple", "numeric", "shape")) -> list[Question]:
    """A mixed review: `per_bank` questions of the given kinds from each bank, chosen by `seed`."""
    rng, picked = random.Random(seed), []
    for bank in banks:
        pool = [q for q in bank.questions if q.kind in tuple(kinds)]
        picked += rng.sample(pool, min(per_bank, len(pool)))
    return picked


# ------------------------------------------------------------------ checking

def parse_number(text) -> float:
    """A learner's number: 250890, "250,890", "250_890", "2.5e5"."""
    if _is_number(text):
        return text
    s = str(text).strip().replace("_", "").replace(" ", "")
    if re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?", s):
        s = s.replace(",", "")
    try:
        value = float(s)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    return int(value) if value.is_integer() and re.fullmatch(r"[+-]?\d+", s) else value


def parse_shape(text) -> tuple[int, ...]:
    """A learner's shape: (1, 28, 28), "1x28x28", "[1,28,28]", "torch.Size([1, 28, 28])"."""
    if not isinstance(text, str):
        return tuple(int(v) for v in text)
    s = text.strip().removeprefix("torch.Size").strip("()[] ")
    parts = [p for p in re.split(r"[\s,x×*]+", s) if p]
    if not all(re.fullmatch(r"\d+", p) for p in parts):
        raise ValueError(f"{text!r} is not a shape like (1, 28, 28)")
    return tuple(int(p) for p in parts)


def check_answer(question: Question, given, namespace: Mapping[str, Any] | None = None) -> CheckResult:
    """Is `given` right? Code questions look up `question.name` in `namespace` instead."""
    if question.kind == "code":
        return check_code(question, namespace or {})
    expected = question.expected()
    if given is None or given == "" or given == ():
        return CheckResult(False, "no answer given yet", expected)
    try:
        if question.kind == "single":
            ok = str(given) == expected
        elif question.kind == "multiple":
            ok = tuple(sorted({str(g) for g in given})) == expected
        elif question.kind == "numeric":
            value = parse_number(given)
            ok = abs(value - expected) <= question.tolerance + 1e-9 * abs(expected)
        else:
            ok = parse_shape(given) == tuple(expected)
    except (ValueError, TypeError) as exc:
        return CheckResult(False, f"could not read the answer: {exc}", expected)
    return CheckResult(ok, "right" if ok else "not quite", expected)


def check_code(question: Question, namespace: Mapping[str, Any]) -> CheckResult:
    """Run the question's check on the learner's variable `question.name` from `namespace`."""
    if question.name not in namespace:
        return CheckResult(False, f"define `{question.name}` in a cell, run it, then check again")
    expected = question.expected()
    try:
        ok, message = CODE_CHECKS[question.check.fn](namespace[question.name], expected, **question.check.args)
    except Exception as exc:  # the learner's code may raise anything: report it, never crash the quiz
        return CheckResult(False, f"`{question.name}` raised {type(exc).__name__}: {exc}", expected)
    return CheckResult(bool(ok), message, expected)


def score(questions: Iterable[Question], answers: Mapping[str, Any],
          namespace: Mapping[str, Any] | None = None) -> Score:
    """Score `answers` ({question id or key: given}); code questions are checked in `namespace`."""
    questions = list(questions)
    correct = answered = 0
    for q in questions:
        if q.kind == "code":
            if namespace is None or q.name not in namespace:
                continue
            given = None
        else:
            given = answers.get(q.key, answers.get(q.id))
            if given is None:
                continue
        answered += 1
        correct += check_answer(q, given, namespace).correct
    return Score(correct, answered, len(questions))


def format_answer(question: Question, value=None) -> str:
    """The expected answer as text for the review."""
    value = question.expected() if value is None else value
    if question.kind == "shape":
        return "(" + ", ".join(str(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if question.kind == "multiple":
        return "; ".join(value)
    if question.kind == "numeric" and isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)

