"""Weekly summaries (summaries/weekNN_summary.ipynb) from the lesson cells tagged `summary`.

A summary is a title, a setup cell, and a copy of every cell of the week's lessons whose tags include
`summary`, in order. Its code cells recompute their numbers with course_lib when it runs, so each must be
self-contained: the build reports a name such a cell uses without defining or importing it.
"""
from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell

from .writer import GENERATOR, Stale, cell_tags, notebook, relative

TAG = "summary"
SETUP = '''\
# Setup: the cells below recompute their numbers with course_lib (COURSE_FAST=1 shrinks any data they use).
import torch

import course_lib
from course_lib import data

print(f"course_lib {course_lib.__version__}, torch {torch.__version__}, fast mode: {data.is_fast_mode()}")'''

YOURS_TAG = "your-summary"  # the cell that starts the learner's part: everything after it is theirs
YOURS = """\
## Your own summary

Write this week in your own words in the cell below (double-click it to edit). This part is yours:
`make notebooks` rebuilds everything above this heading and keeps every cell below it. Some prompts:

1. The one idea of this week, in one sentence.
2. A shape, a count or a formula you can now work out by hand, worked out.
3. Something you would get wrong without this week, and how you would notice.
4. What is still unclear: try it in a notebook cell, or in the week's quiz review."""
YOUR_CELL = "*(your summary here)*"

Lessons = dict[Path, nbformat.NotebookNode]  # {notebooks/weekNN_<topic>.ipynb: its notebook}


def lessons_by_week(lessons: Lessons) -> dict[int, list[tuple[Path, nbformat.NotebookNode]]]:
    """{week number: [(lesson notebook path, notebook), ...]} in path order."""
    weeks: dict[int, list[tuple[Path, nbformat.NotebookNode]]] = {}
    for path in sorted(lessons):
        weeks.setdefault(int(path.name[4:6]), []).append((path, lessons[path]))
    return weeks


def summary_path(week: int, summaries: Path) -> Path:
    """summaries/weekNN_summary.ipynb."""
    return Path(summaries) / f"week{week:02d}_summary.ipynb"


def tagged_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """The cells whose metadata tags include `summary`, in order."""
    return [c for c in nb.cells if TAG in cell_tags(c)]


def undefined_names(sources: list[str]) -> list[str]:
    """Names the code `sources` read but never define (nor import): what a summary would lack.

    Summary cells run without the rest of their lesson, so each must import or compute what it uses.
    Generous on purpose: any assignment anywhere counts as a definition (no false alarms).
    """
    defined = set(dir(builtins)) | {"display", "get_ipython", "In", "Out"}
    used: list[str] = []
    for source in sources:
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("!", "%"))]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                used.append(node.id)
            elif isinstance(node, ast.Name):
                defined.add(node.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                defined.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, ast.arg):
                defined.add(node.arg)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                defined.add(node.name)
    return sorted({n for n in used if n not in defined})


def _title(nb: nbformat.NotebookNode, week: int) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, re.MULTILINE)
            if m:
                heading = re.sub(rf"^Week\s*0?{week}\s*[-:–]\s*", "", m.group(1).strip())
                return f"Week {week} summary - {heading}"
    return f"Week {week} summary"


def build_summary(week: int, lessons: list[tuple[Path, nbformat.NotebookNode]],
                  quizzes: Path | None = None) -> nbformat.NotebookNode | None:
    """The summary notebook of `week` from its lessons' tagged cells; None when no cell is tagged."""
    copied = [c for _, nb in lessons for c in tagged_cells(nb)]
    if not copied:
        return None
    sources = ", ".join(f"[`notebooks/{p.name}`](../notebooks/{p.name})" for p, nb in lessons if tagged_cells(nb))
    intro = (f"# {_title(lessons[0][1], week)}\n\n"
             f"The key ideas, formulas, shapes and numbers of {sources}: a copy of its cells tagged "
             f"`{TAG}`, made by `{GENERATOR}`. Edit the lesson, not this file.\n\n"
             "The code cells recompute their numbers with `course_lib` when the notebook runs "
             "(*Run > Run All Cells*).")
    bank = f"week{week:02d}"
    if quizzes is not None and (Path(quizzes) / f"{bank}.yaml").exists():
        intro += f" Test yourself: [{bank} quiz review](../quizzes/{bank}_quiz_review.ipynb)."
    cells = [new_markdown_cell(intro), new_code_cell(SETUP)]
    for cell in copied:
        meta = {"tags": cell_tags(cell)}
        cells.append(new_code_cell(cell.source, metadata=meta) if cell.cell_type == "code"
                     else new_markdown_cell(cell.source, metadata=meta))
    cells += [new_markdown_cell(YOURS, metadata={"tags": [YOURS_TAG]}), new_markdown_cell(YOUR_CELL)]
    return notebook(cells, f"{bank}-summary")


