"""`kind: multiple`: every right choice among `choices`, ticked in checkboxes (order does not matter)."""
from __future__ import annotations

from .base import ChoiceKind, register_kind


@register_kind
class Multiple(ChoiceKind):
    """Several choices may be right; the answer is the set of them."""

    name = "multiple"
    many = True

    def normalize(self, value):
        return tuple(sorted(str(v) for v in value))

    def answer_problem(self, q, value):
        return None if set(value) <= set(q.choices) else f"the answer {list(value)} is not among the choices"

    def matches(self, q, given, expected) -> bool:
        return tuple(sorted({str(g) for g in given})) == expected

    def format(self, q, value) -> str:
        return "; ".join(value)

    def make_input(self, view, labels):
        import ipywidgets as W

        view.boxes = [W.Checkbox(value=False, description=label, indent=False, layout=W.Layout(width="auto"))
                      for label in labels]
        return W.VBox(view.boxes)

    def get_answer(self, view):
        return [c for b, c in zip(view.boxes, view.question.choices) if b.value]

    def set_answer(self, view, value) -> None:
        chosen = {str(v) for v in value}
        for box, choice in zip(view.boxes, view.question.choices):
            box.value = choice in chosen
