"""Build your own classifier: a project folder with data.py, model.py, utils.py and train.py to write.

    new_project("exercises/my_classifier")    # copies the template (never overwrites a file)
    check_project("exercises/my_classifier")  # runs the checks, says what is missing or wrong
The same from a terminal: `python -m course_lib project new|check [DIR]`. The template's stubs
raise NotImplementedError("TODO: ..."); the reference solution lives in `solution/`.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import CourseError
from .report import CheckReport, check_project

TEMPLATE_DIR = Path(__file__).resolve().parent / "template"
SOLUTION_DIR = Path(__file__).resolve().parent / "solution"
FILES = ("README.md", "data.py", "model.py", "utils.py", "train.py")  # what new_project writes

__all__ = ["FILES", "SOLUTION_DIR", "TEMPLATE_DIR", "CheckReport", "check_project", "default_dir", "new_project"]


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
