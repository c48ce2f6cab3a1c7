"""Quiz banks validate; every answer checks right and wrong answers wrong; the widget is driven; progress is safe.

Run one week: `pytest tests/test_quiz.py -k week05`.
"""
from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from course_lib import models, quiz
from course_lib.__main__ import main as cli
from course_lib.paths import progress_dir
from course_lib.quiz import ANSWERS, Progress, ProgressWarning
from course_lib.quiz import widgets as quiz_widgets

BANKS = quiz.load_all_banks()  # a broken bank fails collection with its file:line errors
QUESTIONS = [q for bank in BANKS for q in bank.questions]


def question(bank: str, qid: str) -> quiz.Question:
    return next(q for b in BANKS if b.name == bank for q in b.questions if q.id == qid)


@pytest.fixture(autouse=True)
def _progress_in_tmp(tmp_path, monkeypatch):
    """Never write the developer's real progress folder."""
    monkeypatch.setenv("COURSE_PROGRESS_DIR", str(tmp_path / "progress"))


# ------------------------------------------------------------------ the banks

def test_one_bank_per_week_with_at_least_8_questions():
    assert [b.name for b in BANKS] == [f"week{w:02d}" for w in range(1, 8)]
    for bank in BANKS:
        assert len(bank.questions) >= 8, bank.name
        assert all(q.explanation.strip() for q in bank.questions)


def test_banks_use_every_kind_and_never_type_course_numbers():
    assert {q.kind for q in QUESTIONS} == set(quiz.KINDS)
    assert all(any(q.kind == "code" for q in b.questions) for b in BANKS), "each week checks some learner code"
    # numbers and shapes come from course_lib (answer_from), never typed in a bank, so they cannot go stale
    typed = [q.where for q in QUESTIONS if q.kind in ("numeric", "shape") and q.answer_from is None]
    assert not typed, f"numeric/shape answers typed by hand: {typed}"


@pytest.mark.parametrize("bank", BANKS, ids=lambda b: b.name)
def test_computed_answers_compute_and_fit_their_question(bank):
    assert quiz.validate_answers(bank) == []


def _right_and_wrong(q: quiz.Question) -> tuple[list, list]:
    """Answers a learner could give: the right one in several spellings, and wrong ones."""
    expected = q.expected()
    if q.kind == "single":
        return [expected], [c for c in q.choices if c != expected]
    if q.kind == "multiple":
        right = set(expected)
        toggled = [sorted(right ^ {c}) for c in q.choices]  # one choice added or removed
        return [list(expected), list(reversed(expected))], [t for t in toggled if t]
    if q.kind == "numeric":
        delta = 10 * q.tolerance + 0.1 * abs(expected) + (1 if isinstance(expected, int) else 0.01)
        right = [expected, str(expected)] + ([f"{expected:,}"] if isinstance(expected, int) else [])
        return right, [expected + delta, expected - delta, str(expected + delta), "twelve"]
    shape = tuple(expected)
    wrong = [shape[:-1] + (shape[-1] + 1,), shape[1:], shape + (1,)]
    if shape[::-1] != shape:
        wrong.append(shape[::-1])
    return [shape, list(shape), "x".join(map(str, shape)), str(shape)], wrong


@pytest.mark.parametrize("q", QUESTIONS, ids=lambda q: q.key)
def test_right_answer_checks_right_and_wrong_answers_wrong(q):
    if q.kind == "code":
        right_ns, wrong_ns = {}, {}
        exec(q.solution, right_ns)  # the bank's own solution, as a learner would run it
        exec(q.common_mistake, wrong_ns)
        assert quiz.check_code(q, right_ns).correct, quiz.check_code(q, right_ns).message
        result = quiz.check_code(q, wrong_ns)
        assert not result.correct and result.message
        missing = quiz.check_code(q, {})
        assert not missing.correct and f"`{q.name}`" in missing.message
        return
    right, wrong = _right_and_wrong(q)
    for given in right:
        assert quiz.check_answer(q, given).correct, (given, q.expected())
    for given in wrong:
        assert not quiz.check_answer(q, given).correct, (given, q.expected())
    assert not quiz.check_answer(q, None).correct


