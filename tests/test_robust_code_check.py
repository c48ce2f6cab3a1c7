"""Learner code inside a code check: a time limit, an output cap, a message cap, and sys.exit() reported.

Each probe defines the learner's `relu` badly (an endless loop, a flood of printing, a huge error message,
sys.exit) and checks it the way the quiz widget does (`quiz.check_code`): one verdict, nothing escapes.
"""
from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from course_lib import quiz
from course_lib.quiz import limits

REPO = Path(__file__).resolve().parent.parent
QUESTION = next(q for b in quiz.load_all_banks() for q in b.questions if q.key == "week02/write-relu")


@pytest.fixture(autouse=True)
def _short_limit(monkeypatch):
    monkeypatch.setattr(limits, "TIME_LIMIT_S", 0.5)


def _check(relu) -> quiz.CheckResult:
    start = time.perf_counter()
    result = quiz.check_code(QUESTION, {"relu": relu})
    assert time.perf_counter() - start < 10
    assert not result.correct and len(result.message) < 3000
    return result


def _endless(z):
    while True:
        pass


def _endless_swallowing(z):
    while True:
        try:
            while True:
                pass
        except Exception:  # a learner's catch-all: the time limit is not an Exception
            pass


@pytest.mark.parametrize("relu", [_endless, _endless_swallowing], ids=["loop", "loop-catching-Exception"])
def test_endless_learner_code_is_stopped_and_the_alarm_put_back(relu):
    before, (delay, _) = signal.getsignal(signal.SIGALRM), signal.getitimer(signal.ITIMER_REAL)
    assert _check(relu).message == "`relu` did not finish within 0.5 s (an endless loop?)"
    after, _ = signal.getitimer(signal.ITIMER_REAL)  # pytest-timeout's alarm, if any, is back; ours is gone
    assert (after == 0.0 if delay == 0.0 else 0 < after <= delay) and signal.getsignal(signal.SIGALRM) is before
    time.sleep(0.3)  # no late alarm goes off in the kernel afterwards
    assert quiz.check_code(QUESTION, {"relu": torch.relu}).correct


def test_an_alarm_set_before_the_check_is_put_back():
    def on_alarm(signum, frame):
        pytest.fail("the outer alarm went off")

    before = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, 100.0)  # e.g. pytest-timeout's, set for the whole test
    try:
        _check(_endless)
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 95 < remaining < 100 and signal.getsignal(signal.SIGALRM) is on_alarm
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)


def test_time_limit_holds_outside_the_main_thread():
    results = []
    worker = threading.Thread(target=lambda: results.append(quiz.check_code(QUESTION, {"relu": _endless})))
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive() and "did not finish within 0.5 s" in results[0].message
    assert sys.gettrace() is None or "coverage" in type(sys.gettrace()).__module__


def test_printing_is_captured_and_capped(capsys):
    def relu(z):
        print("x" * 5_000_000)
        return torch.relu(z)

    result = quiz.check_code(QUESTION, {"relu": relu})
    assert result.correct  # printing does not make it wrong
    assert result.message.endswith("more characters not shown))") and len(result.message) < 3000
    assert "(it printed: xxx" in result.message
    assert capsys.readouterr().out == ""  # nothing flooded the notebook


def test_huge_error_message_is_capped():
    def relu(z):
        raise ValueError("y" * 1_000_000)

    message = _check(relu).message
    assert message.startswith("`relu` raised ValueError: yyy") and "more characters not shown" in message


def test_an_exception_that_cannot_be_written_out():
    class Weird(Exception):
        def __str__(self):
            raise RuntimeError("no")

    def relu(z):
        raise Weird()

    assert _check(relu).message == "`relu` raised Weird: (its message could not be written out)"


@pytest.mark.parametrize("code", [0, 3, "bye"])
def test_sys_exit_in_learner_code_is_reported_not_propagated(code):
    def relu(z):
        sys.exit(code)

    assert _check(relu).message == (f"`relu` called sys.exit({code!r}): a checked function must return a value, "
                                    "not exit")


def test_ctrl_c_still_interrupts():
    def relu(z):
        raise KeyboardInterrupt

    before = signal.getsignal(signal.SIGALRM)
    with pytest.raises(KeyboardInterrupt):
        quiz.check_code(QUESTION, {"relu": relu})
    assert signal.getsignal(signal.SIGALRM) is before


def test_in_a_jupyter_kernel_the_quiz_click_gives_a_verdict_and_the_kernel_lives_on(tmp_path):
    """Where learners meet it: the quiz widget's Check click in a kernel, on an endless loop and on sys.exit.
    The first check in a fresh kernel imports torch: the time limit must not cut that import off halfway."""
    import nbformat
    from nbclient import NotebookClient

    cells = ["import sys\nfrom course_lib import quiz\nfrom course_lib.quiz import limits, widgets\n"
             "limits.TIME_LIMIT_S = 0.5\n"
             "bank = quiz.load_bank('week02')\n"
             "view = widgets.show_quiz([q for q in bank.questions if q.id == 'write-relu'], namespace=globals(), "
             f"progress=quiz.Progress({str(tmp_path)!r}))\n",
             "def relu(z):\n    while True:\n        pass\nview.questions[0].check_button.click()\n"
             "print(view.questions[0].result.message)",
             "def relu(z):\n    sys.exit(4)\nview.questions[0].check_button.click()\n"
             "print(view.questions[0].result.message)",
             "print('kernel alive', 6 * 7)"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}).execute()
    printed = ["".join(o.get("text", "") for o in c.outputs) for c in nb.cells]
    assert printed[1].strip() == "`relu` did not finish within 0.5 s (an endless loop?)"
    assert printed[2].strip() == "`relu` called sys.exit(4): a checked function must return a value, not exit"
    assert printed[3].strip() == "kernel alive 42"
