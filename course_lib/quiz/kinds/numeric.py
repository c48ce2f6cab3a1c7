"""`kind: numeric`: a number, right within an absolute `tolerance`, with an optional `unit`."""
from __future__ import annotations

import re

from ..computed import is_finite_number, is_number
from .base import QuestionKind, register_kind


def parse_number(text) -> float:
    """A learner's number: 250890, "250,890", "250_890", "2.5e5"."""
    if is_number(text):
        return text
    s = str(text).strip().replace("_", "").replace(" ", "")
    if re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?", s):
        s = s.replace(",", "")
    try:
        value = float(s)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    return int(value) if value.is_integer() and re.fullmatch(r"[+-]?\d+", s) else value


@register_kind
class Numeric(QuestionKind):
    """A number; `tolerance` (absolute, default 0) and `unit` are optional."""

    name = "numeric"
    fields = frozenset({"answer", "answer_from", "tolerance", "unit"})
    placeholder = "a number, e.g. 5130"

    def parse(self, raw, q, e) -> bool:
        if "answer" in raw:
            if not is_finite_number(raw["answer"]):
                hint = " (YAML reads 1e-3 as text: write 1.0e-3)" if isinstance(raw["answer"], str) else ""
                e("answer", f"a numeric answer must be a finite number (at most 1e15), got {raw['answer']!r}{hint}")
            q.answer = raw["answer"]
        return True

    def answer_problem(self, q, value):
        return None if is_finite_number(value) else f"computed answer {value!r} is not a finite number"

    def matches(self, q, given, expected) -> bool:
        return abs(parse_number(given) - expected) <= q.tolerance + 1e-9 * abs(expected)

    def format(self, q, value) -> str:
        return f"{value:,}" if isinstance(value, int) else super().format(q, value)
