"""Retrieval practice (issue 16.3): missed questions come back first, "review what I missed" across weeks, and
the review's answers stay folded until the learner opens one (Run All reveals none)."""
from __future__ import annotations

import re

from IPython.display import Markdown

from course_lib import quiz
from course_lib.quiz import widgets as quiz_widgets
from course_lib.quiz.progress import Progress
from course_lib.quiz.retrieval import missed_questions, retrieval_order, saved_answers

BANKS = quiz.load_all_banks()
WEEK05 = next(b for b in BANKS if b.name == "week05")
WEEK01 = next(b for b in BANKS if b.name == "week01")


def _wrong_answer(q: quiz.Question):
    """An answer the check rejects, as saved in the progress file."""
    if q.kind == "single":
        return next(c for c in q.choices if c != q.expected())
    if q.kind == "multiple":
        return [c for c in q.choices if c not in set(q.expected())][:1]
    if q.kind == "numeric":
        return str(q.expected() * 3 + 7)
    if q.kind == "shape":
        return quiz.format_answer(q, tuple(q.expected()) + (1,))
    return None


def _first(bank: quiz.Bank, kind: str, skip: int = 0) -> quiz.Question:
    return [q for q in bank.questions if q.kind == kind][skip]


def test_missed_questions_come_first_then_unanswered_then_right(tmp_path):
    progress = Progress(tmp_path)
    qs = WEEK05.questions
    progress.record("week05", qs[0].id, "x", True)  # Q1 right
    progress.record("week05", qs[4].id, "x", False)  # Q5 missed
    progress.record("week05", qs[2].id, "x", False)  # Q3 missed
    order = retrieval_order(qs, saved_answers(qs, progress))
    numbers = [n for n, _ in order]
    assert numbers[:2] == [3, 5]  # missed, in bank order
    assert numbers[2:-1] == [n for n in range(2, len(qs) + 1) if n not in (3, 5)]  # not answered yet
    assert numbers[-1] == 1  # answered right: last
    assert [q for _, q in order] == [qs[n - 1] for n in numbers]  # a number stays its place in the bank


def test_the_quiz_shows_missed_questions_first_with_their_bank_numbers(tmp_path):
    single, numeric = _first(WEEK05, "single"), _first(WEEK05, "numeric")
    view = quiz_widgets.show_quiz(WEEK05, namespace={}, progress=Progress(tmp_path))
    assert [v.number for v in view.questions] == list(range(1, len(WEEK05.questions) + 1))  # nothing saved yet
    assert view.retrieval_note.value == ""
    by_id = {v.question.id: v for v in view.questions}
    by_id[single.id].set_answer(_wrong_answer(single))
    by_id[single.id].check_button.click()
    by_id[numeric.id].set_answer(numeric.expected())
    by_id[numeric.id].check_button.click()
    assert not by_id[single.id].result.correct and by_id[numeric.id].result.correct

    again = quiz_widgets.show_quiz(WEEK05, namespace={}, progress=Progress(tmp_path))
    first, last = again.questions[0], again.questions[-1]
    assert first.question.id == single.id and first.number == WEEK05.questions.index(single) + 1
    assert last.question.id == numeric.id
    assert f"Q{first.number}" in again.retrieval_note.value and "shown first" in again.retrieval_note.value
    assert f"<b>Q{first.number}.</b>" in first.prompt.value  # labelled with its number in the bank
    children = list(again.widget.children)
    assert children.index(again.retrieval_note) < children.index(first.widget)  # the note comes before them


def test_missed_questions_across_weeks(tmp_path):
    progress = Progress(tmp_path)
    assert missed_questions(BANKS, progress) == []
    a, b, c = _first(WEEK01, "single"), _first(WEEK05, "shape"), _first(WEEK05, "single")
    progress.record("week05", b.id, "(1,)", False)
    progress.record("week01", a.id, "x", False)
    progress.record("week05", c.id, c.expected(), True)
    assert missed_questions(BANKS, progress) == [a, b]  # week order, then bank order; right ones left out
    assert missed_questions(BANKS, progress, kinds=("single",)) == [a]


def test_review_what_i_missed_is_a_quiz_that_empties_as_answers_come_right(tmp_path):
    progress = Progress(tmp_path)
    nothing = quiz_widgets.show_missed(BANKS, namespace={}, progress=progress)
    assert isinstance(nothing, Markdown) and "Nothing missed so far" in nothing.data
    a, b = _first(WEEK01, "single"), _first(WEEK05, "numeric")
    code = _first(WEEK05, "code")
    for q in (a, b, code):
        progress.record(q.bank, q.id, _wrong_answer(q), False)
    view = quiz_widgets.show_missed(BANKS, namespace={}, progress=progress)
    assert [v.question.key for v in view.questions] == [a.key, b.key]  # code questions are redone in their week
    assert code.key in view.widget.children[0].value and "review notebook" in view.widget.children[0].value
    for v in view.questions:
        v.set_answer(v.question.expected())
        v.check_button.click()
        assert v.result.correct
    assert progress.answers("week01")[a.id]["correct"] is True  # saved to its own week
    after = quiz_widgets.show_missed(BANKS, namespace={}, progress=Progress(tmp_path))
    assert isinstance(after, Markdown) and code.key in after.data  # only the code question is left to redo


def test_review_answers_are_folded_away_until_opened():
    text = quiz_widgets.review_markdown(WEEK05)
    folds = re.findall(r"<details[^>]*>", text)
    assert len(folds) == len(WEEK05.questions) and all(" open" not in f for f in folds)  # closed: Run All opens none
    assert text.count("<summary>Answer and why</summary>") == len(WEEK05.questions)
    for block, q in zip(text.split("\n\n---\n\n"), WEEK05.questions):
        prompt, _, folded = block.partition("<details")
        assert q.prompt.strip()[:40] in prompt  # the question is visible ...
        assert q.explanation.strip()[:40] not in prompt and q.explanation.strip()[:40] in folded  # ... its answer not
        assert folded.rstrip().endswith("</details>")
    assert "**right answer:** flatten_fc" in text
    assert "<details" not in quiz_widgets.review_markdown(WEEK05, folded=False)
    assert quiz_widgets.review(WEEK05).data == text  # what the review notebook's cell displays
