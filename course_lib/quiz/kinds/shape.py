"""`kind: shape`: a tensor shape, accepted as (1, 28, 28), 1x28x28, [1,28,28] or torch.Size([1, 28, 28])."""
from __future__ import annotations

import re

from .base import QuestionKind, register_kind


def parse_shape(text) -> tuple[int, ...]:
    """A learner's shape: (1, 28, 28), "1x28x28", "[1,28,28]", "torch.Size([1, 28, 28])"."""
    if not isinstance(text, str):
        return tuple(int(v) for v in text)
    s = text.strip().removeprefix("torch.Size").strip("()[] ")
    parts = [p for p in re.split(r"[\s,x×*]+", s) if p]
    if not all(re.fullmatch(r"\d+", p) for p in parts):
        raise ValueError(f"{text!r} is not a shape like (1, 28, 28)")
    return tuple(int(p) for p in parts)


@register_kind
class Shape(QuestionKind):
    """A shape: a tuple of non-negative integers."""

    name = "shape"
    placeholder = "a shape, e.g. (1, 28, 28)"

    def parse(self, raw, q, e) -> bool:
        if "answer" in raw:
            ans = raw["answer"]
            if not isinstance(ans, list) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                                    for v in ans):
                e("answer", f"a shape answer is a list of non-negative integers like [1, 28, 28], got {ans!r}")
            else:
                q.answer = tuple(ans)
        return True

    def normalize(self, value):
        return tuple(int(v) for v in value)

    def matches(self, q, given, expected) -> bool:
        return parse_shape(given) == tuple(expected)

    def format(self, q, value) -> str:
        return "(" + ", ".join(str(v) for v in value) + ("," if len(value) == 1 else "") + ")"

    def set_answer(self, view, value) -> None:
        if value is not None and not isinstance(value, str):
            value = self.format(view.question, tuple(value))
        super().set_answer(view, value)
