"""`kind: code`: the learner defines `name` in the notebook; a registered check (`checks.py`) judges it.

    name: my_head, check: {fn: head_like, args: {...}}, solution: |, common_mistake: |
"""
from __future__ import annotations

import html
from typing import Any, Mapping

from ..checks import CODE_CHECKS
from ..computed import parse_computed
from ..limits import MAX_MESSAGE_CHARS, cap, run_limited
from .base import CheckResult, QuestionKind, register_kind


def check_code(question: Any, namespace: Mapping[str, Any]) -> CheckResult:
    """Run the question's check on the learner's variable `question.name` from `namespace`, within the limits
    of `limits.py` (time, printed output, message length); an error or sys.exit() in it is the verdict."""
    if question.name not in namespace:
        return CheckResult(False, f"define `{question.name}` in a cell, run it, then check again")
    expected = question.expected()
    import torch  # noqa: F401 - what checks use is imported before the time limit starts:

    from ... import data  # noqa: F401 - an import cut off halfway would break the kernel for good
    outcome = run_limited(CODE_CHECKS[question.check.fn], namespace[question.name], expected,
                          **question.check.args)
    if outcome.error:
        ok, message = False, f"`{question.name}` {outcome.error}"
    else:
        try:
            ok, message = outcome.value
            ok, message = bool(ok), str(message)
        except Exception as exc:  # noqa: BLE001 - a check that returned something else: still a verdict
            ok, message = False, f"the check returned {type(outcome.value).__name__}, not (ok, message): {exc}"
    message = cap(message, MAX_MESSAGE_CHARS)
    if outcome.output:
        message += f"\n(it printed: {outcome.output})"
    return CheckResult(ok, message, expected)


@register_kind
class Code(QuestionKind):
    """Answered by code in the kernel: a variable or function called `name`."""

    name = "code"
    fields = frozenset({"name", "check", "solution", "common_mistake", "answer", "answer_from"})
    needs_answer = False
    answered_in_code = True
    in_mixed_review = False  # its answer lives in the weekly notebook's kernel

    def parse(self, raw, q, e) -> bool:
        q.answer = raw.get("answer")
        line = getattr(raw, "line", 0)
        for key in ("name", "check", "solution", "common_mistake"):
            if key not in raw:
                e(line, f"a code question needs {key!r}")
        if "name" in raw and not (isinstance(raw["name"], str) and raw["name"].isidentifier()):
            e("name", f"'name' must be a Python identifier, got {raw['name']!r}")
        q.name = str(raw.get("name", ""))
        for key in ("solution", "common_mistake"):
            if key in raw and not isinstance(raw[key], str):
                e(key, f"{key!r} must be Python code (a YAML block: `{key}: |`)")
        q.solution, q.common_mistake = str(raw.get("solution", "")), str(raw.get("common_mistake", ""))
        if "check" in raw:
            q.check = parse_computed(raw["check"], CODE_CHECKS, "check", e, raw.lines["check"],
                                     skip=("obj", "expected"))
        return True

    def check(self, q, given, namespace) -> CheckResult:
        return check_code(q, namespace or {})

    def given_answer(self, q, answers, namespace):
        return namespace is not None and q.name in namespace, None

    def review_lines(self, q, expected) -> list[str]:
        return [f"Solution (defines `{q.name}`):", "", "```python", q.solution.strip(), "```", "",
                "A common mistake (the check rejects it):", "", "```python", q.common_mistake.strip(), "```", ""]

    def make_input(self, view, labels):
        import ipywidgets as W

        return W.HTML(f"Define <code>{html.escape(view.question.name)}</code> in a code cell, run it, "
                      "then click Check.")

    def get_answer(self, view):
        return None

    def set_answer(self, view, value) -> None:
        """Nothing to fill in: the answer is the learner's code."""