def test_computed_answers_follow_the_library(monkeypatch):
    """A retuned backbone changes the computed answers: nothing in a bank goes stale."""
    gap = question("week06", "mnist-gap-head-parameters")
    rf = question("week04", "rf-last-layer")
    before = gap.expected(), rf.expected()
    assert before[0] == models.count_parameters(models.build_model("mnist", "gap_fc").head)
    monkeypatch.setitem(models.BACKBONES, "mnist_small", (((4,), (6,)), False))  # conv-pool-conv, 6 channels
    assert gap.expected() == 6 * 10 + 10  # C*K + K
    assert rf.expected() == 8  # 3 (conv) -> 4, jump 2 (pool) -> 4 + 2*2 (conv)
    assert quiz.check_answer(gap, 70).correct and not quiz.check_answer(gap, before[0]).correct


def test_learner_spellings_and_score():
    q_shape, q_num = question("week05", "backbone-output"), question("week05", "flatten-fc-parameters")
    for text in ("(512, 7, 7)", "512x7x7", "[512,7,7]", "torch.Size([512, 7, 7])", "512 7 7"):
        assert quiz.check_answer(q_shape, text).correct, text
    assert quiz.check_answer(q_num, "250,890").correct and quiz.check_answer(q_num, "250_890").correct
    bad = quiz.check_answer(q_num, "lots")
    assert not bad.correct and "not a number" in bad.message
    bank = next(b for b in BANKS if b.name == "week05")
    s = quiz.score(bank.questions, {"backbone-output": "512x7x7", "flatten-fc-parameters": 1})
    assert (s.correct, s.answered, s.total) == (1, 2, len(bank.questions))


def test_code_check_reports_a_crashing_learner_function():
    q = question("week02", "write-relu")

    def relu(z):
        raise ValueError("not written yet")

    result = quiz.check_code(q, {"relu": relu})
    assert not result.correct and "ValueError: not written yet" in result.message
    assert not quiz.check_code(q, {"relu": 3}).correct  # not even a function


# ------------------------------------------------------------------ malformed banks

GOOD_QUESTION = """\
  - id: q1
    kind: numeric
    prompt: How many?
    answer: 3
    explanation: Because.
"""


def _bank(body: str, week: int = 3) -> str:
    return f"week: {week}\ntitle: A test bank\nquestions:\n" + textwrap.dedent(body)


def _line_of(text: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if "#<-" in line)


MALFORMED = {
    "yaml-syntax": (_bank("  - id: q1\n    kind: numeric\n    prompt: one: two  #<-\n"), "YAML syntax error"),
    "unknown-kind": (_bank(GOOD_QUESTION.replace("kind: numeric", "kind: numerical  #<-")),
                     "unknown kind 'numerical'; valid kinds: single, multiple, numeric, shape, code"),
    "typo-key": (_bank(GOOD_QUESTION.replace("explanation:", "explaination:") .replace("Because.", "Because.  #<-")),
                 "unknown key 'explaination'"),
    "missing-explanation": (_bank("  - id: q1  #<-\n    kind: shape\n    prompt: Shape?\n    answer: [1, 2]\n"),
                            "missing required key 'explanation'"),
    "answer-not-a-choice": (_bank("""\
        - id: q1
          kind: single
          prompt: Which?
          choices: [a, b]
          answer: c  #<-
          explanation: Because.
        """), "answer ['c'] is not among the choices"),
    "duplicate-id": (_bank(GOOD_QUESTION + GOOD_QUESTION.replace("  - id: q1", "  - id: q1  #<-")),
                     "duplicate question id 'q1'"),
    "duplicate-key": (_bank(GOOD_QUESTION.replace("    answer: 3\n", "    answer: 3\n    answer: 4  #<-\n")),
                      "duplicate key 'answer'"),
    "unknown-answer-function": (_bank(GOOD_QUESTION.replace("answer: 3", "answer_from: {fn: nb_params}  #<-")),
                                "unknown function 'nb_params'; valid: "),
    "bad-arguments": (_bank(GOOD_QUESTION.replace(
        "answer: 3", "answer_from:\n      fn: head_parameters\n      args: {head: gap_fc, channels: 512}  #<-")),
        "for head_parameters(head, in_channels, num_classes, feature_hw=None"),
    "number-as-text": (_bank(GOOD_QUESTION.replace("answer: 3", "answer: 1e-3  #<-")), "write 1.0e-3"),
    "week-mismatch": (_bank(GOOD_QUESTION, week=4).replace("week: 4", "week: 4  #<-"), "does not match the file name"),
    "both-answers": (_bank(GOOD_QUESTION.replace(
        "answer: 3", "answer: 3\n    answer_from: {fn: uniform_loss, args: {num_classes: 10}}  #<-")),
        "either 'answer' or 'answer_from'"),
    "code-without-solution": (_bank("""\
        - id: q1  #<-
          kind: code
          prompt: Define x.
          name: x
          check: {fn: value_equals}
          common_mistake: x = 1
          explanation: Because.
        """), "a code question needs 'solution'"),
}


