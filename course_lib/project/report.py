"""`check_project(path)`: run the checks on a learner's folder in a fresh Python and say what is left.

The checks run in a subprocess, so a notebook that calls this again after editing data.py sees the
new code (no stale imports), and a crash in the learner's code cannot take the kernel down.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CourseError
from .checks import ORDER, SECTIONS
from .layout import default_dir

HERE = Path(__file__).resolve().parent
TAGS = {"ok": "ok  ", "todo": "TODO", "fail": "FAIL", "wait": "WAIT"}


@dataclass
class CheckReport:
    """What `project check` found: one line per check (per data set where outcomes differ), then a summary."""

    project_dir: Path
    datasets: list[str]
    root: str | None
    results: list[dict] = field(default_factory=list)  # check, section, dataset, title, status, message

    @property
    def passed(self) -> bool:
        """True when there was data to check with and every check passed."""
        return bool(self.datasets and self.results) and all(r["status"] == "ok" for r in self.results)

    def lines(self) -> list[tuple[str, str]]:
        """(status, text) per check; a problem found by several checks or on several data sets said once."""
        groups: dict[tuple, list[dict]] = {}
        for r in self.results:
            key = ((r["status"], r["message"]) if r["status"] in ("todo", "fail")  # one line per problem
                   else (r["check"], r["status"], r["message"]))
            groups.setdefault(key, []).append(r)
        out = []
        for same in groups.values():
            first, status = same[0], same[0]["status"]
            text = {"ok": first["title"] + (f" ({first['message']})" if first["message"] else ""),
                    "wait": f"{first['title']}: {first['message']}"}.get(status, first["message"])
            if not text.startswith(tuple(f"{f}:" for f in SECTIONS.values()) + ("data.", "model.", "utils.")):
                text = f"{SECTIONS[first['section']]}: {text}"
            checks = {r["check"] for r in same}
            if len(checks) == 1 and len(same) < sum(r["check"] == first["check"] for r in self.results):
                text += f"  [{', '.join(r['dataset'] for r in same)}]"
            out.append((status, text))
        return out

    def stubs(self) -> dict[str, list[str]]:
        """{file: [functions still raising NotImplementedError]} in the learner's folder, read from the source."""
        return {name: found for name in ("data.py", "model.py", "utils.py")
                if (found := find_stubs(self.project_dir / name))}

    def __str__(self) -> str:
        where = self.root or "$COURSE_DATA or data/"
        head = f"project check: {self.project_dir} on {', '.join(self.datasets) or 'no data set'} (data: {where})"
        if not self.datasets:
            return f"{head}\n  FAIL  no data set found: `python -m course_lib data fetch mnist` (or `make data`)"
        lines = self.lines()
        body = [f"  {TAGS[status]}  {text}" for status, text in lines]
        stubs = self.stubs()
        if stubs:
            body += ["still to write (stubs raising NotImplementedError):",
                     *[f"  {name}: {', '.join(found)}" for name, found in stubs.items()]]
        ok = sum(r["status"] == "ok" for r in self.results)
        if self.passed:
            tail = f"all {ok} checks pass. Train it: python {self.project_dir / 'train.py'} --dataset mnist"
        else:
            first = next(text for status, text in lines if status in ("todo", "fail"))
            tail = f"{ok} of {len(self.results)} checks pass. Next: {first}"
        return "\n".join([head, *body, tail])

    def _repr_pretty_(self, printer, cycle) -> None:  # a notebook cell ending with check_project(...) shows it
        printer.text(str(self))


def find_stubs(path: Path) -> list[str]:
    """Names (Class.method) of the functions in `path` whose body raises NotImplementedError."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return []
    found = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                raises = [n for n in ast.walk(child) if isinstance(n, ast.Raise) and n.exc is not None]
                if any("NotImplementedError" in ast.unparse(n.exc) for n in raises):
                    found.append(prefix + child.name)

    visit(tree, "")
    return found


def check_project(path: str | os.PathLike | None = None, datasets: list[str] | None = None,
                  root: str | os.PathLike | None = None, timeout: float = 900) -> CheckReport:
    """Run the checks on the learner's folder (default: exercises/my_classifier); returns the report."""
    project_dir = Path(path if path is not None else default_dir()).resolve()
    if not project_dir.is_dir():
        raise CourseError(f"{project_dir} is not a folder: `python -m course_lib project new` creates one")
    if importlib.util.find_spec("pytest") is None:
        raise CourseError("the checks run with pytest, which is not installed: pip install pytest")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        package_parent = str(HERE.parent.parent)  # the fresh Python imports this same course_lib
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1",  # no __pycache__ in the learner's folder
               "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))}
        cmd = [sys.executable, "-m", "pytest", *[str(HERE / "checks" / name) for name in ORDER],
               "-c", str(HERE / "pytest.ini"), "--rootdir", str(HERE), "-q", "-p", "course_lib.project.plugin",
               "-p", "no:cacheprovider", "-p", "no:randomly", "--project-dir", str(project_dir),
               "--report-json", str(out), "--datasets", ",".join(datasets or [])]
        if root is not None:
            cmd += ["--data-root", str(root)]
        try:
            proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, cwd=tmp, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise CourseError(f"the checks took over {timeout:.0f} s: "
                              "does something loop over a whole data set?") from None
        if not out.exists():
            raise CourseError(f"the checks could not run:\n{(proc.stdout + proc.stderr)[-3000:]}")
        found = json.loads(out.read_text())
    return CheckReport(project_dir, found["datasets"], found["root"], found["results"])
