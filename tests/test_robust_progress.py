"""Quiz progress under hostile and clumsy use: concurrent writers lose nothing; damaged files are set aside.

Each test reproduces a probe: several processes recording at once, a folder where the file should be,
a file where the folder should be, JSON nested too deep, absurd values. It asserts one clear line,
the bad file moved aside (never deleted) and every other answer kept.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course_lib.quiz import Progress, ProgressError, ProgressWarning
from course_lib.quiz import progress as progress_module

REPO = Path(__file__).resolve().parent.parent
WRITER = """
import sys
from course_lib.quiz.progress import Progress
directory, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = Progress(directory)
for i in range(n):
    p.record("week05", f"{name}-{i}", f"answer {i}", i % 2 == 0)
"""


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "COURSE_PROGRESS_DIR": str(tmp_path)}


def test_concurrent_writers_keep_every_answer(tmp_path):
    """4 processes x 50 answers into one bank, while this process (a kernel) and the CLI also use it."""
    n_proc, m = 4, 50
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), f"p{k}", str(m)],
                                env=_env(tmp_path), cwd=REPO)
               for k in range(n_proc)]
    kernel = Progress(tmp_path)
    readers = []
    for i in range(m):  # the "kernel" records too, and the CLI reads the progress file meanwhile
        kernel.record("week05", f"kernel-{i}", i, True)
        if i % 10 == 0:
            readers.append(subprocess.run([sys.executable, "-m", "course_lib", "quiz", "progress", "week05"],
                                          env=_env(tmp_path), cwd=REPO, capture_output=True, text=True))
    assert [w.wait(timeout=300) for w in writers] == [0] * n_proc
    assert all(r.returncode == 0 and "week05" in r.stdout and not r.stderr for r in readers), readers
    answers = Progress(tmp_path).answers("week05")
    expected = {f"p{k}-{i}" for k in range(n_proc) for i in range(m)} | {f"kernel-{i}" for i in range(m)}
    assert set(answers) == expected  # all (N+1) x M kept
    assert answers["p3-49"] == {**answers["p3-49"], "given": "answer 49", "correct": False, "attempts": 1}
    assert not list(tmp_path.glob("*.corrupt-*")) and not list(tmp_path.glob("*.tmp"))


def test_attempts_are_counted_across_processes(tmp_path):
    """Two processes answering the same question: every attempt is counted."""
    script = WRITER.replace('f"{name}-{i}"', '"same"')
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), "x", "30"],
                              env=_env(tmp_path), cwd=REPO)
             for _ in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    assert Progress(tmp_path).answers("week05")["same"]["attempts"] == 60


def test_lock_held_too_long_is_one_clear_error_and_nothing_lost(tmp_path, monkeypatch):
    from filelock import FileLock

    Progress(tmp_path).record("week01", "a", "1", True)
    monkeypatch.setattr(progress_module, "LOCK_TIMEOUT_S", 0.2)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from filelock import FileLock\n"
                               "with FileLock(sys.argv[1]):\n print('held', flush=True); time.sleep(30)",
                               str(tmp_path / ".week01.json.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ProgressError, match=r"week01\.json is held by another process for over 0\.2 s: let "):
            Progress(tmp_path).record("week01", "b", "2", True)
    finally:
        holder.kill()
        holder.wait()
    assert set(Progress(tmp_path).answers("week01")) == {"a"}
    assert FileLock(tmp_path / ".week01.json.lock").acquire(timeout=5)  # released when its holder died


# ------------------------------------------------------------------ damaged files: one line, set aside, rest kept

def _one_warning(record) -> str:
    messages = [str(w.message) for w in record if issubclass(w.category, ProgressWarning)]
    assert len(messages) == 1 and "\n" not in messages[0], messages
    return messages[0]


def _two_weeks(tmp_path: Path) -> Progress:
    p = Progress(tmp_path)
    p.record("week01", "kept", "0.1307", True)
    p.record("week02", "also-kept", "3", False)
    return p


def _other_weeks_intact(tmp_path: Path) -> None:
    answers = Progress(tmp_path).answers("week01")
    assert answers["kept"]["given"] == "0.1307" and answers["kept"]["correct"] is True


@pytest.mark.parametrize("case", ["folder", "dangling-link", "deep-json", "huge-file", "not-utf8"])
def test_damaged_progress_file_is_set_aside_and_the_week_works_again(tmp_path, case):
    _two_weeks(tmp_path)
    path = tmp_path / "week02.json"
    path.unlink()
    if case == "folder":
        path.mkdir()
        (path / "inside.txt").write_text("mine")
    elif case == "dangling-link":
        path.symlink_to(tmp_path / "nowhere.json")
    elif case == "deep-json":
        path.write_text('{"answers": ' + "[" * 200_000 + "]" * 200_000 + "}")
    elif case == "huge-file":
        path.write_bytes(b" " * (progress_module.MAX_FILE_BYTES + 1))
    else:
        path.write_bytes(b'{"answers": {"\xff\xfe": 1}}')
    with pytest.warns(ProgressWarning) as record:
        entry = Progress(tmp_path).record("week02", "new", "7", True)
    message = _one_warning(record)
    assert f"{path} could not be read" in message and "moved to week02.json.corrupt-" in message
    aside = list(tmp_path.glob("week02.json.corrupt-*"))
    assert len(aside) == 1  # set aside, not deleted
    if case == "folder":
        assert (aside[0] / "inside.txt").read_text() == "mine"
    assert Progress(tmp_path).answers("week02") == {"new": entry}
    _other_weeks_intact(tmp_path)


def test_progress_folder_that_is_a_file_is_set_aside(tmp_path):
    folder = tmp_path / "progress"
    folder.write_text("my notes")
    with pytest.warns(ProgressWarning) as record:
        Progress(folder).record("week01", "a", "1", True)
    message = _one_warning(record)
    assert f"quiz progress folder {folder} was a file" in message and "moved to progress.corrupt-" in message
    assert next(tmp_path.glob("progress.corrupt-*")).read_text() == "my notes"
    assert Progress(folder).answers("week01")["a"]["correct"] is True


@pytest.mark.parametrize("bad", [
    {"correct": "yes"}, {"correct": True, "attempts": -3}, {"correct": True, "attempts": True},
    {"correct": True, "attempts": 10**30}, {"correct": True, "attempts": 2.5}, {"correct": True, "checked_at": [1]},
    {"correct": True, "given": "x" * 100_000}, [], None, 7,
])
def test_absurd_entries_are_dropped_and_the_rest_kept(tmp_path, bad):
    p = _two_weeks(tmp_path)
    p.record("week01", "also", "2", False)
    doc = json.loads((tmp_path / "week01.json").read_text())
    doc["answers"]["absurd"] = bad
    (tmp_path / "week01.json").write_text(json.dumps(doc))
    with pytest.warns(ProgressWarning) as record:
        answers = Progress(tmp_path).answers("week01")
    assert "dropped damaged entries ['absurd']; kept 2 answers" in _one_warning(record)
    assert set(answers) == {"kept", "also"}
    assert "absurd" in next(tmp_path.glob("week01.json.corrupt-*")).read_text()  # the original, kept aside


@pytest.mark.parametrize("given", ["x" * 1_000_000, float("nan"), object(), [[[[1]]]] * 5000])
def test_what_is_saved_is_bounded_and_valid_json(tmp_path, given):
    entry = Progress(tmp_path).record("week01", "q", given, False)
    text = (tmp_path / "week01.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} written"))  # strict JSON, no NaN
    assert len(json.dumps(entry["given"])) <= progress_module.MAX_GIVEN_CHARS + 2
    assert Progress(tmp_path).answers("week01")["q"] == entry  # it reads back as a valid entry


def test_cli_reports_damage_in_one_line_and_exits_0(tmp_path):
    (tmp_path / "week03.json").write_text("[1, 2")
    out = subprocess.run([sys.executable, "-m", "course_lib", "quiz", "progress", "week03"], env=_env(tmp_path),
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0 and "| week03 |" in out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"warning: quiz progress {tmp_path / 'week03.json'} could not")
    assert (next(tmp_path.glob("week03.json.corrupt-*"))).read_text() == "[1, 2"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_progress_folder_is_one_clear_error(tmp_path):
    folder = tmp_path / "ro"
    Progress(folder).record("week01", "a", "1", True)
    folder.chmod(0o500)
    try:
        with pytest.raises(ProgressError, match="set COURSE_PROGRESS_DIR to a folder you can write"):
            Progress(folder).record("week01", "b", "2", True)
    finally:
        folder.chmod(0o700)
    assert set(Progress(folder).answers("week01")) == {"a"}


def test_widget_says_when_an_answer_could_not_be_saved(tmp_path, monkeypatch):
    from course_lib import quiz
    from course_lib.quiz import widgets as quiz_widgets

    bank = quiz.load_all_banks()[0]
    view = quiz_widgets.show_quiz(bank, namespace={}, progress=Progress(tmp_path))
    monkeypatch.setattr(progress_module, "LOCK_TIMEOUT_S", 0.2)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from filelock import FileLock\n"
                               "with FileLock(sys.argv[1]):\n print('held', flush=True); time.sleep(30)",
                               str(tmp_path / f".{bank.name}.json.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        qv = next(v for v in view.questions if v.question.kind == "single")
        qv.input.value = qv.question.choices[0]
        qv.check_button.click()  # the learner's click: a verdict, and one line saying it was not saved
    finally:
        holder.kill()
        holder.wait()
    assert qv.result is not None and "answer not saved: quiz progress" in view.banner.value
    assert view.score().answered == 1 and Progress(tmp_path).answers(bank.name) == {}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400) | st.text(alphabet='{}[]":,0123456789truefalsnil answerscorrectgiven', max_size=200)
       .map(str.encode))
def test_any_progress_file_is_read_or_set_aside_and_the_week_works(tmp_path, blob):
    folder = tmp_path / uuid.uuid4().hex  # a fresh folder for each example
    Progress(folder).record("week02", "other-week", "1", True)
    (folder / "week01.json").write_bytes(blob)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProgressWarning)
        Progress(folder).record("week01", "new", "2", True)  # never raises
        answers = Progress(folder).answers("week01")
    assert answers["new"]["given"] == "2" and Progress(folder).answers("week02")["other-week"]["correct"] is True
    aside = [p.read_bytes() for p in folder.glob("week01.json.corrupt-*")]
    if aside:
        assert aside == [blob]  # set aside whole, byte for byte
    else:  # it was a progress file whose entries were all valid: kept and read
        assert isinstance(json.loads(blob)["answers"], dict)
