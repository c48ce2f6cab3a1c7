"""The shape of course_lib, held by tests: imports go one way, no cycles, no private names across modules,
no quiz `kind` compared with a literal outside quiz/kinds/, modules of a readable size.

Layers (a module may import its own package and the layers below it, never a layer above or a peer):
    0  errors, config, paths, files, repeated_timing   the bottom layer
    1  data
    2  models
    3  training
    4  explore | quiz                     peers: neither imports the other
    5  exercises | project                teaching material built on the library (peers)
    6  __main__, parallel, launch         (command lines)
Within layers 0 and 6 modules may import each other; a module never imports its own package's __init__.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from course_lib.quiz import KINDS

from .conftest import REPO

PACKAGE = REPO / "course_lib"
LAYERS = {"errors": 0, "config": 0, "paths": 0, "files": 0, "repeated_timing": 0, "data": 1, "models": 2,
          "training": 3, "explore": 4, "quiz": 4, "exercises": 5, "project": 5, "__main__": 6, "parallel": 6,
          "launch": 6, "__init__": 6}
MAX_LINES = 310  # "~300 lines, one concept per module"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk_runtime(tree: ast.AST):
    """Every node except those under `if TYPE_CHECKING:` (imports there never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        children = list(ast.iter_child_nodes(node))
        if isinstance(node, ast.If) and _is_type_checking(node):
            children = node.orelse
        stack.extend(children)


def _imports_of(node: ast.AST, name: str) -> list[tuple[str, list[str], int]]:
    """(imported course_lib module, names taken from it, line) for one import statement in module `name`."""
    package = name if MODULES.get(name, Path()).name == "__init__.py" else name.rsplit(".", 1)[0]
    if isinstance(node, ast.Import):
        return [(a.name, [], node.lineno) for a in node.names if a.name.split(".")[0] == "course_lib"]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = package.split(".")
        target = ".".join(base[:len(base) - node.level + 1] + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target.split(".")[0] != "course_lib":
        return []
    names = [a.name for a in node.names]
    submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
    found = [(m, [], node.lineno) for m in submodules]
    rest = [n for n in names if f"{target}.{n}" not in MODULES]
    if rest or not submodules:
        found.append((target, rest, node.lineno))
    return found


def imports(name: str) -> list[tuple[str, list[str], int]]:
    """(imported course_lib module, names taken from it, line) for every import in module `name`, lazy ones too."""
    path = MODULES[name]
    return [found for node in _walk_runtime(ast.parse(path.read_text(), str(path)))
            for found in _imports_of(node, name)]


def layer(name: str) -> tuple[int, str]:
    top = name.split(".")[1] if name != "course_lib" else "__init__"
    assert top in LAYERS, f"{name}: give course_lib.{top} a layer in tests/test_architecture.py (and the README)"
    return LAYERS[top], top


@pytest.mark.parametrize("name", list(MODULES))
def test_imports_go_one_way(name):
    mine, my_top = layer(name)
    for target, _, line in imports(name):
        theirs, their_top = layer(target)
        same_package = their_top == my_top
        assert theirs < mine or same_package or mine == theirs in (0, 6), \
            f"{MODULES[name]}:{line}: {name} (layer {mine}) imports {target} (layer {theirs})"


def test_no_import_cycles():
    graph = {name: {t for t, _, _ in imports(name) if t in MODULES and t != name} for name in MODULES}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for name in MODULES:
        if name not in state:
            visit(name)


def private_names_used(name: str, source: str | None = None) -> list[str]:
    """Where module `name` (or `source` standing in for it) takes a private name of another course_lib module."""
    source = MODULES[name].read_text() if source is None else source
    tree, problems, bound = ast.parse(source), [], set()
    for node in _walk_runtime(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for target, names, line in _imports_of(node, name):
                problems += [f"{name}:{line}: imports {n}, a private name of {target}" for n in names
                             if n.startswith("_") and not n.startswith("__")]
                bound.update(a.asname or a.name.split(".")[0] for a in node.names
                             if target in MODULES and (target.endswith("." + a.name) or target == a.name))
    for node in ast.walk(tree):  # `from . import viz` binds viz: `viz._x` reaches inside another module
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            problems.append(f"{name}:{node.lineno}: uses {node.value.id}.{node.attr}, a private name")
    return problems


@pytest.mark.parametrize("name", list(MODULES))
def test_no_private_names_across_modules(name):
    assert not private_names_used(name)


def _compares_kind_with_a_literal(node: ast.Compare) -> bool:
    """`q.kind == "code"`, `kind in ("single", "multiple")`: a quiz kind named in a comparison."""
    def is_kind(n):
        return (isinstance(n, ast.Attribute) and n.attr == "kind") or (isinstance(n, ast.Name) and n.id == "kind")

    def is_literal(n):
        return (isinstance(n, ast.Constant) and n.value in KINDS) or (
            isinstance(n, (ast.Tuple, ast.List, ast.Set)) and n.elts and any(is_literal(e) for e in n.elts))

    sides = [node.left, *node.comparators]
    return any(is_kind(s) for s in sides) and any(is_literal(s) for s in sides)


def test_no_quiz_kind_branches_outside_the_kinds():
    """A quiz kind is one registered class: nothing else compares a `kind` with a kind's name."""
    files = [p for p in PACKAGE.rglob("*.py") if "kinds" not in p.relative_to(PACKAGE).parts[:2]]
    files += sorted((REPO / "tools").rglob("*.py"))  # the notebook build too (tools/notebook_build/)
    found = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare) and _compares_kind_with_a_literal(node):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not found, f"`kind` compared with a kind's name (move it into quiz/kinds/): {found}"


@pytest.mark.parametrize("name", list(MODULES))
def test_modules_stay_small(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[name]}: {lines} lines; split it by concept (about 300 at most)"


def test_the_checks_above_can_fail(tmp_path):
    """The detectors themselves: an upward import, a private name, a kind branch are each caught."""
    assert _compares_kind_with_a_literal(ast.parse('q.kind == "code"').body[0].value)
    assert _compares_kind_with_a_literal(ast.parse('kind in ("single", "multiple")').body[0].value)
    assert not _compares_kind_with_a_literal(ast.parse("self.kind not in KINDS").body[0].value)
    assert not _compares_kind_with_a_literal(ast.parse('kind == "md"').body[0].value)  # a notebook cell's kind
    assert layer("course_lib.training.loop")[0] > layer("course_lib.data.loaders")[0]
    targets = {t for t, _, _ in imports("course_lib.models.classifier")}
    assert "course_lib.data" in targets and "course_lib.models.heads" in targets
    widgets = "course_lib.explore.widgets"
    assert private_names_used(widgets, "from . import viz\nviz._show_image(ax, img)\n")
    assert private_names_used(widgets, "from ..data.formats import _IDX_FILES\n")
    assert not private_names_used(widgets, "from . import viz\nviz.show_image(ax, img)\n")
