"""Quiz banks as YAML (quizzes/weekNN.yaml): the schema, loading, and errors that name file and line.

A bank has `week`, `title`, `questions`; each question has `id`, `kind`, `prompt`, `explanation`, and by kind:

    single / multiple   choices: [...], answer: "a choice" / ["choice", ...]
    numeric             answer: 0.1307, tolerance: 0.0001 (absolute, default 0), unit: (optional)
    shape               answer: [1, 28, 28]
    code                name: my_head, check: {fn: head_like, args: {...}}, solution: |, common_mistake: |

Instead of a literal `answer`, `answer_from: {fn: NAME, args: {...}}` names a function registered in
`answers.ANSWERS`, computed by course_lib whenever the answer is needed: no string is evaluated,
and an answer that depends on the library (a parameter count, a shape) cannot go stale.
What each kind allows and how it is checked is its class in `kinds/` (`KINDS`): no code here branches on a kind.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CourseError
from ..paths import QUIZ_DIR
from .answers import ANSWERS
from .computed import Computed, call_bounded, is_finite_number, parse_computed
from .kinds import KINDS, QuestionKind
from .yaml_lines import YamlProblem, load_with_lines

_COMMON = {"id", "kind", "prompt", "explanation", "topic"}  # keys of every question; its kind allows more
_TOP = {"week", "title", "questions"}


class QuizBankError(CourseError):
    """A bank does not follow the schema; `.errors` lists 'file:line: message' strings."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("invalid quiz bank: " + errors[0] if len(errors) == 1 else
                         "invalid quiz bank:\n  " + "\n  ".join(errors))


@dataclass
class Question:
    """One validated question; `expected()` computes a computed answer afresh each time."""

    id: str
    kind: str
    prompt: str
    explanation: str
    choices: tuple[str, ...] = ()
    answer: Any = None
    answer_from: Computed | None = None
    tolerance: float = 0.0
    unit: str = ""
    name: str = ""
    check: Computed | None = None
    solution: str = ""
    common_mistake: str = ""
    topic: str = ""
    bank: str = ""  # "week05": where progress is recorded
    where: str = ""  # "quizzes/week05.yaml:12"
    extra: dict[str, Any] = field(default_factory=dict)  # keys of kinds registered outside this package

    @property
    def key(self) -> str:
        """`bank/id`: unique over the course."""
        return f"{self.bank}/{self.id}"

    @property
    def handler(self) -> QuestionKind:
        """The registered kind that parses, checks, formats and shows this question."""
        return KINDS[self.kind]

    def expected(self) -> Any:
        """The right answer: the literal one, or the registered function's result now."""
        if self.answer_from is None:
            return self.answer
        value = call_bounded(ANSWERS[self.answer_from.fn], self.answer_from.args)
        return self.handler.normalize(value)


@dataclass
class Bank:
    """A validated bank: quizzes/weekNN.yaml."""

    name: str  # "week05"
    week: int
    title: str
    questions: list[Question]
    path: Path | None = None

def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# ------------------------------------------------------------------ validation

def _validate_question(raw, index: int, bank: str, where, err, at: int = 1) -> Question | None:
    line = getattr(raw, "line", 0) or at  # `at`: the item's line in the list (a scalar item has no .line)
    if not isinstance(raw, dict):
        err(line, f"question {index + 1} must be a mapping with id, kind, prompt, explanation")
        return None
    lines = raw.lines
    qid = raw.get("id", f"#{index + 1}")

    def e(key_or_line: str | int, message: str) -> None:
        """Report `message` at the line of key `key_or_line` (or at that line number)."""
        at = lines.get(key_or_line, line) if isinstance(key_or_line, str) else key_or_line
        err(at, f"question {qid!r}: {message}")

    for key in ("id", "kind", "prompt", "explanation"):
        if key not in raw:
            e(line, f"missing required key {key!r}")
        elif not isinstance(raw[key], str) or not raw[key].strip():
            e(key, f"{key!r} must be non-empty text")
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        if isinstance(kind, str):
            e("kind", f"unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")
        return None
    handler = KINDS[kind]
    for key in raw:
        if key not in _COMMON | handler.fields:
            e(key, f"unknown key {key!r} for kind {kind!r}; allowed: {', '.join(sorted(_COMMON | handler.fields))}")
    if isinstance(qid, str) and not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", qid):
        e("id", f"id {qid!r} must be lower-case letters, digits, '-' or '_'")
    q = Question(id=str(qid), kind=kind, prompt=str(raw.get("prompt", "")), explanation=str(raw.get("explanation", "")),
                 topic=str(raw.get("topic", "")), bank=bank, where=where(line))
    has_literal, has_computed = "answer" in raw, "answer_from" in raw
    if has_literal and has_computed:
        e("answer_from", "give either 'answer' or 'answer_from', not both")
    elif not (has_literal or has_computed) and handler.needs_answer:
        e(line, "missing 'answer' (a literal) or 'answer_from' (computed by course_lib)")
    if has_computed:
        q.answer_from = parse_computed(raw["answer_from"], ANSWERS, "answer_from", e, lines["answer_from"])
    if not handler.parse(raw, q, e):
        return None
    if "tolerance" in raw:
        if not is_finite_number(raw["tolerance"]) or raw["tolerance"] < 0:
            e("tolerance", f"tolerance must be a finite number >= 0, got {raw['tolerance']!r}")
        else:
            q.tolerance = float(raw["tolerance"])
    q.unit = str(raw.get("unit", ""))
    return q


