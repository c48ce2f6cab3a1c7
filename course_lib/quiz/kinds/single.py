"""`kind: single`: one right choice among `choices`, picked with radio buttons."""
from __future__ import annotations

from .base import ChoiceKind, register_kind


@register_kind
class Single(ChoiceKind):
    """One choice is right."""

    name = "single"

    def normalize(self, value):
        return str(value)

    def answer_problem(self, q, value):
        return None if value in q.choices else f"the answer {value!r} is not among the choices"

    def matches(self, q, given, expected) -> bool:
        return str(given) == expected

    def make_input(self, view, labels):
        import ipywidgets as W

        return W.RadioButtons(options=list(zip(labels, view.question.choices)), value=None,
                              layout=W.Layout(width="auto"))

    def set_answer(self, view, value) -> None:
        view.input.value = str(value) if value is not None else None