@pytest.mark.parametrize("case", MALFORMED, ids=str)
def test_malformed_bank_error_names_file_and_line(tmp_path, case):
    text, message = MALFORMED[case]
    path = tmp_path / "week03.yaml"
    path.write_text(text)
    with pytest.raises(quiz.QuizBankError) as info:
        quiz.load_bank(path)
    expected_prefix = f"{path}:{_line_of(text)}: "
    assert any(e.startswith(expected_prefix) and message in e for e in info.value.errors), \
        f"wanted {expected_prefix}...{message}, got {info.value.errors}"


def test_every_error_of_a_bank_is_reported_at_once(tmp_path):
    text = _bank(GOOD_QUESTION.replace("kind: numeric", "kind: numerical")
                 + GOOD_QUESTION.replace("q1", "Q 2").replace("answer: 3", "answer: three"))
    path = tmp_path / "week03.yaml"
    path.write_text(text)
    with pytest.raises(quiz.QuizBankError) as info:
        quiz.load_bank(path)
    assert len(info.value.errors) == 3, info.value.errors  # unknown kind; bad id; answer not a number
    assert str(path) in str(info.value) and ":5: " in str(info.value)


def test_cli_validate(tmp_path, capsys):
    assert cli(["quiz", "validate"]) == 0
    out = capsys.readouterr().out
    assert all(f"{b.name}: {len(b.questions)} questions" in out for b in BANKS)
    bad = tmp_path / "week03.yaml"
    bad.write_text(MALFORMED["unknown-kind"][0])
    assert cli(["quiz", "validate", str(bad)]) == 2
    assert f"{bad}:{_line_of(MALFORMED['unknown-kind'][0])}: " in capsys.readouterr().err


def test_answer_registry_is_explicit():
    """Computed answers come from named functions only; the bank cannot name anything else."""
    assert "head_parameters" in ANSWERS and "eval" not in ANSWERS and "exec" not in ANSWERS
    q = question("week05", "flatten-fc-parameters")
    assert q.answer_from.describe().startswith("head_parameters(head='flatten_fc'")


# ------------------------------------------------------------------ the widget

def _give_right_answer(view: quiz_widgets.QuestionView, namespace: dict) -> None:
    q = view.question
    if q.kind == "code":
        exec(q.solution, namespace)
    else:
        view.set_answer(_right_and_wrong(q)[0][-1])  # the way a learner types or clicks it


def test_widget_select_check_score_and_restore(tmp_path):
    bank = next(b for b in BANKS if b.name == "week05")
    progress, namespace = Progress(tmp_path), {}
    view = quiz_widgets.show_quiz(bank, namespace=namespace, progress=progress)
    assert f"Score: 0 / {len(bank.questions)}" in view.score_label.value
    for qv in view.questions:
        _give_right_answer(qv, namespace)
        qv.check_button.click()  # what the learner's click does
        assert qv.result.correct, (qv.question.id, qv.result.message)
        assert "Right" in qv.feedback.value and "Why:" in qv.feedback.value
    n = len(bank.questions)
    assert f"Score: {n} / {n}" in view.score_label.value and view.score() == quiz.Score(n, n, n)

    single = next(qv for qv in view.questions if qv.question.kind == "single")
    wrong = next(c for c in single.question.choices if c != single.question.expected())
    single.input.value = wrong  # select another option
    single.check_button.click()
    assert "Not quite" in single.feedback.value and f"Score: {n - 1} / {n}" in view.score_label.value

    saved = json.loads((tmp_path / "week05.json").read_text())["answers"]
    assert len(saved) == n and saved[single.question.id] == {**saved[single.question.id], "given": wrong,
                                                              "correct": False, "attempts": 2}
    again = quiz_widgets.show_quiz(bank, namespace={}, progress=Progress(tmp_path))
    assert again.score() == quiz.Score(n - 1, n, n)
    restored = next(qv for qv in again.questions if qv.question.id == single.question.id)
    assert restored.input.value == wrong and "saved" in restored.feedback.value


