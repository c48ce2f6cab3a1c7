"""Quiz review notebooks (quizzes/weekNN_quiz_review.ipynb, quizzes/cumulative_review.ipynb) from the banks.

The questions live in quizzes/weekNN.yaml; a notebook only loads its bank, so it changes only when a
bank's title or its code questions change (their cells name the variables to define).
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell

from course_lib import quiz

from .writer import notebook

HOW_TO = """\
**How to use it.** Run all cells (*Run > Run All Cells*). In the quiz, pick or type an answer and click
**Check**: the verdict and the explanation appear, and the score at the bottom runs. Your answers are
saved (atomically) to `~/.course_progress/{name}.json` - or the folder named by `$COURSE_PROGRESS_DIR` -
and come back the next time you open the quiz; a damaged file is reported and kept aside, never lost.
Questions you missed last time come back first. The review at the end lists every question with its answer
and explanation folded away: click **Answer and why** to open one (Run All opens none).

Answers that come from the course (shapes, parameter counts, receptive fields) are computed by
`course_lib` when they are checked, so they always match the library.

**Expected results - fast mode (`COURSE_FAST=1`) and full mode:** identical - the quiz and the review
render in a few seconds and `validate_answers` reports no problem."""


def week_notebook(bank: quiz.Bank) -> nbformat.NotebookNode:
    """The review notebook of one bank: setup, the interactive quiz, cells for code answers, the review."""
    summary = f"../summaries/{bank.name}_summary.ipynb"
    cells = [
        new_markdown_cell(f"# Week {bank.week} quiz review: {bank.title}\n\n"
                          f"{len(bank.questions)} questions from `quizzes/{bank.name}.yaml`. "
                          f"The week's key ideas: [{bank.name} summary]({summary}).\n\n"
                          + HOW_TO.format(name=bank.name)),
        new_code_cell(f'from course_lib import quiz\n'
                      f'from course_lib.quiz.widgets import review, show_quiz\n\n'
                      f'bank = quiz.load_bank("{bank.name}")  # quizzes/{bank.name}.yaml, validated\n'
                      f'problems = quiz.validate_answers(bank)  # computes every course-derived answer now\n'
                      f'assert not problems, problems\n'
                      f'print(f"{{bank.title}}: {{len(bank.questions)}} questions")'),
        new_markdown_cell("## Take the quiz"),
        new_code_cell("quiz_view = show_quiz(bank, namespace=globals())  # answers saved as you check\n"
                      "quiz_view"),
    ]
    code_questions = [(i, q) for i, q in enumerate(bank.questions, start=1) if q.handler.answered_in_code]
    if code_questions:
        cells.append(new_markdown_cell(
            "### Your code for the code questions\n\nEach code question checks a variable or function you "
            "define in this notebook's kernel. Write it in the cell below its number, run the cell, then "
            "click **Check** on the question above."))
        for i, q in code_questions:
            cells.append(new_code_cell(f"# Q{i} ({q.id}): define `{q.name}` here, run this cell, "
                                       "then click Check above.\n"))
    cells += [
        new_markdown_cell("## Review: every question, its answer and why\n\nTry the quiz first, and "
                          "answer each question in your head before you open its **Answer and why**."),
        new_code_cell("review(bank)"),
    ]
    return notebook(cells, f"{bank.name}-quiz")


def cumulative_notebook(banks: list[quiz.Bank]) -> nbformat.NotebookNode:
    """All weeks: saved progress, a mixed quiz (a few questions per week), then every week's review."""
    first, last = banks[0].week, banks[-1].week
    cells = [
        new_markdown_cell(f"# Cumulative review: weeks {first}-{last}\n\n"
                          f"{sum(len(b.questions) for b in banks)} questions from "
                          f"{len(banks)} banks (`quizzes/weekNN.yaml`). Answers you check here count for "
                          "their week too.\n\n" + HOW_TO.format(name="weekNN")),
        new_code_cell("from IPython.display import Markdown\n\n"
                      "from course_lib import quiz\n"
                      "from course_lib.quiz.widgets import progress_markdown, review, show_missed, show_quiz\n\n"
                      "banks = quiz.load_all_banks()  # every quizzes/weekNN.yaml, validated\n"
                      "by_name = {bank.name: bank for bank in banks}\n"
                      "problems = [p for bank in banks for p in quiz.validate_answers(bank)]\n"
                      "assert not problems, problems\n"
                      "print(f\"{len(banks)} banks, {sum(len(b.questions) for b in banks)} questions\")"),
        new_markdown_cell("## Your progress so far\n\nRead from the saved answers of every week."),
        new_code_cell("Markdown(progress_markdown(quiz.Progress(), banks))"),
        new_markdown_cell("## Review what you missed\n\nEvery question of every week whose last saved answer "
                          "was wrong (from the saved progress), as a quiz: a right answer here counts for its "
                          "week. Re-run the cell after a session in a weekly quiz to see what is left."),
        new_code_cell("missed_view = show_missed(banks, namespace=globals())\n"
                      "missed_view"),
        new_markdown_cell("## A mixed quiz\n\nTwo questions from each week (code questions are in the weekly "
                          "notebooks). Change `SEED` and re-run the cell for another draw."),
        new_code_cell("SEED = 0\n"
                      "mixed = quiz.sample_questions(banks, per_bank=2, seed=SEED)\n"
                      "mixed_view = show_quiz(mixed, namespace=globals(), title=f\"Mixed review (seed {SEED})\")\n"
                      "mixed_view"),
        new_markdown_cell("## Review of every week\n\nEvery question with its answer and explanation, each "
                          "folded away until you open it."),
    ]
    for bank in banks:
        cells += [new_markdown_cell(f"### Week {bank.week}: {bank.title}"),
                  new_code_cell(f'review(by_name["{bank.name}"])')]
    return notebook(cells, "cumulative")


def notebooks(quizzes: Path) -> dict[Path, nbformat.NotebookNode]:
    """{review notebook path: its notebook} for every bank in `quizzes`, then the cumulative review."""
    banks = quiz.load_all_banks(quizzes)
    out = {Path(quizzes) / f"{b.name}_quiz_review.ipynb": week_notebook(b) for b in banks}
    if banks:
        out[Path(quizzes) / "cumulative_review.ipynb"] = cumulative_notebook(banks)
    return out
