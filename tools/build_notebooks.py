"""Write the weekly lesson notebooks (notebooks/weekNN_*.ipynb) from the lesson sources in lessons/.

    .venv/bin/python tools/build_notebooks.py          # (re)write every notebook, without outputs
    .venv/bin/python tools/build_notebooks.py --check  # exit 1 if a notebook differs from its source

Each lesson is a jupytext percent file (`# %%` code cells, `# %% [markdown]` cells, tags as cell metadata:
`# %% tags=["summary"]`), so the lessons are edited, linted and diffed as code; the notebooks never store outputs.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ROOT / "lessons"
NOTEBOOKS = ROOT / "notebooks"

METADATA = {
    "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
    "language_info": {"name": "python"},
}


def build(path: Path) -> nbformat.NotebookNode:
    """The notebook for one lesson source (cells in order, tags in metadata, no outputs)."""
    cells = []
    for i, source_cell in enumerate(jupytext.read(path, fmt="py:percent").cells):
        source, tags = source_cell.source, source_cell.metadata.get("tags", [])
        meta = {"tags": list(tags)} if tags else {}
        if source_cell.cell_type == "markdown":
            cell = new_markdown_cell(source, metadata=meta)
        else:
            cell = new_code_cell(source, metadata=meta)
        cell["id"] = f"{path.stem[:6]}-{i:02d}"  # stable ids: regenerating gives identical files
        cells.append(cell)
    nb = new_notebook(cells=cells, metadata=METADATA)
    nbformat.validate(nb)
    return nb


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the notebooks are up to date")
    args = parser.parse_args(argv)
    NOTEBOOKS.mkdir(exist_ok=True)
    stale = []
    for path in sorted(LESSONS.glob("week[0-9][0-9]_*.py")):
        target = NOTEBOOKS / f"{path.stem}.ipynb"
        text = nbformat.writes(build(path)) + "\n"
        if args.check:
            if not target.exists() or target.read_text() != text:
                stale.append(target)
        else:
            target.write_text(text)
            print(f"wrote {target.relative_to(ROOT)}")
    for t in stale:
        print(f"{t.relative_to(ROOT)} is out of date: run tools/build_notebooks.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
