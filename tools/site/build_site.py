"""Build the course website: every notebook executed, rendered by mkdocs-jupyter, readable without a kernel.

    python tools/site/build_site.py              # full mode (COURSE_FAST=0), the published site
    COURSE_FAST=1 python tools/site/build_site.py   # fast mode, for CI and quick looks
    python -m http.server -d site                # then open http://127.0.0.1:8000

Steps (each notebook folder is discovered, so a new week needs no change here):
1. execute every notebook of notebooks/, quizzes/ and summaries/ with nbclient into build/site-cache/<mode>/,
   never into the repository (its notebooks stay without outputs). An executed copy is reused when its
   key is unchanged: sha256 of the notebook, every file of course_lib/ and quizzes/*.yaml, the mode, the
   versions of the packages that make the outputs, and the list of data files present;
2. stage them for reading in build/site-src/: an interactive widget's output (which needs a kernel) becomes
   a note pointing to JupyterLab and to the static figure or review printed beside it, links between
   notebooks point to their pages, and each page says how and when it was executed;
3. write build/mkdocs.yml (inherits the repository's mkdocs.yml, adds the navigation by week) and run
   `mkdocs build` into site/.
The quiz review notebooks already print every answer and explanation ("Review" section, folded in JupyterLab,
opened on the site), so the site shows them in review mode without a flag; the interactive quiz above it is
replaced by a note. Progress is read
from an empty temporary $COURSE_PROGRESS_DIR, so the builder's own answers never reach the site.
Exit status 1 when a notebook failed (the site is still built, the failure is printed and not cached).
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import hashlib
import html
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
FOLDERS = ("notebooks", "quizzes", "summaries")  # the course's notebook folders, in navigation order
BUILD = REPO / "build"
SITE = REPO / "site"
CONFIG = REPO / "mkdocs.yml"
# Packages whose versions change what the notebooks print or draw (part of the cache key).
KEY_PACKAGES = ("torch", "torchvision", "numpy", "matplotlib", "ipywidgets", "ipykernel", "nbclient", "pyyaml")
CELL_TIMEOUT_S = {"fast": 600, "full": 3600}
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
KIND_TITLES = {"lesson": "Lesson", "quiz": "Quiz review", "summary": "Summary"}
WEEK = re.compile(r"^week(\d+)_")


@dataclass(frozen=True)
class Page:
    """One notebook of the course and where it goes on the site."""

    path: Path  # the source notebook in the repository
    rel: str  # folder/name.ipynb: its path in the build and on the site (.html there)
    kind: str  # lesson | quiz | summary | other
    week: int | None
    title: str  # the notebook's first heading


def _first_heading(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].replace("`", "").strip()
    return ""


def notebook_paths(folder: Path) -> list[Path]:
    """The .ipynb files under `folder` (checkpoints excluded), sorted."""
    return sorted(p for p in Path(folder).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def discover(repo: Path = REPO) -> list[Page]:
    """Every notebook of the course folders, in order: lessons, quiz reviews, summaries, by name."""
    pages = []
    for folder in FOLDERS:
        for path in notebook_paths(repo / folder):
            m = WEEK.match(path.name)
            kind = {"notebooks": "lesson", "summaries": "summary"}.get(folder, "quiz")
            if folder == "quizzes" and not path.stem.endswith("_quiz_review"):
                kind = "other"  # the cumulative review and anything else that is not one week's
            title = _first_heading(nbformat.read(path, as_version=4)) or path.stem.replace("_", " ")
            pages.append(Page(path, path.relative_to(repo).as_posix(), kind, int(m.group(1)) if m else None, title))
    return pages


# ------------------------------------------------------------------ cache keys


def _sha256_files(paths, root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def library_digest(repo: Path = REPO) -> str:
    """sha256 over course_lib/ (every file but caches) and the quiz banks the review notebooks read."""
    files = [p for p in (repo / "course_lib").rglob("*") if p.is_file()
             and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")]
    files += list((repo / "quizzes").glob("*.yaml"))
    return _sha256_files(files, repo)


def data_listing() -> list[str]:
    """The data files present (relative path and size, not their bytes): provisioning a set changes outputs."""
    root = Path(os.environ.get("COURSE_DATA") or REPO / "data")
    if not root.is_dir():
        return []
    return sorted(f"{p.relative_to(root).as_posix()}:{p.stat().st_size}" for p in root.rglob("*")
                  if p.is_file() and "downloads" not in p.relative_to(root).parts)


def environment_key() -> dict[str, str]:
    versions = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "-"
    return {"python": platform.python_version(), **versions}


def cache_key(page: Page, mode: str, library: str, env: dict, data: list[str]) -> str:
    h = hashlib.sha256()
    for part in (page.rel, page.path.read_bytes(), mode, library, json.dumps(env, sort_keys=True),
                 "\n".join(data)):
        h.update(part if isinstance(part, bytes) else str(part).encode())
        h.update(b"\0")
    return h.hexdigest()


# ------------------------------------------------------------------ execution


def execute(page: Page, mode: str, progress_dir: Path) -> nbformat.NotebookNode:
    """Run `page` top to bottom in a fresh python3 kernel (cwd: its folder); raises on the first failing cell."""
    from nbclient import NotebookClient

    nb = nbformat.read(page.path, as_version=4)
    saved = {k: os.environ.get(k) for k in ("COURSE_FAST", "COURSE_PROGRESS_DIR", "PYTHONPATH")}
    os.environ["COURSE_FAST"] = "1" if mode == "fast" else "0"  # the kernel inherits this environment
    os.environ["COURSE_PROGRESS_DIR"] = str(progress_dir)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), saved["PYTHONPATH"]]))
    try:
        client = NotebookClient(nb, timeout=CELL_TIMEOUT_S[mode], kernel_name="python3",
                                store_widget_state=False, resources={"metadata": {"path": str(page.path.parent)}})
        client.execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def executed_copy(page: Page, mode: str, cache: Path, key: str, progress_dir: Path,
                  log=print) -> tuple[nbformat.NotebookNode, str]:
    """(executed notebook, 'cached' | 'executed in N s' | 'FAILED: ...'); the cached copy when its key matches."""
    target = cache / mode / page.rel
    if target.exists():
        nb = nbformat.read(target, as_version=4)
        if nb.metadata.get("course_site", {}).get("key") == key:
            return nb, "cached"
    from nbclient.exceptions import CellExecutionError

    log(f"  executing {page.rel} ({mode} mode) ...")
    start = time.perf_counter()
    try:
        nb = execute(page, mode, progress_dir)
    except CellExecutionError as exc:
        failed = nbformat.read(page.path, as_version=4)
        failed.cells.insert(0, nbformat.v4.new_code_cell(outputs=[nbformat.v4.new_output(
            "error", ename=type(exc).__name__, evalue="the notebook failed while the site was built",
            traceback=["Traceback (the notebook failed while the site was built):", str(exc)[-3000:]])]))
        return failed, f"FAILED: {str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else exc!r}"
    seconds = time.perf_counter() - start
    nb.metadata["course_site"] = {"key": key, "mode": mode, "seconds": round(seconds, 1),
                                  "executed_at": dt.datetime.now().isoformat(timespec="seconds"),
                                  "environment": environment_key(), "machine": machine_line()}
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, target)  # atomic: an interrupted build never leaves half a cached copy
    return nb, f"executed in {seconds:.0f} s"


def machine_line() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}"


# ------------------------------------------------------------------ staging for the site


_LINK = re.compile(r"\]\((?!https?:|mailto:)([^)\s#]+)\.ipynb(#[^)\s]*)?\)")


_FOLDED_ANSWER = re.compile(r'(<details class="course-quiz-answer")>')  # the site opens every answer
_PROGRESS_BAR = re.compile(r"\d+%\|.*\|")  # a tqdm bar's text: `epoch 1/1:  40%|####  | 13/32 [...]`


def _widget_note(page: Page, source: str, later: str) -> str:
    """What a reader sees instead of a widget: what it is, and where its static version is."""
    if "show_quiz(" in source:
        what = ("the interactive quiz (answer, Check, score, saved progress). Every question, its answer and "
                "explanation are in the review below.")
    elif ".static_figure(" in later:
        what = "an interactive explorer (sliders). Its static figure is shown below."
    else:
        what = "an interactive widget, which needs a running kernel."
    return (f'<p class="course-widget-note"><em>Here JupyterLab shows {html.escape(what)} To use it, open '
            f'<code>{html.escape(page.rel)}</code> in JupyterLab (<code>make lab</code>).</em></p>')


def stage(page: Page, nb, mode: str) -> nbformat.NotebookNode:
    """A copy for reading: widget outputs -> a note, .ipynb links -> .html pages, an 'executed' line on top."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)  # no widget state: the page would load a widget manager from the web
    code = [c.source if c.cell_type == "code" else "" for c in nb.cells]
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            cell.source = _LINK.sub(lambda m: f"]({m.group(1)}.html{m.group(2) or ''})", cell.source)
        elif cell.cell_type == "code":
            outputs = []
            for out in cell.get("outputs", []):
                if WIDGET_MIME in out.get("data", {}):
                    if _PROGRESS_BAR.search(out["data"].get("text/plain", "")):
                        continue  # a progress bar (tqdm): its numbers are printed by the cell anyway
                    note = _widget_note(page, cell.source, "\n".join(code[i + 1:i + 4]))
                    out = nbformat.v4.new_output("display_data", data={"text/html": note, "text/plain": ""})
                elif isinstance(out.get("data", {}).get("text/markdown"), str):  # a quiz review: answers shown
                    out["data"]["text/markdown"] = _FOLDED_ANSWER.sub(r"\1 open>", out["data"]["text/markdown"])
                outputs.append(out)
            cell.outputs = outputs
    info = nb.metadata.get("course_site", {})
    when = info.get("executed_at", "?").replace("T", " ")
    mode_text = "full mode (`COURSE_FAST=0`)" if mode == "full" else "fast mode (`COURSE_FAST=1`: small subsets)"
    banner = nbformat.v4.new_markdown_cell(
        f"*Read-only page: the outputs below come from running this notebook in {mode_text} on {when} "
        f"({info.get('machine', '?')}, torch {info.get('environment', {}).get('torch', '?')}). "
        f"To run it and use its widgets: `make lab`, then open `{page.rel}`.*")
    banner.metadata["tags"] = ["course-site-banner"]
    first_md = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), -1)
    nb.cells.insert(first_md + 1, banner)
    return nb


