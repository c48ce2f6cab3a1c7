"""The course website (`make site`) built, served on 127.0.0.1 and read in headless Chromium.

The site is built from fast-mode executions (`tools/site/build_site.py --fast`; executed copies cached in
build/site-cache/fast and reused while the notebooks and course_lib are unchanged) into a temporary folder,
served by a local file server, and walked through its navigation: every notebook of the course has a page
in it; every page answers, makes no request outside 127.0.0.1 (no kernel, no CDN, no web font), shows no
error output and no widget as text, has all its images decoded (naturalWidth > 0) and no character drawn
as an empty box; lessons show their figures and expected results; quiz reviews show every answer, marked
in words. Screenshots go to test-artifacts/site/.

The first run executes every notebook (about 3 minutes in fast mode on 2 CPUs); later runs reuse the cache.
Run: `CI=true COURSE_FAST=1 .venv/bin/python -m pytest tests/test_site.py -q -x`.
"""
from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat
import pytest

from course_lib import quiz

from . import browser_harness as bh
from .conftest import REPO

# The first build executes every notebook (minutes; many more on a loaded machine): the module gets an hour.
pytestmark = pytest.mark.timeout(3600)

BUILDER = REPO / "tools" / "site" / "build_site.py"
ARTIFACTS = REPO / "test-artifacts" / "site"
BUILD_TIMEOUT_S = 1800


def _builder():
    spec = importlib.util.spec_from_file_location("build_site", BUILDER)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_site", module)
    spec.loader.exec_module(module)
    return module


site_builder = _builder()


def _build(site_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"COURSE_FAST": "1", "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, str(BUILDER), "--fast", "--site-dir", str(site_dir), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(site folder, build seconds, builder output): the fast-mode site, built once for this module."""
    site = tmp_path_factory.mktemp("site") / "site"
    start = time.perf_counter()
    done = _build(site)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, \
        f"build_site.py failed ({done.returncode}):\n{done.stdout[-5000:]}\n{done.stderr[-5000:]}"
    print(f"site built in {seconds:.0f} s:\n{done.stdout[-3000:]}")
    return site, seconds, done.stdout


@pytest.fixture(scope="module")
def served(built):
    """Base URL of the site served by a local file server on 127.0.0.1 (stopped at the end)."""
    site, _, _ = built

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            if not isinstance(sys.exc_info()[1], ConnectionError):  # the browser left a page mid-transfer
                super().handle_error(request, client_address)

    server = Server(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser():
    bh.require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = bh.launch_browser(pw)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture()
def page(browser, served):
    """A tab that lets only 127.0.0.1 through: any other request is blocked and recorded in page.outside."""
    context = browser.new_context(viewport={"width": 1300, "height": 1000}, device_scale_factor=1)
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    tab.outside = []

    def only_local(route):
        host = urllib.parse.urlsplit(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
            route.continue_()
        else:
            tab.outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    try:
        yield tab
    finally:
        context.close()


# ------------------------------------------------------------------ the build itself (no browser)


def test_build_leaves_the_repository_notebooks_without_outputs(built):
    for page in site_builder.discover():
        nb = nbformat.read(page.path, as_version=4)
        ran = [c for c in nb.cells if c.cell_type == "code" and (c.outputs or c.execution_count)]
        assert not ran, f"{page.rel} got outputs"


def test_every_notebook_has_a_page_and_a_nav_entry(built):
    site, _, _ = built
    pages = site_builder.discover()
    assert {p.kind for p in pages} >= {"lesson", "quiz", "summary"}
    config = (REPO / "build" / "mkdocs.yml").read_text()
    for page in pages:
        assert (site / site_builder._html_name(page.rel)).is_file(), f"no page for {page.rel}"
        assert page.rel in config, f"{page.rel} is not in the navigation"


def test_second_build_reuses_the_cache(built, tmp_path):
    """Nothing changed: no notebook is executed again (the key covers notebook, course_lib, banks, versions)."""
    done = _build(tmp_path / "again", "--only", "summaries/week01")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "cached  summaries/week01_summary.ipynb" in done.stdout and "executed in" not in done.stdout, done.stdout


def test_cache_key_follows_notebook_library_and_mode(tmp_path):
    nb_path = tmp_path / "week09_x.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), nb_path)
    page = site_builder.Page(nb_path, "notebooks/week09_x.ipynb", "lesson", 9, "x")
    env, data = site_builder.environment_key(), ["MNIST/raw/a:1"]
    key = site_builder.cache_key(page, "fast", "lib1", env, data)
    assert key == site_builder.cache_key(page, "fast", "lib1", env, data)
    assert key != site_builder.cache_key(page, "full", "lib1", env, data)
    assert key != site_builder.cache_key(page, "fast", "lib2", env, data)
    assert key != site_builder.cache_key(page, "fast", "lib1", env, data + ["FashionMNIST/raw/b:2"])
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 2")]), nb_path)
    assert key != site_builder.cache_key(page, "fast", "lib1", env, data)
    assert len(site_builder.library_digest()) == 64


def _widget_output(text: str):
    return nbformat.v4.new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2, "version_minor": 0},
        "text/plain": text})