def parse_bank(text: str | bytes, path: str | Path = "<bank>", name: str | None = None) -> Bank:
    """Validate the YAML `text` (or UTF-8 bytes) of a bank; raise QuizBankError listing every problem with its line."""
    path = Path(path)
    shown = _display(path)
    name = name or path.stem
    errors: list[str] = []

    def err(line: int, message: str) -> None:
        errors.append(f"{shown}:{line}: {message}")

    try:
        raw = load_with_lines(text)
    except YamlProblem as exc:
        raise QuizBankError([f"{shown}:{exc.line}: {exc.message}"]) from None
    if not isinstance(raw, dict):
        raise QuizBankError([f"{shown}:1: a bank is a mapping with keys {', '.join(sorted(_TOP))}"])
    for key in raw:
        if key not in _TOP:
            err(raw.lines[key], f"unknown top-level key {key!r}; allowed: {', '.join(sorted(_TOP))}")
    week = raw.get("week")
    if not (isinstance(week, int) and not isinstance(week, bool)):
        err(raw.lines.get("week", 1), f"'week' must be an integer, got {week!r}")
    elif re.fullmatch(r"week\d\d", name) and int(name[4:]) != week:
        err(raw.lines["week"], f"'week: {week}' does not match the file name {path.name}")
    if not isinstance(raw.get("title"), str):
        err(raw.lines.get("title", 1), "'title' must be text")
    items = raw.get("questions")
    if not isinstance(items, list) or not items:
        err(raw.lines.get("questions", 1), "'questions' must be a non-empty list")
        items = []
    questions, seen = [], {}
    for i, item in enumerate(items):
        item_line = items.lines[i] if hasattr(items, "lines") else 1
        q = _validate_question(item, i, name, lambda ln: f"{shown}:{ln}", err, item_line)
        if q is None:
            continue
        if q.id in seen:
            err(getattr(item, "line", 0), f"duplicate question id {q.id!r} (first on line {seen[q.id]})")
        seen.setdefault(q.id, getattr(item, "line", 0))
        questions.append(q)
    if errors:
        raise QuizBankError(errors)
    return Bank(name, int(week), str(raw["title"]), questions, path)

def bank_paths(folder: str | Path | None = None) -> list[Path]:
    """quizzes/weekNN.yaml, sorted."""
    return sorted(Path(folder or QUIZ_DIR).glob("week[0-9][0-9].yaml"))


def load_bank(name_or_path: str | Path) -> Bank:
    """A bank by name ("week05") or path, validated."""
    path = Path(name_or_path)
    if not path.suffix:
        path = QUIZ_DIR / f"{name_or_path}.yaml"
    if not path.exists():
        raise CourseError(f"no quiz bank {path}; banks: {', '.join(p.stem for p in bank_paths()) or 'none'}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CourseError(f"cannot read quiz bank ({path}: {exc.strerror or exc}): check that it is a readable file") \
            from None
    return parse_bank(data, path)


def load_all_banks(folder: str | Path | None = None) -> list[Bank]:
    """Every bank of the course, validated (all errors of all banks in one QuizBankError)."""
    banks, errors = [], []
    for path in bank_paths(folder):
        try:
            banks.append(load_bank(path))
        except QuizBankError as exc:
            errors += exc.errors
    if errors:
        raise QuizBankError(errors)
    return banks
