"""The one notebook build: lessons/ -> notebooks/, then summaries/, then quiz reviews; one writer, one check.

    make notebooks                                # = python -m tools.notebook_build
    python -m tools.notebook_build --check        # list every generated file that is out of date (exit 1)
"""
from __future__ import annotations

from pathlib import Path

import nbformat

from . import lessons, quizzes, summaries
from .writer import ROOT, Stale, orphans, why_stale, write

OUTPUTS = ("notebooks", "summaries", "quizzes")  # the folders whose generated notebooks this build owns


def targets(root: Path = ROOT, building: bool = False) -> tuple[dict[Path, nbformat.NotebookNode], list[Stale]]:
    """Every generated notebook in build order (lessons, summaries, quiz reviews), and the sources' problems
    (`building`: a summary whose learner part cannot be found is copied aside before it is rebuilt)."""
    root = Path(root)
    lesson_notebooks, problems = lessons.notebooks(root / "lessons", root / "notebooks")
    summary_notebooks, summary_problems = summaries.notebooks(lesson_notebooks, root / "summaries", root / "quizzes",
                                                               set_aside=building and not problems)
    quiz_notebooks = quizzes.notebooks(root / "quizzes")
    return {**lesson_notebooks, **summary_notebooks, **quiz_notebooks}, problems + summary_problems


def check(root: Path = ROOT) -> list[Stale]:
    """Every generated file that is missing, out of date, stores outputs or has lost its source; writes nothing."""
    wanted, problems = targets(root)
    stale = list(problems)
    for path, nb in wanted.items():
        reason = why_stale(path, nb)
        if reason:
            stale.append(Stale(path, reason))
    if not any(p.path.suffix == ".py" for p in problems):  # an unreadable lesson's notebooks are not orphans
        stale += [Stale(p, "generated, but its source is gone")
                  for p in orphans([Path(root) / f for f in OUTPUTS], wanted)]
    return stale


def build(root: Path = ROOT) -> tuple[list[str], list[Stale]]:
    """Write every generated notebook that changed and remove orphaned ones: (what was done, the sources' problems)."""
    wanted, problems = targets(root, building=True)
    if any(p.path.suffix == ".py" for p in problems):  # a lesson source could not be read: its notebooks would
        return [], problems                             # look orphaned, so write and remove nothing until it is fixed
    done = [f"wrote {p}" for p, nb in wanted.items() if write(p, nb)]
    for path in orphans([Path(root) / f for f in OUTPUTS], wanted):
        path.unlink()
        done.append(f"removed {path}")
    return done, problems
