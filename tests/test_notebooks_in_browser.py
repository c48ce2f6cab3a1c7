"""Every notebook of the course opened in JupyterLab + headless Chromium, as a learner does, and a quiz round trip.

For each notebook found in the course's notebook folders (lessons, quiz reviews with the cumulative review,
summaries: discovered, so a new notebook is covered without touching this file): open it, Run > Run All
Cells, wait for every cell, then check the *page*: no error output, no widget or display object shown as
text (`IntSlider(...)`, `<IPython.core.display.Markdown object>`, `Loading widget...`), no figure shown as
`<Figure size ...>` text, every <img> decoded, no character drawn as an empty box (missing font). The first
screen of each notebook is kept in test-artifacts/notebooks/<folder>/<name>.png and the seconds each took
in test-artifacts/notebook_browser_timings.json.

The quiz round trip answers one question of each kind through the page (radio button, check boxes, typed
number, typed shape, code typed into a cell and run), clicks Check, reads the verdict, the explanation and
the score, gives one wrong answer, restarts the kernel, reopens the notebook and finds the saved answers
restored. Progress goes to a temporary $COURSE_PROGRESS_DIR.

Runs on copies of the folders in a temporary directory (the repository's notebooks stay without outputs),
in fast mode unless COURSE_FAST=0. Needs Chromium (skipped without it, failed under CI=true).
`COURSE_UPDATE_SCREENSHOTS=1` also copies the pictures named in README_SHOTS to docs/screenshots/.
Run: `CI=true COURSE_FAST=1 .venv/bin/python -m pytest tests/test_notebooks_in_browser.py -q -x`.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from course_lib import quiz

from . import browser_harness as bh
from .conftest import REPO

# A lesson's Run All takes 15-100 s in fast mode on 2 idle cores, several times that on a loaded machine.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(1800)]

# The course's notebook folders; every .ipynb in them is run in the browser.
FOLDERS = ("notebooks", "quizzes", "summaries")
NOTEBOOKS = sorted(p.relative_to(REPO).as_posix() for f in FOLDERS for p in (REPO / f).rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts)
ARTIFACTS = REPO / "test-artifacts"
SHOTS = ARTIFACTS / "notebooks"
DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"
# First screens the README shows: notebook -> docs/screenshots/ name (COURSE_UPDATE_SCREENSHOTS=1 copies them).
README_SHOTS = {"notebooks/week02_network_from_scratch.ipynb": "first_screen_lesson.png",
                "quizzes/week01_quiz_review.ipynb": "first_screen_quiz_review.png",
                "quizzes/cumulative_review.ipynb": "first_screen_cumulative_review.png",
                "summaries/week05_summary.ipynb": "first_screen_summary.png"}
FAST = os.environ.get("COURSE_FAST", "1")
RUN_ALL_TIMEOUT_S = 1200 if FAST != "0" else 3600
MAX_SCREENSHOT_BYTES = 300_000
FIGURE_TEXT = re.compile(r"<Figure size \d+x\d+ with \d+ Axes>")
ROUND_TRIP = "quizzes/week01_quiz_review.ipynb"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """(server, browser, progress dir): JupyterLab on a copy of the notebook folders, progress kept in tmp."""
    bh.require_browser()
    work = tmp_path_factory.mktemp("course-browser")
    root = work / "course"
    for folder in FOLDERS:
        bh.copy_tree(REPO / folder, root / folder)
    progress = work / "progress"
    env = {"COURSE_FAST": FAST, "COURSE_PROGRESS_DIR": str(progress)}
    with bh.lab_and_browser(root, work / "lab", env=env) as (server, browser):
        yield server, browser, progress


@pytest.fixture(scope="module")
def timings(request):
    """Seconds per notebook (open + Run All + checks), written to test-artifacts and printed at the end."""
    log: dict[str, float] = {}
    yield log
    if not log:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "notebook_browser_timings.json"
    try:
        previous = json.loads(path.read_text())["seconds"]
    except (OSError, ValueError, KeyError):
        previous = {}
    path.write_text(json.dumps({"seconds": previous | log, "environment": bh.environment_line(fast=FAST),
                                "measured_at": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=2) + "\n")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_sep("-", f"notebooks in JupyterLab + Chromium, seconds each (COURSE_FAST={FAST})")
        for name, seconds in sorted(log.items(), key=lambda kv: -kv[1]):
            reporter.write_line(f"{seconds:7.1f}  {name}")
        reporter.write_line(f"{sum(log.values()):7.1f}  total; written to {path}")


@pytest.fixture()
def page(course):
    server, browser, _ = course
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    try:
        yield tab
    finally:
        context.close()
        server.remember_kernels()
        server.shutdown_kernels()


def _needs_data(relpath: str) -> list[str]:
    """Data sets a notebook reads that are not provisioned here (only the lessons read data)."""
    if not relpath.startswith("notebooks/"):
        return []
    return [d for d in ("mnist",) if not bh.dataset_available(d)]


def _run(page, server, relpath: str) -> bh.Lesson:
    nb = bh.Lesson(page, server, relpath)
    nb.open()
    nb.run_all()
    prompts = nb.wait_until_executed(RUN_ALL_TIMEOUT_S)
    errors = nb.errors()
    assert not errors, f"{relpath}: error output in the browser:\n" + "\n---\n".join(errors)
    assert all(p.strip("[]: ").isdigit() for p in prompts), f"{relpath}: cells not executed: {prompts}"
    page.wait_for_timeout(500)  # let the last widget views attach
    return nb


def _check_page(page, nb: bh.Lesson, relpath: str) -> list[dict]:
    """The checks every notebook passes once run; returns its images."""
    reprs = nb.widget_text_reprs()
    assert not reprs, f"{relpath}: widgets or display objects shown as text: {reprs}"
    figures_as_text = [t[:120] for t in nb.text_outputs() if FIGURE_TEXT.search(t)]
    assert not figures_as_text, f"{relpath}: figures shown as text, not drawn: {figures_as_text}"
    imgs = bh.images(page, ".jp-NotebookPanel .jp-OutputArea")
    broken = [i for i in imgs if not (i["complete"] and i["width"] > 0)]
    assert not broken, f"{relpath}: images that did not decode: {broken}"
    boxes = bh.missing_glyphs(page, ".jp-NotebookPanel .jp-Notebook")
    assert not boxes, f"{relpath}: characters drawn as empty boxes (no font has them): {boxes}"
    return imgs


def _first_screen(page, name: str) -> Path:
    """Scroll the notebook to its top and keep a screenshot of the window."""
    page.evaluate("""() => document.querySelectorAll('.jp-NotebookPanel .jp-WindowedPanel-outer, '
                                                    + '.jp-NotebookPanel .jp-Notebook')
                         .forEach(el => { el.scrollTop = 0; })""")
    page.wait_for_timeout(200)
    path = SHOTS / name
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), animations="disabled")
    png = bh.shrink_png(path, MAX_SCREENSHOT_BYTES)
    assert len(png) < MAX_SCREENSHOT_BYTES, f"{path.name}: {len(png)} bytes"
    notebook = name.removesuffix(".png") + ".ipynb"
    if os.environ.get("COURSE_UPDATE_SCREENSHOTS") == "1" and notebook in README_SHOTS:
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS_SCREENSHOTS / README_SHOTS[notebook])
    return path


def _plain(markdown: str) -> str:
    """Text without backticks and stars, whitespace collapsed: a Markdown snippet and its rendering compare equal."""
    return " ".join(markdown.replace("`", "").replace("*", "").split())


def _banks_of(relpath: str) -> list[quiz.Bank]:
    """The banks a quiz notebook reviews: weekNN_quiz_review -> weekNN; the cumulative review -> all."""
    m = re.match(r"quizzes/(week\d+)_quiz_review\.ipynb$", relpath)
    if m:
        return [quiz.load_bank(m.group(1))]
    return quiz.load_all_banks() if relpath.startswith("quizzes/") else []


def _check_review_folded(page, relpath: str, banks: list[quiz.Bank]) -> None:
    """After Run All every answer of the review is folded away (nothing of it visible); a click on "Answer and
    why" opens one; then all are opened for the checks of the marks."""
    folds = page.locator(".jp-NotebookPanel .jp-OutputArea-output details.course-quiz-answer")
    assert folds.count() == sum(len(b.questions) for b in banks), f"{relpath}: {folds.count()} folded answers"
    shown = page.eval_on_selector_all(".jp-NotebookPanel details.course-quiz-answer",
                                      "els => els.filter(e => e.open || e.querySelector('li, p')?.checkVisibility())"
                                      ".length")
    assert shown == 0, f"{relpath}: {shown} answers visible after Run All"
    first = folds.first
    first.scroll_into_view_if_needed()
    first.locator("summary").click()
    assert first.evaluate("e => e.open") and first.locator("p").first.is_visible()
    page.eval_on_selector_all(".jp-NotebookPanel details.course-quiz-answer", "els => els.forEach(e => e.open = true)")


