"""Where the course's folders are: the one module that knows (data, quiz banks, progress, notebooks...)."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent  # the course checkout: course_lib/, notebooks/, quizzes/...
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"  # the lessons learners open (generated, no outputs)
QUIZ_DIR = REPO_ROOT / "quizzes"  # quiz banks weekNN.yaml and their review notebooks
SUMMARIES_DIR = REPO_ROOT / "summaries"  # one generated summary notebook per week


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Where data lives: `root`, else $COURSE_DATA, else `data/` in the course checkout."""
    if root is not None:
        return Path(root)
    if os.environ.get("COURSE_DATA"):
        return Path(os.environ["COURSE_DATA"])
    return REPO_ROOT / "data"


def progress_dir() -> Path:
    """Where the learner's quiz answers are saved: $COURSE_PROGRESS_DIR, else ~/.course_progress."""
    return Path(os.environ.get("COURSE_PROGRESS_DIR") or Path.home() / ".course_progress")
