"""The pytest plugin behind `project check`: options, the learner's modules, one plain-words line per check.

Loaded with `-p course_lib.project.plugin` by `report.check_project`, which reads the JSON it writes.
A check fails by raising `CheckFailed("what is wrong and what to do")`; a stub still raising
NotImplementedError is reported as "not written yet"; any other exception as "raised ...".
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from .checks import SECTIONS

MODULES = ("data", "model", "utils")


class CheckFailed(AssertionError):
    """A check's finding about the learner's code, in plain words."""


@dataclasses.dataclass
class _State:
    project_dir: Path = Path(".")
    root: str | None = None
    datasets: list[str] = dataclasses.field(default_factory=list)
    results: list[dict] = dataclasses.field(default_factory=list)
    failed: set[tuple[str, str | None]] = dataclasses.field(default_factory=set)  # (section, dataset) not passed


STATE = _State()


def expect(condition: bool, message: str) -> None:
    """Fail the current check with `message` unless `condition` holds."""
    if not condition:
        raise CheckFailed(message)


def dataset_dims(name: str) -> tuple[int, int, int]:
    """(channels, classes, image size) of the data set `name`: what Net(...) is built with."""
    from course_lib import data as course_data

    spec = course_data.get_spec(name)
    return spec.input_shape[0], len(spec.classes), spec.input_shape[1]


def _origin(exc: BaseException) -> tuple[str, str, int] | None:
    """(file, function, line) of the deepest frame of `exc` inside the learner's folder."""
    found, tb = None, exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if Path(code.co_filename).resolve().parent == STATE.project_dir:
            found = (Path(code.co_filename).name, getattr(code, "co_qualname", code.co_name), tb.tb_lineno)
        tb = tb.tb_next
    return found


def describe(exc: BaseException, what: str | None = None) -> tuple[str, str]:
    """(status, message) for an exception: "todo" for a stub, else "fail", saying where it was raised."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return "fail", f"{Path(exc.filename).name}: syntax error on line {exc.lineno}: {exc.msg}"
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    error = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    origin = _origin(exc)
    if origin is None:
        return "fail", f"{what} raised {error}" if what else error
    file, func, line = origin
    if isinstance(exc, NotImplementedError):
        return "todo", f"{file}: {func} is not written yet ({text or 'TODO'})"
    if what:
        return "fail", f"{what} raised {error} ({file} line {line}, in {func})"
    return "fail", f"{file}: {func} raised {error} (line {line})"


@contextlib.contextmanager
def doing(what: str) -> Iterator[None]:
    """Report an exception from the learner's code as a failure of `what` (stubs stay "not written yet")."""
    try:
        yield
    except (NotImplementedError, CheckFailed, pytest.skip.Exception):
        raise
    except Exception as exc:  # the learner's code may raise anything: say what and where
        raise CheckFailed(describe(exc, what)[1]) from exc


def waiting_for(*sections: str, dataset: str | None = None) -> None:
    """Skip the current check while an earlier check of `sections` (for `dataset`) has not passed."""
    blocked = sorted({s for s, d in STATE.failed if s in sections and d in (None, dataset)},
                     key=list(SECTIONS).index)
    if blocked:
        names = ", ".join(SECTIONS[s] for s in blocked)
        pytest.skip(f"waits for the checks of {names} above to pass")


def load(name: str) -> ModuleType:
    """The learner's `name`.py from the project folder, imported once (as `name`, so their imports work)."""
    if name in sys.modules and Path(getattr(sys.modules[name], "__file__", "") or "").parent == STATE.project_dir:
        return sys.modules[name]
    path = STATE.project_dir / f"{name}.py"
    if not path.exists():
        raise CheckFailed(f"{name}.py is missing from {STATE.project_dir} "
                          "(`python -m course_lib project new` writes a fresh copy elsewhere)")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise CheckFailed(describe(exc, f"importing {name}.py")[1]) from exc
    return module


class Project:
    """The learner's modules as attributes: `project.data`, `project.model`, `project.utils`."""

    def __getattr__(self, name: str) -> ModuleType:
        if name not in MODULES:
            raise AttributeError(name)
        return load(name)


@pytest.fixture()
def project() -> Project:
    return Project()


@pytest.fixture()
def root() -> str | None:
    return STATE.root


@pytest.fixture()
def note(request):
    """note("text"): a detail shown beside a passed check (e.g. the loss it reached)."""
    return lambda text: request.node.user_properties.append(("note", text))


def pytest_addoption(parser) -> None:
    group = parser.getgroup("course_lib project check")
    group.addoption("--project-dir", default=".", help="the folder holding the learner's data.py, model.py, utils.py")
    group.addoption("--datasets", default="", help="comma-separated names; default: every data set present")
    group.addoption("--data-root", default=None, help="data folder (default: $COURSE_DATA or data/)")
    group.addoption("--report-json", default=None, help="write the results here")


def pytest_configure(config) -> None:
    import torch

    from course_lib import data as course_data

    torch.set_num_threads(1)  # the checks' tensors are tiny: one thread is fastest, most of all on a busy machine

    STATE.project_dir = Path(config.getoption("project_dir")).resolve()
    STATE.root = config.getoption("data_root")
    names = [n for n in config.getoption("datasets").split(",") if n]
    STATE.datasets = names or [n for n in course_data.DATASETS if course_data.is_available(n, STATE.root)]
    sys.path.insert(0, str(STATE.project_dir))  # the learner's modules may import each other


def pytest_generate_tests(metafunc) -> None:
    if "dataset" in metafunc.fixturenames:
        metafunc.parametrize("dataset", STATE.datasets)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if report.passed:
            status = "ok"
            message = "; ".join(v for k, v in item.user_properties if k == "note")
        elif report.skipped:
            status, message = "wait", str(call.excinfo.value.msg) if call.excinfo else "skipped"
        elif isinstance(call.excinfo.value, CheckFailed):
            status, message = "fail", str(call.excinfo.value)
        else:
            status, message = describe(call.excinfo.value)
        section = item.function.__name__.split("_")[1]  # test_<section>_...
        dataset = item.callspec.params.get("dataset") if hasattr(item, "callspec") else None
        if status != "ok":
            STATE.failed.add((section, dataset))
        STATE.results.append({"check": item.function.__name__, "section": section, "dataset": dataset,
                              "title": (item.function.__doc__ or item.name).strip().splitlines()[0],
                              "status": status, "message": message})


def pytest_sessionfinish(session) -> None:
    path = session.config.getoption("report_json")
    if path:
        Path(path).write_text(json.dumps({"project_dir": str(STATE.project_dir), "root": STATE.root,
                                          "datasets": STATE.datasets, "results": STATE.results}, indent=1))