def _check_review_marks(page, relpath: str, banks: list[quiz.Bank]) -> None:
    """Each choice's mark in the rendered review reads right or wrong in words, as the bank says."""
    items = [_plain(t) for t in page.eval_on_selector_all(  # stars and backticks dropped on both sides
        ".jp-NotebookPanel .jp-OutputArea-output li", "els => els.map(e => e.innerText)")]
    right_marks = [t for t in items if t.startswith("right answer:")]
    n_right = 0
    for bank in banks:
        for q in bank.questions:
            if q.kind not in ("single", "multiple"):
                continue
            right = {q.expected()} if q.kind == "single" else set(q.expected())
            n_right += len(right)
            for choice in q.choices:
                if "$" in choice:  # MathJax typesets it: the count below still covers it
                    continue
                mark = "right answer:" if choice in right else "not this one:"
                assert f"{mark} {_plain(choice)}" in items, \
                    f"{relpath}: {q.key}: no list item reads {mark!r} {choice!r} in the rendered review"
    assert len(right_marks) == n_right, f"{relpath}: {len(right_marks)} right answers marked, expected {n_right}"


def test_notebooks_are_discovered():
    """Every notebook folder contributes (a folder that moves or empties fails here, not silently)."""
    for folder in FOLDERS:
        assert any(n.startswith(folder + "/") for n in NOTEBOOKS), f"no notebook found in {folder}/"
    assert any("cumulative" in n for n in NOTEBOOKS)
    assert set(README_SHOTS) <= set(NOTEBOOKS), set(README_SHOTS) - set(NOTEBOOKS)