def _html_name(rel: str) -> str:
    return rel.removesuffix(".ipynb") + ".html"


def index_markdown(pages: list[Page], mode: str) -> str:
    weeks = sorted({p.week for p in pages if p.week is not None})
    intro = ("Weekly notebooks backed by one small library, `course_lib`: from one batch's life cycle to "
             "data-parallel training on many devices. These pages are the notebooks with their outputs "
             f"(executed in {'full' if mode == 'full' else 'fast'} mode), readable without Python. "
             "To run them and use the sliders and quizzes: `make lab` in the repository.")
    lines = ["# Deep learning for image classification", "", intro, "",
             "| week | lesson | quiz review | summary |", "|---|---|---|---|"]
    for week in weeks:
        row = [f"{week}"]
        for kind in ("lesson", "quiz", "summary"):
            found = [p for p in pages if p.week == week and p.kind == kind]
            row.append(" ".join(f"[{p.title if kind == 'lesson' else KIND_TITLES[kind]}]({_html_name(p.rel)})"
                                for p in found) or "-")
        lines.append("| " + " | ".join(row) + " |")
    others = [p for p in pages if p.week is None or p.kind == "other"]
    if others:
        lines += ["", "**Reviews:** " + ", ".join(f"[{p.title}]({_html_name(p.rel)})" for p in others)]
    return "\n".join(lines) + "\n"