def test_widget_empty_answer_and_missing_code(tmp_path):
    bank = next(b for b in BANKS if b.name == "week05")
    view = quiz_widgets.show_quiz(bank, namespace={}, progress=Progress(tmp_path))
    first = view.questions[0]
    first.check_button.click()  # nothing typed yet: a hint, not an attempt
    assert "answer first" in first.feedback.value and view.score().answered == 0
    code = next(qv for qv in view.questions if qv.question.kind == "code")
    code.check_button.click()
    assert not code.result.correct and f"define `{code.question.name}`" in code.feedback.value


def test_review_shows_every_question_answer_and_explanation():
    bank = next(b for b in BANKS if b.name == "week05")
    text = quiz_widgets.review_markdown(bank)
    for q in bank.questions:
        assert q.prompt.strip()[:40] in text and q.explanation.strip()[:40] in text
        if q.kind in ("numeric", "shape"):
            assert f"`{quiz.format_answer(q)}`" in text
        if q.kind == "code":
            assert q.solution.strip().splitlines()[0] in text
    assert "`250,890`" in text and "`(512, 7, 7)`" in text
    assert "**right answer:** flatten_fc" in text  # the computed single-choice answer is marked in words


# ------------------------------------------------------------------ progress

def test_progress_dir_is_configurable(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS_DIR", str(tmp_path / "elsewhere"))
    assert progress_dir() == tmp_path / "elsewhere" and Progress().directory == tmp_path / "elsewhere"
    monkeypatch.delenv("COURSE_PROGRESS_DIR")
    assert progress_dir() == Path.home() / ".course_progress"


def test_progress_write_is_atomic(tmp_path, monkeypatch):
    progress = Progress(tmp_path)
    progress.record("week01", "mnist-mean", "0.1307", True)
    before = (tmp_path / "week01.json").read_bytes()

    def crash(fd):
        raise OSError("disk full")

    monkeypatch.setattr("course_lib.files.os.fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        progress.record("week01", "cifar100-classes", "100", True)
    assert (tmp_path / "week01.json").read_bytes() == before  # the old file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == [".week01.json.lock", "week01.json"]  # no temporary file


def test_corrupted_progress_is_reported_kept_aside_and_other_weeks_survive(tmp_path):
    progress = Progress(tmp_path)
    progress.record("week01", "mnist-mean", "0.1307", True)
    progress.record("week02", "sgd-update", "0.3", True)
    (tmp_path / "week02.json").write_bytes(b'{"format": "course_lib.quiz.progress/1", "answ')  # truncated
    fresh = Progress(tmp_path)
    with pytest.warns(ProgressWarning, match="moved to week02.json.corrupt-"):
        assert fresh.answers("week02") == {}
    aside = list(tmp_path.glob("week02.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().endswith(b'"answ')  # kept for inspection
    assert fresh.answers("week01")["mnist-mean"]["correct"] is True  # other weeks untouched
    fresh.record("week02", "sgd-update", "0.2", False)  # and the week works again
    assert fresh.answers("week02")["sgd-update"]["given"] == "0.2"
    assert len(fresh.problems) == 1


def test_progress_keeps_the_entries_that_parse(tmp_path):
    progress = Progress(tmp_path)
    for qid in ("a", "b", "c"):
        progress.record("week03", qid, qid, qid != "b")
    doc = json.loads((tmp_path / "week03.json").read_text())
    doc["answers"]["b"] = "garbage"
    (tmp_path / "week03.json").write_text(json.dumps(doc))
    with pytest.warns(ProgressWarning, match=r"dropped damaged entries \['b'\]; kept 2"):
        answers = Progress(tmp_path).answers("week03")
    assert set(answers) == {"a", "c"}
    assert json.loads((tmp_path / "week03.json").read_text())["answers"].keys() == {"a", "c"}
    assert len(list(tmp_path.glob("week03.json.corrupt-*"))) == 1


def test_not_a_progress_file_is_moved_aside_and_shown_in_the_quiz(tmp_path):
    (tmp_path / "week05.json").write_text("[1, 2, 3]")
    bank = next(b for b in BANKS if b.name == "week05")
    with pytest.warns(ProgressWarning):
        view = quiz_widgets.show_quiz(bank, namespace={}, progress=Progress(tmp_path))
    assert "could not be read" in view.banner.value and view.score().answered == 0
    assert re.fullmatch(r"week05\.json\.corrupt-\d{8}T\d{6}", next(tmp_path.glob("week05.json.*")).name)
