"""Quizzes in the notebook: an ipywidgets quiz (answer, Check, explanation, running score) and a review.

    view = show_quiz(quiz.load_bank("week05"), namespace=globals())   # interactive, progress saved
    review(bank.questions)                                             # every question; answers folded away
    show_missed(quiz.load_all_banks())                                 # what was missed, across weeks

Each question's input widget comes from its kind (`kinds/`).
Retrieval practice: a quiz shows the questions missed last time first (retrieval.py), and the review folds
each answer away (an HTML <details>, opened by a click, so "Run All" reveals nothing). The review is Markdown
(no widget state needed), so it also reads as a static page. Callbacks are plain methods
(`QuestionView.set_answer`, `.check`) that tests call directly.
"""
from __future__ import annotations

import html
import re
from typing import Any, Callable, Iterable, Mapping

import ipywidgets as W

from ..errors import CourseError
from .bank import Bank, Question
from .checking import Score, check_answer
from .kinds import CheckResult
from .progress import Progress
from .retrieval import MISSED, missed_questions, retrieval_order, saved_answers, standing

ANSWER_CLASS = "course-quiz-answer"  # the <details> that folds one answer of the review away


def inline_markdown(text: str) -> str:
    """Enough Markdown for prompts in an HTMLMath widget: `code`, **bold**, paragraphs ($math$ untouched)."""
    out = html.escape(text.strip(), quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)
    return "<br>".join(p.replace("\n", " ") for p in out.split("\n\n"))


def _questions(bank_or_questions) -> list[Question]:
    return list(bank_or_questions.questions if isinstance(bank_or_questions, Bank) else bank_or_questions)


def _kernel_namespace() -> Mapping[str, Any]:
    try:
        from IPython import get_ipython
        shell = get_ipython()
        return shell.user_ns if shell is not None else {}
    except ImportError:  # pragma: no cover
        return {}


class QuestionView:
    """One question: prompt, an input for its kind, a Check button, the verdict and explanation."""

    def __init__(self, question: Question, number: int,
                 on_result: Callable[["QuestionView", CheckResult], None],
                 namespace: Callable[[], Mapping[str, Any]]):
        self.question, self.number, self._on_result, self._namespace = question, number, on_result, namespace
        q = question
        prompt = f"<b>Q{number}.</b> {inline_markdown(q.prompt)}"
        prompt += f" <i>(unit: {html.escape(q.unit)})</i>" if q.unit else ""
        # radio buttons and checkboxes show plain text: choices with math are listed above them as (a), (b)...
        if any("$" in c for c in q.choices):
            labels = [f"({chr(97 + i)})" for i in range(len(q.choices))]
            prompt += "".join(f"<br>{label} {inline_markdown(c)}" for label, c in zip(labels, q.choices))
        else:
            labels = [c.replace("`", "") for c in q.choices]
        self.prompt = W.HTMLMath(prompt)
        self.input = q.handler.make_input(self, labels)
        self.check_button = W.Button(description="Check", button_style="primary", icon="check")
        self.check_button.on_click(lambda _button: self.check())
        self.feedback = W.HTMLMath("")
        self.widget = W.VBox([self.prompt, self.input, self.check_button, self.feedback],
                             layout=W.Layout(border="1px solid #ddd", padding="6px", margin="4px 0"))
        self.widget.add_class("course-quiz-question")  # CSS hooks for the browser tests
        self.feedback.add_class("course-quiz-feedback")
        self.result: CheckResult | None = None

    def get_answer(self):
        """What the learner entered (None for questions answered in code)."""
        return self.question.handler.get_answer(self)

    def set_answer(self, value) -> None:
        """Put `value` in the input (a choice, a list of choices, a number or a shape)."""
        self.question.handler.set_answer(self, value)

    def show_result(self, result: CheckResult, previous: bool = False) -> None:
        # words, not dingbats: the verdict must not depend on a font the learner may lack
        verdict = ('<span style="color:#1a7f37"><b>Right.</b></span>' if result.correct else
                   f'<span style="color:#b3261e"><b>Not quite</b></span> - {html.escape(result.message)}')
        if result.correct and self.question.handler.answered_in_code:
            verdict += f" ({html.escape(result.message)})"
        if previous:
            verdict = "<i>Your last answer (saved):</i> " + verdict
        self.feedback.value = f"{verdict}<br><b>Why:</b> {inline_markdown(self.question.explanation)}"

    def check(self) -> CheckResult:
        """Check the current answer, show the verdict and explanation, update the score."""
        given = self.get_answer()
        result = check_answer(self.question, given, self._namespace())
        if not self.question.handler.answered_in_code and given in (None, "", []):
            self.feedback.value = "<i>Choose or type an answer first.</i>"  # not counted as an attempt
            return result
        self.result = result
        self.show_result(result)
        self._on_result(self, result)
        return result