def learner_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode] | None:
    """The cells after the "Your own summary" heading (the learner's part), or None without that heading."""
    for i, cell in enumerate(nb.cells):
        if YOURS_TAG in cell_tags(cell):
            return nb.cells[i + 1:]
    return None


def keep_learner_cells(path: Path, nb: nbformat.NotebookNode,
                       set_aside: bool = True) -> tuple[nbformat.NotebookNode, Stale | None]:
    """`nb` with its learner part replaced by the one in the existing file at `path`, kept verbatim
    (sources, ids, outputs), so a rebuild or a --check never touches what the learner wrote.

    An existing file that cannot be read, or has lost its "Your own summary" heading, is copied aside first
    (`weekNN_summary.kept-<n>.ipynb`: nothing the learner wrote is lost) and reported; with `set_aside=False`
    (a --check) it is only reported."""
    path = Path(path)
    if not path.exists():
        return nb, None
    try:
        existing = learner_cells(nbformat.read(path, as_version=4))
        why = None if existing is not None else f"has no '{YOURS_TAG}' heading, so your own cells cannot be told apart"
    except Exception as exc:  # not JSON, not a notebook, unreadable bytes
        existing, why = None, f"is not a readable notebook ({type(exc).__name__})"
    if existing is None and not set_aside:
        return nb, Stale(path, f"{why}: `make notebooks` will copy it aside and rebuild it")
    if existing is None:
        kept = _set_aside(path)
        return nb, Stale(path, f"{why}: it was copied to {relative(kept)} and rebuilt; copy your own "
                               "summary back below the heading, then delete the copy")
    generated = nb.cells[:len(nb.cells) - len(learner_cells(nb))]
    nb.cells = generated + existing
    return nb, None


def _set_aside(path: Path) -> Path:
    """Copy `path` to the first free `<stem>.kept-<n>.ipynb` beside it (kept once per content) and return it."""
    data = path.read_bytes()
    n = 1
    while (kept := path.with_name(f"{path.stem}.kept-{n}.ipynb")).exists():
        if kept.read_bytes() == data:
            return kept
        n += 1
    kept.write_bytes(data)
    return kept


def notebooks(lessons: Lessons, summaries: Path, quizzes: Path,
              set_aside: bool = False) -> tuple[dict[Path, nbformat.NotebookNode], list[Stale]]:
    """{summary path: its notebook} for every week with tagged cells, and the summaries that cannot run alone
    or whose learner part cannot be found (copied aside first when `set_aside`: see keep_learner_cells)."""
    out, problems = {}, []
    for week, week_lessons in lessons_by_week(lessons).items():
        nb = build_summary(week, week_lessons, quizzes)
        if nb is None:
            continue
        path = summary_path(week, summaries)
        nb, kept = keep_learner_cells(path, nb, set_aside)
        out[path] = nb
        if kept is not None:
            problems.append(kept)
        missing = undefined_names([c.source for c in nb.cells if c.cell_type == "code"])
        if missing:
            problems.append(Stale(path, f"its lesson's code cells tagged '{TAG}' use {', '.join(missing)} without "
                                        "defining or importing them: summary cells run without the rest of the "
                                        "lesson, so each must be self-contained (fix the lesson)"))
    return out, problems
