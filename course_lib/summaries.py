"""Weekly summary notebooks, generated from the lesson cells tagged `summary`.

    python -m course_lib summaries build   # (re)write summaries/weekNN_summary.ipynb
    python -m course_lib summaries check   # list the summaries that are out of date (exit 1)

A summary is a title, a setup cell, and a copy of every cell of notebooks/weekNN_*.ipynb whose metadata
tags include `summary`, in order, without outputs. Its code cells recompute their numbers with
course_lib when it runs. Edit the lesson, never the summary: `check` (and a test) fail when they drift.
"""
from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from .nbtools import has_outputs
from .paths import NOTEBOOKS_DIR, QUIZ_DIR, REPO_ROOT, SUMMARIES_DIR

ROOT = REPO_ROOT
LESSONS = NOTEBOOKS_DIR
SUMMARIES = SUMMARIES_DIR
TAG = "summary"
GENERATOR = "python -m course_lib summaries build"
METADATA = {
    "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
    "language_info": {"name": "python"},
}
SETUP = '''\
# Setup: the cells below recompute their numbers with course_lib (COURSE_FAST=1 shrinks any data they use).
import torch

import course_lib
from course_lib import data

print(f"course_lib {course_lib.__version__}, torch {torch.__version__}, fast mode: {data.is_fast_mode()}")'''


@dataclass(frozen=True)
class Stale:
    """A summary that does not match its lessons, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{_rel(self.path)}: {self.reason}"


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def lessons_by_week(lessons: Path = LESSONS) -> dict[int, list[Path]]:
    """{week number: [notebooks/weekNN_*.ipynb, ...]} (checkpoints and summaries excluded)."""
    weeks: dict[int, list[Path]] = {}
    for path in sorted(Path(lessons).glob("week[0-9][0-9]_*.ipynb")):
        weeks.setdefault(int(path.name[4:6]), []).append(path)
    return weeks


def summary_path(week: int, summaries: Path = SUMMARIES) -> Path:
    """summaries/weekNN_summary.ipynb."""
    return Path(summaries) / f"week{week:02d}_summary.ipynb"


def tagged_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """The cells whose metadata tags include `summary`, in order."""
    return [c for c in nb.cells if TAG in c.get("metadata", {}).get("tags", [])]


def undefined_names(sources: list[str]) -> list[str]:
    """Names the code `sources` read but never define (nor import): what a summary would lack.

    Summary cells run without the rest of their lesson, so each must import or compute what it uses.
    Generous on purpose: any assignment anywhere counts as a definition (no false alarms).
    """
    defined = set(dir(builtins)) | {"display", "get_ipython", "In", "Out"}
    used: list[str] = []
    for source in sources:
        try:
            tree = ast.parse("\n".join(l for l in source.splitlines() if not l.lstrip().startswith(("!", "%"))))
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


def build_summary(week: int, lessons: list[Path], quizzes: Path | None = None) -> nbformat.NotebookNode | None:
    """The summary notebook of `week` from its lessons' tagged cells; None when no cell is tagged."""
    notebooks = [(p, nbformat.read(p, as_version=4)) for p in lessons]
    copied = [(p, c) for p, nb in notebooks for c in tagged_cells(nb)]
    if not copied:
        return None
    sources = ", ".join(f"[`notebooks/{p.name}`](../notebooks/{p.name})" for p, nb in notebooks
                        if tagged_cells(nb))
    intro = (f"# {_title(notebooks[0][1], week)}\n\n"
             f"The key ideas, formulas, shapes and numbers of {sources}: a copy of its cells tagged "
             f"`{TAG}`, made by `{GENERATOR}`. Edit the lesson, not this file.\n\n"
             "The code cells recompute their numbers with `course_lib` when the notebook runs "
             "(*Run > Run All Cells*).")
    bank = f"week{week:02d}"
    if quizzes is not None and (Path(quizzes) / f"{bank}.yaml").exists():
        intro += f" Test yourself: [{bank} quiz review](../quizzes/{bank}_quiz_review.ipynb)."
    cells = [new_markdown_cell(intro), new_code_cell(SETUP)]
    for _, cell in copied:
        meta = {"tags": list(cell.metadata.get("tags", []))}
        cells.append(new_code_cell(cell.source, metadata=meta) if cell.cell_type == "code"
                     else new_markdown_cell(cell.source, metadata=meta))
    for i, cell in enumerate(cells):
        cell["id"] = f"{bank}-summary-{i:02d}"  # stable ids: rebuilding gives identical files
    nb = new_notebook(cells=cells, metadata={**METADATA, "course_lib": {"generated_by": GENERATOR}})
    nbformat.validate(nb)
    return nb


def _text(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source) for c in nb.cells]


def expected_summaries(lessons: Path = LESSONS, summaries: Path = SUMMARIES,
                       quizzes: Path | None = None) -> dict[Path, nbformat.NotebookNode]:
    """{summary path: the notebook it should contain} for every week with tagged cells."""
    quizzes = QUIZ_DIR if quizzes is None else quizzes
    out = {}
    for week, paths in lessons_by_week(lessons).items():
        nb = build_summary(week, paths, quizzes)
        if nb is not None:
            out[summary_path(week, summaries)] = nb
    return out


def _generated(path: Path) -> bool:
    try:
        return "course_lib" in nbformat.read(path, as_version=4).metadata
    except Exception:
        return False


def check(lessons: Path = LESSONS, summaries: Path = SUMMARIES, quizzes: Path | None = None) -> list[Stale]:
    """Every summary that is missing, out of date with its lesson, stores outputs, or has no lesson."""
    wanted = expected_summaries(lessons, summaries, quizzes)
    stale = []
    for path, nb in wanted.items():
        missing = undefined_names([c.source for c in nb.cells if c.cell_type == "code"])
        if missing:
            stale.append(Stale(path, f"its lesson's code cells tagged '{TAG}' use {', '.join(missing)} without "
                                     "defining or importing them: summary cells run without the rest of the "
                                     "lesson, so each must be self-contained (fix the lesson)"))
        if not path.exists():
            stale.append(Stale(path, "missing"))
            continue
        text = path.read_text(encoding="utf-8")
        if text == _text(nb):
            continue
        try:
            current = nbformat.reads(text, as_version=4)
        except Exception as exc:
            stale.append(Stale(path, f"not a readable notebook ({type(exc).__name__})"))
            continue
        if _cells(current) != _cells(nb):
            stale.append(Stale(path, "out of date with the lesson's cells tagged 'summary'"))
        elif has_outputs(current):
            stale.append(Stale(path, "stores outputs"))
        else:
            stale.append(Stale(path, "differs from the generated file (metadata)"))
    for path in sorted(Path(summaries).glob("week[0-9][0-9]_summary.ipynb")):
        if path not in wanted and _generated(path):
            stale.append(Stale(path, "its lesson has no cells tagged 'summary' any more"))
    return stale


def build(lessons: Path = LESSONS, summaries: Path = SUMMARIES, quizzes: Path | None = None) -> list[Path]:
    """Write every summary that changed (and remove generated ones whose lesson lost its tags)."""
    written = []
    wanted = expected_summaries(lessons, summaries, quizzes)
    Path(summaries).mkdir(parents=True, exist_ok=True)
    for path, nb in wanted.items():
        text = _text(nb)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    for path in sorted(Path(summaries).glob("week[0-9][0-9]_summary.ipynb")):
        if path not in wanted and _generated(path):
            path.unlink()
            written.append(path)
    return written
