"""The notebook build (tools/notebook_build) against broken sources: each problem names the file and the cell,
the other notebooks still check, and nothing a learner wrote is lost (issue 14, summaries build and check)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat

from tools import notebook_build
from tools.notebook_build.summaries import tagged_cells

from .conftest import REPO
from .test_summaries import FAKE_LESSON, _fake_course

SUMMARY = Path("summaries") / "week09_summary.ipynb"
NOTEBOOK = Path("notebooks") / "week09_fake_topic.ipynb"


def _summary_sources(root: Path) -> list[str]:
    return [c.source for c in nbformat.read(root / SUMMARY, as_version=4).cells]


def test_a_tag_is_matched_whole_not_as_a_substring(tmp_path):
    lesson = FAKE_LESSON.replace('# %% tags=["summary"]\nprint(7 * 7)',
                                 '# %% tags=["summary"]\nprint(7 * 7)\n\n'
                                 '# %% tags=["summary-draft"]\nprint("draft")\n\n'
                                 '# %% tags=["not-summary"]\nprint("not")')
    _fake_course(tmp_path, lesson)
    assert notebook_build.build(tmp_path)[1] == []
    sources = _summary_sources(tmp_path)
    assert "print(7 * 7)" in sources
    assert not any("draft" in s or '"not"' in s for s in sources)


def test_a_single_string_tag_is_one_whole_tag(tmp_path):
    _fake_course(tmp_path)
    notebook_build.build(tmp_path)
    nb = nbformat.read(tmp_path / NOTEBOOK, as_version=4)

    nb.cells[2].metadata["tags"] = "summary-draft"  # a hand-edited notebook: a string, not a list
    nb.cells[3].metadata["tags"] = "summary"
    assert [c.source for c in tagged_cells(nb)] == ["print(7 * 7)"]


def test_a_code_cell_that_does_not_parse_is_named_with_its_lesson_and_cell(tmp_path):
    lesson = _fake_course(tmp_path, FAKE_LESSON.replace("print(7 * 7)", "print(7 * 7\nx = 3"))
    done, problems = notebook_build.build(tmp_path)
    assert done == []  # nothing written from a broken source
    assert len(problems) == 1
    line = str(problems[0])
    assert str(lesson) in line or "lessons/week09_fake_topic.py" in line
    assert "cell 4 does not parse" in line and "fix the cell" in line
    assert "cell 4 does not parse" in str(notebook_build.check(tmp_path)[0])


def test_a_cell_tagged_raises_exception_may_fail_on_purpose(tmp_path):
    _fake_course(tmp_path, FAKE_LESSON.replace('# %%\nx = 1', '# %% tags=["raises-exception"]\nx = = 1'))
    done, problems = notebook_build.build(tmp_path)
    assert problems == [] and len(done) == 2


def test_a_lesson_that_is_not_utf8_is_named_and_nothing_is_removed(tmp_path):
    _fake_course(tmp_path)
    notebook_build.build(tmp_path)
    before = {p: p.read_bytes() for p in (tmp_path / NOTEBOOK, tmp_path / SUMMARY)}
    (tmp_path / "lessons" / "week09_fake_topic.py").write_bytes(FAKE_LESSON.encode() + b"# caf\xe9\n")
    done, problems = notebook_build.build(tmp_path)
    assert done == [] and len(problems) == 1
    assert "week09_fake_topic.py: is not UTF-8 text" in str(problems[0]) and "save it as UTF-8" in str(problems[0])
    assert {p: p.read_bytes() for p in before} == before  # its notebook and summary are not "orphans"
    assert [str(s) for s in notebook_build.check(tmp_path)] == [str(problems[0])]


def test_an_unreadable_summary_is_copied_aside_before_it_is_rebuilt(tmp_path):
    _fake_course(tmp_path)
    notebook_build.build(tmp_path)
    path = tmp_path / SUMMARY
    broken = path.read_bytes()[:-40] + b"My summary, half saved"  # e.g. a crash while saving
    path.write_bytes(broken)
    checked = [str(s) for s in notebook_build.check(tmp_path)]
    assert any("is not a readable notebook" in s and "copy it aside" in s for s in checked)
    assert path.read_bytes() == broken and not list(path.parent.glob("*.kept-*"))  # --check writes nothing
    done, problems = notebook_build.build(tmp_path)
    kept = path.with_name("week09_summary.kept-1.ipynb")
    assert kept.read_bytes() == broken  # the learner's bytes are all there
    assert len(problems) == 1 and "week09_summary.kept-1.ipynb" in str(problems[0])
    assert nbformat.read(path, as_version=4).cells[-1].source  # rebuilt, readable
    assert notebook_build.build(tmp_path) == ([], [])  # the copy is not an orphan, and is not copied twice
    assert kept.exists() and len(list(path.parent.glob("*.kept-*"))) == 1


def test_a_summary_without_its_heading_is_copied_aside(tmp_path):
    _fake_course(tmp_path)
    notebook_build.build(tmp_path)
    path = tmp_path / SUMMARY
    nb = nbformat.read(path, as_version=4)
    nb.cells = [c for c in nb.cells if "your-summary" not in c.metadata.get("tags", [])]
    nb.cells[-1].source = "My own words about week 9."
    nbformat.write(nb, path)
    done, problems = notebook_build.build(tmp_path)
    assert len(problems) == 1 and "has no 'your-summary' heading" in str(problems[0])
    kept = nbformat.read(path.with_name("week09_summary.kept-1.ipynb"), as_version=4)
    assert kept.cells[-1].source == "My own words about week 9."


def test_generated_notebooks_are_written_atomically_with_normal_permissions(tmp_path):
    _fake_course(tmp_path)
    old = os.umask(0o022)
    try:
        notebook_build.build(tmp_path)
    finally:
        os.umask(old)
    for path in (tmp_path / NOTEBOOK, tmp_path / SUMMARY):
        assert path.stat().st_mode & 0o777 == 0o644
    leftovers = [p.name for folder in ("notebooks", "summaries") for p in (tmp_path / folder).iterdir()
                 if not p.name.endswith(".ipynb")]
    assert leftovers == []


def test_the_command_line_prints_one_line_per_problem_and_exits_1(tmp_path):
    lesson = FAKE_LESSON.replace("print(7 * 7)", "print(7 * 7")
    _fake_course(tmp_path, lesson)
    code = ("import sys; from pathlib import Path; import tools.notebook_build as nb; "
            "import tools.notebook_build.__main__ as m; "
            f"nb.ROOT = Path({str(tmp_path)!r}); "
            "m.build = lambda: nb.build(nb.ROOT); m.check = lambda: nb.check(nb.ROOT); sys.exit(m.main(sys.argv[1:]))")
    for args in ([], ["--check"]):
        result = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert "week09_fake_topic.py: cell 4 does not parse" in result.stderr