class QuizView:
    """A list of QuestionViews with a running score; answers are saved to `progress` when given."""

    def __init__(self, questions: Iterable[Question], namespace: Mapping[str, Any] | None = None,
                 progress: Progress | None = None, title: str = ""):
        self.progress = progress
        self._ns = namespace
        self.results: dict[str, bool] = {}
        questions = _questions(questions)
        saved = saved_answers(questions, progress)
        self.questions = [QuestionView(q, i, self._record, self._get_namespace)
                          for i, q in retrieval_order(questions, saved)]  # missed last time first
        self.score_label = W.HTML()
        self.score_label.add_class("course-quiz-score")
        self.banner = W.HTML()
        missed = [f"Q{v.number}" for v in self.questions if standing(v.question, saved) == MISSED]
        self.retrieval_note = W.HTML(f"<i>Missed last time, so shown first: {', '.join(missed)}. "
                                     "Try them again before reading their explanation.</i>" if missed else "")
        self.retrieval_note.add_class("course-quiz-retrieval")
        if progress is not None:
            self._restore()
            if progress.problems:
                self.banner.value = "".join(f'<p style="color:#b3261e"><b>Warning:</b> {html.escape(p)}</p>'
                                            for p in progress.problems)
        header = [W.HTML(f"<h3>{html.escape(title)}</h3>")] if title else []
        self.widget = W.VBox(header + [self.banner, self.retrieval_note] + [v.widget for v in self.questions]
                             + [self.score_label])
        self._update_score()

    def _get_namespace(self) -> Mapping[str, Any]:
        return self._ns if self._ns is not None else _kernel_namespace()

    def _restore(self) -> None:
        saved: dict[str, dict] = {}
        for bank in {v.question.bank for v in self.questions}:
            saved[bank] = self.progress.answers(bank)
        for view in self.questions:
            entry = saved[view.question.bank].get(view.question.id)
            if entry is None:
                continue
            try:
                view.set_answer(entry.get("given"))
            except Exception:  # an answer saved for an older version of the question: keep going
                pass
            self.results[view.question.key] = entry["correct"]
            view.show_result(CheckResult(entry["correct"], "checked earlier"), previous=True)

    def _record(self, view: QuestionView, result: CheckResult) -> None:
        q = view.question
        self.results[q.key] = result.correct
        if self.progress is not None:
            try:
                self.progress.record(q.bank, q.id, view.get_answer(), result.correct)
            except CourseError as exc:  # not saved: say so in one line above the questions, keep the quiz going
                self.banner.value += f'<p style="color:#b3261e">&#9888; answer not saved: {html.escape(str(exc))}</p>'
        self._update_score()

    def score(self) -> Score:
        return Score(sum(self.results.values()), len(self.results), len(self.questions))

    def _update_score(self) -> None:
        s = self.score()
        self.score_label.value = f"<b>Score: {s.correct} / {s.total}</b> ({s.answered} answered)"

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def show_quiz(bank_or_questions: Bank | Iterable[Question], namespace: Mapping[str, Any] | None = None,
              progress: Progress | None | bool = True, title: str | None = None) -> QuizView:
    """The interactive quiz; `progress=True` saves answers under $COURSE_PROGRESS_DIR (False: don't)."""
    if progress is True:
        progress = Progress()
    if title is None and isinstance(bank_or_questions, Bank):
        title = f"Week {bank_or_questions.week} quiz: {bank_or_questions.title}"
    return QuizView(bank_or_questions, namespace, progress or None, title or "")


def review_markdown(bank_or_questions: Bank | Iterable[Question], folded: bool = True) -> str:
    """Every question with its answer (computed now where it comes from course_lib) and explanation; with
    `folded`, each answer sits in a closed <details> ("Answer and why"), opened by a click, never by Run All."""
    parts = []
    for i, q in enumerate(_questions(bank_or_questions), start=1):
        lines = q.handler.review_lines(q, q.expected())
        if q.answer_from is not None:
            lines += [f"*Computed by course_lib when checked:* `{q.answer_from.describe()}`", ""]
        lines += [f"**Why:** {q.explanation.strip()}", ""]
        if folded:  # blank lines around the body: Markdown inside the HTML block is still rendered
            lines = [f'<details class="{ANSWER_CLASS}"><summary>Answer and why</summary>', ""] + lines + ["</details>"]
        parts.append("\n".join([f"**Q{i}** `{q.bank}/{q.id}` ({q.kind}). {q.prompt.strip()}", ""] + lines))
    return "\n\n---\n\n".join(parts)


def review(bank_or_questions: Bank | Iterable[Question], folded: bool = True) -> Any:
    """The review as Markdown output (renders math and code; no kernel needed to read it), answers folded."""
    from IPython.display import Markdown
    return Markdown(review_markdown(bank_or_questions, folded))


def show_missed(banks, namespace: Mapping[str, Any] | None = None, progress: Progress | None = None):
    """"Review what I missed": a quiz of every question (not code) whose last saved answer was wrong, across
    `banks`; answers checked here are saved to their own week. Markdown saying so when nothing was missed."""
    from IPython.display import Markdown
    progress = progress or Progress()
    every = missed_questions(banks, progress)
    missed = [q for q in every if not q.handler.answered_in_code]  # a code answer lives in its week's kernel
    code = [q.key for q in every if q.handler.answered_in_code]
    redo = f" Code questions to redo in their week's review notebook: {', '.join(code)}." if code else ""
    if not missed:
        return Markdown("Nothing missed so far: every answer you have checked is right (or none is saved yet, "
                        f"under `{progress.directory}`)." + redo)
    return QuizView(missed, namespace, progress, f"What you missed: {len(missed)} questions.{redo}")


def progress_markdown(progress: Progress, banks: Iterable[Bank]) -> str:
    """A table of the saved progress, one row per week."""
    rows = ["| bank | correct | answered | questions |", "|---|---:|---:|---:|"]
    rows += [f"| {name} | {c} | {a} | {t} |" for name, c, a, t in progress.summary(banks)]
    return "\n".join(rows)
