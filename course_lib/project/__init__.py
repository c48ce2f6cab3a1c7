"""Build your own classifier: a project folder with data.py, model.py, utils.py and train.py to write.

    new_project("exercises/my_classifier")    # copies the template (never overwrites a file)
    check_project("exercises/my_classifier")  # runs the checks, says what is missing or wrong
The same from a terminal: `python -m course_lib project new|check [DIR]`. The template's stubs
raise NotImplementedError("TODO: ..."); the reference solution lives in `solution/`.
"""
from __future__ import annotations

from .layout import FILES, SOLUTION_DIR, TEMPLATE_DIR, default_dir, new_project
from .report import CheckReport, check_project

__all__ = ["FILES", "SOLUTION_DIR", "TEMPLATE_DIR", "CheckReport", "check_project", "default_dir", "new_project"]
