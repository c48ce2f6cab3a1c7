"""Write the weekly lesson notebooks (notebooks/weekNN_*.ipynb) from the cell sources in tools/lessons/.

    .venv/bin/python tools/build_notebooks.py          # (re)write every notebook, without outputs
    .venv/bin/python tools/build_notebooks.py --check  # exit 1 if a notebook differs from its source

Each lesson is a Python module defining CELLS, a list of ("md" | "code", source, tags) tuples, so the
lessons can be edited as text, diffed, and regenerated; the notebooks never store outputs.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
LESSONS = Path(__file__).resolve().parent / "lessons"
NOTEBOOKS = ROOT / "notebooks"

METADATA = {
    "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
    "language_info": {"name": "python"},
}


def load_lesson(path: Path):
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))  # lessons import their cell constructors from cells.py
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(path: Path) -> nbformat.NotebookNode:
    """The notebook for one lesson module (cells in order, tags in metadata, no outputs)."""
    cells = []
    for i, (kind, source, tags) in enumerate(load_lesson(path).CELLS):
        source = source.strip("\n")
        meta = {"tags": list(tags)} if tags else {}
        cell = new_markdown_cell(source, metadata=meta) if kind == "md" else new_code_cell(source, metadata=meta)
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
    for path in sorted(LESSONS.glob("week*.py")):
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