def test_glyph_check_sees_empty_boxes(course):
    """The missing-glyph check can fail: a private-use character (no font has it) is caught, text is not."""
    _, browser, _ = course
    context = browser.new_context()
    try:
        tab = context.new_page()
        tab.set_content('<p id="ok">Right answer: e\u0301t\u00e9 \u2192 x</p><p id="box">\ue000 mark</p>')
        assert bh.missing_glyphs(tab, "#ok") == []
        assert [m["ch"] for m in bh.missing_glyphs(tab, "#box")] == ["\ue000"]
        # what the review used before (an emoji): report whether this machine can draw it
        print(f"U+2705 (the old review mark) draws here: {bh.glyph_renders(tab, chr(0x2705))}")
    finally:
        context.close()


@pytest.mark.parametrize("relpath", NOTEBOOKS)
def test_notebook_runs_in_browser(course, page, timings, relpath: str):
    """Open, Run All Cells, and check what the learner sees; keep a screenshot of the first screen."""
    missing = _needs_data(relpath)
    if missing and os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        pytest.skip(f"data not provisioned: {', '.join(missing)} (run `make data`)")
    server, _, _ = course
    start = time.perf_counter()
    nb = _run(page, server, relpath)
    imgs = _check_page(page, nb, relpath)
    if relpath.startswith("notebooks/"):
        assert imgs, f"{relpath}: a lesson without a single figure on the page"
    banks = _banks_of(relpath)
    if banks:
        quiz_boxes = page.locator(".course-quiz-question")
        assert quiz_boxes.count() > 0, f"{relpath}: the quiz is not rendered as widgets"
        assert quiz_boxes.locator("button", has_text="Check").count() == quiz_boxes.count()
        _check_review_folded(page, relpath, banks)
        _check_review_marks(page, relpath, banks)
    _first_screen(page, relpath.replace(".ipynb", ".png"))
    timings[relpath] = round(time.perf_counter() - start, 1)


