"""Where the project's files are: the template and the solution in this package, the learner's folder
(`default_dir`), and `new_project`, which copies the template there."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import CourseError

TEMPLATE_DIR = Path(__file__).resolve().parent / "template"
SOLUTION_DIR = Path(__file__).resolve().parent / "solution"
FILES = ("README.md", "data.py", "model.py", "utils.py", "train.py")  # what new_project writes


def default_dir() -> Path:
    """exercises/my_classifier at the course's root (a checkout), else under the current folder."""
    course_root = Path(__file__).resolve().parents[2]
    base = course_root if (course_root / "pyproject.toml").exists() else Path.cwd()
    return base / "exercises" / "my_classifier"


def new_project(path: str | os.PathLike | None = None) -> Path:
    """Copy the template into `path` (default: default_dir()); refuses if any of its files exists."""
    target = Path(path) if path is not None else default_dir()
    existing = [name for name in FILES if (target / name).exists()]
    if existing:
        raise CourseError(f"{target} already has {', '.join(existing)}: new_project never overwrites your work. "
                          "Pick another folder, or move these files away first.")
    target.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(TEMPLATE_DIR / name, target / name)
    return target
