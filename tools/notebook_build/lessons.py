"""Lesson sources (lessons/weekNN_<topic>.py, jupytext percent format) -> notebooks/weekNN_<topic>.ipynb."""
from __future__ import annotations

import ast
from pathlib import Path

import jupytext
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell

from .writer import Stale, cell_tags, notebook

PATTERN = "week[0-9][0-9]_*.py"


def lesson_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook of one lesson source: its cells in order, their tags (the only cell metadata kept), no outputs.

    `# %%` starts a code cell, `# %% [markdown]` a markdown cell, `# %% tags=["summary"]` tags it; shell lines
    are written `# !cmd` in the source and come back as `!cmd` (jupytext's commented magics).
    """
    cells = []
    for cell in jupytext.read(path, fmt="py:percent").cells:
        tags = list(cell.metadata.get("tags", []))
        meta = {"tags": tags} if tags else {}
        if cell.cell_type == "markdown":
            cells.append(new_markdown_cell(cell.source, metadata=meta))
        elif cell.cell_type == "code":
            cells.append(new_code_cell(cell.source, metadata=meta))
        else:
            raise ValueError(f"{path}: {cell.cell_type} cells are not supported in lessons (use code or markdown)")
    return notebook(cells, path.stem[:6])


def syntax_problems(path: Path, nb: nbformat.NotebookNode) -> list[Stale]:
    """A Stale for every code cell of the lesson at `path` that is not valid Python (shell and magic lines
    aside; a cell tagged `raises-exception` may fail on purpose), naming the cell and the line."""
    problems = []
    for number, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code" or "raises-exception" in cell_tags(cell):
            continue
        code = "\n".join("" if line.lstrip().startswith(("!", "%")) else line for line in cell.source.splitlines())
        try:
            ast.parse(code)
        except SyntaxError as exc:
            problems.append(Stale(path, f"cell {number} does not parse ({exc.msg}, line {exc.lineno} of the cell): "
                                        "fix the cell in the lesson source"))
    return problems


def notebooks(lessons: Path, out: Path) -> tuple[dict[Path, nbformat.NotebookNode], list[Stale]]:
    """{out/weekNN_<topic>.ipynb: its notebook} for every lesson source in `lessons`, in week order, and the
    sources that could not be read (each named with the reason; the other lessons are still built)."""
    built, problems = {}, []
    for path in sorted(Path(lessons).glob(PATTERN)):
        try:
            nb = lesson_notebook(path)
        except UnicodeDecodeError as exc:
            problems.append(Stale(path, f"is not UTF-8 text (byte {exc.start}): save it as UTF-8"))
            continue
        except (OSError, ValueError) as exc:
            problems.append(Stale(path, f"cannot be read as a lesson ({exc}): fix the file"))
            continue
        built[out / f"{path.stem}.ipynb"] = nb
        problems += syntax_problems(path, nb)
    return built, problems
