"""Exercises with immediate feedback: predict, fill in, break it.

An `Exercise` is registered once (its id, kind, hints, reference solution and checker) and checked
from a lesson cell with `check(id, answer)`. The checker computes the right answer with course_lib or
PyTorch at check time (nothing is typed in by hand) and returns a `Verdict` that says why. An
unanswered stub (`...`, `None`, a function returning None) is "not answered yet", never an error, so
"Run All" goes through a lesson with every exercise still open, and shows no solution.
"""
from __future__ import annotations

import inspect
import textwrap
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch

from ..errors import unknown_name

KINDS = ("predict", "fill in", "break it")


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: `status` is right | wrong | unanswered, `message` says why."""

    status: str
    message: str

    @property
    def correct(self) -> bool:
        return self.status == "right"

    def __str__(self) -> str:
        label = {"right": "RIGHT", "wrong": "NOT YET", "unanswered": "NOT ANSWERED YET"}[self.status]
        return f"{label}: {self.message}"


def right(message: str) -> Verdict:
    return Verdict("right", message)


def wrong(message: str) -> Verdict:
    return Verdict("wrong", message)


def unanswered(message: str = "fill in the cell above, run it, then run this check again.") -> Verdict:
    return Verdict("unanswered", message)


def is_unanswered(answer: Any) -> bool:
    """The stubs a lesson leaves for the learner: `...`, None, or a function that is only a stub."""
    return answer is None or answer is Ellipsis


@dataclass
class Exercise:
    """One exercise: how to check an answer, hints in order, and the solution shown only on request."""

    id: str  # "week03/ce-gradient"
    kind: str  # predict | fill in | break it
    title: str
    checker: Callable[[Any], Verdict]  # the learner's answer -> Verdict (computes the right answer itself)
    hints: tuple[str, ...]
    solution: Callable | str  # a reference function (its source is the solution) or a text
    reference: Any = None  # an answer that must check right (tests); default: the solution function
    typical_mistakes: tuple[Any, ...] = ()  # answers that must check wrong (tests), e.g. a common bug
    explanation: str = ""  # why the answer is what it is, shown with the solution

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"exercise {self.id}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.reference is None and callable(self.solution):
            self.reference = self.solution

    def check(self, answer: Any) -> Verdict:
        """The verdict on `answer`; an exception inside the learner's code becomes a wrong verdict."""
        if is_unanswered(answer):
            return unanswered()
        try:
            return self.checker(answer)
        except NotImplementedError:
            return unanswered()
        except Exception as exc:  # noqa: BLE001 - the learner's code may raise anything: say what
            return wrong(f"your answer raised {type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"
                         if str(exc).strip() else f"your answer raised {type(exc).__name__}")

    def solution_text(self) -> str:
        """The solution as text: the reference function's source, or the written solution."""
        if callable(self.solution):
            return textwrap.dedent(inspect.getsource(self.solution)).strip()
        return textwrap.dedent(self.solution).strip()


EXERCISES: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    """Add `exercise` to the registry (ids are unique)."""
    if exercise.id in EXERCISES and EXERCISES[exercise.id] is not exercise:
        raise ValueError(f"exercise id {exercise.id!r} is registered twice")
    EXERCISES[exercise.id] = exercise
    return exercise


def get(exercise_id: str) -> Exercise:
    """The registered exercise `exercise_id`; an unknown id lists the valid ones."""
    _load_all()
    try:
        return EXERCISES[exercise_id]
    except KeyError:
        raise unknown_name("exercise", exercise_id, EXERCISES) from None


def all_exercises(week: str | None = None) -> list[Exercise]:
    """Every registered exercise (of `week`, e.g. "week03"), in registration order."""
    _load_all()
    return [e for e in EXERCISES.values() if week is None or e.id.startswith(f"{week}/")]


def _load_all() -> None:
    """Import the week modules, which register their exercises."""
    import importlib
    import pkgutil
    from pathlib import Path

    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):  # this package's folder, not its __init__
        if info.name.startswith("week"):
            importlib.import_module(f"{__package__}.{info.name}")


# ---------------------------------------------------------------- checkers built from a computation