# ------------------------------------------------------------------ the quiz round trip


def _pick(bank: quiz.Bank, kind: str, skip: tuple[str, ...] = ()) -> tuple[int, quiz.Question]:
    """(number on the page, question): the first question of `kind` without math (its text reads plainly)."""
    for i, q in enumerate(bank.questions, start=1):
        text = q.prompt + q.explanation + "".join(q.choices)
        if q.kind == kind and "$" not in text and q.id not in skip:
            return i, q
    raise AssertionError(f"{bank.name} has no {kind} question without math")


def _question_box(page, number: int):
    box = page.locator(".course-quiz-question").filter(
        has=page.locator(".widget-htmlmath", has_text=re.compile(rf"^\s*Q{number}\.")))
    assert box.count() == 1, f"question Q{number} not found (or found {box.count()} times)"
    return box


def _label(choice: str) -> str:
    return choice.replace("`", "")  # how quiz_widgets labels a radio button / check box


def _exactly(text: str) -> re.Pattern:
    return re.compile(rf"^\s*{re.escape(text)}\s*$")


def _answer(page, nb: bh.Lesson, number: int, q: quiz.Question, given=None) -> None:
    """Answer through the page as a learner does; `given` None = the right answer."""
    box = _question_box(page, number)
    if q.kind == "single":
        choice = q.expected() if given is None else given
        box.locator(".widget-radio-box label", has_text=_exactly(_label(choice))).click()
    elif q.kind == "multiple":
        wanted = set(q.expected() if given is None else given)
        for choice in q.choices:
            label = box.locator(".widget-checkbox label.widget-label-basic", has_text=_exactly(_label(choice)))
            label.locator("input").set_checked(choice in wanted)
    elif q.kind in ("numeric", "shape"):
        text = quiz.format_answer(q, q.expected()) if given is None else given
        box.locator(".widget-text input").fill(text)
    elif q.kind == "code":  # type the solution into the cell made for it, run it
        cell = page.locator(".jp-NotebookPanel .jp-CodeCell", has_text=f"({q.id})")
        old = cell.locator(".jp-InputArea-prompt").inner_text().strip()
        cell.locator(".cm-content").click()
        page.keyboard.press("Control+End")
        page.keyboard.press("Enter")
        page.keyboard.insert_text(q.solution if given is None else given)
        page.keyboard.press("Shift+Enter")
        _wait_cell_ran(page, cell, old)
        assert not nb.errors(), nb.errors()