def test_staging_replaces_widgets_and_links(tmp_path):
    """A widget's output (needs a kernel) becomes a note saying where its static version is; progress bars go;
    links between notebooks point to the pages."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Week 9\n\nSee [the summary](../summaries/week09_summary.ipynb#top)."),
        nbformat.v4.new_code_cell("quiz_view = quiz_widgets.show_quiz(bank)",
                                  outputs=[_widget_output("VBox(children=(IntSlider(value=0),))")]),
        nbformat.v4.new_code_cell("explorer = widgets.SampleExplorer(x, y, spec)\nexplorer",
                                  outputs=[_widget_output("VBox(children=(HBox(children=(IntSlider(),)),))")]),
        nbformat.v4.new_code_cell("explorer.static_figure()"),
        nbformat.v4.new_code_cell("fit(model)", outputs=[_widget_output("epoch 1/1:  40%|####  | 13/32 [00:01<?]"),
                                                         nbformat.v4.new_output("stream", text="accuracy 0.9\n")]),
    ])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}
    page = site_builder.Page(tmp_path / "q.ipynb", "quizzes/week09_quiz_review.ipynb", "quiz", 9, "Week 9")
    staged = site_builder.stage(page, nb, "fast")
    assert "widgets" not in staged.metadata
    assert "(../summaries/week09_summary.html#top)" in staged.cells[0].source
    assert "fast mode" in staged.cells[1].source  # the banner under the title says how it was executed
    (quiz_note,) = staged.cells[2].outputs
    assert "VBox" not in str(quiz_note) and "review below" in quiz_note.data["text/html"]
    (explorer_note,) = staged.cells[3].outputs
    assert "static figure is shown below" in explorer_note.data["text/html"]
    assert [o.output_type for o in staged.cells[5].outputs] == ["stream"]  # the progress bar is gone


def test_stage_opens_the_folded_answers_of_a_review(tmp_path):
    """JupyterLab folds each answer of a quiz review (retrieval practice); the site is the review mode: all open."""
    from course_lib import quiz
    from course_lib.quiz import widgets as quiz_widgets

    bank = quiz.load_bank("week05")
    review = quiz_widgets.review(bank)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("quiz_widgets.review(bank)", outputs=[
        nbformat.v4.new_output("display_data", data={"text/markdown": review.data, "text/plain": "<Markdown>"})])])
    page = site_builder.Page(tmp_path / "q.ipynb", "quizzes/week05_quiz_review.ipynb", "quiz", 5, "Week 5")
    staged = site_builder.stage(page, nb, "fast").cells[-1].outputs[0].data["text/markdown"]
    assert staged.count('<details class="course-quiz-answer" open>') == len(bank.questions)
    assert staged.replace(" open>", ">") == review.data  # nothing else changed


# ------------------------------------------------------------------ the site in the browser


_ERRORS = """() => Array.from(document.querySelectorAll(
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
    .map(e => e.textContent).filter(t => /Traceback|Error:/.test(t)).map(t => t.slice(0, 2000))"""


def _nav_links(page, base: str) -> list[str]:
    hrefs = page.eval_on_selector_all("nav.md-nav--primary a.md-nav__link[href]",
                                      "els => els.map(a => a.href)")
    links = []
    for href in hrefs:
        url = href.split("#")[0]
        if url.startswith(base) and url not in links:
            links.append(url)
    return links


def _page_text(page) -> str:
    return page.inner_text("article.md-content__inner")


def _check_page(page, url: str) -> dict:
    """Open `url` and check what every page must satisfy; return a few facts for the caller."""
    response = page.goto(url, wait_until="load")
    assert response is not None and response.status == 200, f"{url}: HTTP {response and response.status}"
    page.wait_for_load_state("networkidle")
    errors = page.evaluate(_ERRORS)
    assert not errors, f"{url}: error output on the page:\n" + "\n---\n".join(errors)
    text = _page_text(page)
    reprs = [r for r in bh.WIDGET_TEXT_REPRS if r in text]
    assert not reprs, f"{url}: widgets or display objects shown as text: {reprs}"
    imgs = bh.images(page, "article.md-content__inner")
    broken = [i for i in imgs if not (i["complete"] and i["width"] > 0)]
    assert not broken, f"{url}: images that did not decode: {broken}"
    boxes = bh.missing_glyphs(page, "article.md-content__inner")
    assert not boxes, f"{url}: characters drawn as empty boxes (no font has them): {boxes}"
    assert not page.outside, f"{url}: requests outside 127.0.0.1 (the site must work offline): {page.outside}"
    return {"images": len(imgs), "text": text}


def _internal_links(page, base: str) -> set[str]:
    hrefs = page.eval_on_selector_all("article.md-content__inner a[href]", "els => els.map(a => a.href)")
    return {h.split("#")[0] for h in hrefs if h.startswith(base)}


def test_site_walk(page, served, built):
    """From the home page, every page in the navigation: figures, no errors, offline, marks in words."""
    base = served
    _, build_seconds, _ = built
    facts = _check_page(page, base + "index.html")
    assert "Week 1" in facts["text"]
    links = _nav_links(page, base)
    pages = site_builder.discover()
    wanted = {base + site_builder._html_name(p.rel) for p in pages}
    assert wanted <= set(links), f"pages missing from the navigation: {sorted(wanted - set(links))}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "index.png"))

    by_url = {base + site_builder._html_name(p.rel): p for p in pages}
    seen_links: set[str] = set()
    start = time.perf_counter()
    for url in links:
        facts = _check_page(page, url)
        seen_links |= _internal_links(page, base)
        course_page = by_url.get(url)
        if course_page is None:
            continue
        text = facts["text"]
        assert "Read-only page" in text, f"{url}: no note saying how the outputs were made"
        if course_page.kind == "lesson":
            assert facts["images"] >= 1, f"{url}: a lesson page without figures"
            assert "Expected results" in text, f"{url}: the lesson's expected results are missing"
        if course_page.kind in ("quiz", "other") and course_page.rel.startswith("quizzes/"):
            _check_review_in_words(page, url, text, course_page)
        if course_page.rel in ("notebooks/week04_successive_distillation.ipynb",
                               "quizzes/week01_quiz_review.ipynb", "summaries/week05_summary.ipynb"):
            page.screenshot(path=str(ARTIFACTS / (Path(course_page.rel).stem + ".png")))
    walk_seconds = time.perf_counter() - start
    broken = []
    for link in sorted(seen_links):
        try:
            with urllib.request.urlopen(link, timeout=10) as resp:
                ok = resp.status == 200
        except OSError:
            ok = False
        if not ok:
            broken.append(link)
    assert not broken, f"links inside the pages that lead nowhere: {broken}"
    print(f"site: build {build_seconds:.0f} s, walk of {len(links)} pages {walk_seconds:.0f} s")


def _check_review_in_words(page, url: str, text: str, course_page) -> None:
    """Review mode: each question's right answer is there, marked in words a reader can see."""
    m = re.match(r"quizzes/(week\d+)_quiz_review\.ipynb$", course_page.rel)
    banks = [quiz.load_bank(m.group(1))] if m else quiz.load_all_banks()
    items = [" ".join(t.split()) for t in page.eval_on_selector_all(
        "article.md-content__inner li", "els => els.map(e => e.innerText)")]
    n_right = sum(len({q.expected()} if q.kind == "single" else set(q.expected()))
                  for b in banks for q in b.questions if q.kind in ("single", "multiple"))
    marked = [t for t in items if t.startswith("right answer:")]
    assert len(marked) == n_right, f"{url}: {len(marked)} right answers marked in words, expected {n_right}"
    for bank in banks:
        for q in bank.questions:
            if q.kind in ("numeric", "shape"):
                assert f"Answer: {quiz.format_answer(q, q.expected())}" in " ".join(text.split()), \
                    f"{url}: {q.key}: the answer is not shown"
    if course_page.kind == "quiz":
        assert "interactive quiz" in text, f"{url}: the interactive quiz is not replaced by its note"