def expect_number(compute: Callable[[], float], rel_tol: float = 0.0, abs_tol: float = 0.0,
                  why: Callable[[float], str] = lambda v: "") -> Callable[[Any], Verdict]:
    """A checker comparing a number with `compute()` (run at check time, e.g. a parameter count)."""
    def check(answer: Any) -> Verdict:
        try:
            given = float(answer)
        except (TypeError, ValueError):
            return wrong(f"expected a number, got {answer!r}")
        expected = float(compute())
        ok = abs(given - expected) <= max(abs_tol, rel_tol * abs(expected))
        if ok:
            return right(f"{_fmt(expected)}. {why(expected)}".strip())
        direction = "too high" if given > expected else "too low"
        return wrong(f"{_fmt(given)} is {direction}.")
    return check


def expect_shape(compute: Callable[[], Iterable[int]], why: str = "") -> Callable[[Any], Verdict]:
    """A checker comparing a shape (tuple, torch.Size or text like '(64, 10)') with `compute()`."""
    def check(answer: Any) -> Verdict:
        given = parse_shape(answer)
        expected = tuple(int(v) for v in compute())
        if given is None:
            return wrong(f"expected a shape such as (64, 10), got {answer!r}")
        if given == expected:
            return right(f"{expected}. {why}".strip())
        if len(given) != len(expected):
            return wrong(f"{given} has {len(given)} dimensions; the tensor has {len(expected)}. {why}".strip())
        off = [i for i, (a, b) in enumerate(zip(given, expected)) if a != b]
        return wrong(f"{given}: dimension {off[0]} is not right. Look again at what that dimension counts.")
    return check


def expect_choice(compute: Callable[[], str], choices: dict[str, str]) -> Callable[[Any], Verdict]:
    """A checker for a prediction among `choices` ({letter: text}); `compute()` runs the experiment
    and returns the letter that happened, so the answer comes from an actual run."""
    def check(answer: Any) -> Verdict:
        letter = str(answer).strip().lower().strip("()")
        if letter not in choices:
            return wrong(f"answer with one of {', '.join(repr(c) for c in choices)}, got {answer!r}")
        observed = compute()
        if letter == observed:
            return right(f"({observed}) {choices[observed]} - that is what the run above shows.")
        return wrong(f"({letter}) is not what happens: the run gives ({observed}) {choices[observed]}.")
    return check


def expect_function(reference: Callable, make_inputs: Callable[[], tuple], atol: float = 1e-5,
                    trials: int = 3, name: str = "your function") -> Callable[[Any], Verdict]:
    """A checker that calls the learner's function and `reference` on the same random inputs and
    compares the outputs (shape first, then values, like Karpathy's `cmp()`)."""
    def check(fn: Any) -> Verdict:
        if not callable(fn):
            return wrong(f"expected a function, got {type(fn).__name__}")
        for trial in range(trials):
            with torch.random.fork_rng(devices=[]):  # the learner's own random state is left alone
                torch.manual_seed(trial)
                inputs = make_inputs()
            got = fn(*[_clone(x) for x in inputs])
            if got is None:
                return unanswered(f"{name} returned None: fill in its body.")
            want = reference(*[_clone(x) for x in inputs])
            got = torch.as_tensor(got)
            if tuple(got.shape) != tuple(want.shape):
                return wrong(f"{name} returned shape {tuple(got.shape)}, expected {tuple(want.shape)}.")
            if not torch.allclose(got.double(), want.double(), atol=atol, rtol=1e-4):
                err = (got.double() - want.double()).abs().max().item()
                return wrong(f"right shape {tuple(want.shape)}, wrong values: largest difference {err:.3g} "
                             f"(on random inputs, trial {trial + 1}).")
        return right(f"matches the reference on {trials} random inputs (shape {tuple(want.shape)}, "
                     f"max difference <= {atol:g}).")
    return check


def parse_shape(answer: Any) -> tuple[int, ...] | None:
    """(64, 10) from a tuple, a list, a torch.Size or the text '(64, 10)' / '64x10'; None if not a shape."""
    if isinstance(answer, (tuple, list, torch.Size)):
        try:
            return tuple(int(v) for v in answer)
        except (TypeError, ValueError):
            return None
    if isinstance(answer, str):
        parts = [p for p in answer.replace("x", ",").replace("(", "").replace(")", "").split(",") if p.strip()]
        try:
            return tuple(int(p) for p in parts)
        except ValueError:
            return None
    return None


def _clone(x: Any) -> Any:
    return x.clone() if isinstance(x, torch.Tensor) else x


def _fmt(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:.4g}"


