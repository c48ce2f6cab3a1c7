"""Quiz banks under hostile and clumsy YAML: every construct gives a `file:line` error or works.

Probes: complex keys, non-UTF-8 bytes, characters YAML refuses, merge keys, alias bombs, recursion,
deep nesting, huge files, tags, NaN/inf answers and tolerances, computed answers too big to hold.
Property-based tests (hypothesis) throw random text and random YAML documents at the parser.
"""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course_lib import quiz
from course_lib.quiz import yaml_lines

REPO = Path(__file__).resolve().parent.parent
GOOD = """\
week: 3
title: Probe
questions:
  - id: q1
    kind: numeric
    prompt: How many?
    answer: 3
    explanation: Because.
"""


def _errors(tmp_path: Path, data: str | bytes) -> list[str]:
    path = tmp_path / "week03.yaml"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    with pytest.raises(quiz.QuizBankError) as info:
        quiz.load_bank(path)
    assert all(re.match(rf"{re.escape(str(path))}:[1-9]\d*: \S", e) for e in info.value.errors), info.value.errors
    return info.value.errors


def _one_error_at(tmp_path: Path, data: str | bytes, line: int, message: str) -> None:
    errors = _errors(tmp_path, data)
    assert len(errors) == 1 and errors[0].startswith(f"{tmp_path / 'week03.yaml'}:{line}: ") \
        and message in errors[0], errors


PROBES = {  # name: (bank text, line of the error, what the message says)
    "complex-key-list": (GOOD + "    ? [a, b]\n    : 1\n", 9, "a key must be text or a number, not a list"),
    "complex-key-map": (GOOD.replace("week: 3\n", "week: 3\n? {a: 1}\n: 2\n"), 2, "a key must be text or a number"),
    "nul-character": (GOOD.replace("How many?", "How\0 many?"), 6,
                      "character #x0000 is not allowed in YAML: remove it"),
    "python-tag": (GOOD.replace("answer: 3", "answer: !!python/object/apply:os.system [echo hi]"), 7,
                   "could not determine a constructor"),
    "two-documents": (GOOD + "---\nweek: 4\n", 9, "expected a single document in the stream, but found another"),
    "recursive-alias": (GOOD.replace("answer: 3", "answer: &a [1, *a]"), 7, "an alias refers to the value that"),
    "nan-answer": (GOOD.replace("answer: 3", "answer: .nan"), 7, "must be a finite number"),
    "inf-answer": (GOOD.replace("answer: 3", "answer: -.inf"), 7, "must be a finite number"),
    "huge-int-answer": (GOOD.replace("answer: 3", "answer: " + "9" * 5000), 7, "the number has 5,000 digits"),
    "big-int-answer": (GOOD.replace("answer: 3", "answer: " + "9" * 400), 7, "must be a finite number"),
    "nan-tolerance": (GOOD.replace("answer: 3", "answer: 3\n    tolerance: .nan"), 8, "tolerance must be a finite"),
    "inf-tolerance": (GOOD.replace("answer: 3", "answer: 3\n    tolerance: .inf"), 8, "tolerance must be a finite"),
    "nan-check-argument": (GOOD.replace("kind: numeric", "kind: code").replace(
        "answer: 3", "name: x\n    solution: x = 3\n    common_mistake: x = 2\n"
        "    check: {fn: value_equals, args: {tolerance: .nan}}"), 10, "argument 'tolerance' is nan"),
    "huge-argument": (GOOD.replace("answer: 3", "answer_from: {fn: batch_shape, args: {dataset: mnist, "
                                                "batch_size: 1000000000000}}"), 7,
                      "argument 'batch_size' is 1000000000000 (at most 1,000,000 in size)"),
    "long-argument-list": (GOOD.replace("answer: 3", "answer_from: {fn: mlp_parameters, args: {sizes: "
                                                     f"{list(range(100))}}}}}"), 7, "a list of 100 items"),
}


PROBES.update({  # YAML's other tags and types, where text or a number belongs
    "set-tag": (GOOD.replace("answer: 3", "answer: !!set {a, b}"), 7, "must be a finite number"),
    "omap-tag": (GOOD.replace("answer: 3", "answer: !!omap [a: 1]"), 7, "must be a finite number"),
    "binary-tag": (GOOD.replace("How many?", "!!binary aGk="), 6, "'prompt' must be non-empty text"),
    "timestamp": (GOOD.replace("How many?", "2020-01-01"), 6, "'prompt' must be non-empty text"),
    "bool-id": (GOOD.replace("id: q1", "id: yes"), 4, "'id' must be non-empty text"),
    "null-question": (GOOD.replace("  - id: q1", "  - ~\n  - id: q1"), 4, "question 1 must be a mapping"),
})


@pytest.mark.parametrize("case", PROBES, ids=str)
def test_bad_yaml_is_one_error_with_file_and_line(tmp_path, case):
    text, line, message = PROBES[case]
    _one_error_at(tmp_path, text, line, message)


def test_non_utf8_bytes_name_their_line(tmp_path):
    data = GOOD.replace("Because.", "Caf\xe9.").encode("latin-1")
    _one_error_at(tmp_path, data, 8, "byte 0xe9 is not UTF-8 text: save the file as UTF-8")