def nav(pages: list[Page]) -> list:
    """Home, then one section per week (lesson, quiz review, summary), then the other notebooks."""
    entries: list = [{"Home": "index.md"}]
    for week in sorted({p.week for p in pages if p.week is not None}):
        here = [p for p in pages if p.week == week and p.kind != "other"]
        lesson = next((p for p in here if p.kind == "lesson"), None)
        title = lesson.title if lesson else f"Week {week}"
        items = [{KIND_TITLES[p.kind]: p.rel} for kind in ("lesson", "quiz", "summary")
                 for p in here if p.kind == kind]
        entries.append({title: items})
    others = [p for p in pages if p.week is None or p.kind == "other"]
    if others:
        entries.append({"Reviews": [{p.title: p.rel} for p in others]})
    return entries


def write_config(build: Path, site: Path, docs: Path, pages: list[Page]) -> Path:
    import yaml

    config = {"INHERIT": os.path.relpath(CONFIG, build), "docs_dir": str(docs), "site_dir": str(site),
              "nav": nav(pages)}
    path = build / "mkdocs.yml"
    path.write_text("# generated by tools/site/build_site.py: the repository's mkdocs.yml + the navigation\n"
                    + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return path


# MathJax 2 for the formulas, served by the site itself (the pages must not need the web). The PyPI package
# jupyter-server-mathjax ships MathJax 2.7 with the STIX-Web web fonts; only what the pages use is copied.
MATHJAX_PARTS = ("MathJax.js", "LICENSE", "config", "extensions", "fonts/HTML-CSS/STIX-Web", "jax/element",
                 "jax/input/TeX", "jax/output/HTML-CSS", "localization/en")
MATHJAX_CONFIG = """MathJax.Hub.Config({
  "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null},
  showMathMenu: false, messageStyle: "none", menuSettings: {zoom: "None"}
});
MathJax.Ajax.loadComplete("[MathJax]/config/course-local.js");
"""


def copy_mathjax(docs: Path, log=print) -> bool:
    """Put MathJax under docs/assets/mathjax (+ config/course-local.js: local web fonts only)."""
    try:
        import jupyter_server_mathjax
    except ImportError:
        log("warning: jupyter-server-mathjax is not installed: formulas will load MathJax from the web")
        return False
    static = Path(jupyter_server_mathjax.__file__).parent / "static"
    target = docs / "assets" / "mathjax"
    for part in MATHJAX_PARTS:
        src = static / part
        if src.is_dir():
            shutil.copytree(src, target / part, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("a11y", "SVG"))
        else:
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, target / part)
    (target / "config" / "course-local.js").write_text(MATHJAX_CONFIG)
    return True


