"""Notebook hygiene: notebooks are stored without outputs. `python -m course_lib.nbtools strip|check DIR...`."""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat


def notebook_paths(*folders: str | Path) -> list[Path]:
    """All .ipynb files under `folders` (checkpoint folders excluded), sorted."""
    return sorted(p for f in folders for p in Path(f).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def has_outputs(nb) -> bool:
    """True when any code cell carries outputs or an execution count."""
    return any(c.cell_type == "code" and (c.outputs or c.execution_count) for c in nb.cells)


def strip(path: Path) -> bool:
    """Remove outputs and execution counts in place; True when the file changed."""
    nb = nbformat.read(path, as_version=4)
    if not has_outputs(nb):
        return False
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, path)
    return True


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("strip", "check"):
        print("usage: python -m course_lib.nbtools strip|check FOLDER...", file=sys.stderr)
        return 2
    paths = notebook_paths(*argv[1:])
    if argv[0] == "strip":
        for p in paths:
            if strip(p):
                print(f"stripped {p}")
        return 0
    dirty = [p for p in paths if has_outputs(nbformat.read(p, as_version=4))]
    for p in dirty:
        print(f"{p}: has outputs; run `make strip-notebooks`", file=sys.stderr)
    return 1 if dirty else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
