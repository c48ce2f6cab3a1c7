"""The course in a real browser: JupyterLab + headless Chromium, driven by playwright.

A widget that works in a kernel can still reach the learner as the text `IntSlider(value=0)` when the
frontend is missing, so these tests open the lessons in JupyterLab as a learner does: Run > Run All Cells,
wait for every cell, check that no cell failed, find the *rendered* sliders, move them with the keyboard and
check that the figure's PNG bytes change. They also save screenshots of the explorers
(test-artifacts/screenshots/) and measure slider -> new figure latency (test-artifacts/latency.json).

Needs Chromium (`apt-get install -y chromium`, found at /usr/bin/chromium or $COURSE_CHROMIUM); skipped
without it, except under CI=true where a missing browser fails. The server runs on a copy of notebooks/ in a
temporary folder (the repository's notebooks stay without outputs) with COURSE_FAST=1 (COURSE_FAST=0 runs them
in full mode: trained models, for the README's pictures; give pytest --timeout=3600 then).
`COURSE_UPDATE_SCREENSHOTS=1` also copies the explorer screenshots to docs/screenshots/ for the README.
Run: `CI=true .venv/bin/python -m pytest tests/test_browser.py -q -x`.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import time
from dataclasses import dataclass

import nbformat
import pytest

from . import browser_harness as bh
from .conftest import REPO

pytestmark = pytest.mark.browser

ARTIFACTS = REPO / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"
FIXTURE = REPO / "tests" / "browser_fixtures" / "widget_fixture.ipynb"
MOVES = 20  # slider moves per explorer for the latency median
LATENCY_BOUND_MS = 1500  # generous: this is not a timing test; the measured median is reported
MAX_SCREENSHOT_BYTES = 300_000
FAST = os.environ.get("COURSE_FAST", "1")  # the lessons run in fast mode unless COURSE_FAST=0 is given
RUN_ALL_TIMEOUT_S = 600 if FAST != "0" else 3000


@dataclass(frozen=True)
class ExplorerCase:
    """One lesson's explorer: where it is, its sliders, which one the test moves, the screenshot to keep."""

    notebook: str
    root: str  # CSS selector of the explorer's box (Explorer adds the class course-<ClassName>)
    sliders: tuple[str, ...]  # every slider description that must be rendered
    move: str  # the slider moved for the figure/latency check
    screenshot: str  # file name under test-artifacts/screenshots/ (and docs/screenshots/)
    shot: tuple[tuple[str, int], ...] = ()  # (slider, position from 0) set before the screenshot
    datasets: tuple[str, ...] = ("mnist",)  # required data (the lessons fall back to MNIST without Fashion-MNIST)


CASES = [
    ExplorerCase("week01_tensors_datasets_loaders.ipynb", ".course-SampleExplorer", ("class", "example"),
                 "example", "sample_explorer.png", shot=(("example", 0),)),
    ExplorerCase("week03_batch_life_cycle.ipynb", ".course-BatchStepper", ("step",), "step",
                 "batch_stepper.png", shot=(("step", 2),)),
    ExplorerCase("week04_successive_distillation.ipynb", ".course-FeatureMapExplorer",
                 ("layer", "channel", "image"), "image", "feature_maps.png",
                 shot=(("layer", 3), ("channel", 0), ("image", 0))),
    ExplorerCase("week05_final_layer_heads.ipynb", ".course-CamExplorer", ("class", "image"), "image",
                 "final_layer_cam.png", shot=(("image", 0),)),
]
IMG = "img.course-explorer-image"