# ------------------------------------------------------------------ main


def build(mode: str, build_dir: Path = BUILD, site_dir: Path = SITE, only: list[str] | None = None,
          log=print) -> list[tuple[str, str]]:
    """Execute (or reuse) every notebook, stage them, run mkdocs. Returns [(page, status)]."""
    pages = discover()
    if only:
        pages = [p for p in pages if any(s in p.rel for s in only)]
    library, env, data = library_digest(), environment_key(), data_listing()
    cache = build_dir / "site-cache"
    docs = build_dir / "site-src"
    shutil.rmtree(docs, ignore_errors=True)
    docs.mkdir(parents=True)
    statuses = []
    with tempfile.TemporaryDirectory(prefix="course-site-progress-") as progress:
        for page in pages:
            key = cache_key(page, mode, library, env, data)
            nb, status = executed_copy(page, mode, cache, key, Path(progress), log=log)
            statuses.append((page.rel, status))
            log(f"{status:>22s}  {page.rel}")
            out = docs / page.rel
            out.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(stage(page, nb, mode), out)
    (docs / "index.md").write_text(index_markdown(pages, mode))
    shutil.copytree(Path(__file__).parent / "assets", docs / "assets", dirs_exist_ok=True)
    copy_mathjax(docs, log=log)
    config = write_config(build_dir, site_dir, docs, pages)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--clean", "-f", str(config)],
                          cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"mkdocs build failed:\n{done.stdout}\n{done.stderr}")
    log(f"mkdocs build: {time.perf_counter() - start:.0f} s -> {site_dir}")
    return statuses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true", help="fast mode (default: $COURSE_FAST, else full mode)")
    parser.add_argument("--full", action="store_true", help="full mode, whatever $COURSE_FAST says")
    parser.add_argument("--site-dir", type=Path, default=SITE, help="where the site goes (default: site/)")
    parser.add_argument("--build-dir", type=Path, default=BUILD, help="cache and staging (default: build/)")
    parser.add_argument("--only", nargs="*", help="only the notebooks whose path contains one of these")
    args = parser.parse_args(argv)
    fast_env = os.environ.get("COURSE_FAST", "0").strip().lower() in ("1", "true", "yes", "on")
    mode = "full" if args.full else "fast" if (args.fast or fast_env) else "full"
    start = time.perf_counter()
    print(f"course website, {mode} mode: executing into {args.build_dir / 'site-cache' / mode} (cached copies reused)")
    statuses = build(mode, args.build_dir.resolve(), args.site_dir.resolve(), args.only)
    failed = [(rel, s) for rel, s in statuses if s.startswith("FAILED")]
    executed = sum(s.startswith("executed") for _, s in statuses)
    print(f"{len(statuses)} notebooks ({executed} executed, {len(statuses) - executed - len(failed)} cached, "
          f"{len(failed)} failed) in {time.perf_counter() - start:.0f} s. Open it: "
          f"python -m http.server -d {os.path.relpath(args.site_dir)} (then http://127.0.0.1:8000)")
    for rel, status in failed:
        print(f"error: {rel}: {status}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
