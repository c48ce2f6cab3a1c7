"""The one writer of generated notebooks: shared metadata, stable cell ids, a file written only when it changed."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_notebook

from course_lib.files import atomic_write_bytes

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = "make notebooks"
METADATA = {
    "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
    "language_info": {"name": "python"},
    "course_lib": {"generated_by": GENERATOR},  # marks the files this build owns (and removes when orphaned)
}


@dataclass(frozen=True)
class Stale:
    """A generated file that does not match its source (or a source the build cannot use), and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{relative(self.path)}: {self.reason}"


def relative(path: Path) -> str:
    """`path` relative to the repository when it is inside it (for messages)."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def notebook(cells: list, id_prefix: str) -> nbformat.NotebookNode:
    """A notebook of `cells` with the shared metadata and stable cell ids `<id_prefix>-NN`."""
    for i, cell in enumerate(cells):
        cell["id"] = f"{id_prefix}-{i:02d}"  # stable ids: regenerating gives identical files
    nb = new_notebook(cells=cells, metadata=copy.deepcopy(METADATA))
    nbformat.validate(nb)
    return nb


def text(nb: nbformat.NotebookNode) -> str:
    """The exact file contents of `nb` (what the build writes and --check compares)."""
    return nbformat.writes(nb) + "\n"


def has_outputs(nb: nbformat.NotebookNode) -> bool:
    """True when any code cell carries outputs or an execution count."""
    return any(c.cell_type == "code" and (c.outputs or c.execution_count) for c in nb.cells)


def is_generated(path: Path) -> bool:
    """True when the notebook at `path` was written by this build (its metadata says so)."""
    try:
        return "course_lib" in nbformat.read(path, as_version=4).metadata
    except Exception:
        return False


def cell_tags(cell: nbformat.NotebookNode) -> list[str]:
    """A cell's tags as a list, each matched whole: a single string is one tag (never searched as a substring)."""
    tags = cell.get("metadata", {}).get("tags", [])
    if isinstance(tags, str):
        return [tags]
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, (list, tuple)) else []


def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str, list]]:
    return [(c.cell_type, c.source, cell_tags(c)) for c in nb.cells]


def why_stale(path: Path, nb: nbformat.NotebookNode) -> str | None:
    """None when the file at `path` is exactly `nb`; otherwise what differs."""
    if not path.exists():
        return "missing"
    current_text = path.read_text(encoding="utf-8")
    if current_text == text(nb):
        return None
    try:
        current = nbformat.reads(current_text, as_version=4)
    except Exception as exc:
        return f"not a readable notebook ({type(exc).__name__})"
    if _cells(current) != _cells(nb):
        return "out of date with its source"
    if has_outputs(current):
        return "stores outputs"
    return "differs from the generated file (metadata or cell ids)"


def orphans(folders: list[Path], wanted: dict[Path, nbformat.NotebookNode]) -> list[Path]:
    """Notebooks in `folders` that this build wrote but that no source produces any more (a learner's
    summary copied aside, `*.kept-<n>.ipynb`, is never one)."""
    return [p for folder in folders for p in sorted(Path(folder).glob("*.ipynb"))
            if p not in wanted and ".kept-" not in p.name and is_generated(p)]


def write(path: Path, nb: nbformat.NotebookNode) -> bool:
    """Write `nb` to `path` unless the file already holds exactly it; True when written.

    Atomic (a temporary file, then a rename): an interrupted build leaves the old file or the new one."""
    if why_stale(path, nb) is None:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, text(nb).encode("utf-8"))
    return True