def test_billion_laughs_is_refused_fast(tmp_path):
    lol = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lol += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    text = GOOD.replace("week: 3\n", "week: 3\n" + "\n".join(lol) + "\n")  # 10**10 values once expanded
    start = time.perf_counter()
    _one_error_at(tmp_path, text, 6, "aliases expand this value to more than 100,000 values")  # a4: 111,111
    assert time.perf_counter() - start < 5


def test_deep_nesting_is_refused_at_its_line(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    _one_error_at(tmp_path, GOOD.replace("answer: 3", f"answer: {deep}"), 7, "nested more than 40 levels deep")


def test_huge_file_is_refused(tmp_path):
    _one_error_at(tmp_path, GOOD + "#" * (yaml_lines.MAX_BYTES + 1), 1, "more than a bank can have")


def test_merge_keys_and_small_aliases_work(tmp_path):
    text = textwrap.dedent("""\
        week: 3
        title: Merged
        questions:
          - &base
            id: q1
            kind: numeric
            prompt: How many?
            answer: 3
            explanation: Because.
          - <<: *base
            id: q2
            answer: 4
        """)
    path = tmp_path / "week03.yaml"
    path.write_text(text)
    bank = quiz.load_bank(path)
    assert [(q.id, q.answer, q.prompt) for q in bank.questions] == [("q1", 3, "How many?"), ("q2", 4, "How many?")]
    assert bank.questions[1].where.endswith(":10")
    _one_error_at(tmp_path, text + "    answer: 5\n", 13, "duplicate key 'answer' (first on line 12)")


def test_computed_answer_too_big_is_reported_at_validation(tmp_path):
    path = tmp_path / "week07.yaml"
    path.write_text(GOOD.replace("week: 3", "week: 7").replace("kind: numeric", "kind: single").replace(
        "answer: 3", "choices: [a, b]\n    answer_from: {fn: rank_positions, "
                     "args: {num_samples: 1000000, rank: 0, world_size: 1}}"))
    problems = quiz.validate_answers(quiz.load_bank(path))
    assert len(problems) == 1 and problems[0].startswith(f"{path}:4: question 'q1': ") \
        and "characters long (at most 10,000)" in problems[0], problems


def test_dry_runs_with_huge_sizes_cost_no_memory(tmp_path):
    """A shape computed by a dry run of a 10**6 x 10**6 layer (4 TB of weights) is computed on the meta device."""
    path = tmp_path / "week03.yaml"
    path.write_text(GOOD.replace("kind: numeric", "kind: shape").replace(
        "answer: 3", "answer_from: {fn: linear_output_shape, "
                     "args: {batch_size: 1000000, in_features: 1000000, out_features: 1000000}}"))
    start = time.perf_counter()
    assert quiz.load_bank(path).questions[0].expected() == (1_000_000, 1_000_000)
    assert time.perf_counter() - start < 10


def test_cli_validate_prints_one_line_per_problem(tmp_path):
    bad = tmp_path / "week03.yaml"
    bad.write_bytes(PROBES["complex-key-list"][0].encode())
    out = subprocess.run([sys.executable, "-m", "course_lib", "quiz", "validate", str(bad)], cwd=REPO,
                         capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [f"error: invalid quiz bank: {bad}:9: a key must be text or a number, "
                                               "not a list (a '? ' complex key): write it as plain text"]


# ------------------------------------------------------------------ property-based: nothing but QuizBankError

def _only_bank_errors(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "week03.yaml"
    path.write_bytes(data)
    try:
        quiz.load_bank(path)
    except quiz.QuizBankError as exc:
        pattern = rf"{re.escape(str(path))}:[1-9]\d*: \S"  # a real line number, then the message
        assert all(re.match(pattern, e) and "\n" not in e for e in exc.errors), exc.errors


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_give_a_bank_or_file_line_errors(tmp_path, data):
    _only_bank_errors(tmp_path, data)


@SETTINGS
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!<?|>'\"#%@`,.\n \t0123456789~")), max_size=200))
def test_yaml_punctuation_soup_gives_a_bank_or_file_line_errors(tmp_path, text):
    _only_bank_errors(tmp_path, text.encode())


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                       max_leaves=20)
_QUESTION = st.fixed_dictionaries({}, optional={k: _VALUES for k in (
    "id", "kind", "prompt", "explanation", "answer", "answer_from", "tolerance", "choices", "name", "check")}) | \
    st.fixed_dictionaries({"id": st.just("q1"), "kind": st.sampled_from(sorted(quiz.KINDS)),
                           "prompt": st.just("?"), "explanation": st.just("."), "answer": _VALUES,
                           "tolerance": _VALUES, "answer_from": _VALUES})


@SETTINGS
@given(st.fixed_dictionaries({"week": _VALUES | st.just(3), "title": _VALUES, "questions": st.lists(_QUESTION)}))
def test_random_bank_documents_give_a_bank_or_file_line_errors(tmp_path, doc):
    _only_bank_errors(tmp_path, yaml.safe_dump(doc, allow_unicode=True).encode())


COMPUTED = [q for b in quiz.load_all_banks() for q in b.questions if q.answer_from is not None]


@pytest.mark.parametrize("q", COMPUTED, ids=lambda q: q.key)
def test_bounded_computation_gives_the_same_answer_as_a_plain_call(q):
    """Computing on the meta device (when it only needs shapes and counts) changes no answer of the course."""
    plain = q.handler.normalize(quiz.ANSWERS[q.answer_from.fn](**q.answer_from.args))
    assert q.expected() == plain
