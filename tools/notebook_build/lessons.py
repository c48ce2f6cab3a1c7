"""Lesson sources (lessons/weekNN_<topic>.py, jupytext percent format) -> notebooks/weekNN_<topic>.ipynb."""
from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell

from .writer import notebook

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


def notebooks(lessons: Path, out: Path) -> dict[Path, nbformat.NotebookNode]:
    """{out/weekNN_<topic>.ipynb: its notebook} for every lesson source in `lessons`, in week order."""
    return {out / f"{path.stem}.ipynb": lesson_notebook(path) for path in sorted(Path(lessons).glob(PATTERN))}