def _wait_cell_ran(page, cell, old: str, timeout_s: float = 60) -> None:
    """Wait until `cell` shows an execution count other than `old` and the kernel is idle."""
    now, deadline = old, time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = cell.locator(".jp-InputArea-prompt").inner_text().strip()
        status = page.get_attribute(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator", "data-status")
        if now != old and now.strip("[]: ").isdigit() and status == "idle":
            return
        time.sleep(0.3)
    raise TimeoutError(f"the code cell did not run: prompt {old!r} -> {now!r}")


def _check(page, number: int) -> str:
    """Click Check on question `number`; return its feedback as read on the page."""
    box = _question_box(page, number)
    feedback = box.locator(".course-quiz-feedback")
    old = feedback.inner_text()
    box.locator("button", has_text="Check").click()
    page.wait_for_function("([el, old]) => el.innerText !== old && /Why:/.test(el.innerText)",
                           arg=[feedback.element_handle(), old], timeout=30_000)
    return " ".join(feedback.inner_text().split())


def _score(page) -> str:
    return " ".join(page.locator(".course-quiz-score").inner_text().split())


def test_quiz_round_trip_in_browser(course, page):
    """Answer each kind through the page, see verdicts, explanations and the score; restart; see them restored."""
    server, browser, progress = course
    shutil.rmtree(progress, ignore_errors=True)
    bank = quiz.load_bank(re.search(r"week\d+", ROUND_TRIP).group())
    picks = {kind: _pick(bank, kind) for kind in ("single", "multiple", "numeric", "shape", "code")}
    wrong_n, wrong_q = _pick(bank, "shape", skip=(picks["shape"][1].id,))
    wrong_given = quiz.format_answer(wrong_q, tuple(wrong_q.expected())[::-1] + (1,))

    nb = _run(page, server, ROUND_TRIP)
    total = len(bank.questions)
    assert _score(page) == f"Score: 0 / {total} (0 answered)", _score(page)
    for kind, (number, q) in picks.items():
        _answer(page, nb, number, q)
        feedback = _check(page, number)
        assert "Right." in feedback, f"{kind} Q{number}: {feedback}"
        assert _plain(q.explanation)[:60] in _plain(feedback), f"{kind} Q{number}: explanation missing: {feedback}"
    assert _score(page) == f"Score: 5 / {total} (5 answered)", _score(page)

    _answer(page, nb, wrong_n, wrong_q, given=wrong_given)
    feedback = _check(page, wrong_n)
    assert "Not quite" in feedback and "Right." not in feedback, feedback
    assert _plain(wrong_q.explanation)[:60] in _plain(feedback), f"no explanation for the wrong answer: {feedback}"
    assert _score(page) == f"Score: 5 / {total} (6 answered)", _score(page)
    boxes = bh.missing_glyphs(page, ".course-quiz-question")
    assert not boxes, f"quiz text drawn as empty boxes: {boxes}"
    first = min(n for n, _ in list(picks.values()) + [(wrong_n, wrong_q)])
    _question_box(page, first).evaluate("el => el.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(200)
    shot = SHOTS / "quiz_round_trip.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), animations="disabled")
    bh.shrink_png(shot, MAX_SCREENSHOT_BYTES)

    saved = json.loads((progress / f"{bank.name}.json").read_text())["answers"]
    assert set(saved) == {q.id for _, q in picks.values()} | {wrong_q.id}, saved
    assert saved[wrong_q.id]["correct"] is False and saved[picks["single"][1].id]["correct"] is True

    # Restart the kernel (Kernel > Restart Kernel...), then reopen the notebook in a new tab and Run All.
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Kernel$")).click()
    page.locator('.lm-Menu-item[data-command="kernelmenu:restart"]').click()
    page.locator(".jp-Dialog .jp-mod-accept").click()
    nb.wait_kernel_idle()
    page.context.close()
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
    again = context.new_page()
    again.set_default_timeout(60_000)
    try:
        nb2 = _run(again, server, ROUND_TRIP)
        assert _score(again) == f"Score: 5 / {total} (6 answered)", _score(again)
        first_box = again.locator(".course-quiz-question").first.locator(".widget-htmlmath").first
        assert first_box.inner_text().strip().startswith(f"Q{wrong_n}."), "the missed question does not come first"
        note = " ".join(again.locator(".course-quiz-retrieval").inner_text().split())
        assert f"shown first: Q{wrong_n}." in note, note
        for kind, (number, q) in list(picks.items()) + [("wrong", (wrong_n, wrong_q))]:
            feedback = " ".join(_question_box(again, number).locator(".course-quiz-feedback").inner_text().split())
            assert "Your last answer (saved)" in feedback, f"{kind} Q{number} not restored: {feedback!r}"
            assert ("Not quite" if kind == "wrong" else "Right.") in feedback, feedback
        single_n, single_q = picks["single"]
        checked = _question_box(again, single_n).locator(".widget-radio-box input:checked")
        assert checked.count() == 1 and checked.locator("xpath=..").inner_text().strip() == _label(single_q.expected())
        text = _question_box(again, wrong_n).locator(".widget-text input").input_value()
        assert text == wrong_given, text
        multi_n, multi_q = picks["multiple"]
        ticked = {_label(c) for c in multi_q.choices if _question_box(again, multi_n).locator(
            ".widget-checkbox label.widget-label-basic", has_text=_exactly(_label(c))).locator("input").is_checked()}
        assert ticked == {_label(c) for c in multi_q.expected()}, ticked
        assert not nb2.errors()
    finally:
        context.close()
