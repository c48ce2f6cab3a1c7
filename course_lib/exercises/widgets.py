"""The exercise box under a check cell: the verdict, a Hint button (one hint per click) and a
Show solution button. Nothing is revealed until clicked, so "Run All" shows verdicts only.
Callbacks are plain methods (`hint()`, `show_solution()`) that tests call directly."""
from __future__ import annotations

import html

import ipywidgets as W

from .core import Exercise, Verdict

_COLOURS = {"right": "#1a7f37", "wrong": "#b3261e", "unanswered": "#6b5900"}
_LABELS = {"right": "Right", "wrong": "Not yet", "unanswered": "Not answered yet"}


def verdict_html(exercise: Exercise, verdict: Verdict) -> str:
    """The verdict as one line of HTML: words (not only a colour or an emoji) say right or wrong."""
    colour, label = _COLOURS[verdict.status], _LABELS[verdict.status]
    return (f'<b>{html.escape(exercise.id)}</b> ({exercise.kind}) - '
            f'<span style="color:{colour}"><b>{label}:</b></span> {html.escape(verdict.message)}')


class ExerciseView:
    """Verdict + hints on request + solution on request, for one check of one exercise."""

    def __init__(self, exercise: Exercise, verdict: Verdict):
        self.exercise, self.verdict, self.hints_shown = exercise, verdict, 0
        self.verdict_line = W.HTML(verdict_html(exercise, verdict))
        self.hint_area = W.HTML("")
        self.solution_area = W.HTML("")
        self.hint_button = W.Button(description="Hint", icon="lightbulb-o",
                                    disabled=not exercise.hints)
        self.solution_button = W.Button(description="Show solution", icon="eye")
        self.hint_button.on_click(lambda _b: self.hint())
        self.solution_button.on_click(lambda _b: self.show_solution())
        self.widget = W.VBox([self.verdict_line, W.HBox([self.hint_button, self.solution_button]),
                              self.hint_area, self.solution_area],
                             layout=W.Layout(border="1px solid #ddd", padding="6px", margin="4px 0"))
        self.widget.add_class("course-exercise")

    def hint(self) -> str:
        """Reveal the next hint (the last one stays once all are shown); return it."""
        hints = self.exercise.hints
        if not hints:
            return ""
        self.hints_shown = min(self.hints_shown + 1, len(hints))
        items = "".join(f"<li>{html.escape(h)}</li>" for h in hints[:self.hints_shown])
        self.hint_area.value = f"<b>Hints</b> ({self.hints_shown} of {len(hints)}):<ol>{items}</ol>"
        self.hint_button.disabled = self.hints_shown == len(hints)
        return hints[self.hints_shown - 1]

    def show_solution(self) -> str:
        """Reveal the solution (and its explanation); return the solution text."""
        text = self.exercise.solution_text()
        why = f"<p><b>Why:</b> {html.escape(self.exercise.explanation)}</p>" if self.exercise.explanation else ""
        self.solution_area.value = f"<b>Solution</b><pre>{html.escape(text)}</pre>{why}"
        self.solution_button.disabled = True
        return text

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = str(self.verdict)  # what a reader without widgets sees: the verdict only
        return bundle
