"""Retrieval practice from the saved progress: what was missed comes back first.

    saved = saved_answers(bank.questions, progress)      # {question key: its saved entry}
    order = retrieval_order(bank.questions, saved)      # [(number in the bank, question)], missed first
    missed = missed_questions(banks, progress)          # every question whose last saved answer was wrong

A question's number stays its place in its bank (Q7 is the bank's 7th question wherever it is shown), so the
code cells of a review notebook ("Q7: define ... here") keep matching their question.
"""
from __future__ import annotations

from typing import Iterable

from .bank import Bank, Question
from .progress import Progress

MISSED, UNANSWERED, RIGHT = 0, 1, 2  # the order in which a review shows its questions


def saved_answers(questions: Iterable[Question], progress: Progress | None) -> dict[str, dict]:
    """{question key: its saved entry} for the questions that have one (none without `progress`)."""
    if progress is None:
        return {}
    questions = list(questions)
    by_bank = {bank: progress.answers(bank) for bank in {q.bank for q in questions}}
    return {q.key: by_bank[q.bank][q.id] for q in questions if q.id in by_bank[q.bank]}


def standing(question: Question, saved: dict[str, dict]) -> int:
    """MISSED when the last saved answer was wrong, RIGHT when it was right, UNANSWERED without one."""
    entry = saved.get(question.key)
    if entry is None:
        return UNANSWERED
    return RIGHT if entry.get("correct") is True else MISSED


def retrieval_order(questions: Iterable[Question], saved: dict[str, dict]) -> list[tuple[int, Question]]:
    """(number, question) pairs, numbered in the given order, then shown missed first, then the ones not
    answered yet, then the ones answered right; the given order is kept within each group."""
    numbered = list(enumerate(questions, start=1))
    return sorted(numbered, key=lambda pair: standing(pair[1], saved))  # sorted() is stable


def missed_questions(banks: Iterable[Bank], progress: Progress,
                     kinds: Iterable[str] | None = None) -> list[Question]:
    """Every question of `banks` (of `kinds`, when given) whose last saved answer was wrong, in bank order."""
    wanted = None if kinds is None else set(kinds)
    questions = [q for bank in banks for q in bank.questions if wanted is None or q.kind in wanted]
    saved = saved_answers(questions, progress)
    return [q for q in questions if standing(q, saved) == MISSED]