def _require_browser() -> None:
    reason = bh.browser_missing()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true and the browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(server, browser): JupyterLab on a copy of notebooks/ + Chromium; both stopped at the end of this module
    (one sync Playwright per thread at a time: the other browser test modules start their own)."""
    _require_browser()
    work = tmp_path_factory.mktemp("browser")
    root = bh.copy_tree(REPO / "notebooks", work / "course")
    shutil.copy(FIXTURE, root / FIXTURE.name)
    with bh.lab_and_browser(root, work / "lab", env={"COURSE_FAST": FAST}) as (server, browser):
        yield server, browser


@pytest.fixture(scope="session")
def latency_log(request):
    """Collects per-explorer latencies; written to test-artifacts/latency.json and printed at the end."""
    log: dict[str, dict] = {}
    yield log
    if not log:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "latency.json"
    try:  # keep the explorers a partial run (-k) did not measure
        previous = json.loads(path.read_text())
    except (OSError, ValueError):
        previous = {}
    path.write_text(json.dumps(previous | log, indent=2) + "\n")
    lines = [f"{'explorer':20s} {'first visits: median':>20s} {'p90':>6s} | {'revisits: median':>16s} {'p90':>6s} | "
             f"{'max':>6s} {'n':>3s}"]
    lines += [f"{name:20s} {e['median_first_visit_ms']:20.1f} {e['p90_first_visit_ms']:6.1f} | "
              f"{e['median_revisit_ms']:16.1f} {e['p90_revisit_ms']:6.1f} | {e['max_ms']:6.1f} {e['moves']:3d}"
              for name, e in log.items()]
    lines.append(next(iter(log.values()))["environment"])
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():  # output during teardown is captured otherwise
        reporter.write_line("")
        reporter.write_sep("-", "slider -> new figure latency in Chromium, ms (keydown -> new PNG decoded)")
        for line in lines:
            reporter.write_line(line)
        reporter.write_line(f"written to {ARTIFACTS / 'latency.json'}")


@pytest.fixture()
def page(lab):
    """A fresh tab; closed (and every kernel shut down) after the test."""
    server, browser = lab
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    try:
        yield tab
    finally:
        context.close()
        server.remember_kernels()
        server.shutdown_kernels()


def _run_lesson(page, server, notebook: str, timeout_s: float) -> bh.Lesson:
    """Open `notebook`, Run All Cells, wait for every cell; assert no error output and no widget text repr."""
    nb = bh.Lesson(page, server, notebook)
    nb.open()
    nb.run_all()
    prompts = nb.wait_until_executed(timeout_s)
    errors = nb.errors()
    assert not errors, f"{notebook}: error output in the browser:\n" + "\n---\n".join(errors)
    assert all(p.strip("[]: ").isdigit() for p in prompts), f"{notebook}: cells not executed: {prompts}"
    page.wait_for_timeout(500)  # let the last widget views attach
    reprs = nb.widget_text_reprs()
    assert not reprs, f"{notebook}: widgets shown as text (frontend missing?): {reprs}"
    return nb


def _ping_pong(nb: bh.Lesson, root: str, slider: str, moves: int, img: str) -> list[bh.Move]:
    """Move `slider` `moves` times with the arrow keys, turning at the ends and half-way (so about half the
    moves show a new setting and half come back to one already drawn); each move must change the figure."""
    done, seen = [], set()
    for i in range(moves):
        value, maximum = nb.slider_position(root, slider)
        if not done:
            direction = "ArrowLeft" if value >= maximum else "ArrowRight"
        else:
            direction = done[-1].key
            if i == moves // 2 or (direction == "ArrowRight" and value >= maximum) or \
                    (direction == "ArrowLeft" and value <= 0):
                direction = "ArrowLeft" if direction == "ArrowRight" else "ArrowRight"
        seen.add(value)
        move = nb.move_slider(root, slider, direction, img=img)
        assert move.readout_after != move.readout_before, f"{slider}: {direction} did not move the slider"
        assert move.digest_after["sha256"] != move.digest_before["sha256"], \
            f"{slider} {move.readout_before} -> {move.readout_after}: the figure's bytes did not change"
        move.first_visit = nb.slider_position(root, slider)[0] not in seen
        done.append(move)
    return done


def p90(xs: list[float]) -> float:
    """The 90th percentile (linear between order statistics, as numpy's default)."""
    return statistics.quantiles(xs, n=10, method="inclusive")[-1] if len(xs) > 1 else xs[0]


def _record_latency(log: dict, name: str, moves: list[bh.Move], browser) -> float:
    ms = [m.latency_ms for m in moves]
    first = [m.latency_ms for m in moves if m.first_visit] or [float("nan")]
    again = [m.latency_ms for m in moves if not m.first_visit] or [float("nan")]
    log[name] = {"moves": len(ms), "median_ms": round(statistics.median(ms), 1), "p90_ms": round(p90(ms), 1),
                 "median_first_visit_ms": round(statistics.median(first), 1),
                 "p90_first_visit_ms": round(p90(first), 1), "first_visits": len([m for m in moves if m.first_visit]),
                 "median_revisit_ms": round(statistics.median(again), 1), "p90_revisit_ms": round(p90(again), 1),
                 "max_ms": round(max(ms), 1),
                 "all_ms": [round(x, 1) for x in ms], "first_visit": [m.first_visit for m in moves],
                 "what": "keydown on the slider handle -> the explorer's <img> has new PNG bytes, decoded "
                         "(measured in the page with performance.now(); first visit = a setting not shown before: "
                         "the kernel draws it (a LiveFigure frame; the batch stepper's steps are drawn ahead in a "
                         "thread once its first is shown), revisit = PNG cached; p90 = 90th percentile)",
                 "environment": bh.environment_line(browser, FAST),
                 "measured_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    return statistics.median(ms)


def test_widget_lessons_are_all_covered():
    """Every lesson that builds a course_lib explorer has a browser case (a new one cannot be forgotten)."""
    with_widgets = {p.name for p in (REPO / "notebooks").glob("week*.ipynb")
                    if any("widgets." in c.source for c in nbformat.read(p, as_version=4).cells
                           if c.cell_type == "code")}
    assert with_widgets, "no lesson uses course_lib.widgets"
    assert with_widgets <= {c.notebook for c in CASES}, with_widgets - {c.notebook for c in CASES}


def test_fixture_widgets_render_and_redraw(lab, page):
    """Harness check without course data: an IntSlider driving an Image, one redrawing matplotlib in an Output."""
    server, _ = lab
    nb = _run_lesson(page, server, FIXTURE.name, timeout_s=180)
    for root, slider, img in ((".fixture-image-explorer", "k", IMG),
                              (".fixture-output-explorer", "power", ".widget-output img")):
        assert page.locator(root).locator(".widget-slider .noUi-handle").count() == 1, f"{root}: no rendered slider"
        shot_before = page.locator(root).screenshot()
        moves = _ping_pong(nb, root, slider, 3, img)
        assert page.locator(root).screenshot() != shot_before, f"{root}: the screenshot did not change"
        assert all(m.latency_ms < LATENCY_BOUND_MS for m in moves), [m.latency_ms for m in moves]


def test_harness_sees_errors_and_widget_text(lab, page):
    """The checks can fail: a traceback and a widget printed as text are both caught."""
    server, _ = lab
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import ipywidgets as W\nprint(repr(W.IntSlider(description='k')))"),
        nbformat.v4.new_code_cell("1 / 0"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, server.root / "broken.ipynb")
    lesson = bh.Lesson(page, server, "broken.ipynb")
    lesson.open()
    lesson.run_all()
    lesson.wait_until_executed(120)
    assert any("ZeroDivisionError" in e for e in lesson.errors()), lesson.text_outputs()
    assert any("IntSlider(" in t for t in lesson.widget_text_reprs()), lesson.text_outputs()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.notebook.split("_")[0])
def test_lesson_explorer_in_browser(lab, page, latency_log, case: ExplorerCase):
    """Run the lesson in JupyterLab, find its rendered sliders, move them by keyboard, see the figure change."""
    notebook_path = REPO / "notebooks" / case.notebook
    if not notebook_path.exists():
        pytest.fail(f"{case.notebook} is missing", pytrace=False)
    missing = [d for d in case.datasets if not bh.dataset_available(d)]
    if missing and os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        pytest.skip(f"data not provisioned: {', '.join(missing)} (run `make data`)")
    server, browser = lab
    nb = _run_lesson(page, server, case.notebook, timeout_s=RUN_ALL_TIMEOUT_S)

    explorer = page.locator(case.root)
    assert explorer.count() == 1, f"{case.root} not rendered in {case.notebook}"
    for name in case.sliders:
        slider = nb.slider(case.root, name)
        assert slider.count() == 1 and slider.locator(".noUi-handle").count() == 1, \
            f"{case.notebook}: slider {name!r} is not rendered as a widget"
    assert explorer.locator(IMG).count() == 1, f"{case.notebook}: no figure <img> in the explorer"
    shot_before = explorer.screenshot()

    moves = _ping_pong(nb, case.root, case.move, MOVES, IMG)
    median = _record_latency(latency_log, case.root.removeprefix(".course-"), moves, browser)
    unchanged = [m.readout_after for m in moves if m.caption_after == m.caption_before]
    assert not unchanged, f"the caption did not follow the slider at {unchanged}"
    assert median < LATENCY_BOUND_MS, f"median slider -> figure latency {median:.0f} ms"
    for name, position in case.shot:
        nb.set_slider(case.root, name, position, img=IMG)
    assert explorer.screenshot() != shot_before, "the explorer looks the same after the moves"

    path = SCREENSHOTS / case.screenshot
    nb.screenshot(case.root, path)
    png = bh.shrink_png(path, MAX_SCREENSHOT_BYTES)
    assert len(png) < MAX_SCREENSHOT_BYTES, f"{path.name}: {len(png)} bytes"
    if os.environ.get("COURSE_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS_SCREENSHOTS / case.screenshot)
