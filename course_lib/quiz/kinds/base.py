"""A question kind is one registered class: how a question of that kind is read from a bank (parse),
what its computed answer looks like (normalize), how a learner's answer is judged (check), written
out (format, review) and entered in the notebook (input widget). Like HEADS: `KINDS[name]`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

# How the review marks each choice of a choice question: words every font can show.
RIGHT_MARK, WRONG_MARK = "**right answer:**", "not this one:"

KINDS: dict[str, "QuestionKind"] = {}  # name -> the kind, in registration order (error messages list them)


def register_kind(cls: type["QuestionKind"]) -> type["QuestionKind"]:
    """Class decorator: make `cls` the kind called `cls.name` (banks then accept `kind: <name>`)."""
    KINDS[cls.name] = cls()
    return cls


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one answer: right or not, why, and the expected answer."""

    correct: bool
    message: str
    expected: Any = None


class QuestionKind:
    """The default behaviour of a kind whose answer is a value typed or chosen by the learner."""

    name = ""
    fields: frozenset[str] = frozenset({"answer", "answer_from"})  # keys allowed besides id, kind, prompt...
    needs_answer = True  # a question must give `answer` or `answer_from`
    answered_in_code = False  # the learner answers by defining a name in the kernel
    in_mixed_review = True  # sample_questions may pick it
    placeholder = ""  # what an empty text input suggests

    # ------------------------------------------------------------------ the bank
    def parse(self, raw: Mapping[str, Any], q: Any, e: Callable[[Any, str], None]) -> bool:
        """Check the kind's own keys of `raw` and fill `q`; `e(key or line, message)` reports a problem.
        Return False to drop the question (a problem that makes the rest meaningless)."""
        if "answer" in raw:
            q.answer = raw["answer"]
        return True

    def normalize(self, value: Any) -> Any:
        """A computed answer in the form `matches` compares with."""
        return value

    def answer_problem(self, q: Any, value: Any) -> str | None:
        """Why a computed answer does not fit the question (None: it fits)."""
        return None

    # ------------------------------------------------------------------ checking
    def matches(self, q: Any, given: Any, expected: Any) -> bool:
        """Is `given` the `expected` answer? May raise ValueError/TypeError for unreadable input."""
        return given == expected

    def check(self, q: Any, given: Any, namespace: Mapping[str, Any]) -> CheckResult:
        """The verdict on `given` (namespace: the learner's kernel, for kinds answered in code)."""
        expected = q.expected()
        if given is None or given == "" or given == ():
            return CheckResult(False, "no answer given yet", expected)
        try:
            ok = self.matches(q, given, expected)
        except (ValueError, TypeError) as exc:
            return CheckResult(False, f"could not read the answer: {exc}", expected)
        return CheckResult(ok, "right" if ok else "not quite", expected)

    def given_answer(self, q: Any, answers: Mapping[str, Any], namespace: Mapping[str, Any] | None):
        """(answered?, the answer) for scoring: looked up by `bank/id` or `id`."""
        given = answers.get(q.key, answers.get(q.id))
        return given is not None, given

    # ------------------------------------------------------------------ writing it out
    def format(self, q: Any, value: Any) -> str:
        """The expected answer as text."""
        return "" if value is None else str(value)

    def review_lines(self, q: Any, expected: Any) -> list[str]:
        """The answer part of the review (Markdown lines)."""
        unit = f" {q.unit}" if q.unit else ""
        tol = f" (± {q.tolerance:g})" if q.tolerance else ""
        return [f"**Answer:** `{self.format(q, expected)}`{unit}{tol}", ""]

    # ------------------------------------------------------------------ the notebook widget
    def make_input(self, view: Any, labels: list[str]) -> Any:
        """The input widget of `view` (a quiz.widgets.QuestionView); `labels`: the choices as shown."""
        import ipywidgets as W

        return W.Text(placeholder=self.placeholder)  # synced as typed: Check reads it at once

    def get_answer(self, view: Any) -> Any:
        """What the learner entered in `view`'s input."""
        return view.input.value

    def set_answer(self, view: Any, value: Any) -> None:
        """Put `value` in `view`'s input (what a learner would type or click)."""
        view.input.value = "" if value is None else str(value)


class ChoiceKind(QuestionKind):
    """Shared by the kinds that pick among `choices` (single, multiple)."""

    fields = frozenset({"choices", "answer", "answer_from"})
    many = False  # several right choices?

    def parse(self, raw, q, e) -> bool:
        choices = raw.get("choices")
        if not isinstance(choices, list) or len(choices) < 2:
            e("choices" if "choices" in raw else getattr(raw, "line", 0),
              "needs 'choices': a list of at least 2 options")
            return False
        q.choices = tuple(str(c) for c in choices)
        if len(set(q.choices)) != len(q.choices):
            e("choices", "choices must be different from each other")
        if "answer" in raw:
            answer = raw["answer"]
            wanted = answer if self.many else [answer]
            if not self.many and isinstance(answer, list):
                e("answer", "a single-choice answer is one choice, not a list (use kind: multiple)")
            elif not isinstance(wanted, list) or not wanted:
                e("answer", "a multiple-choice answer is a non-empty list of choices")
            else:
                missing = [str(a) for a in wanted if str(a) not in q.choices]
                if missing:
                    e("answer", f"answer {missing} is not among the choices {list(q.choices)}")
                q.answer = self.normalize(list(dict.fromkeys(map(str, wanted))) if self.many else answer)
        return True

    def review_lines(self, q, expected) -> list[str]:
        right = set(expected) if self.many else {expected}
        # marked in words (an emoji renders as an empty box where no emoji font is installed)
        return [f"- {RIGHT_MARK if c in right else WRONG_MARK} {c}" for c in q.choices] + [""]
